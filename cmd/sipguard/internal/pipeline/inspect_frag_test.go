package pipeline

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/sipguard/sipguard/sip"
)

// fragment4 cuts an IPv4 frame (no VLAN tag, no options) into fragments of
// at most size bytes of payload each (size a multiple of 8), as a host
// sending over a smaller MTU does.
func fragment4(frame []byte, size int) [][]byte {
	eth, ip, payload := frame[:14], frame[14:34], frame[34:]
	var out [][]byte
	for off := 0; off < len(payload); off += size {
		end := min(off+size, len(payload))
		h := append([]byte(nil), ip...)
		binary.BigEndian.PutUint16(h[2:], uint16(20+end-off))
		fo := uint16(off >> 3)
		if end < len(payload) {
			fo |= 0x2000
		}
		binary.BigEndian.PutUint16(h[6:], fo)
		out = append(out, append(append(append([]byte(nil), eth...), h...), payload[off:end]...))
	}
	return out
}

// TestInspectFragmentedBruteForce is the lab's case: wrong passwords
// padded past the MTU reach the PBX as IP fragments, in any order. The
// box must put them together, read the REGISTERs and ban at the limit.
func TestInspectFragmentedBruteForce(t *testing.T) {
	k := &fakeKernel{}
	rules := sip.DefaultRules()
	engine := startChain(t, Options{Kernel: k}, rules)
	f := frames{remote: netip.MustParseAddr("203.0.113.66"), pbx: netip.MustParseAddr("192.0.2.10")}
	var st InspectStats
	ctx := context.Background()
	pad := "X-Padding: " + strings.Repeat("p", 2800) + "\r\n"
	n := rules.GuessLimit + 1 // a source that never authenticated: the slow-guessing bucket bans the next
	for seq := 1; seq <= n; seq++ {
		common := fmt.Sprintf("Via: SIP/2.0/UDP %v:5060;branch=z9hG4bK%d\r\nFrom: <sip:1001@pbx>;tag=f%d\r\nTo: <sip:1001@pbx>\r\nCall-ID: call-%d\r\nCSeq: %d REGISTER\r\n",
			f.remote, seq, seq, seq, seq)
		req := f.udp(true, "REGISTER sip:pbx SIP/2.0\r\n"+common+pad+"User-Agent: Yealink SIP-T46S\r\n"+
			"Authorization: Digest username=\"1001\", realm=\"pbx\", response=\"x\"\r\nContent-Length: 0\r\n\r\n")
		binary.BigEndian.PutUint16(req[18:], uint16(seq)) // IP Identification
		frags := fragment4(req, 1480)
		if seq%2 == 0 {
			frags[0], frags[len(frags)-1] = frags[len(frags)-1], frags[0] // out of order
		}
		resp := f.udp(false, fmt.Sprintf("SIP/2.0 401 Unauthorized\r\n%sContent-Length: 0\r\n\r\n", common))
		if err := Inspect(ctx, &fakeCapture{frames: frags}, sip.FromWAN, engine, &st); err != nil {
			t.Fatal(err)
		}
		if err := Inspect(ctx, &fakeCapture{frames: [][]byte{resp}}, sip.FromLAN, engine, &st); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the ban", func() bool { return len(k.banned()) == 1 })
	if got := k.banned()[0]; got != f.remote {
		t.Errorf("banned %v, want %v", got, f.remote)
	}
	m := st.Map()
	if m["fragments"] != uint64(3*n) || m["reassembled"] != uint64(n) || m["undecodable"] != 0 || m["unparsable"] != 0 {
		t.Errorf("stats %v", m)
	}
}

// TestInspectFragmentGiveUps: the reassembler's give-ups reach the
// counters as they happen.
func TestInspectFragmentGiveUps(t *testing.T) {
	engine, err := sip.NewEngine(sip.DefaultRules(), 1024, func(sip.Decision) {})
	if err != nil {
		t.Fatal(err)
	}
	f := frames{remote: netip.MustParseAddr("203.0.113.66"), pbx: netip.MustParseAddr("192.0.2.10")}
	req := fragment4(f.udp(true, strings.Repeat("x", 3000)), 1480)
	straddle := fragment4(f.udp(true, strings.Repeat("x", 3000)), 1000)[1] // overlaps the first
	var st InspectStats
	if err := Inspect(context.Background(), &fakeCapture{frames: [][]byte{req[0], straddle}}, sip.FromWAN, engine, &st); err != nil {
		t.Fatal(err)
	}
	if m := st.Map(); m["fragments"] != 2 || m["frag_overlaps"] != 1 || m["reassembled"] != 0 {
		t.Errorf("stats %v", m)
	}
}
