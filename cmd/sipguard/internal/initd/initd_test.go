package initd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sipguard/sipguard/board"
	"github.com/sipguard/sipguard/board/boardtest"
)

// fakeSystem records what init asks of the machine.
type fakeSystem struct {
	mu    sync.Mutex
	calls []string
	fail  map[string]error // by call prefix
}

func (f *fakeSystem) do(call string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
	for prefix, err := range f.fail {
		if strings.HasPrefix(call, prefix) {
			return err
		}
	}
	return nil
}

func (f *fakeSystem) Mount(source, target, fstype string, flags uintptr, data string) error {
	return f.do(fmt.Sprintf("mount %s %s %s %#x %s", source, target, fstype, flags, data))
}
func (f *fakeSystem) Unmount(target string) error  { return f.do("unmount " + target) }
func (f *fakeSystem) Sethostname(n string) error   { return f.do("hostname " + n) }
func (f *fakeSystem) LinkUp(n string) error        { return f.do("up " + n) }
func (f *fakeSystem) LoadModule(path string) error { return f.do("insmod " + path) }
func (f *fakeSystem) Sync()                        { _ = f.do("sync") }
func (f *fakeSystem) Halt(a Action) error          { return f.do("halt " + a.String()) }

func (f *fakeSystem) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// fakeProcs starts fake children that exit when the test says so, or on
// the signals they do not ignore.
type fakeProcs struct {
	mu         sync.Mutex
	started    []*fakeChild
	fail       bool
	ignoreTerm bool
	startedC   chan *fakeChild
}

func newFakeProcs() *fakeProcs { return &fakeProcs{startedC: make(chan *fakeChild, 100)} }

func (p *fakeProcs) Start(argv []string) (Child, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail {
		return nil, errors.New("exec format error")
	}
	c := &fakeChild{pid: 100 + len(p.started), argv: argv, done: make(chan struct{}), ignoreTerm: p.ignoreTerm, at: time.Now()}
	p.started = append(p.started, c)
	p.startedC <- c
	return c, nil
}

type fakeChild struct {
	pid        int
	argv       []string
	at         time.Time
	ignoreTerm bool
	mu         sync.Mutex
	signals    []syscall.Signal
	done       chan struct{}
	status     syscall.WaitStatus
}

func (c *fakeChild) PID() int                   { return c.pid }
func (c *fakeChild) Done() <-chan struct{}      { return c.done }
func (c *fakeChild) Status() syscall.WaitStatus { return c.status }
func (c *fakeChild) Signal(s syscall.Signal) error {
	c.mu.Lock()
	c.signals = append(c.signals, s)
	c.mu.Unlock()
	if s == syscall.SIGKILL || !c.ignoreTerm {
		c.exit(syscall.WaitStatus(s)) // killed by s
	}
	return nil
}

// exit ends the child with a wait status (exit code n is n<<8).
func (c *fakeChild) exit(ws syscall.WaitStatus) {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.done:
	default:
		c.status = ws
		close(c.done)
	}
}

type fakeWatchdog struct {
	mu     sync.Mutex
	feeds  int
	closed bool
}

func (w *fakeWatchdog) Feed() error { w.mu.Lock(); w.feeds++; w.mu.Unlock(); return nil }
func (w *fakeWatchdog) Close() error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	return nil
}
func (w *fakeWatchdog) count() int { w.mu.Lock(); defer w.mu.Unlock(); return w.feeds }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestBringUp(t *testing.T) {
	sys := &fakeSystem{fail: map[string]error{"mount tmpfs /tmp": syscall.ENOENT}}
	tree := boardtest.ModuleTree()
	in := &Init{
		Config: Defaults("/sbin/init", "6.1.0-56-arm64"),
		Sys:    sys,
		Modules: func(dir string) (*board.ModuleIndex, error) {
			if dir != "/lib/modules/6.1.0-56-arm64" {
				t.Errorf("module dir %q", dir)
			}
			return board.ReadModuleIndex(tree)
		},
		PrepareData: func(_ context.Context, d DataConfig) (string, error) { return d.Target, nil },
		Log:         quiet(),
	}
	dir, err := in.BringUp(context.Background())
	if dir != "/data" {
		t.Errorf("data dir %q", dir)
	}
	// A failed step is reported, and the others still happen.
	if err == nil || !strings.Contains(err.Error(), "mount /tmp") {
		t.Errorf("error %v", err)
	}
	calls := sys.log()
	want := []string{
		"mount proc /proc proc 0xe ",
		"mount sysfs /sys sysfs 0xe ",
		"mount devtmpfs /dev devtmpfs 0x2 mode=0755",
		"mount tmpfs /run tmpfs 0xe mode=0755,size=16m",
		"mount tmpfs /tmp tmpfs 0xe mode=1777,size=16m",
		"insmod /lib/modules/6.1.0-56-arm64/kernel/net/llc/llc.ko",
	}
	if len(calls) < len(want) || !slices.Equal(calls[:len(want)], want) {
		t.Fatalf("first calls\n got %q\nwant %q", calls[:min(len(calls), len(want))], want)
	}
	tail := calls[len(calls)-2:]
	if !slices.Equal(tail, []string{"hostname sipguard", "up lo"}) {
		t.Errorf("last calls %q", tail)
	}
	var mods []string
	for _, c := range calls {
		if m, ok := strings.CutPrefix(c, "insmod /lib/modules/6.1.0-56-arm64/"); ok {
			mods = append(mods, board.ModuleName(m))
		}
	}
	if !slices.Contains(mods, "bridge") || !slices.Contains(mods, "nf_tables") || slices.Index(mods, "llc") > slices.Index(mods, "bridge") {
		t.Errorf("modules loaded %v", mods)
	}
}

