// Package image builds the box's SD card image from Debian's arm64 kernel,
// the Raspberry Pi boot firmware and the static sipguard binary: the
// initramfs that loads the kernel modules and starts the root slot, the
// contents of the boot partition and of the root slots, and the genimage
// layout that puts them on the card. Everything it writes is reproducible:
// the same inputs and SOURCE_DATE_EPOCH give the same bytes.
package image

import (
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"time"

	"github.com/cavaliergopher/cpio"

	"github.com/sipguard/sipguard/board"
)

// File is one file of an archive or filesystem being built.
type File struct {
	Path string // relative, slash-separated
	Mode fs.FileMode
	Data []byte // nil for a directory
}

// Dirs are the mount points and folders every root of the box has.
var Dirs = []string{"dev", "proc", "sys", "run", "tmp", "data", "newroot", "sbin", "etc"}

// Initramfs returns the files of the initramfs: the sipguard binary as
// /init, the empty mount points, and the kernel modules the box needs from
// modules (the kernel's lib/modules/<release> folder), with everything they
// depend on and the list of built-in ones.
func Initramfs(sipguard []byte, modules fs.FS, release string, wanted []string) ([]File, error) {
	idx, err := board.ReadModuleIndex(modules)
	if err != nil {
		return nil, err
	}
	order, missing, err := idx.Order(wanted)
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("initramfs: kernel %s has neither built in nor as modules: %v", release, missing)
	}
	files := []File{{Path: "init", Mode: 0o755, Data: sipguard}}
	for _, d := range Dirs {
		files = append(files, File{Path: d, Mode: fs.ModeDir | 0o755})
	}
	base := path.Join("lib/modules", release)
	if b, err := fs.ReadFile(modules, "modules.builtin"); err == nil {
		files = append(files, File{Path: path.Join(base, "modules.builtin"), Mode: 0o644, Data: b})
	}
	for _, m := range order {
		b, err := fs.ReadFile(modules, m.Path)
		if err != nil {
			return nil, fmt.Errorf("initramfs: %w", err)
		}
		files = append(files, File{Path: path.Join(base, m.Path), Mode: 0o644, Data: b})
	}
	return withParents(files), nil
}

// withParents adds the missing parent directories of every file and sorts
// the result, parents first.
func withParents(files []File) []File {
	have := map[string]bool{}
	for _, f := range files {
		have[f.Path] = true
	}
	for _, f := range files {
		for d := path.Dir(f.Path); d != "." && !have[d]; d = path.Dir(d) {
			have[d] = true
			files = append(files, File{Path: d, Mode: fs.ModeDir | 0o755})
		}
	}
	slices.SortFunc(files, func(a, b File) int {
		switch {
		case a.Path < b.Path:
			return -1
		case a.Path > b.Path:
			return 1
		}
		return 0
	})
	return files
}

// WriteCPIO writes files as a gzip-compressed newc cpio archive, the
// format the kernel unpacks as its initramfs. Every entry gets the time
// epoch, owner root and inode numbers in order, so the same files give the
// same bytes.
func WriteCPIO(w io.Writer, files []File, epoch time.Time) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	cw := cpio.NewWriter(zw)
	for i, f := range files {
		h := &cpio.Header{Name: f.Path, Mode: cpio.FileMode(f.Mode.Perm()), ModTime: epoch, Inode: int64(i + 1), Links: 1}
		if f.Mode.IsDir() {
			h.Mode |= cpio.TypeDir
			h.Links = 2
		} else {
			h.Mode |= cpio.TypeReg
			h.Size = int64(len(f.Data))
		}
		if err := cw.WriteHeader(h); err != nil {
			return fmt.Errorf("cpio %s: %w", f.Path, err)
		}
		if _, err := cw.Write(f.Data); err != nil {
			return fmt.Errorf("cpio %s: %w", f.Path, err)
		}
	}
	if err := cw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

// ReadCPIO reads back an archive written by WriteCPIO.
func ReadCPIO(r io.Reader) ([]File, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, err
	}
	cr := cpio.NewReader(zr)
	var out []File
	for {
		h, err := cr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		f := File{Path: h.Name, Mode: h.FileInfo().Mode()}
		if h.Mode.IsRegular() {
			if f.Data, err = io.ReadAll(cr); err != nil {
				return nil, err
			}
		}
		out = append(out, f)
	}
}
