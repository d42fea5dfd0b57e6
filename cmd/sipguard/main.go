// Command sipguard is the whole userland of the sipguard box: the daemon
// that bridges the two ports and bans attackers, and the command line that
// operates it.
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Version: version}, os.Args[1:])
	stop()
	os.Exit(code)
}
