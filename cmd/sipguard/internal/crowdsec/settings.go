package crowdsec

import (
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Mode says which of the Bouncer and the Agent run.
type Mode string

// The modes.
const (
	ModeOff     Mode = "off"
	ModeBouncer Mode = "bouncer"
	ModeAgent   Mode = "agent"
	ModeBoth    Mode = "both"
)

// Bouncing reports whether the mode pulls decisions.
func (m Mode) Bouncing() bool { return m == ModeBouncer || m == ModeBoth }

// Pushing reports whether the mode pushes the box's bans.
func (m Mode) Pushing() bool { return m == ModeAgent || m == ModeBoth }

// DefaultPoll is how often the Bouncer asks for new decisions.
const DefaultPoll = 10 * time.Second

// Settings are the [crowdsec] section.
type Settings struct {
	Mode Mode
	// URL is the LAPI, e.g. http://192.0.2.50:8080/.
	URL string
	// BouncerKey is the Bouncer's API key (cscli bouncers add).
	BouncerKey string
	// MachineID and MachinePassword are the Agent's machine credentials
	// (cscli machines add).
	MachineID, MachinePassword string
	// Poll is how often the Bouncer asks for new decisions; 0: DefaultPoll.
	Poll time.Duration
}

// Validate checks s; each error names its key.
func (s Settings) Validate() error {
	var errs []error
	bad := func(key string, err error) { errs = append(errs, &KeyError{Key: key, Err: err}) }
	switch s.Mode {
	case "", ModeOff, ModeBouncer, ModeAgent, ModeBoth:
	default:
		bad("mode", fmt.Errorf("%q is not off, bouncer, agent or both", s.Mode))
	}
	if s.Poll != 0 && (s.Poll < time.Second || s.Poll > time.Hour) {
		bad("poll", fmt.Errorf("%v is outside 1s–1h", s.Poll))
	}
	if s.URL != "" {
		if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("url", fmt.Errorf("%q is not an http:// or https:// URL like http://192.0.2.50:8080/", s.URL))
		}
	}
	if s.Mode != ModeOff && s.Mode != "" && s.URL == "" {
		bad("url", fmt.Errorf("mode %s needs the local API's URL", s.Mode))
	}
	if s.Mode.Bouncing() && s.BouncerKey == "" {
		bad("bouncer_key", fmt.Errorf("mode %s needs a bouncer key (cscli bouncers add sipguard)", s.Mode))
	}
	if s.Mode.Pushing() && (s.MachineID == "" || s.MachinePassword == "") {
		bad("machine_id", fmt.Errorf("mode %s needs machine_id and machine_password (cscli machines add)", s.Mode))
	}
	return errors.Join(errs...)
}

// KeyError is a problem of one key of the [crowdsec] section.
type KeyError struct {
	Key string // e.g. "url"
	Err error
}

func (e *KeyError) Error() string { return e.Key + ": " + e.Err.Error() }

func (e *KeyError) Unwrap() error { return e.Err }

// poll is s's poll interval, the default for 0.
func (s Settings) poll() time.Duration {
	if s.Poll == 0 {
		return DefaultPoll
	}
	return s.Poll
}

// Status is the state of the box's link to CrowdSec, as GET /v1/crowdsec
// reports it.
type Status struct {
	Mode Mode   `json:"mode"`
	URL  string `json:"url,omitempty"`
	// Bouncer and Agent are nil when the mode does not run them.
	Bouncer *BouncerStatus `json:"bouncer,omitempty"`
	Agent   *AgentStatus   `json:"agent,omitempty"`
	// Error says why the mode configured does not run.
	Error string `json:"error,omitempty"`
}
