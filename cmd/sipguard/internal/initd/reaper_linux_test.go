package initd

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestReaperStartsAndReapsOrphans runs real processes. The test process
// becomes a child subreaper, so that, as with PID 1, the orphans of its
// children are handed to it.
func TestReaperStartsAndReapsOrphans(t *testing.T) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Skipf("cannot become a subreaper: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r := NewReaper(ctx, quiet(), "SIPGUARD_TEST=reaper")

	pidFile := filepath.Join(t.TempDir(), "orphan")
	c, err := r.Start([]string{"/bin/sh", "-c", `sleep 0.3 & echo $! > ` + pidFile + `; [ "$SIPGUARD_TEST" = reaper ] && exit 3`})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("child exit not seen")
	}
	if st := c.Status(); !st.Exited() || st.ExitStatus() != 3 {
		t.Errorf("status %v (want exit code 3, which also shows the environment was passed)", describeStatus(c))
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	orphan, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	// The orphaned sleep ends and is reaped: no zombie remains.
	deadline := time.Now().Add(10 * time.Second)
	for {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(orphan) + "/stat")
		if err != nil {
			break // gone: reaped
		}
		if time.Now().After(deadline) {
			t.Fatalf("orphan %d not reaped: %s", orphan, stat)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Signalling a reaped child is a no-op, never a signal to a stranger
	// who got its PID.
	if err := c.Signal(syscall.SIGKILL); err != nil {
		t.Error(err)
	}

	c2, err := r.Start([]string{"/bin/sleep", "30"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-c2.Done()
	if st := c2.Status(); !st.Signaled() || st.Signal() != syscall.SIGTERM {
		t.Errorf("status %v", describeStatus(c2))
	}
	if _, err := r.Start([]string{"/nonexistent/sipguard"}); err == nil {
		t.Error("no error for a missing program")
	}
}
