package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/notify"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
)

// notifier runs the notifications with the settings in force; a new
// configuration starts it again.
type notifier struct {
	log     *slog.Logger
	summary notify.SummaryFunc
	g       interface{ Go(func() error) }
	ctx     context.Context

	mu       sync.Mutex
	n        *notify.Notifier // nil when nothing is configured
	settings notify.Settings
	stop     context.CancelFunc
}

// start runs the notifications with s, replacing the ones running.
func (nt *notifier) start(s notify.Settings) error {
	nt.mu.Lock()
	defer nt.mu.Unlock()
	if nt.n != nil && reflect.DeepEqual(s, nt.settings) {
		return nil
	}
	var n *notify.Notifier
	if s.SMTP.Enabled() || s.Webhook.Enabled() {
		var err error
		if n, err = notify.New(s, notify.Options{Summary: nt.summary, Logger: nt.log}); err != nil {
			return err
		}
	}
	if nt.stop != nil {
		nt.stop()
	}
	nt.n, nt.settings, nt.stop = n, s, nil
	if n != nil {
		ctx, stop := context.WithCancel(nt.ctx)
		nt.stop = stop
		nt.g.Go(func() error {
			if err := n.Run(ctx); err != nil && ctx.Err() == nil {
				nt.log.Error("notifications stopped", "err", err)
			}
			return nil
		})
	}
	return nil
}

func (nt *notifier) current() *notify.Notifier {
	nt.mu.Lock()
	defer nt.mu.Unlock()
	return nt.n
}

// alert tells the notifications of an attack event; it never blocks.
func (nt *notifier) alert(e store.Event) {
	if n := nt.current(); n != nil {
		n.Alert(e)
	}
}

func (nt *notifier) status() (any, error) {
	if n := nt.current(); n != nil {
		return n.Status(), nil
	}
	return struct {
		Enabled bool `json:"enabled"`
	}{}, nil
}

func (nt *notifier) test(ctx context.Context) error {
	n := nt.current()
	if n == nil {
		return fmt.Errorf("%w: no notification is configured ([notify.smtp] host or [notify.webhook] url)", api.ErrBadRequest)
	}
	return n.Test(ctx)
}

// summaryOf builds the daily summary from the state file and what the
// daemon knows of its bans, firmware, country database and feeds.
func summaryOf(st *store.Store, be *backend) notify.SummaryFunc {
	return func(ctx context.Context, from, to time.Time) (notify.Summary, error) {
		if st == nil {
			return notify.Summary{}, errors.New("no state file: no attack log to sum up")
		}
		r, err := st.Report(from, to, api.DefaultTop)
		if err != nil {
			return notify.Summary{}, err
		}
		bans, err := be.Bans(ctx)
		if err != nil {
			return notify.Summary{}, err
		}
		fw := be.firmware.get()
		var geo *notify.SourceStatus
		if g := be.geo.status(); g.Database != nil {
			geo = &notify.SourceStatus{Name: g.Database.Type, Entries: g.Prefixes}
			if g.Update != nil {
				geo.LastSuccess, geo.LastError = g.Update.LastSuccess, g.Update.LastError
			}
		}
		var feeds []notify.SourceStatus
		for _, f := range be.lists.m.Status() {
			if f.Enabled {
				feeds = append(feeds, notify.SourceStatus{Name: f.Name, Entries: f.V4 + f.V6, LastSuccess: f.LastSuccess, LastError: f.LastError})
			}
		}
		return notify.NewSummary(r, notifyBans(bans), notifyFirmware(fw), geo, feeds), nil
	}
}

// notifyFirmware is the firmware's state as the daily summary takes it.
func notifyFirmware(f api.Firmware) *notify.Firmware {
	return &notify.Firmware{Version: f.Version, Board: f.Board, Slot: f.Slot, Signed: f.Signed, Checked: f.Checked,
		Tamper: f.Tamper, Acknowledged: f.Acknowledged, Error: f.Error}
}

// notifyBans is what the daily summary takes of the bans in force.
func notifyBans(b api.Bans) notify.Bans {
	conv := func(bans []api.Ban) []notify.Ban {
		out := make([]notify.Ban, 0, len(bans))
		for _, x := range bans {
			out = append(out, notify.Ban{Source: x.Source, UserAgent: x.UserAgent, Country: x.Country})
		}
		return out
	}
	return notify.Bans{Permanent: conv(b.Permanent), Temporary: conv(b.Temporary)}
}
