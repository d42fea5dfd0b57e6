package netfilter

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// WatchLinks reports the link state of ports: fn is called with each
// port's state as it is now, then on every change, until ctx ends. A port
// is up when it is enabled and has a carrier: a cable to a live device, or
// for a veth a peer that is up.
func WatchLinks(ctx context.Context, ports []string, fn func(port string, up bool), opts ...Option) error {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	updates := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	defer close(done)
	failed := make(chan error, 1)
	sub := netlink.LinkSubscribeOptions{ListExisting: true, ErrorCallback: func(err error) {
		select {
		case failed <- err:
		default:
		}
	}}
	if o.netns != 0 {
		ns := netns.NsHandle(o.netns)
		sub.Namespace = &ns
	}
	if err := netlink.LinkSubscribeWithOptions(updates, done, sub); err != nil {
		return fmt.Errorf("watch links: %w", err)
	}
	last := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-failed:
			return fmt.Errorf("watch links: %w", err)
		case u, ok := <-updates:
			if !ok {
				return errors.New("watch links: the kernel closed the subscription")
			}
			name := u.Attrs().Name
			if !slices.Contains(ports, name) {
				continue
			}
			up := u.Attrs().RawFlags&unix.IFF_UP != 0 && u.Attrs().RawFlags&unix.IFF_LOWER_UP != 0
			if u.Header.Type == unix.RTM_DELLINK {
				up = false
			}
			if prev, seen := last[name]; seen && prev == up {
				continue
			}
			last[name] = up
			fn(name, up)
		}
	}
}
