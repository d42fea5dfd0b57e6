// Package notify tells the administrator what the box did: a daily
// summary and rate-limited attack alerts by mail (SMTP) and by webhook
// (a JSON POST for chat tools), and a test message.
//
// Sending never holds up detection or bans: Alert only appends to a
// bounded queue, and one goroutine per channel delivers, retrying with
// exponential back-off.
//
// Its inputs (Event, Report, Bans, Firmware) are types of its own: the
// daemon converts its state file's and its API's types to them, so this
// package depends on neither.
package notify

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strings"
	"time"
)

// Security is how the connection to the SMTP server is protected.
type Security string

const (
	// StartTLS connects in clear and upgrades with STARTTLS, which the
	// server must offer (usually port 587).
	StartTLS Security = "starttls"
	// TLS speaks TLS from the first byte (implicit TLS, usually port 465).
	TLS Security = "tls"
	// None sends in clear: only for a relay on a trusted network.
	None Security = "none"
)

// SMTP is the mail account the box sends from.
type SMTP struct {
	Host     string   // the server's host name; empty: no mail
	Port     int      // 0: 587 for starttls, 465 for tls, 25 for none
	Security Security // empty: starttls
	User     string   // empty: no authentication
	Password string
	From     string   // the sender address, e.g. "sipguard <box@example.com>"
	To       []string // the recipients
	// Timeout bounds one connection and its exchange; 0: 30 s.
	Timeout time.Duration
}

// Enabled says whether mail is configured.
func (s SMTP) Enabled() bool { return s.Host != "" }

// port is the configured port or the security's usual one.
func (s SMTP) port() int {
	if s.Port != 0 {
		return s.Port
	}
	switch s.security() {
	case TLS:
		return 465
	case None:
		return 25
	}
	return 587
}

func (s SMTP) security() Security {
	if s.Security == "" {
		return StartTLS
	}
	return s.Security
}

// Webhook is the URL each alert batch and daily summary is posted to, as
// JSON.
type Webhook struct {
	URL string // http or https; empty: no webhook
	// Token is sent as "Authorization: Bearer <token>", or as the value of
	// Header when Header is set (e.g. "X-Gotify-Key").
	Token  string
	Header string
	// Timeout bounds one request; 0: 15 s.
	Timeout time.Duration
}

// Enabled says whether the webhook is configured.
func (w Webhook) Enabled() bool { return w.URL != "" }

// Settings are what to send, where, and how often.
type Settings struct {
	// Hostname names the box in subjects and bodies.
	Hostname string
	SMTP     SMTP
	Webhook  Webhook

	// Daily sends the daily summary at DailyHour (0–23) local time.
	Daily     bool
	DailyHour int
	// Location is the time zone of DailyHour; nil: the system's.
	Location *time.Location

	// Alerts sends attack alerts: the first event of a quiet period at
	// once, the events after it batched into at most one message per
	// AlertInterval (0: one hour).
	Alerts        bool
	AlertInterval time.Duration
	// MaxBatch bounds the events listed in one alert message; the others
	// are counted only. 0: 50.
	MaxBatch int

	// Queue bounds the messages waiting for delivery on each channel, and
	// the alerts waiting to be batched; 0: 64.
	Queue int
	// Attempts bounds the tries of one message (0: 8), MaxAge its age
	// (0: 24 h); RetryMin and RetryMax bound the back-off between tries
	// (0: 30 s and 30 min).
	Attempts int
	MaxAge   time.Duration
	RetryMin time.Duration
	RetryMax time.Duration
}

// Defaults of the zero settings.
const (
	DefaultAlertInterval = time.Hour
	DefaultMaxBatch      = 50
	DefaultQueue         = 64
	DefaultAttempts      = 8
	DefaultMaxAge        = 24 * time.Hour
	DefaultRetryMin      = 30 * time.Second
	DefaultRetryMax      = 30 * time.Minute
	defaultSMTPTimeout   = 30 * time.Second
	defaultHookTimeout   = 15 * time.Second
)

