package board

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// Module is one loadable kernel module found under the modules directory.
type Module struct {
	Name    string   // canonical name, with underscores ("nf_tables")
	Path    string   // path relative to the modules directory
	Depends []string // modules that must be loaded first (modinfo "depends")
	Pre     []string // soft pre-dependencies, names or aliases (modinfo "softdep=pre:")
	Aliases []string // modinfo "alias" values
}

// ModuleIndex knows the modules of one kernel release: the loadable ones
// with their dependencies, read from each module's own .modinfo section (so
// no modules.dep is needed), and the ones built into the kernel
// (modules.builtin).
type ModuleIndex struct {
	dir     fs.FS
	mods    map[string]*Module
	aliases map[string]string
	builtin map[string]bool
}

// ModuleName canonicalises a module name or file name: "nf-tables.ko" and
// "nf_tables" are the same module.
func ModuleName(s string) string {
	s = path.Base(s)
	if i := strings.Index(s, ".ko"); i >= 0 {
		s = s[:i]
	}
	return strings.ReplaceAll(s, "-", "_")
}

// ReadModuleIndex scans dir (the contents of /lib/modules/<release>).
// A directory with no modules at all is a valid, empty index: the kernel
// may have everything built in.
func ReadModuleIndex(dir fs.FS) (*ModuleIndex, error) {
	x := &ModuleIndex{dir: dir, mods: map[string]*Module{}, aliases: map[string]string{}, builtin: map[string]bool{}}
	if b, err := fs.ReadFile(dir, "modules.builtin"); err == nil {
		for line := range strings.Lines(string(b)) {
			if line = strings.TrimSpace(line); line != "" {
				x.builtin[ModuleName(line)] = true
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("modules: %w", err)
	}
	err := fs.WalkDir(dir, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == "." && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".ko") {
			return nil
		}
		m, err := readModinfo(dir, p)
		if err != nil {
			return err
		}
		x.mods[m.Name] = m
		for _, a := range m.Aliases {
			x.aliases[a] = m.Name
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("modules: %w", err)
	}
	return x, nil
}

// readModinfo reads the .modinfo section of the ELF module at p: NUL-
// separated key=value strings.
func readModinfo(dir fs.FS, p string) (*Module, error) {
	f, err := dir.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ra, ok := f.(readerAt)
	if !ok {
		b, err := fs.ReadFile(dir, p)
		if err != nil {
			return nil, err
		}
		ra = bytes.NewReader(b)
	}
	e, err := elf.NewFile(ra)
	if err != nil {
		return nil, fmt.Errorf("%s: not a kernel module: %w", p, err)
	}
	sec := e.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("%s: not a kernel module: no .modinfo section", p)
	}
	info, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("%s: reading .modinfo: %w", p, err)
	}
	m := &Module{Name: ModuleName(p), Path: p}
	for kv := range bytes.SplitSeq(info, []byte{0}) {
		k, v, ok := strings.Cut(string(kv), "=")
		if !ok {
			continue
		}
		switch k {
		case "name":
			m.Name = ModuleName(v)
		case "depends":
			for d := range strings.SplitSeq(v, ",") {
				if d = strings.TrimSpace(d); d != "" {
					m.Depends = append(m.Depends, ModuleName(d))
				}
			}
		case "softdep":
			// "pre: a b post: c": only what comes before post: matters here.
			for _, part := range strings.Fields(v) {
				if part == "post:" {
					break
				}
				if part != "pre:" {
					m.Pre = append(m.Pre, part)
				}
			}
		case "alias":
			m.Aliases = append(m.Aliases, v)
		}
	}
	return m, nil
}

type readerAt interface {
	ReadAt(p []byte, off int64) (int, error)
}

// Order returns the modules to load for the wanted names (names or
// aliases), dependencies first, each once. Built-in modules are left out.
// Wanted modules the kernel has neither built in nor as a file are
// returned in missing: the caller decides whether that matters.
func (x *ModuleIndex) Order(wanted []string) (order []*Module, missing []string, err error) {
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name string, required bool, chain []string) error
	visit = func(name string, required bool, chain []string) error {
		if real, ok := x.aliases[name]; ok {
			name = real
		}
		name = ModuleName(name)
		if x.builtin[name] {
			return nil
		}
		m, ok := x.mods[name]
		if !ok {
			if required {
				missing = append(missing, name)
			}
			return nil
		}
		switch state[name] {
		case 2:
			return nil
		case 1:
			return fmt.Errorf("modules: dependency loop %s", strings.Join(append(chain, name), " → "))
		}
		state[name] = 1
		chain = append(chain, name)
		for _, p := range m.Pre {
			if err := visit(p, false, chain); err != nil {
				return err
			}
		}
		for _, d := range m.Depends {
			if err := visit(d, true, chain); err != nil {
				return err
			}
		}
		state[name] = 2
		order = append(order, m)
		return nil
	}
	for _, w := range wanted {
		if err := visit(w, true, nil); err != nil {
			return nil, nil, err
		}
	}
	slices.Sort(missing)
	return order, slices.Compact(missing), nil
}

// KernelModules are the modules the box needs, by name, on every board;
// each board's kernel has some built in and lacks the others' drivers.
// Drivers of absent hardware load and stay idle.
func KernelModules() []string {
	return []string{
		// The dataplane: bridge, nftables with the bridge family, raw sockets.
		"bridge", "nf_tables", "nft_limit", "nft_objref", "nft_meta_bridge", "af_packet",
		// The first-packet verdict: bridged packets through the ip and ip6
		// hooks, and the NFQUEUE target (x_tables) in an nftables rule.
		"br_netfilter", "nft_compat", "xt_NFQUEUE", "nfnetlink_queue",
		// The data partition, the boot partition, the root slots.
		"ext4", "vfat", "squashfs",
		// Raspberry Pi 4: SD card, on-board Ethernet and its PHY, the USB 3
		// controller, USB Ethernet adapters for the second port, watchdog.
		"sdhci_iproc", "genet", "broadcom", "mdio_bcm_unimac", "reset_raspberrypi", "xhci_pci",
		"r8152", "ax88179_178a", "lan78xx", "smsc95xx", "cdc_ether", "bcm2835_wdt",
		// QEMU virt: virtio disk and network.
		"virtio_pci", "virtio_net", "virtio_blk",
	}
}
