package sip

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sipguard/sipguard/netfilter"
	"github.com/sipguard/sipguard/netfilter/netlab"
	"github.com/sipguard/sipguard/sip/portrange"
)

// TestCaptureSeesBothDirections bridges a lab's box and captures on both
// ports: the wan capture sees the request from the internet, the lan capture
// the PBX's answer, each once, and traffic to other ports never reaches
// either socket.
func TestCaptureSeesBothDirections(t *testing.T) {
	lab := netlab.NewT(t)
	if err := netfilter.SetupBridge(netfilter.BridgeConfig{Name: "br0", WAN: netlab.WANPort, LAN: netlab.LANPort}, netfilter.WithNetNS(lab.Box.Fd())); err != nil {
		t.Fatal(err)
	}
	if err := lab.WaitLinks(context.Background()); err != nil {
		t.Fatal(err)
	}
	var wan, lan *Capture
	if err := lab.Box.Do(func() (err error) {
		if wan, err = Listen(netlab.WANPort, []portrange.Range{{First: 5060, Last: 5060}}, true, true); err != nil {
			return err
		}
		lan, err = Listen(netlab.LANPort, []portrange.Range{{First: 5060, Last: 5060}}, true, true)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer wan.Close()
	defer lan.Close()

	var (
		mu   sync.Mutex
		seen []string
	)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	run := func(c *Capture, side string) {
		done <- c.Run(ctx, func(_ int, frame []byte, _ Backlog) {
			var p Packet
			var m Message
			if Decode(frame, &p) != nil || Parse(p.Payload, &m) != nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			what := string(m.MethodName)
			if !m.Request {
				what = "answer to " + what
			}
			seen = append(seen, side+": "+p.Src.String()+" "+what)
		})
	}
	go run(wan, "wan")
	go run(lan, "lan")

	pbx, err := lab.PBX.ListenUDP(netip.AddrPortFrom(netlab.PBX4, 5060))
	if err != nil {
		t.Fatal(err)
	}
	defer pbx.Close()
	phone, err := lab.WAN.DialUDP(netlab.Attacker4, netip.AddrPortFrom(netlab.PBX4, 5060))
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	other, err := lab.WAN.DialUDP(netlab.Attacker4, netip.AddrPortFrom(netlab.PBX4, 5070))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	req := "OPTIONS sip:100@192.0.2.10 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.66:5060;branch=z9hG4bK1\r\nFrom: <sip:100@192.0.2.10>;tag=1\r\nTo: <sip:100@192.0.2.10>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
	if _, err := other.Write([]byte(req)); err != nil { // not a SIP port: filtered out
		t.Fatal(err)
	}
	if _, err := phone.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	_ = pbx.SetReadDeadline(time.Now().Add(time.Second))
	n, from, err := pbx.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	var m Message
	if err := Parse(buf[:n], &m); err != nil {
		t.Fatal(err)
	}
	resp := "SIP/2.0 404 Not Found\r\nVia: SIP/2.0/UDP 203.0.113.66:5060;branch=z9hG4bK1\r\nFrom: <sip:100@192.0.2.10>;tag=1\r\nTo: <sip:100@192.0.2.10>;tag=2\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
	if _, err := pbx.WriteToUDPAddrPort([]byte(resp), from); err != nil {
		t.Fatal(err)
	}

	want := []string{"lan: " + netlab.PBX4.String() + " answer to OPTIONS", "wan: " + netlab.Attacker4.String() + " OPTIONS"}
	deadline := time.Now().Add(2 * time.Second)
	for {
		mu.Lock()
		got := append([]string(nil), seen...)
		mu.Unlock()
		if len(got) >= 2 || time.Now().After(deadline) {
			slices.Sort(got) // the two captures run side by side
			if !slices.Equal(got, want) {
				t.Errorf("captured %q, want %q", got, want)
			}
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st, err := wan.Stats(); err != nil || st != (CaptureStats{}) {
		t.Errorf("Stats() = %+v, %v", st, err)
	}
	cancel()
	for range 2 {
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(time.Second):
			t.Fatal("Run did not return promptly after cancel")
		}
	}
}
