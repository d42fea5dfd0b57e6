package main

import (
	"os"
	"path/filepath"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/initd"
)

// runInit runs the box's init when the kernel started this binary as
// PID 1; it never returns then.
func runInit() {
	if os.Getpid() != 1 {
		return
	}
	self := os.Args[0]
	if !filepath.IsAbs(self) {
		self = "/sbin/init"
	}
	initd.Main(self)
}
