package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"sync/atomic"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
	"github.com/sipguard/sipguard/netfilter"
	"github.com/sipguard/sipguard/sip"
)

// backend is the running daemon as the local API sees it.
type backend struct {
	fw      *netfilter.Firewall
	engine  *sip.Engine // nil when inspection is off
	state   *store.Store
	stats   *inspectStats
	dropped *atomic.Uint64
}

var _ api.Backend = (*backend)(nil)

func (b *backend) Status(context.Context) (api.Status, error) {
	st, err := b.fw.Stats()
	if err != nil {
		return api.Status{}, err
	}
	out := api.Status{Lists: map[string]api.ListSize{}, Counters: map[string]uint64{}, Inspection: map[string]uint64{}}
	for name, sz := range st.Sizes {
		out.Lists[name] = api.ListSize{IPv4: sz.V4, IPv6: sz.V6}
	}
	for name, c := range st.Counters {
		out.Counters[name] = c.Packets
	}
	if b.stats != nil {
		for name, v := range map[string]*atomic.Uint64{
			"frames": &b.stats.frames, "undecodable": &b.stats.undecodable, "fragments": &b.stats.fragments,
			"unparsable": &b.stats.unparsable, "socket_drops": &b.stats.socketDrops, "tcp_garbage_bytes": &b.stats.tcpGarbage,
			"tcp_resyncs": &b.stats.tcpResyncs, "tcp_overflows": &b.stats.tcpOverflows, "decisions_dropped": b.dropped,
		} {
			out.Inspection[name] = v.Load()
		}
	}
	if b.engine != nil {
		out.Sources = b.engine.Tracked()
	}
	return out, nil
}

// Unban lifts bans in the kernel, and makes the detection and the state
// file forget them: they do not come back on a restart.
func (b *backend) Unban(_ context.Context, addrs []netip.Addr) (int, error) {
	if err := b.fw.Unban(addrs); err != nil {
		return 0, err
	}
	var sources []netip.Prefix
	for _, a := range addrs {
		if b.engine != nil {
			sources = append(sources, b.engine.SourceOf(a))
			b.engine.Forget(a)
		} else {
			sources = append(sources, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		}
	}
	if b.state != nil {
		if err := b.state.RemoveDynamic(sources...); err != nil {
			return len(addrs), fmt.Errorf("lifted in the kernel, but the state file keeps them: %w", err)
		}
	}
	return len(addrs), nil
}
