package daemon

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/crowdsec"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
	"github.com/sipguard/sipguard/netfilter"
)

var _ api.CrowdSecBackend = (*backend)(nil)

// fleet runs the CrowdSec bouncer and agent with the settings in force; a
// new configuration starts them again.
type fleet struct {
	log     *slog.Logger
	fw      *netfilter.Firewall
	version string
	g       interface{ Go(func() error) }
	ctx     context.Context

	mu       sync.Mutex
	settings crowdsec.Settings
	bouncer  *crowdsec.Bouncer
	agent    *crowdsec.Agent
	stop     context.CancelFunc
	err      error // why the mode configured does not run
	started  bool
}

// start runs what s's mode asks for, replacing what runs. Leaving the
// bouncer's mode empties the kernel's crowdsec set.
func (f *fleet) start(s crowdsec.Settings) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.started && s == f.settings {
		return
	}
	if f.stop != nil {
		f.stop()
	}
	was := f.bouncer != nil || !f.started // at start the set may hold a former run's decisions
	f.settings, f.started, f.bouncer, f.agent, f.stop, f.err = s, true, nil, nil, nil, nil
	ctx, stop := context.WithCancel(f.ctx)
	f.stop = stop
	if s.Mode.Bouncing() {
		b, err := crowdsec.NewBouncer(s, crowdsec.BouncerOptions{Log: f.log, Kernel: f.fw, Version: f.version})
		if err != nil {
			f.err = err
		} else {
			f.bouncer = b
			f.g.Go(func() error { return b.Run(ctx) })
		}
	} else if was {
		if _, _, err := f.fw.SetCrowdSec(nil); err != nil {
			f.log.Error("crowdsec decisions not withdrawn; they end on their own", "err", err)
		}
	}
	if s.Mode.Pushing() {
		o := crowdsec.AgentOptions{Log: f.log, Version: f.version}
		if b := f.bouncer; b != nil {
			o.Covered = b.Covers
		}
		a, err := crowdsec.NewAgent(s, o)
		if err != nil {
			f.err = err
		} else {
			f.agent = a
			f.g.Go(func() error { return a.Run(ctx) })
		}
	}
	if s.Mode.Bouncing() || s.Mode.Pushing() {
		f.log.Info("crowdsec on", "mode", s.Mode, "url", s.URL)
	}
}

// decided hands a ban or an alert to the agent, if one runs; it never
// blocks.
func (f *fleet) decided(e store.Event, d time.Duration) {
	f.mu.Lock()
	a := f.agent
	f.mu.Unlock()
	if a == nil {
		return
	}
	a.Push(crowdsec.Event{Time: e.Time, Action: e.Action, Source: e.Source, Addr: e.Addr, Reason: e.Reason,
		Duration: d, UserAgent: e.UserAgent, Extension: e.Extension, Country: e.Country})
}

// status reports the bouncer and the agent.
func (f *fleet) status() crowdsec.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	mode := f.settings.Mode
	if mode == "" {
		mode = crowdsec.ModeOff
	}
	st := crowdsec.Status{Mode: mode, URL: f.settings.URL}
	if f.err != nil {
		st.Error = f.err.Error()
	}
	if f.bouncer != nil {
		b := f.bouncer.Status()
		st.Bouncer = &b
	}
	if f.agent != nil {
		a := f.agent.Status()
		st.Agent = &a
	}
	return st
}

// CrowdSec reports the box's link to CrowdSec (GET /v1/crowdsec).
func (b *backend) CrowdSec(context.Context) (crowdsec.Status, error) {
	return b.fleet.status(), nil
}