// withDefaults fills the zero values.
func (s Settings) withDefaults() Settings {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&s.MaxBatch, DefaultMaxBatch)
	def(&s.Queue, DefaultQueue)
	def(&s.Attempts, DefaultAttempts)
	defDur(&s.AlertInterval, DefaultAlertInterval)
	defDur(&s.MaxAge, DefaultMaxAge)
	defDur(&s.RetryMin, DefaultRetryMin)
	defDur(&s.RetryMax, DefaultRetryMax)
	defDur(&s.SMTP.Timeout, defaultSMTPTimeout)
	defDur(&s.Webhook.Timeout, defaultHookTimeout)
	if s.Location == nil {
		s.Location = time.Local
	}
	if s.Hostname == "" {
		s.Hostname = "sipguard"
	}
	return s
}

// ErrInvalid marks settings that cannot work; the error names the field.
var ErrInvalid = errors.New("invalid notification settings")

// Validate checks the settings and returns every problem found, each
// naming its field (such as "smtp.port").
func (s Settings) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...)))
	}
	if m := s.SMTP; m.Enabled() {
		if strings.ContainsAny(m.Host, " /:") {
			bad("smtp.host", "%q is not a host name", m.Host)
		}
		if m.Port < 0 || m.Port > 65535 {
			bad("smtp.port", "%d is out of range 1–65535", m.Port)
		}
		switch m.Security {
		case "", StartTLS, TLS, None:
		default:
			bad("smtp.security", "%q: want starttls, tls or none", m.Security)
		}
		if m.User != "" && m.Security == None {
			bad("smtp.user", "authentication needs security starttls or tls, not none")
		}
		if m.Password != "" && m.User == "" {
			bad("smtp.user", "required with a password")
		}
		if m.User != "" && m.Password == "" {
			bad("smtp.password", "required with a user")
		}
		if m.From == "" {
			bad("smtp.from", "required")
		} else if _, err := mail.ParseAddress(m.From); err != nil {
			bad("smtp.from", "%q: %v", m.From, err)
		}
		if len(m.To) == 0 {
			bad("smtp.to", "at least one recipient is required")
		}
		for _, to := range m.To {
			if _, err := mail.ParseAddress(to); err != nil {
				bad("smtp.to", "%q: %v", to, err)
			}
		}
		if m.Timeout < 0 {
			bad("smtp.timeout", "negative")
		}
	} else if len(s.SMTP.To) > 0 || s.SMTP.From != "" || s.SMTP.User != "" {
		bad("smtp.host", "required to send mail")
	}
	if w := s.Webhook; w.Enabled() {
		u, err := url.Parse(w.URL)
		switch {
		case err != nil:
			bad("webhook.url", "%v", err)
		case u.Scheme != "http" && u.Scheme != "https":
			bad("webhook.url", "%q: want an http or https URL", w.URL)
		case u.Host == "":
			bad("webhook.url", "%q has no host", w.URL)
		}
		if strings.ContainsAny(w.Header, " :\r\n") {
			bad("webhook.header", "%q is not a header name", w.Header)
		}
		if strings.ContainsAny(w.Token, "\r\n") {
			bad("webhook.token", "contains a line break")
		}
		if w.Timeout < 0 {
			bad("webhook.timeout", "negative")
		}
	} else if s.Webhook.Token != "" || s.Webhook.Header != "" {
		bad("webhook.url", "required with a token or header")
	}
	if s.DailyHour < 0 || s.DailyHour > 23 {
		bad("daily_hour", "%d is out of range 0–23", s.DailyHour)
	}
	if (s.Daily || s.Alerts) && !s.SMTP.Enabled() && !s.Webhook.Enabled() {
		field := "daily"
		if !s.Daily {
			field = "alerts"
		}
		bad(field, "needs smtp.host or webhook.url")
	}
	if s.AlertInterval < 0 {
		bad("alert_interval", "negative")
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"max_batch", s.MaxBatch}, {"queue", s.Queue}, {"attempts", s.Attempts}} {
		if f.v < 0 {
			bad(f.name, "%d is negative", f.v)
		}
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"max_age", s.MaxAge}, {"retry_min", s.RetryMin}, {"retry_max", s.RetryMax}} {
		if f.v < 0 {
			bad(f.name, "%v is negative", f.v)
		}
	}
	if s.RetryMin > 0 && s.RetryMax > 0 && s.RetryMax < s.RetryMin {
		bad("retry_max", "%v is shorter than retry_min %v", s.RetryMax, s.RetryMin)
	}
	return errors.Join(errs...)
}
