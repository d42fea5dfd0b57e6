// Command sipguard-image builds the box's SD card image and its update
// bundle (make image):
//
//	sipguard-image --board rpi4 --key signing.pem --debs out/debs --binary out/arm64/sipguard --out out/sipguard-rpi4.img
//	sipguard-image keygen FILE   # a new ed25519 signing key (PEM)
//	sipguard-image pubkey FILE   # the public key to bake into the firmware
//
// The kernel and firmware come from Debian's arm64 packages, unpacked by
// image/fetch-debs.sh; genimage (with mtools, dosfstools and squashfs-tools)
// lays out the card. SOURCE_DATE_EPOCH dates every file, so the same inputs
// give the same image.
package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sipguard/sipguard/board"
	"github.com/sipguard/sipguard/image"
	"github.com/sipguard/sipguard/image/manifest"
)

func main() {
	var err error
	switch {
	case len(os.Args) == 3 && os.Args[1] == "keygen":
		err = keygen(os.Args[2])
	case len(os.Args) == 3 && os.Args[1] == "pubkey":
		err = pubkey(os.Args[2])
	default:
		err = run()
	}
	if err != nil {
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
	flag.StringVar(&out, "out", "", "the image to write (default out/sipguard-<board>.img); the update bundle goes beside it")
	var keyFile string
	flag.StringVar(&keyFile, "key", "", "ed25519 signing key (PEM); its public key must be baked into the binary")
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
	if keyFile == "" {
		return errors.New("--key: the signing key is needed (make image makes a development key if none is given)")
	}
	pem, err := os.ReadFile(keyFile)
	if err != nil {
		return err
	}
	key, err := manifest.ParsePrivateKey(pem)
	if err != nil {
		return fmt.Errorf("%s: %w", keyFile, err)
	}
	bin, err := os.ReadFile(spec.Binary)
	if err != nil {
		return err
	}
	pub := manifest.EncodePublicKey(key.Public().(ed25519.PublicKey))
	if !bytes.Contains(bin, []byte(pub)) {
		return fmt.Errorf("%s does not trust the key in %s: the box could not check its own firmware or take updates signed with it (build it with TRUSTED_KEYS=%s)", spec.Binary, keyFile, pub)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	staged := filepath.Join(work, "root")
	if err := image.Stage(spec, staged); err != nil {
		return err
	}
	if err := image.Genimage(ctx, config, staged, work, out, spec.Epoch); err != nil {
		return err
	}
	rootImage := filepath.Join(work, "images", "root.squashfs")
	signed, err := image.SignCard(spec, staged, rootImage, out, key)
	if err != nil {
		return err
	}
	bundle := strings.TrimSuffix(out, ".img") + "-" + spec.Version + ".bundle"
	if err := image.WriteBundle(bundle, signed, rootImage); err != nil {
		return err
	}
	st, err := os.Stat(out)
	if err != nil {
		return err
	}
	fmt.Printf("%s: %d MiB (%s %s, kernel and initramfs staged in %s)\n", out, st.Size()>>20, spec.Board, spec.Version, filepath.Join(staged, "boot"))
	fmt.Printf("%s: the update bundle, signed by %s\n", bundle, pub)
	return nil
}

// keygen writes a new signing key, unless the file exists.
func keygen(path string) error {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	b, err := manifest.MarshalPrivateKey(priv)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// pubkey prints the public key of a signing key, as TRUSTED_KEYS takes it.
func pubkey(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	k, err := manifest.ParsePrivateKey(b)
	if err != nil {
		return err
	}
	fmt.Println(manifest.EncodePublicKey(k.Public().(ed25519.PublicKey)))
	return nil
}
