// Command sipguard-image builds the box's SD card image (make image):
//
//	sipguard-image --board rpi4 --debs out/debs --binary out/sipguard-arm64 --out out/sipguard-rpi4.img
//
// The kernel and firmware come from Debian's arm64 packages, unpacked by
// image/fetch-debs.sh; genimage (with mtools, dosfstools and squashfs-tools)
// lays out the card. SOURCE_DATE_EPOCH dates every file, so the same inputs
// give the same image.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"time"

	"github.com/sipguard/sipguard/board"
	"github.com/sipguard/sipguard/image"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "sipguard-image:", err)
		os.Exit(1)
	}
}

func run() error {
	var spec image.Spec
	var debs, out, work, config string
	flag.StringVar(&spec.Board, "board", "rpi4", fmt.Sprintf("board: one of %v", image.Boards))
	flag.StringVar(&spec.Version, "version", "dev", "firmware version")
	flag.StringVar(&debs, "debs", "out/debs", "folder of the unpacked Debian packages (image/fetch-debs.sh)")
	flag.StringVar(&spec.Binary, "binary", "out/sipguard-arm64", "the static arm64 sipguard binary")
	flag.StringVar(&config, "config", "image/genimage.cfg", "genimage layout")
	flag.StringVar(&work, "work", "", "work folder (default: next to the output)")
	flag.StringVar(&out, "out", "", "the image to write (default out/sipguard-<board>.img)")
	flag.Parse()
	if flag.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	if out == "" {
		out = filepath.Join("out", "sipguard-"+spec.Board+".img")
	}
	if work == "" {
		work = filepath.Join(filepath.Dir(out), "image-"+spec.Board)
	}
	spec.Kernel = filepath.Join(debs, "kernel")
	if spec.Board == "rpi4" {
		spec.Firmware = filepath.Join(debs, "firmware")
	}
	spec.Epoch = time.Unix(0, 0).UTC()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", s, err)
		}
		spec.Epoch = time.Unix(n, 0).UTC()
	}
	spec.Modules = board.KernelModules()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	staged := filepath.Join(work, "root")
	if err := image.Stage(spec, staged); err != nil {
		return err
	}
	if err := image.Genimage(ctx, config, staged, work, out, spec.Epoch); err != nil {
		return err
	}
	st, err := os.Stat(out)
	if err != nil {
		return err
	}
	fmt.Printf("%s: %d MiB (%s, kernel and initramfs staged in %s)\n", out, st.Size()>>20, spec.Board, filepath.Join(staged, "boot"))
	return nil
}