func TestServiceArgs(t *testing.T) {
	in := &Init{Config: Defaults("/sbin/init", "x"), Log: quiet()}
	var created []string
	ok := func(p string) error { created = append(created, p); return nil }
	if got := in.ServiceArgs("", ok); !slices.Equal(got, []string{"/sbin/init", "daemon"}) || created != nil {
		t.Errorf("without data: %q, config %q", got, created)
	}
	if got := in.ServiceArgs("/data", ok); !slices.Equal(got, []string{"/sbin/init", "daemon", "--state", "/data/state.db", "--config", "/data/sipguard.toml"}) ||
		!slices.Equal(created, []string{"/data/sipguard.toml"}) {
		t.Errorf("with data: %q, config %q", got, created)
	}
	broken := func(string) error { return errors.New("read-only file system") }
	if got := in.ServiceArgs("/data", broken); !slices.Equal(got, []string{"/sbin/init", "daemon", "--state", "/data/state.db"}) {
		t.Errorf("when the configuration file cannot be written: %q", got)
	}
}

func TestBackoff(t *testing.T) {
	b := Backoff{Min: 200 * time.Millisecond, Max: 10 * time.Second, Stable: time.Minute}
	var d time.Duration
	var got []time.Duration
	for range 8 {
		d = b.Next(d, time.Second) // dies a second after each start
		got = append(got, d)
	}
	want := []time.Duration{200e6, 400e6, 800e6, 1600e6, 3200e6, 6400e6, 10e9, 10e9}
	if !slices.Equal(got, want) {
		t.Errorf("delays %v", got)
	}
	if b.Next(10*time.Second, 2*time.Minute) != b.Min {
		t.Error("a stable run does not reset the back-off")
	}
}

