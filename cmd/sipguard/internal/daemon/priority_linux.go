package daemon

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// inspectionNice is the scheduling priority of the service's threads.
// Inspection decides how many guesses get through before a ban: when the
// box's CPU is busy (a flood's forwarding, the management page), reading
// the captures and applying bans come before anything else in user space.
// It is a nice value, not a real-time class: a flood can slow the rest of
// the box, never freeze it. The highest: with two CPU-bound programs
// beside it, at -10 the capture read a fragmented brute force's answers a
// few round trips late now and then (8 guesses through of a ban at the
// 5th), at -20 it did not (5–6 in every run).
const inspectionNice = -20

// raisePriority gives every thread of the process inspectionNice. Threads
// the Go runtime starts later are cloned from these and inherit it.
func raisePriority(log *slog.Logger) {
	tasks, err := os.ReadDir("/proc/self/task")
	if err == nil {
		for _, t := range tasks {
			tid, perr := strconv.Atoi(t.Name())
			if perr != nil {
				continue
			}
			// A thread that ended meanwhile is not an error worth a word.
			if serr := unix.Setpriority(unix.PRIO_PROCESS, tid, inspectionNice); serr != nil && serr != unix.ESRCH {
				err = fmt.Errorf("thread %d: %w", tid, serr)
				break
			}
		}
	}
	if err != nil {
		log.Warn("inspection runs at normal priority", "nice", inspectionNice, "err", err)
	}
}
