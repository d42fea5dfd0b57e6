package sip

import (
	"errors"
	"fmt"

	"golang.org/x/net/bpf"

	"github.com/sipguard/sipguard/sip/portrange"
)

// snapLen is how much of a passing frame the kernel copies to the socket:
// all of it (a SIP message over UDP can be up to 64 KB).
const snapLen = 1 << 18

// Filter returns the classic BPF program the capture socket runs in the
// kernel, so that only SIP frames are copied to the box's service: UDP
// and/or TCP segments from or to one of ports, over IPv4 or IPv6, with or
// without one VLAN tag left in the frame. It also passes what the service
// cannot judge in the kernel but must count: non-initial IPv4 fragments,
// and IPv6 packets whose transport header hides behind extension headers.
func Filter(ports []portrange.Range, udp, tcp bool) ([]bpf.Instruction, error) {
	if len(ports) == 0 || !(udp || tcp) {
		return nil, errors.New("sip filter: no ports, or neither UDP nor TCP")
	}
	for _, r := range ports {
		if r.First == 0 || r.First > r.Last {
			return nil, fmt.Errorf("sip filter: bad port range %d:%d", r.First, r.Last)
		}
	}
	a := &assembler{labels: map[string]int{}}
	a.emit(bpf.LoadAbsolute{Off: 12, Size: 2}) // EtherType
	a.jumpIf(bpf.JumpEqual, 0x8100, "tagged", "")
	a.jumpIf(bpf.JumpEqual, 0x88a8, "tagged", "")
	a.ipDispatch(0)
	a.label("tagged")
	a.emit(bpf.LoadAbsolute{Off: 16, Size: 2}) // EtherType after one tag
	a.ipDispatch(4)
	for _, base := range []uint32{0, 4} {
		a.ipv4(base, ports, udp, tcp)
		a.ipv6(base, ports, udp, tcp)
	}
	a.label("accept")
	a.emit(bpf.RetConstant{Val: snapLen})
	a.label("drop")
	a.emit(bpf.RetConstant{Val: 0})
	return a.assemble()
}

// ipDispatch jumps on the EtherType in A to the IPv4 or IPv6 code for a
// network header at 14+base.
func (a *assembler) ipDispatch(base uint32) {
	a.jumpIf(bpf.JumpEqual, 0x0800, fmt.Sprint("ip4_", base), "")
	a.jumpIf(bpf.JumpEqual, 0x86dd, fmt.Sprint("ip6_", base), "drop")
}

func (a *assembler) protocols(udp, tcp bool, match string) {
	if udp {
		a.jumpIf(bpf.JumpEqual, ProtoUDP, match, "")
	}
	if tcp {
		a.jumpIf(bpf.JumpEqual, ProtoTCP, match, "")
	}
}

func (a *assembler) ipv4(base uint32, ports []portrange.Range, udp, tcp bool) {
	nh := 14 + base
	a.label(fmt.Sprint("ip4_", base))
	a.emit(bpf.LoadAbsolute{Off: nh + 9, Size: 1}) // protocol
	a.protocols(udp, tcp, fmt.Sprint("ip4l4_", base))
	a.jump("drop")
	a.label(fmt.Sprint("ip4l4_", base))
	a.emit(bpf.LoadAbsolute{Off: nh + 6, Size: 2}) // flags and fragment offset
	a.jumpIf(bpf.JumpBitsSet, 0x1fff, "accept", "")
	a.emit(bpf.LoadMemShift{Off: nh})          // X = header length
	a.emit(bpf.LoadIndirect{Off: nh, Size: 2}) // source port
	a.ports(ports, fmt.Sprint("ip4dst_", base))
	a.label(fmt.Sprint("ip4dst_", base))
	a.emit(bpf.LoadIndirect{Off: nh + 2, Size: 2}) // destination port
	a.ports(ports, "drop")
}

