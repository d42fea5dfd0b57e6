// Package atomicfile replaces files so that a power cut leaves the old
// content or the new one, whole: what the box's SD card needs for its
// configuration, boot state and databases.
package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// WriteFile replaces the file at path with data: it writes a temporary
// file beside it, flushes it to the disk, renames it over the old one and
// flushes the folder. An existing file keeps its permissions; a new one
// gets perm.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	if fi, err := os.Stat(path); err == nil {
		perm = fi.Mode().Perm()
	}
	return WriteFileMode(path, data, perm)
}

// WriteFileMode is WriteFile for a file whose permissions are fixed, such
// as one holding secrets: the new file gets perm, whatever the old one had,
// and is never readable with wider permissions, even for a moment.
func WriteFileMode(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	_, werr := tmp.Write(data)
	err = errors.Join(werr, tmp.Chmod(perm), tmp.Sync(), tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("write %s: flush the folder: %w", path, err)
	}
	return nil
}
