package image

import (
	"crypto/ed25519"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/partition/mbr"

	"github.com/sipguard/sipguard/image/manifest"
)

// RootSlots are the partitions of the root slots, A and B.
var RootSlots = []int{2, 3}

// SignCard writes the signed manifest of a built card: it hashes the
// staged boot files and the root slot image, signs, and writes the
// manifest's trailer at the end of both root slots of the card at img.
func SignCard(spec Spec, staged, rootImage, img string, key ed25519.PrivateKey) (manifest.Signed, error) {
	s, err := SignRoot(spec, staged, rootImage, key)
	if err != nil {
		return manifest.Signed{}, err
	}
	return s, writeTrailers(img, s, s.Manifest.Root.Size)
}

// SignRoot signs the manifest of a build: its staged boot files and its
// root slot image.
func SignRoot(spec Spec, staged, rootImage string, key ed25519.PrivateKey) (manifest.Signed, error) {
	m := manifest.Manifest{Format: manifest.Format, Version: spec.Version, Board: spec.Board, Created: spec.Epoch.UTC()}
	f, err := os.Open(rootImage)
	if err != nil {
		return manifest.Signed{}, err
	}
	m.Root, err = manifest.HashFile("", f)
	f.Close()
	if err != nil {
		return manifest.Signed{}, err
	}
	if m.Boot, err = hashTree(filepath.Join(staged, "boot")); err != nil {
		return manifest.Signed{}, err
	}
	return manifest.Sign(m, key)
}

// hashTree hashes every file under dir, by path relative to it, in order.
func hashTree(dir string) ([]manifest.File, error) {
	var out []manifest.File
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		mf, err := manifest.HashFile(filepath.ToSlash(rel), f)
		out = append(out, mf)
		return err
	})
	slices.SortFunc(out, func(a, b manifest.File) int {
		if a.Path < b.Path {
			return -1
		}
		return 1
	})
	return out, err
}

// writeTrailers writes s's trailer at the end of each root slot of img.
func writeTrailers(img string, s manifest.Signed, rootSize int64) error {
	trailer, err := manifest.EncodeTrailer(s)
	if err != nil {
		return err
	}
	d, err := diskfs.Open(img, diskfs.WithOpenMode(diskfs.ReadWrite))
	if err != nil {
		return err
	}
	defer d.Close()
	pt, err := d.GetPartitionTable()
	if err != nil {
		return err
	}
	t, ok := pt.(*mbr.Table)
	if !ok {
		return fmt.Errorf("%s: want an MBR partition table", img)
	}
	w, err := d.Backend.Writable()
	if err != nil {
		return err
	}
	for _, n := range RootSlots {
		p := t.Partitions[n-1]
		start, size := int64(p.Start)*512, int64(p.Size)*512
		if rootSize > size-manifest.TrailerSize {
			return fmt.Errorf("root image of %d bytes leaves no room for the manifest in slot partition %d (%d bytes)", rootSize, n, size)
		}
		if _, err := w.WriteAt(trailer, start+size-manifest.TrailerSize); err != nil {
			return err
		}
	}
	return nil
}

// WriteBundle writes the update bundle of a built card to path.
func WriteBundle(path string, s manifest.Signed, rootImage string) error {
	root, err := os.Open(rootImage)
	if err != nil {
		return err
	}
	defer root.Close()
	tmp := path + ".tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := manifest.WriteBundle(out, s, root, s.Manifest.Created); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