func (a *assembler) ipv6(base uint32, ports []portrange.Range, udp, tcp bool) {
	nh := 14 + base
	a.label(fmt.Sprint("ip6_", base))
	a.emit(bpf.LoadAbsolute{Off: nh + 6, Size: 1}) // next header
	a.protocols(udp, tcp, fmt.Sprint("ip6l4_", base))
	for _, ext := range []uint32{0, 43, 44, 60} { // hop-by-hop, routing, fragment, destination options
		a.jumpIf(bpf.JumpEqual, ext, "accept", "")
	}
	a.jump("drop")
	a.label(fmt.Sprint("ip6l4_", base))
	a.emit(bpf.LoadAbsolute{Off: nh + 40, Size: 2}) // source port
	a.ports(ports, fmt.Sprint("ip6dst_", base))
	a.label(fmt.Sprint("ip6dst_", base))
	a.emit(bpf.LoadAbsolute{Off: nh + 42, Size: 2}) // destination port
	a.ports(ports, "drop")
}

// ports jumps to accept if A is in one of the ranges, else to miss.
func (a *assembler) ports(ranges []portrange.Range, miss string) {
	for i, r := range ranges {
		last := i == len(ranges)-1
		next := miss
		if !last {
			next = fmt.Sprintf("next_%d", len(a.ins))
		}
		if r.First == r.Last {
			a.jumpIf(bpf.JumpEqual, uint32(r.First), "accept", next)
		} else {
			in := fmt.Sprintf("in_%d", len(a.ins))
			a.jumpIf(bpf.JumpGreaterOrEqual, uint32(r.First), in, next)
			a.label(in)
			a.jumpIf(bpf.JumpGreaterThan, uint32(r.Last), next, "accept")
		}
		if !last {
			a.label(next)
		}
	}
}

// assembler writes a BPF program with symbolic jump targets; "" means the
// next instruction.
type assembler struct {
	ins    []bpf.Instruction
	labels map[string]int
	fixups []fixup
}

type fixup struct {
	at              int
	ifTrue, ifFalse string
	unconditional   bool
}

func (a *assembler) emit(i bpf.Instruction) { a.ins = append(a.ins, i) }
func (a *assembler) label(name string)      { a.labels[name] = len(a.ins) }

func (a *assembler) jumpIf(cond bpf.JumpTest, val uint32, ifTrue, ifFalse string) {
	a.fixups = append(a.fixups, fixup{at: len(a.ins), ifTrue: ifTrue, ifFalse: ifFalse})
	a.emit(bpf.JumpIf{Cond: cond, Val: val})
}

func (a *assembler) jump(to string) {
	a.fixups = append(a.fixups, fixup{at: len(a.ins), ifTrue: to, unconditional: true})
	a.emit(bpf.Jump{})
}

func (a *assembler) assemble() ([]bpf.Instruction, error) {
	skip := func(from int, label string) (uint32, error) {
		if label == "" {
			return 0, nil
		}
		to, ok := a.labels[label]
		if !ok || to <= from {
			return 0, fmt.Errorf("sip filter: bad jump to %q", label)
		}
		return uint32(to - from - 1), nil
	}
	for _, f := range a.fixups {
		t, err := skip(f.at, f.ifTrue)
		if err != nil {
			return nil, err
		}
		if f.unconditional {
			a.ins[f.at] = bpf.Jump{Skip: t}
			continue
		}
		e, err := skip(f.at, f.ifFalse)
		if err != nil {
			return nil, err
		}
		if t > 255 || e > 255 {
			return nil, errors.New("sip filter: too many port ranges for one program")
		}
		j := a.ins[f.at].(bpf.JumpIf)
		j.SkipTrue, j.SkipFalse = uint8(t), uint8(e)
		a.ins[f.at] = j
	}
	if _, err := bpf.Assemble(a.ins); err != nil {
		return nil, fmt.Errorf("sip filter: %w", err)
	}
	return a.ins, nil
}
