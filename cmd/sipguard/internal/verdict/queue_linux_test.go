package verdict

import (
	"context"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sipguard/sipguard/netfilter"
	"github.com/sipguard/sipguard/netfilter/netlab"
	"github.com/sipguard/sipguard/sip"
)

// verdictLab is a lab whose box bridges, filters and queues first packets.
func verdictLab(t *testing.T) *netlab.Lab {
	t.Helper()
	lab := netlab.NewT(t)
	opt := netfilter.WithNetNS(lab.Box.Fd())
	if err := netfilter.SetupBridge(netfilter.BridgeConfig{Name: "br0", WAN: netlab.WANPort, LAN: netlab.LANPort}, opt); err != nil {
		t.Fatal(err)
	}
	if err := lab.WaitLinks(context.Background()); err != nil {
		t.Fatal(err)
	}
	fw, err := netfilter.Open(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fw.Close() })
	r := netfilter.Defaults()
	r.WAN, r.FirstPacket = netlab.WANPort, true
	if err := fw.Apply(r); err != nil {
		t.Fatal(err)
	}
	v, err := netfilter.OpenVerdict(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	if err := v.Enable(); err != nil {
		t.Fatal(err)
	}
	return lab
}

// listen runs a listener on the box's queue until the test ends.
func listen(t *testing.T, lab *netlab.Lab, judge Judge) *Listener {
	t.Helper()
	q, err := OpenQueue(lab.Box.Fd())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := New(judge)
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, q) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		q.Close()
	})
	time.Sleep(50 * time.Millisecond) // the queue is bound
	return l
}

// sipReaches sends one SIP datagram from src and reports whether the PBX
// host received it.
func sipReaches(t *testing.T, lab *netlab.Lab, src netip.Addr, text string) bool {
	t.Helper()
	rx, err := lab.PBX.ListenUDP(netip.AddrPortFrom(netlab.PBX4, 5060))
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	tx, err := lab.WAN.DialUDP(src, netip.AddrPortFrom(netlab.PBX4, 5060))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	if _, err := tx.Write([]byte(text)); err != nil {
		t.Fatal(err)
	}
	_ = rx.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 4096)
	n, err := rx.Read(buf)
	return err == nil && string(buf[:n]) == text
}

func TestQueueJudgesFirstPackets(t *testing.T) {
	lab := verdictLab(t)
	engine, err := sip.NewEngine(sip.DefaultRules(), 1024, func(sip.Decision) {})
	if err != nil {
		t.Fatal(err)
	}
	l := listen(t, lab, engine)
	if sipReaches(t, lab, netlab.Attacker4, options("friendly-scanner")) {
		t.Error("the scanner's first OPTIONS reached the PBX")
	}
	if !sipReaches(t, lab, netlab.Other4, options("Yealink SIP-T46S")) {
		t.Error("a phone's first OPTIONS did not reach the PBX")
	}
	// Judged: a later packet never reaches the listener.
	if !sipReaches(t, lab, netlab.Other4, options("friendly-scanner")) {
		t.Error("a judged source's packet did not reach the PBX")
	}
	if st := l.Stats(); st.Queued != 2 || st.Dropped != 1 || st.Accepted != 1 || st.Failed != 0 {
		t.Errorf("stats %+v, want the two first packets, one dropped and one accepted", st)
	}
}

// stuck is a judge that holds every packet until released.
type stuck struct {
	release chan struct{}
	seen    atomic.Int64
}

func (s *stuck) FirstPacket(time.Time, netip.Addr, *sip.Message) sip.Verdict {
	s.seen.Add(1)
	<-s.release
	return sip.Drop
}

func TestQueueFailsOpenWhenFull(t *testing.T) {
	lab := verdictLab(t)
	judge := &stuck{release: make(chan struct{})}
	_ = listen(t, lab, judge)
	defer close(judge.release)

	rx, err := lab.PBX.ListenUDP(netip.AddrPortFrom(netlab.PBX4, 5060))
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	tx, err := lab.WAN.DialUDP(netlab.Attacker4, netip.AddrPortFrom(netlab.PBX4, 5060))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	// Twice the queue's length, all from one unjudged source, while the
	// listener is stuck on the first: what the queue cannot hold passes.
	// The PBX side reads as they come; the sender paces itself so that
	// no socket or device queue of the lab drops them first.
	const sent = 2 * QueueLength
	var got atomic.Int64
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		buf := make([]byte, 4096)
		for {
			_ = rx.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			if _, err := rx.Read(buf); err != nil {
				return
			}
			got.Add(1)
		}
	}()
	msg := []byte(options("friendly-scanner"))
	for i := range sent {
		if _, err := tx.Write(msg); err != nil {
			t.Fatal(err)
		}
		if i%32 == 31 {
			time.Sleep(200 * time.Microsecond)
		}
	}
	<-readDone
	if got := got.Load(); got < sent-QueueLength {
		t.Errorf("%d of %d datagrams passed the full queue, want at least %d", got, sent, sent-QueueLength)
	}
	if got.Load() == sent {
		t.Error("every datagram passed: the queue held none")
	}
	t.Logf("%d of %d passed while the listener was stuck; it saw %d", got.Load(), sent, judge.seen.Load())
}
