package dashboard

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/crowdsec"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/feeds"
)

// settingsData is the settings page's.
type settingsData struct {
	File     string
	Sections []section
	// Refused says the last save was refused: nothing was changed.
	Refused  string
	Problems []string // refused changes with no key of their own
	Notify   string   // the notifications' state, as JSON
	Feeds    []feeds.Status
	GeoIP    api.GeoIP
	// CrowdSec is the link to a CrowdSec local API; nil from a backend
	// without one.
	CrowdSec *crowdsec.Status
	Errors   []string // parts of the page that could not be read
}

// section is one section of the configuration file, as a form.
type section struct {
	Name string
	Keys []field
}

// field is one key's input.
type field struct {
	api.ConfigKey
	Name  string // the key within its section
	Input string // the value in the box: the effective one, or as typed
	Error string // why the value typed was refused
	Help  string // what the default file says of the key
	// Secret is a licence key, API key, password or token: its value is
	// not shown, and an empty box leaves it as it is.
	Secret bool
	IsSet  bool // a secret has a value
}

// secretKey reports whether a key holds a secret.
func secretKey(key string) bool {
	for _, end := range []string{"license", "_key", "password", "token"} {
		if strings.HasSuffix(key, end) {
			return true
		}
	}
	return false
}

// secretLine is a table's line holding a secret, as the table's value is
// shown.
var secretLine = regexp.MustCompile(`(?m)^(\s*(?:password|token|license|[a-z_]+_key)\s*=\s*)"[^"\n]+"`)

// masked is a table's value with its secrets hidden.
func masked(v string) string { return secretLine.ReplaceAllString(v, `$1"(set, not shown)"`) }

func (s *server) settings(w http.ResponseWriter, r *http.Request) {
	s.showSettings(w, r, http.StatusOK, nil, nil)
}

// showSettings shows the settings, with typed values in place of the
// file's and the problems of a refused save.
func (s *server) showSettings(w http.ResponseWriter, r *http.Request, code int, typed map[string]string, refused *api.ConfigError) {
	ctx := r.Context()
	var d settingsData
	note := func(what string, err error) {
		if err != nil {
			d.Errors = append(d.Errors, fmt.Sprintf("%s: %v", what, err))
		}
	}
	cfg, err := s.b.Config(ctx)
	note("configuration", err)
	d.File = cfg.File
	problems := map[string][]string{}
	if refused != nil {
		d.Refused = "Nothing was changed: the file is as it was."
		for _, p := range refused.Problems {
			if p.Key == "" {
				d.Problems = append(d.Problems, p.Message)
				continue
			}
			problems[p.Key] = append(problems[p.Key], p.Message)
		}
	}
	for _, k := range cfg.Keys {
		sec, name, _ := strings.Cut(k.Key, ".")
		if len(d.Sections) == 0 || d.Sections[len(d.Sections)-1].Name != sec {
			d.Sections = append(d.Sections, section{Name: sec})
		}
		f := field{ConfigKey: k, Name: name, Input: k.Value, Error: strings.Join(problems[k.Key], "; "), Help: keyHelp()[k.Key]}
		if v, ok := typed[k.Key]; ok {
			f.Input = v
		}
		switch {
		case k.Kind == "table":
			f.Input = masked(f.Input)
		case secretKey(k.Key):
			f.Secret, f.IsSet, f.Input = true, k.Value != "", ""
		}
		delete(problems, k.Key)
		cur := &d.Sections[len(d.Sections)-1]
		cur.Keys = append(cur.Keys, f)
	}
	for _, msgs := range problems { // keys the file does not know
		d.Problems = append(d.Problems, msgs...)
	}
	if st, err := s.b.NotifyStatus(ctx); err != nil {
		note("notifications", err)
	} else if text, err := json.MarshalIndent(st, "", "  "); err == nil {
		d.Notify = string(text)
	}
	d.Feeds, err = s.b.Feeds(ctx)
	note("feeds", err)
	d.GeoIP, err = s.b.GeoIP(ctx)
	note("country database", err)
	if cb, ok := s.b.(api.CrowdSecBackend); ok {
		st, err := cb.CrowdSec(ctx)
		note("CrowdSec", err)
		if err == nil {
			d.CrowdSec = &st
		}
	}
	s.render(w, r, code, "settings", "Settings", d)
}

