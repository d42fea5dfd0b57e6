package netfilter

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// setAutoconf lets the bridge take IPv6 addresses from the routers'
// advertisements (SLAAC), or stops it. accept_ra 2 accepts them even when
// the namespace forwards IPv6; a bridge port never needs them: its frames
// go to the bridge, never to its own IPv6 stack. The settings are the
// kernel's per-namespace sysctls, written in the namespace of opts.
func setAutoconf(bridge string, on bool, opts []Option) error {
	acceptRA, autoconf := "0", "0"
	if on {
		acceptRA, autoconf = "2", "1"
	}
	dir := filepath.Join("/proc/sys/net/ipv6/conf", bridge)
	write := func() error {
		if _, err := os.Stat("/proc/sys/net/ipv6"); errors.Is(err, os.ErrNotExist) {
			if on {
				return errors.New("SLAAC: the kernel has no IPv6")
			}
			return nil
		}
		for _, s := range []struct{ name, v string }{{"accept_ra", acceptRA}, {"autoconf", autoconf}} {
			if err := os.WriteFile(filepath.Join(dir, s.name), []byte(s.v), 0); err != nil {
				return fmt.Errorf("SLAAC: %w", err)
			}
		}
		return nil
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return InNetNS(o.netns, write)
}
