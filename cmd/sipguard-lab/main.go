// Command sipguard-lab runs the sipguard box in a lab of network
// namespaces on an ordinary Linux machine (root needed): a wan host playing
// the internet, the box bridging its two ports, and a pbx host.
//
//	sipguard-lab demo [--sipguard out/sipguard] [--kamailio testdata/kamailio] [--hold]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) < 2 || os.Args[1] != "demo" {
		fmt.Fprintln(os.Stderr, "usage: sipguard-lab demo [--sipguard PATH] [--hold]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("demo", flag.ExitOnError)
	bin := fs.String("sipguard", "out/sipguard", "the sipguard binary to run in the box")
	hold := fs.Bool("hold", false, "keep the lab up after the demo until Ctrl-C")
	kamailio := fs.String("kamailio", "testdata/kamailio", "folder of the Kamailio configuration for the PBX")
	_ = fs.Parse(os.Args[2:])
	if err := runDemo(ctx, os.Stdout, *bin, *kamailio, *hold); err != nil {
		fmt.Fprintln(os.Stderr, "sipguard-lab:", err)
		os.Exit(1)
	}
}
