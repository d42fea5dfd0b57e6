package netfilter

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	nfqueue "github.com/florianl/go-nfqueue/v2"
	"golang.org/x/sys/unix"

	"github.com/sipguard/sipguard/netfilter/netlab"
)

// listenVerdict answers the verdict queue in the box's namespace: packets
// whose payload contains "drop" are dropped, the rest accepted with
// MarkJudged. It returns how many packets it judged.
func listenVerdict(t *testing.T, b *testBox) *atomic.Int64 {
	t.Helper()
	q, err := nfqueue.Open(&nfqueue.Config{NfQueue: VerdictQueue, MaxPacketLen: 0xffff, MaxQueueLen: 64,
		Copymode: nfqueue.NfQnlCopyPacket, Flags: nfqueue.NfQaCfgFlagFailOpen, AfFamily: unix.AF_INET, NetNS: b.Box.Fd()})
	if err != nil {
		t.Fatalf("open queue: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); q.Close() })
	var n atomic.Int64
	err = q.RegisterWithErrorFunc(ctx, func(a nfqueue.Attribute) int {
		n.Add(1)
		if bytes.Contains(*a.Payload, []byte("drop")) {
			_ = q.SetVerdict(*a.PacketID, nfqueue.NfDrop)
			return 0
		}
		var mark uint32
		if a.Mark != nil {
			mark = *a.Mark
		}
		_ = q.SetVerdictWithMark(*a.PacketID, nfqueue.NfAccept, int(mark|MarkJudged))
		return 0
	}, func(error) int { return 0 })
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	return &n
}

// send sends one datagram with payload msg and reports whether it arrived.
func send(t *testing.T, b *testBox, src netip.Addr, port uint16, msg string) bool {
	t.Helper()
	dst := netlab.PBX4
	if src.Is6() {
		dst = netlab.PBX6
	}
	rx, err := b.PBX.ListenUDP(netip.AddrPortFrom(dst, port))
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	tx, err := b.WAN.DialUDP(src, netip.AddrPortFrom(dst, port))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	if _, err := tx.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	_ = rx.SetReadDeadline(time.Now().Add(silence))
	n, err := rx.Read(buf)
	return err == nil && string(buf[:n]) == msg
}

func newVerdictBox(t *testing.T) (*testBox, *Verdict) {
	t.Helper()
	r := Defaults()
	r.WAN = netlab.WANPort
	r.FirstPacket = true
	r.Allow = mustPrefixes(netlab.Carrier4.String())
	b := newTestBox(t, r)
	v, err := OpenVerdict(WithNetNS(b.Box.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	if err := v.Enable(); err != nil {
		t.Fatalf("Enable: %v", err)
	}
	return b, v
}

func verdictStats(t *testing.T, v *Verdict) VerdictStats {
	t.Helper()
	st, err := v.Stats()
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return st
}

func TestVerdictQueuesFirstPacketOfUnjudgedSources(t *testing.T) {
	b, v := newVerdictBox(t)
	for _, name := range []string{"bridge-nf-call-iptables", "bridge-nf-call-ip6tables"} {
		out, err := b.Box.Output(context.Background(), "cat", "/proc/sys/net/bridge/"+name)
		if err != nil || strings.TrimSpace(string(out)) != "1" {
			t.Errorf("%s in the box: %q, %v; want 1", name, out, err)
		}
	}

	// Nobody listens: the queue lets everything through (fail-open).
	if !send(t, b, netlab.Attacker4, 5060, "drop") {
		t.Fatal("without a listener the datagram did not pass")
	}
	if st := verdictStats(t, v); st.Queued != 1 || st.Judged != 0 {
		t.Fatalf("without a listener: %+v, want one queued, none judged", st)
	}

	judged := listenVerdict(t, b)
	for _, src := range []netip.Addr{netlab.Attacker4, netlab.Attacker6} {
		if send(t, b, src, 5060, "drop") {
			t.Errorf("%v: a datagram the listener dropped arrived", src)
		}
	}
	for _, src := range []netip.Addr{netlab.Other4, netlab.Other6} {
		if !send(t, b, src, 5060, "first") {
			t.Errorf("%v: an accepted datagram did not arrive", src)
		}
		// Judged: the next datagrams take the kernel's path, whatever
		// the listener would say.
		before := judged.Load()
		if !send(t, b, src, 5060, "then drop") {
			t.Errorf("%v: a judged source's datagram did not arrive", src)
		}
		if judged.Load() != before {
			t.Errorf("%v: a judged source's datagram was queued", src)
		}
	}
	if st := verdictStats(t, v); st.Judged != 2 {
		t.Errorf("judged sources %d, want 2 (the accepted ones)", st.Judged)
	}
	// Not queued: other ports, and what the allowlist accepts.
	before := judged.Load()
	if !send(t, b, netlab.Attacker4, 5070, "drop") || !send(t, b, netlab.Carrier4, 5060, "drop") {
		t.Error("a datagram that is not for the verdict did not arrive")
	}
	if judged.Load() != before {
		t.Error("a datagram to another port or from the allowlist was queued")
	}
	// Banned sources are dropped in the bridge, before the queue.
	if err := b.fw.Ban([]Ban{{Addr: netlab.Attacker4, Timeout: time.Minute}}); err != nil {
		t.Fatal(err)
	}
	if send(t, b, netlab.Attacker4, 5060, "banned") || judged.Load() != before {
		t.Error("a banned source's datagram reached the queue or the PBX")
	}

	if err := v.FlushJudged(); err != nil {
		t.Fatal(err)
	}
	if st := verdictStats(t, v); st.Judged != 0 {
		t.Errorf("after FlushJudged: %d judged", st.Judged)
	}
	if send(t, b, netlab.Other4, 5060, "drop") {
		t.Error("after FlushJudged a source was not judged again")
	}
}

func TestVerdictDisable(t *testing.T) {
	b, v := newVerdictBox(t)
	_ = listenVerdict(t, b)
	if err := v.Disable(); err != nil {
		t.Fatalf("Disable: %v", err)
	}
	if err := v.Disable(); err != nil {
		t.Fatalf("Disable again: %v", err)
	}
	if !send(t, b, netlab.Attacker4, 5060, "drop") {
		t.Error("with the verdict disabled the datagram did not pass")
	}
	out, err := b.Box.Output(context.Background(), "nft", "list", "tables")
	if err == nil && strings.Contains(string(out), VerdictTable) {
		t.Errorf("tables left after Disable:\n%s", out)
	}
	if _, err := v.Stats(); err == nil {
		t.Error("Stats without tables: no error")
	}
	out, err = b.Box.Output(context.Background(), "cat", "/proc/sys/net/bridge/bridge-nf-call-iptables")
	if err != nil || strings.TrimSpace(string(out)) != "0" {
		t.Errorf("bridge-nf-call-iptables after Disable: %q, %v; want 0", out, err)
	}
}

// BenchmarkVerdictBridgeThroughput measures what the first-packet
// verdict costs every bridged packet: iperf3 (TCP, the carrier to the
// PBX, never queued) with the default ruleset, the verdict's tables and
// sysctls on, then off, in alternation (throughput on a shared VM moves
// from one second to the next), and the medians compared.
func BenchmarkVerdictBridgeThroughput(b *testing.B) {
	netlab.RequireTool(b, "iperf3")
	lab := netlab.NewT(b)
	opt := WithNetNS(lab.Box.Fd())
	if err := SetupBridge(BridgeConfig{Name: "br0", WAN: netlab.WANPort, LAN: netlab.LANPort}, opt); err != nil {
		b.Fatal(err)
	}
	if err := lab.WaitLinks(context.Background()); err != nil {
		b.Fatal(err)
	}
	fw, err := Open(opt)
	if err != nil {
		b.Fatal(err)
	}
	defer fw.Close()
	if err := fw.Apply(Defaults()); err != nil {
		b.Fatal(err)
	}
	v, err := OpenVerdict(opt)
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	const rounds = 12
	var on, off float64
	for b.Loop() {
		var with, without []float64
		for range rounds {
			if err := v.Enable(); err != nil {
				b.Fatal(err)
			}
			with = append(with, throughputs(b, lab, 1)...)
			if err := v.Disable(); err != nil {
				b.Fatal(err)
			}
			without = append(without, throughputs(b, lab, 1)...)
		}
		on, off = median(with), median(without)
		b.Logf("Gbit/s, in alternation: verdict on %.1f, off %.1f", scale(with, 1e-9), scale(without, 1e-9))
	}
	b.ReportMetric(on/1e9, "Gbit/s-on")
	b.ReportMetric(off/1e9, "Gbit/s-off")
	b.ReportMetric(100*on/off, "%-of-off")
}
