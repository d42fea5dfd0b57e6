package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/feeds"
	"github.com/sipguard/sipguard/netfilter/netlab"
)

// A blocklist feed, served inside the box's namespace, is loaded into the
// kernel: its networks are dropped; a refresh after the list changes lets
// them through again.
func TestBlocklistFeed(t *testing.T) {
	lab := netlab.NewT(t)
	bin := buildSipguard(t)
	var mu sync.Mutex
	list := "# a test list\n" + netlab.Attacker4.String() + "\n10.1.0.0/16 ; a private network, as offices use: ignored\n"
	addr := serveInBox(t, lab, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Write([]byte(list))
	}))

	dir := t.TempDir()
	conf, sock := filepath.Join(dir, "sipguard.toml"), filepath.Join(dir, "api.sock")
	text := "[feeds]\ndefaults = false\ncustom = [{ name = \"lab\", url = \"http://" + addr + "/list.txt\", interval = \"10m\" }]\n"
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	startDaemon(t, lab, bin, "--api", sock, "--config", conf) // --no-feeds leaves the file's own feed

	status := func() feeds.Status {
		t.Helper()
		var st []feeds.Status
		if err := json.Unmarshal([]byte(sipguard(t, lab, bin, "--api", sock, "feeds", "status", "--json")), &st); err != nil {
			t.Fatal(err)
		}
		for _, s := range st {
			if s.Name == "lab" {
				return s
			}
		}
		t.Fatalf("no lab feed: %+v", st)
		return feeds.Status{}
	}
	deadline := time.Now().Add(10 * time.Second)
	for status().V4 != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("feed not loaded: %+v", status())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s := status(); s.Ignored != 1 {
		t.Errorf("the office's network not ignored: %+v", s)
	}
	time.Sleep(200 * time.Millisecond) // the kernel set is swapped right after
	if reaches(t, lab, netlab.Attacker4) {
		t.Error("a source on the feed reached the PBX")
	}
	if !reaches(t, lab, netlab.Carrier4) {
		t.Error("a source not on the feed was dropped")
	}
	if out := sipguard(t, lab, bin, "--api", sock, "status"); !strings.Contains(out, "| Feeds (ranges)      |          1 |") {
		t.Errorf("status:\n%s", out)
	}

	mu.Lock()
	list = "# empty now\n" + netlab.Other4.String() + "\n"
	mu.Unlock()
	sipguard(t, lab, bin, "--api", sock, "feeds", "refresh", "lab")
	if !reaches(t, lab, netlab.Attacker4) {
		t.Error("a source taken off the feed is still dropped")
	}
}
