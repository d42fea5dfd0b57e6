package board_test

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/sipguard/sipguard/board"
	"github.com/sipguard/sipguard/board/boardtest"
)

func names(ms []*board.Module) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

func TestModuleOrder(t *testing.T) {
	idx, err := board.ReadModuleIndex(boardtest.ModuleTree())
	if err != nil {
		t.Fatal(err)
	}
	order, missing, err := idx.Order([]string{"bridge", "nf_tables", "nft-limit", "af_packet", "ext4", "virtio_net", "bcm2835_wdt"})
	if err != nil {
		t.Fatal(err)
	}
	got := names(order)
	want := []string{"llc", "stp", "bridge", "nfnetlink", "crc32c_generic", "libcrc32c", "nf_tables", "nft_limit",
		"jbd2", "mbcache", "crc16", "ext4", "failover", "net_failover", "virtio_net"}
	if !slices.Equal(got, want) {
		t.Errorf("load order\n got %v\nwant %v", got, want)
	}
	// af_packet is built in; the Pi's watchdog driver is not on this kernel.
	if !slices.Equal(missing, []string{"bcm2835_wdt"}) {
		t.Errorf("missing %v", missing)
	}
	// Every module comes after all it depends on.
	pos := map[string]int{}
	for i, n := range got {
		pos[n] = i
	}
	for _, m := range order {
		for _, d := range m.Depends {
			if pos[d] >= pos[m.Name] {
				t.Errorf("%s loaded before its dependency %s", m.Name, d)
			}
		}
	}
	if order[0].Path != "kernel/net/llc/llc.ko" {
		t.Errorf("path %q", order[0].Path)
	}
}

func TestModuleOrderByAlias(t *testing.T) {
	idx, err := board.ReadModuleIndex(boardtest.ModuleTree())
	if err != nil {
		t.Fatal(err)
	}
	order, _, err := idx.Order([]string{"nfnetlink-subsys-10"})
	if err != nil || !slices.Equal(names(order), []string{"nfnetlink", "crc32c_generic", "libcrc32c", "nf_tables"}) {
		t.Errorf("by alias: %v, %v", names(order), err)
	}
}

func TestModuleErrors(t *testing.T) {
	tree := boardtest.ModuleTree()
	tree["kernel/net/llc/llc.ko"] = &fstest.MapFile{Data: boardtest.Module("depends=stp", "name=llc")}
	idx, err := board.ReadModuleIndex(tree)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := idx.Order([]string{"bridge"}); err == nil || !strings.Contains(err.Error(), "loop") {
		t.Errorf("dependency loop: %v", err)
	}
	tree["kernel/bad.ko"] = &fstest.MapFile{Data: []byte("not an ELF file")}
	if _, err := board.ReadModuleIndex(tree); err == nil || !strings.Contains(err.Error(), "kernel/bad.ko") {
		t.Errorf("bad module: %v", err)
	}
	// A kernel with everything built in has no modules directory at all.
	idx, err = board.ReadModuleIndex(fstest.MapFS{})
	if err != nil {
		t.Fatal(err)
	}
	if order, missing, err := idx.Order([]string{"bridge"}); len(order) != 0 || len(missing) != 1 || err != nil {
		t.Errorf("empty tree: %v %v %v", order, missing, err)
	}
}
