package daemon

import (
	"net/http"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/crowdsec"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/metrics"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/notify"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/remotelog"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
	"github.com/sipguard/sipguard/sip"
)

// observer is what the daemon tells the outside of itself: the
// Prometheus metrics and the remote syslog.
type observer struct {
	metrics *metrics.Metrics // nil when off
	syslog  *remoteLog
}

// newObserver builds the metrics of the daemon behind be; the firmware
// watch and the LEDs must be in be already.
func newObserver(be *backend, version string) (*observer, error) {
	fw := be.firmware.get()
	if fw.Version == "" {
		fw.Version = version
	}
	m, err := metrics.New(metrics.Options{
		Build:    metrics.Build{Version: fw.Version, Board: be.hw.profile.Name, Slot: fw.Slot},
		Snapshot: be.metricsSnapshot,
	})
	if err != nil {
		return nil, err
	}
	return &observer{metrics: m}, nil
}

// applied is the pipeline's Applied hook.
func (o *observer) applied(ev *sip.Event, at time.Time) {
	if o != nil && o.metrics != nil {
		o.metrics.Applied(ev, at)
	}
}

// syslogLogger returns the remote syslog's sender, nil when off.
func (o *observer) syslogLogger() *remotelog.Logger {
	if o == nil {
		return nil
	}
	return o.syslog.current()
}

// Metrics implements api.MetricsBackend.
func (b *backend) Metrics() http.Handler {
	if b.obs == nil || b.obs.metrics == nil {
		return nil
	}
	return b.obs.metrics.Handler()
}

// alert tells the notifications of an event of the detection, and the
// remote syslog when there is no state file whose attack log it watches.
func (b *backend) alert(e store.Event) {
	b.notify.alert(e)
	if b.state == nil && b.obs != nil {
		b.obs.syslog.events([]store.Event{e})
	}
}

// metricsSnapshot reads the daemon's state for a scrape.
func (b *backend) metricsSnapshot() metrics.Snapshot {
	var s metrics.Snapshot
	s.Inspection = b.inspect
	if st, err := b.fw.Stats(); err == nil {
		s.Sets = make(map[string]int, len(st.Sizes))
		for name, n := range st.Sizes {
			s.Sets[name] = n.Total()
		}
		s.Dropped = make(map[string]uint64, len(st.Counters))
		for name, c := range st.Counters {
			s.Dropped[name] = c.Packets
		}
	}
	if n := b.notify.current(); n != nil {
		st := n.Status()
		s.Notify = []metrics.Channel{channelOf("mail", st.Mail), channelOf("webhook", st.Webhook)}
	}
	if b.lists != nil {
		for _, f := range b.lists.m.Status() {
			s.Feeds = append(s.Feeds, metrics.Source{Name: f.Name, Enabled: f.Enabled, Entries: f.V4 + f.V6, LastSuccess: f.LastSuccess, Failures: f.Failures})
		}
	}
	if b.geo != nil {
		if g := b.geo.status(); g.Database != nil {
			s.GeoIP = &metrics.GeoIP{Built: g.Database.Built, Entries: g.Prefixes}
			if g.Update != nil {
				s.GeoIP.LastSuccess, s.GeoIP.Failures = g.Update.LastSuccess, g.Update.Failures
			}
		}
	}
	if b.hw != nil && b.hw.leds != nil {
		s.HasLEDs, s.LED = true, b.hw.leds.Status().Mode
	}
	if b.firmware != nil {
		f := b.firmware.get()
		s.Tamper = len(f.Tamper) > 0 && !f.Acknowledged
	}
	if b.obs != nil {
		if h, ok := b.obs.syslog.health(); ok {
			s.Health = append(s.Health, h)
		}
	}
	if b.fleet != nil {
		s.Health = append(s.Health, crowdsecHealth(b.fleet.status())...)
	}
	return s
}

// crowdsecHealth is the health of the CrowdSec bouncer and agent that run.
func crowdsecHealth(st crowdsec.Status) []metrics.Health {
	var out []metrics.Health
	if bo := st.Bouncer; bo != nil {
		out = append(out, metrics.Health{Component: "crowdsec_bouncer", Up: bo.State == crowdsec.StateOK,
			LastSuccess: bo.LastSuccess, Errors: bo.Errors})
	}
	if ag := st.Agent; ag != nil {
		out = append(out, metrics.Health{Component: "crowdsec_agent", Up: ag.State == crowdsec.StateOK,
			LastSuccess: ag.LastSuccess, Errors: ag.Errors, Dropped: ag.Dropped})
	}
	return out
}

func channelOf(name string, c notify.ChannelStatus) metrics.Channel {
	return metrics.Channel{Name: name, Enabled: c.Enabled, Sent: c.Sent, Failed: c.Failed, Dropped: c.Dropped, Queued: c.Queued,
		Retries: c.Retries, LastSent: c.LastSent, LastErrorAt: c.LastErrorAt}
}
