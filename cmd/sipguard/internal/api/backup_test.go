package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func (f *fakeBackend) Backup(_ context.Context, password string) ([]byte, error) {
	f.password = password
	return []byte("age-encryption.org/v1\nsealed"), nil
}

func (f *fakeBackend) Restore(_ context.Context, password string, file []byte) (Restored, error) {
	f.password = password
	if password != "correct horse battery" {
		return Restored{}, errors.Join(ErrBadRequest, errors.New("wrong password or not a sipguard backup"))
	}
	f.restored = file
	return Restored{Firmware: "v1.2.0", Allow: 2, Permanent: 1, Config: true}, nil
}

// The backup travels as it is, both ways, and the password in its header;
// a refused restore comes back as the daemon's error.
func TestBackupRestoreThroughTheAPI(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "api.sock")
	b := &fakeBackend{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = Serve(ctx, sock, b, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	c := Client{Socket: sock}
	var file []byte
	var err error
	for range 100 {
		if file, err = c.Backup(ctx, "correct horse battery"); !errors.Is(err, ErrNoDaemon) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil || !bytes.HasPrefix(file, []byte("age-encryption.org/v1\n")) || b.password != "correct horse battery" {
		t.Fatalf("backup: %q %v (password %q)", file, err, b.password)
	}
	r, err := c.Restore(ctx, "correct horse battery", file)
	if err != nil || !bytes.Equal(b.restored, file) || r.Allow != 2 || r.Permanent != 1 || !r.Config {
		t.Fatalf("restore: %+v %v (got %q)", r, err, b.restored)
	}
	b.restored = nil
	if _, err := c.Restore(ctx, "wrong password here", file); err == nil || !strings.Contains(err.Error(), "wrong password") || b.restored != nil {
		t.Errorf("restore with a wrong password: %v", err)
	}
}
