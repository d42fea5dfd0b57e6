package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"sync"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/metrics"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/remotelog"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
)

// remoteLog runs the remote syslog with the settings in force; a new
// configuration starts it again.
type remoteLog struct {
	log *slog.Logger
	g   interface{ Go(func() error) }
	ctx context.Context

	mu   sync.Mutex
	l    *remotelog.Logger // nil when off
	cfg  remotelog.Config
	stop context.CancelFunc
}

// start sends to the server cfg names, replacing the one in use; an
// empty address turns the remote syslog off.
func (r *remoteLog) start(cfg remotelog.Config) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stop != nil && reflect.DeepEqual(cfg, r.cfg) {
		return nil
	}
	var l *remotelog.Logger
	if cfg.Address != "" {
		c := cfg
		if c.Hostname == "" {
			c.Hostname, _ = os.Hostname()
		}
		var err error
		if l, err = remotelog.New(c, r.log); err != nil {
			return fmt.Errorf("syslog: %w", err)
		}
	}
	if r.stop != nil {
		r.stop()
	}
	r.l, r.cfg, r.stop = l, cfg, func() {}
	if l != nil {
		ctx, stop := context.WithCancel(r.ctx)
		r.stop = stop
		r.g.Go(func() error {
			_ = l.Run(ctx)
			return nil
		})
		r.log.Info("remote syslog", "address", cfg.Address)
	}
	return nil
}

func (r *remoteLog) current() *remotelog.Logger {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.l
}

// events sends the attack log's new events (store.Watch): bans, alerts,
// unbans, admin actions, whatever their action.
func (r *remoteLog) events(evs []store.Event) {
	l := r.current()
	if l == nil {
		return
	}
	for _, e := range evs {
		l.Send(syslogMessage(e))
	}
}

// tamper sends a tamper warning.
func (r *remoteLog) tamper(detail string) {
	if l := r.current(); l != nil {
		l.Send(remotelog.Message{Time: time.Now(), Severity: remotelog.Critical, MsgID: "tamper",
			Text: "tamper warning: the firmware does not match its signed manifest: " + detail})
	}
}

// health is the remote syslog's state for the metrics.
func (r *remoteLog) health() (metrics.Health, bool) {
	l := r.current()
	if l == nil {
		return metrics.Health{}, false
	}
	st := l.Status()
	return metrics.Health{Component: "syslog", Up: st.Connected || (st.Sent > 0 && st.LastError == ""), LastSuccess: st.LastSuccess,
		Errors: st.Errors, Dropped: st.Dropped}, true
}

// syslogMessage is an attack-log event as the remote syslog sends it.
func syslogMessage(e store.Event) remotelog.Message {
	m := remotelog.Message{Time: e.Time, Severity: remotelog.Notice, MsgID: e.Action}
	switch e.Action {
	case store.ActionBan, store.ActionPermanent:
		m.Severity, m.MsgID = remotelog.Warning, "ban"
	case store.ActionAlert:
		m.Severity = remotelog.Warning
	}
	src := ""
	if e.Addr.IsValid() {
		src = e.Addr.String()
	}
	net := ""
	if e.Source.IsValid() && (!e.Addr.IsValid() || e.Source.Bits() != e.Addr.BitLen()) {
		net = e.Source.String()
	}
	count := ""
	if e.Count > 0 {
		count = fmt.Sprint(e.Count)
	}
	permanent := ""
	if e.Action == store.ActionPermanent {
		permanent = "true"
	}
	m.Params = []remotelog.Param{{Name: "src", Value: src}, {Name: "source", Value: net}, {Name: "reason", Value: e.Reason},
		{Name: "ua", Value: e.UserAgent}, {Name: "ext", Value: e.Extension}, {Name: "country", Value: e.Country},
		{Name: "count", Value: count}, {Name: "dialled", Value: e.Dialled}, {Name: "permanent", Value: permanent}}
	m.Text = e.Action
	if src != "" {
		m.Text += " " + src
	}
	if e.Reason != "" {
		m.Text += ": " + e.Reason
	}
	return m
}

// tamperFault shows a tamper warning on the LEDs and sends it to the
// remote syslog, at each check that finds one.
func tamperFault(hw *hardware, rl *remoteLog) func(bool) {
	return func(on bool) {
		hw.tamper(on)
		if on {
			rl.tamper("see sipguard firmware")
		}
	}
}
