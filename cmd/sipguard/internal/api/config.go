package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// ConfigKey is one key of the configuration, as GET /v1/config shows it.
type ConfigKey struct {
	Key string `json:"key"` // section.key
	// Kind is what the key takes: string, int, bool, duration, list or
	// table (a table is shown, not set, through the API).
	Kind    string `json:"kind"`
	Default string `json:"default"` // written as sipguard config set takes it
	Value   string `json:"value"`   // the effective value, written the same way
}

// Config is the running daemon's configuration file: its keys with their
// effective values, and its text.
type Config struct {
	File string      `json:"file"` // the file's path
	Text string      `json:"text"` // the file as it is
	Keys []ConfigKey `json:"keys"` // every key, in the order of the defaults
}

// ConfigChange sets one key to a value written as sipguard config set
// takes it.
type ConfigChange struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// ConfigRequest is the body of POST /v1/config: changes made together,
// all or none.
type ConfigRequest struct {
	Changes []ConfigChange `json:"changes"`
}

// ConfigResult says what became of changes written to the file.
type ConfigResult struct {
	Changed int `json:"changed"` // keys written
	// Applied says the running daemon put the file in force; if not,
	// NotApplied says why (a setting that changes only with a restart).
	Applied    bool   `json:"applied"`
	NotApplied string `json:"not_applied,omitempty"`
}

// ConfigProblem is one refused change: its key and the message sipguard
// config set gives for it.
type ConfigProblem struct {
	Key     string `json:"key"`
	Message string `json:"message"`
}

// ConfigError refuses a set of changes: the file is unchanged. It is an
// ErrBadRequest.
type ConfigError struct {
	Problems []ConfigProblem
}

func (e *ConfigError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Message
	}
	return strings.Join(msgs, "\n")
}

// Unwrap marks the error as a refused request.
func (e *ConfigError) Unwrap() error { return ErrBadRequest }

// ConfigErrorOf splits a configuration error, whose parts each start with
// their key (section.key, or an item of it such as sip.protocols[1]), into
// problems by key.
func ConfigErrorOf(err error) *ConfigError {
	var parts []error
	var queue = []error{err}
	for len(queue) > 0 {
		e := queue[0]
		queue = queue[1:]
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			queue = append(queue, j.Unwrap()...)
			continue
		}
		parts = append(parts, e)
	}
	out := &ConfigError{}
	for _, p := range parts {
		msg := p.Error()
		key, _, _ := strings.Cut(msg, ": ")
		key, _, _ = strings.Cut(key, "[")
		if strings.ContainsAny(key, " \"") || !strings.Contains(key, ".") {
			key = ""
		}
		out.Problems = append(out.Problems, ConfigProblem{Key: key, Message: msg})
	}
	return out
}

// ConfigBackend is what the API serves of the configuration file.
type ConfigBackend interface {
	// Config reads the running daemon's configuration file.
	Config(context.Context) (Config, error)
	// SetConfig makes changes to the configuration file, all or none,
	// checked as sipguard config set checks one; the file is replaced
	// atomically and the daemon reloads it. Refused changes return a
	// *ConfigError and leave the file as it was.
	SetConfig(ctx context.Context, changes []ConfigChange) (ConfigResult, error)
}

// configError is the body of a refused POST /v1/config.
type configError struct {
	Error    string          `json:"error"`
	Problems []ConfigProblem `json:"problems"`
}

func handleConfig(mux *http.ServeMux, b ConfigBackend) {
	mux.HandleFunc("GET /v1/config", func(w http.ResponseWriter, r *http.Request) {
		c, err := b.Config(r.Context())
		reply(w, c, err)
	})
	mux.HandleFunc("POST /v1/config", func(w http.ResponseWriter, r *http.Request) {
		var req ConfigRequest
		if err := decode(r, &req); err != nil {
			reply(w, nil, err)
			return
		}
		if len(req.Changes) == 0 {
			reply(w, nil, fmt.Errorf("%w: no changes", ErrBadRequest))
			return
		}
		res, err := b.SetConfig(r.Context(), req.Changes)
		if ce := (*ConfigError)(nil); errors.As(err, &ce) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(configError{Error: ce.Error(), Problems: ce.Problems})
			return
		}
		reply(w, res, err)
	})
}

// Config reads the running daemon's configuration file.
func (c Client) Config(ctx context.Context) (Config, error) {
	var out Config
	err := c.do(ctx, http.MethodGet, "/v1/config", nil, &out)
	return out, err
}

// SetConfig makes changes to the running daemon's configuration file, all
// or none, and has the daemon reload it.
func (c Client) SetConfig(ctx context.Context, changes []ConfigChange) (ConfigResult, error) {
	var out ConfigResult
	err := c.do(ctx, http.MethodPost, "/v1/config", ConfigRequest{Changes: changes}, &out)
	return out, err
}
