package cli

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/config"
)

// remoteConfigFile is the file the fake box runs with, as the API shows it.
const remoteConfigFile = "/data/sipguard.toml"

// Config serves the fake daemon's file, kept in memory.
func (f *fakeDaemon) Config(context.Context) (api.Config, error) {
	return api.Config{File: remoteConfigFile, Text: f.remoteText}, nil
}

// SetConfig checks changes as the daemon does, with config set's rules.
func (f *fakeDaemon) SetConfig(_ context.Context, changes []api.ConfigChange) (api.ConfigResult, error) {
	data := []byte(f.remoteText)
	for _, c := range changes {
		next, err := config.Set(data, c.Key, c.Value)
		if err != nil {
			return api.ConfigResult{}, fmt.Errorf("%w: %w", api.ErrBadRequest, err)
		}
		data = next
	}
	f.remoteText = string(data)
	return api.ConfigResult{Changed: len(changes), Applied: true}, nil
}

// config get and set work on a box over HTTPS: the box's file is read
// and changed through its API, with config set's rules, and a refused
// value leaves it as it was.
func TestBoxConfig(t *testing.T) {
	laptop(t)
	f := &fakeDaemon{remoteText: "[sip]\nregister_limit = 7\n"}
	box := serveFakeTLS(t, f)
	boxArgs := []string{"--box", box.addr, "--token", testToken, "config"}
	if code, out, errOut := run(t, append(boxArgs, "get", "sip.register_limit")...); code != 0 || out != "7\n" {
		t.Fatalf("config get --box: %d %q %q", code, out, errOut)
	}
	code, out, errOut := run(t, append(boxArgs, "set", "sip.register_limit", "9")...)
	if code != 0 || !strings.Contains(out, "sip.register_limit = 9 written and applied") || !strings.Contains(f.remoteText, "register_limit = 9") {
		t.Fatalf("config set --box: %d %q %q; the box's file:\n%s", code, out, errOut, f.remoteText)
	}
	before := f.remoteText
	code, _, errOut = run(t, append(boxArgs, "set", "sip.register_limit", "many")...)
	if code == 0 || !strings.Contains(errOut, "sip.register_limit") || !strings.Contains(errOut, "unchanged") || f.remoteText != before {
		t.Errorf("a bad value: %d %q; the box's file:\n%s", code, errOut, f.remoteText)
	}
}
