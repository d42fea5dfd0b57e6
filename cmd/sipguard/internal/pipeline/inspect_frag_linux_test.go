package pipeline

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sipguard/sipguard/netfilter"
	"github.com/sipguard/sipguard/netfilter/netlab"
	"github.com/sipguard/sipguard/sip"
	"github.com/sipguard/sipguard/sip/portrange"
)

// TestInspectKernelFragments sends REGISTERs of about 3,000 bytes across
// a lab's box over 1500-byte MTU links: the sending kernel fragments
// them (IPv4 and IPv6), the PBX's kernel puts them together, and the
// box's capture and Inspect must read the whole message too: the scanner
// User-Agent, placed after the padding in the last fragment, gets the
// source banned. Two datagrams, each sent at most three times.
func TestInspectKernelFragments(t *testing.T) {
	lab := netlab.NewT(t)
	ctx := context.Background()
	if err := netfilter.SetupBridge(netfilter.BridgeConfig{Name: "br0", WAN: netlab.WANPort, LAN: netlab.LANPort}, netfilter.WithNetNS(lab.Box.Fd())); err != nil {
		t.Fatal(err)
	}
	if err := lab.WaitLinks(ctx); err != nil {
		t.Fatal(err)
	}
	var capture *sip.Capture
	if err := lab.Box.Do(func() (err error) {
		capture, err = sip.Listen(netlab.WANPort, []portrange.Range{{First: 5060, Last: 5060}}, true, true)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer capture.Close()

	bans := make(chan netip.Prefix, 16)
	engine, err := sip.NewEngine(sip.DefaultRules(), 1024, func(d sip.Decision) {
		if d.Action == sip.Ban {
			select {
			case bans <- d.Source:
			default:
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	var st InspectStats
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- Inspect(runCtx, capture, sip.FromWAN, engine, &st) }()
	stopped := false
	stop := func() { // the counters are complete once Inspect returns
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Inspect: %v", err)
			}
		case <-time.After(2 * time.Second):
			t.Error("Inspect did not return after cancel")
		}
	}
	defer stop()

	for _, c := range []struct {
		name          string
		attacker, pbx netip.Addr
	}{{"ipv4", netlab.Attacker4, netlab.PBX4}, {"ipv6", netlab.Attacker6, netlab.PBX6}} {
		pbx, err := lab.PBX.ListenUDP(netip.AddrPortFrom(c.pbx, 5060))
		if err != nil {
			t.Fatal(err)
		}
		defer pbx.Close()
		phone, err := lab.WAN.DialUDP(c.attacker, netip.AddrPortFrom(c.pbx, 5060))
		if err != nil {
			t.Fatal(err)
		}
		defer phone.Close()
		msg := "REGISTER sip:pbx SIP/2.0\r\nVia: SIP/2.0/UDP " + netip.AddrPortFrom(c.attacker, 5060).String() + ";branch=z9hG4bK" + c.name + "\r\n" +
			"From: <sip:1001@pbx>;tag=1\r\nTo: <sip:1001@pbx>\r\nCall-ID: frag-" + c.name + "\r\nCSeq: 1 REGISTER\r\n" +
			"X-Padding: " + strings.Repeat("p", 2800) + "\r\nUser-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n"

		var banned netip.Prefix
		received := false
		buf := make([]byte, 8192)
		for try := 0; try < 3 && !banned.IsValid(); try++ {
			if _, err := phone.Write([]byte(msg)); err != nil {
				t.Fatal(err)
			}
			_ = pbx.SetReadDeadline(time.Now().Add(time.Second))
			if n, err := pbx.Read(buf); err == nil && string(buf[:n]) == msg {
				received = true // the PBX's kernel reassembled it
			}
			select {
			case banned = <-bans:
			case <-time.After(time.Second):
			}
		}
		if !received {
			t.Errorf("%s: the PBX did not receive the datagram", c.name)
		}
		if !banned.IsValid() || !banned.Contains(c.attacker) {
			t.Errorf("%s: banned %v, want %v (stats %v)", c.name, banned, c.attacker, st.Map())
		}
	}
	stop()
	t.Logf("counters %v", st.Map())
	// The capture's fanout group has the kernel put IPv4 datagrams back
	// together before they reach the socket; IPv6 fragments arrive one by
	// one and the reassembler puts them together.
	if m := st.Map(); m["fragments"] < 2 || m["reassembled"] < 1 || m["frag_overlaps"]+m["frag_malformed"] != 0 {
		t.Errorf("stats %v", m)
	}
}
