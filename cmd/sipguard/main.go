// Command sipguard is the whole userland of the sipguard box: its init
// (when the kernel starts it as PID 1), the daemon that bridges the two
// ports and bans attackers, and the command line that operates it.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/cli"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	runInit()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Version: version}, os.Args[1:])
	stop()
	os.Exit(code)
}