// settingsSave applies the values of one section's form that differ from
// the file's, all or none, checked as sipguard config set checks them.
func (s *server) settingsSave(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.showSettings(w, r, http.StatusBadRequest, nil, &api.ConfigError{Problems: []api.ConfigProblem{{Message: err.Error()}}})
		return
	}
	cfg, err := s.b.Config(r.Context())
	if err != nil {
		s.failed(w, r, "read the configuration", err)
		return
	}
	typed := map[string]string{}
	var changes []api.ConfigChange
	for _, k := range cfg.Keys {
		vs, ok := r.PostForm[k.Key]
		if !ok || k.Kind == "table" {
			continue
		}
		v := strings.TrimSpace(vs[len(vs)-1])
		if secretKey(k.Key) && v == "" {
			continue // left as it is
		}
		typed[k.Key] = v
		if v != k.Value {
			changes = append(changes, api.ConfigChange{Key: k.Key, Value: v})
		}
	}
	to := "/settings"
	if sec := r.PostForm.Get("section"); sec != "" {
		to += "#" + sec
	}
	if len(changes) == 0 {
		s.refused(w, r, to, "nothing to save: no value was changed")
		return
	}
	res, err := s.b.SetConfig(r.Context(), changes)
	if ce := (*api.ConfigError)(nil); errors.As(err, &ce) {
		s.showSettings(w, r, http.StatusBadRequest, typed, ce)
		return
	}
	if err != nil {
		s.failed(w, r, "save the settings", err)
		return
	}
	keys := make([]string, len(changes))
	for i, c := range changes {
		keys[i] = c.Key
	}
	msg := fmt.Sprintf("saved and applied: %s", strings.Join(keys, ", "))
	if !res.Applied {
		msg = fmt.Sprintf("saved, not applied until a restart: %s (%s)", strings.Join(keys, ", "), res.NotApplied)
	}
	s.done(w, r, to, msg, "changed", keys)
}

func (s *server) notifyTest(w http.ResponseWriter, r *http.Request) {
	if err := s.b.TestNotify(r.Context()); err != nil {
		s.refused(w, r, "/settings#notifications", "test message not sent: "+message(err))
		return
	}
	s.done(w, r, "/settings#notifications", "test message sent through every configured channel")
}

func (s *server) feedsRefresh(w http.ResponseWriter, r *http.Request) {
	name := r.PostFormValue("name")
	st, err := s.b.RefreshFeeds(r.Context(), name)
	if err != nil {
		s.refused(w, r, "/settings#feeds-status", "feeds not refreshed: "+message(err))
		return
	}
	var failed []string
	for _, f := range st {
		if f.LastError != "" && (name == "" || f.Name == name) {
			failed = append(failed, f.Name+": "+f.LastError)
		}
	}
	if len(failed) > 0 {
		s.refused(w, r, "/settings#feeds-status", "refreshed, with errors: "+strings.Join(failed, "; "))
		return
	}
	what := "every enabled feed"
	if name != "" {
		what = name
	}
	s.done(w, r, "/settings#feeds-status", what+" refreshed")
}

func (s *server) geoipUpdate(w http.ResponseWriter, r *http.Request) {
	g, err := s.b.UpdateGeoIP(r.Context())
	if err != nil {
		s.refused(w, r, "/settings#geoip", "country database not updated: "+message(err))
		return
	}
	msg := "country database checked"
	if g.Database != nil {
		msg += ": " + g.Database.Type + " of " + when(g.Database.Built)
	}
	s.done(w, r, "/settings#geoip", msg)
}
