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
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/notify/notifyconf"
)

// The settings are notifyconf's, so that the configuration can check them
// without importing the notifier.
type (
	// Settings are what to send, where, and how often.
	Settings = notifyconf.Settings
	// SMTP is the mail account the box sends from.
	SMTP = notifyconf.SMTP
	// Webhook is the URL alerts and summaries are posted to.
	Webhook = notifyconf.Webhook
	// Security is how the connection to the SMTP server is protected.
	Security = notifyconf.Security
)

// How the connection to the SMTP server is protected.
const (
	StartTLS = notifyconf.StartTLS
	TLS      = notifyconf.TLS
	None     = notifyconf.None
)

// ErrInvalid marks settings that cannot work; the error names the field.
var ErrInvalid = notifyconf.ErrInvalid

// smtpPort is the configured port or the security's usual one.
func smtpPort(s SMTP) int {
	if s.Port != 0 {
		return s.Port
	}
	switch smtpSecurity(s) {
	case TLS:
		return 465
	case None:
		return 25
	}
	return 587
}

// smtpSecurity is the configured protection, starttls when empty.
func smtpSecurity(s SMTP) Security {
	if s.Security == "" {
		return StartTLS
	}
	return s.Security
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

// withDefaults fills the zero values of s.
func withDefaults(s Settings) Settings {
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