func TestSupervisorRestartsAndStops(t *testing.T) {
	procs := newFakeProcs()
	s := &Supervisor{Argv: []string{"/sbin/init", "daemon"}, Procs: procs, Grace: time.Second, Log: quiet(),
		Backoff: Backoff{Min: 20 * time.Millisecond, Max: 80 * time.Millisecond, Stable: time.Hour}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()

	first := <-procs.startedC
	if !slices.Equal(first.argv, []string{"/sbin/init", "daemon"}) {
		t.Errorf("argv %q", first.argv)
	}
	// It dies three times in a row: restarted each time, later and later.
	prev := first
	var gaps []time.Duration
	for range 3 {
		prev.exit(syscall.WaitStatus(2 << 8))
		next := <-procs.startedC
		gaps = append(gaps, next.at.Sub(prev.at))
		prev = next
	}
	if gaps[0] > time.Second {
		t.Errorf("first restart after %v, want within a second", gaps[0])
	}
	if !(gaps[2] > gaps[0]) || gaps[2] < 80*time.Millisecond {
		t.Errorf("no back-off: %v", gaps)
	}
	// The fake announces a start before the supervisor records the child.
	for deadline := time.Now().Add(time.Second); !s.Running() && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if s.Restarts() != 3 || !s.Running() {
		t.Errorf("restarts %d running %v", s.Restarts(), s.Running())
	}
	cancel()
	<-done
	if !slices.Equal(prev.signals, []syscall.Signal{syscall.SIGTERM}) || s.Running() {
		t.Errorf("stop sent %v", prev.signals)
	}
}

func TestSupervisorKillsAServiceThatWillNotStop(t *testing.T) {
	procs := newFakeProcs()
	procs.ignoreTerm = true
	s := &Supervisor{Argv: []string{"x"}, Procs: procs, Grace: 50 * time.Millisecond, Log: quiet(),
		Backoff: Backoff{Min: time.Millisecond, Max: time.Millisecond, Stable: time.Hour}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	c := <-procs.startedC
	cancel()
	<-done
	if !slices.Equal(c.signals, []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL}) {
		t.Errorf("signals %v", c.signals)
	}
}

func TestSupervisorKeepsTryingWhenStartFails(t *testing.T) {
	procs := newFakeProcs()
	procs.fail = true
	s := &Supervisor{Argv: []string{"x"}, Procs: procs, Grace: time.Second, Log: quiet(),
		Backoff: Backoff{Min: time.Millisecond, Max: 5 * time.Millisecond, Stable: time.Hour}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	time.Sleep(30 * time.Millisecond)
	procs.mu.Lock()
	procs.fail = false
	procs.mu.Unlock()
	select {
	case <-procs.startedC:
	case <-time.After(5 * time.Second):
		t.Fatal("not started once starting works again")
	}
	cancel()
	<-done
}

// runInit runs Init.Run in the background with fakes and a health check the
// test controls.
type initRun struct {
	sys      *fakeSystem
	procs    *fakeProcs
	wd       *fakeWatchdog
	requests chan Action
	healthy  chan error
	checks   atomic.Int64 // health checks made
	healthy0 atomic.Int64 // OnHealthy calls
	result   chan Action
}

func startInit(t *testing.T) *initRun {
	r := &initRun{sys: &fakeSystem{}, procs: newFakeProcs(), wd: &fakeWatchdog{}, requests: make(chan Action, 1), result: make(chan Action, 1)}
	var mu sync.Mutex
	health := error(nil)
	r.healthy = make(chan error)
	go func() {
		for e := range r.healthy {
			mu.Lock()
			health = e
			mu.Unlock()
		}
	}()
	t.Cleanup(func() { close(r.healthy) })
	cfg := Defaults("/sbin/init", "x")
	cfg.Modules = nil
	cfg.WatchdogInterval = 10 * time.Millisecond
	cfg.Restart = Backoff{Min: 10 * time.Millisecond, Max: 10 * time.Millisecond, Stable: 0}
	in := &Init{
		Config:   cfg,
		Sys:      r.sys,
		Procs:    r.procs,
		Watchdog: func() (Watchdog, error) { return r.wd, nil },
		Health: func(context.Context) error {
			r.checks.Add(1)
			mu.Lock()
			defer mu.Unlock()
			return health
		},
		PrepareData: func(_ context.Context, d DataConfig) (string, error) { return d.Target, nil },
		OnHealthy: func(dir string) {
			if dir == "/data" {
				r.healthy0.Add(1)
			}
		},
		Log: quiet(),
	}
	go func() {
		r.result <- in.Run(context.Background(), r.requests, func(string) error { return errors.New("no file") })
	}()
	return r
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWatchdogFedOnlyWhileHealthy(t *testing.T) {
	r := startInit(t)
	c := <-r.procs.startedC
	if !slices.Equal(c.argv, []string{"/sbin/init", "daemon", "--state", "/data/state.db"}) {
		t.Errorf("service argv %q", c.argv)
	}
	eventually(t, "watchdog fed", func() bool { return r.wd.count() >= 3 })
	if got := r.healthy0.Load(); got != 1 {
		t.Errorf("OnHealthy called %d times, want once", got)
	}

	r.healthy <- errors.New("API does not answer")
	// Two checks later, any feed from before is over.
	c0 := r.checks.Load()
	eventually(t, "health checked", func() bool { return r.checks.Load() >= c0+2 })
	n := r.wd.count()
	c0 = r.checks.Load()
	eventually(t, "health checked again", func() bool { return r.checks.Load() >= c0+5 })
	if got := r.wd.count(); got != n {
		t.Errorf("fed %d times while unhealthy", got-n)
	}
	r.healthy <- nil
	eventually(t, "fed again once healthy", func() bool { return r.wd.count() > n })

	r.requests <- PowerOff
	if a := <-r.result; a != PowerOff {
		t.Errorf("action %v", a)
	}
	calls := r.sys.log()
	i := slices.Index(calls, "unmount /data")
	if i < 1 || calls[i-1] != "sync" || calls[len(calls)-1] != "sync" {
		t.Errorf("shutdown calls %q", calls)
	}
	if !slices.Equal(c.signals, []syscall.Signal{syscall.SIGTERM}) {
		t.Errorf("service got %v", c.signals)
	}
	if !r.wd.closed {
		t.Error("watchdog left armed on poweroff: the box would restart")
	}
}

func TestRebootKeepsWatchdogArmed(t *testing.T) {
	r := startInit(t)
	c := <-r.procs.startedC
	c.exit(syscall.WaitStatus(syscall.SIGSEGV))
	<-r.procs.startedC // restarted
	r.requests <- Reboot
	if a := <-r.result; a != Reboot {
		t.Errorf("action %v", a)
	}
	if r.wd.closed {
		t.Error("watchdog disarmed on reboot")
	}
}

func TestCmdlineValue(t *testing.T) {
	line := "console=ttyAMA0 root=/dev/vda2 ro sipguard.data=/dev/vda3 quiet sipguard.data=/dev/vda4\n"
	if v := CmdlineValue(line, "sipguard.data"); v != "/dev/vda4" {
		t.Errorf("got %q", v)
	}
	if v := CmdlineValue(line, "sipguard.board"); v != "" {
		t.Errorf("absent key: %q", v)
	}
}

func TestSibling(t *testing.T) {
	for spec, want := range map[string]string{
		"PARTUUID=5195a7d0-02": "PARTUUID=5195a7d0-03",
		"/dev/vda2":            "/dev/vda3",
		"/dev/mmcblk0p2":       "/dev/mmcblk0p3",
	} {
		if got, err := Sibling(spec, 3); err != nil || got != want {
			t.Errorf("Sibling(%q) = %q, %v; want %q", spec, got, err, want)
		}
	}
	if _, err := Sibling("LABEL=root", 3); err == nil {
		t.Error("a label accepted")
	}
}
