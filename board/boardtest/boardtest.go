// Package boardtest provides what tests of the box's system layer need:
// synthetic kernel modules and module trees.
package boardtest

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"strings"
	"testing/fstest"
)

// Module builds a minimal ELF object whose .modinfo section holds info
// (key=value strings), as a kernel module's does.
func Module(info ...string) []byte {
	modinfo := []byte(strings.Join(info, "\x00") + "\x00")
	shstrtab := []byte("\x00.modinfo\x00.shstrtab\x00")
	const hdr = 64
	shoff := (hdr + len(modinfo) + len(shstrtab) + 7) &^ 7
	var b bytes.Buffer
	h := elf.Header64{
		Type: uint16(elf.ET_REL), Machine: uint16(elf.EM_AARCH64), Version: uint32(elf.EV_CURRENT),
		Shoff: uint64(shoff), Ehsize: hdr, Shentsize: 64, Shnum: 3, Shstrndx: 2,
	}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS], h.Ident[elf.EI_DATA], h.Ident[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)
	// Writes to a bytes.Buffer of fixed-size values cannot fail.
	_ = binary.Write(&b, binary.LittleEndian, h)
	b.Write(modinfo)
	b.Write(shstrtab)
	b.Write(make([]byte, shoff-b.Len()))
	for _, s := range []elf.Section64{
		{},
		{Name: 1, Type: uint32(elf.SHT_PROGBITS), Off: hdr, Size: uint64(len(modinfo)), Addralign: 1},
		{Name: 10, Type: uint32(elf.SHT_STRTAB), Off: uint64(hdr + len(modinfo)), Size: uint64(len(shstrtab)), Addralign: 1},
	} {
		_ = binary.Write(&b, binary.LittleEndian, s)
	}
	return b.Bytes()
}

// ModuleTree is a /lib/modules/<release> laid out like Debian's arm64
// kernel: no modules.dep, dependencies only in each module's modinfo.
func ModuleTree() fstest.MapFS {
	mod := func(info ...string) *fstest.MapFile { return &fstest.MapFile{Data: Module(info...)} }
	return fstest.MapFS{
		"modules.builtin":                             {Data: []byte("kernel/net/packet/af_packet.ko\nkernel/net/unix/unix.ko\n")},
		"kernel/net/bridge/bridge.ko":                 mod("license=GPL", "depends=llc,stp", "name=bridge"),
		"kernel/net/802/stp.ko":                       mod("depends=llc", "name=stp"),
		"kernel/net/llc/llc.ko":                       mod("depends=", "name=llc"),
		"kernel/net/netfilter/nf_tables.ko":           mod("depends=nfnetlink,libcrc32c", "name=nf_tables", "alias=nfnetlink-subsys-10"),
		"kernel/net/netfilter/nfnetlink.ko":           mod("depends=", "name=nfnetlink"),
		"kernel/lib/libcrc32c.ko":                     mod("softdep=pre: crc32c", "depends=", "name=libcrc32c"),
		"kernel/crypto/crc32c_generic.ko":             mod("alias=crypto-crc32c", "alias=crc32c", "depends=", "name=crc32c_generic"),
		"kernel/net/netfilter/nft_limit.ko":           mod("depends=nf_tables", "name=nft_limit"),
		"kernel/fs/ext4/ext4.ko":                      mod("softdep=pre: crypto-crc32c", "depends=jbd2,mbcache,crc16", "name=ext4"),
		"kernel/fs/jbd2/jbd2.ko":                      mod("depends=", "name=jbd2"),
		"kernel/fs/mbcache.ko":                        mod("depends=", "name=mbcache"),
		"kernel/lib/crc16.ko":                         mod("depends=", "name=crc16"),
		"kernel/drivers/net/virtio_net.ko":            mod("depends=net_failover", "name=virtio_net"),
		"kernel/drivers/net/net_failover.ko":          mod("depends=failover", "name=net_failover"),
		"kernel/net/core/failover.ko":                 mod("depends=", "name=failover"),
		"kernel/drivers/watchdog/softdog.ko":          mod("depends=", "name=softdog"),
		"kernel/net/bridge/netfilter/br_netfilter.ko": mod("depends=bridge", "name=br_netfilter"),
	}
}
