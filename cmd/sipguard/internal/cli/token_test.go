package cli

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
)

// fakeTokens keeps the fake daemon's API tokens in memory.
type fakeTokens struct{ toks []api.Token }

func (f *fakeTokens) Tokens(context.Context) ([]api.Token, error) { return f.toks, nil }

func (f *fakeTokens) CreateToken(_ context.Context, name string) (api.NewToken, error) {
	t := api.Token{ID: fmt.Sprintf("t%d", len(f.toks)+1), Name: name, Created: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}
	f.toks = append(f.toks, t)
	return api.NewToken{Token: t, Secret: "sgt_" + name}, nil
}

func (f *fakeTokens) RevokeToken(_ context.Context, id string) error {
	for i, t := range f.toks {
		if t.ID == id {
			f.toks = append(f.toks[:i], f.toks[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("%w: no token %q", api.ErrBadRequest, id)
}

func TestToken(t *testing.T) {
	f := &fakeDaemon{}
	sock := serveFake(t, f)
	code, out, errOut := run(t, "--api", sock, "token", "create", "laptop")
	if code != 0 || out != "sgt_laptop\n" || !strings.Contains(errOut, "shown this once") {
		t.Fatalf("token create: %d %q %q", code, out, errOut)
	}
	code, out, _ = run(t, "--api", sock, "token", "list")
	if code != 0 || !strings.Contains(out, "t1") || !strings.Contains(out, "laptop") || !strings.Contains(out, "never") {
		t.Errorf("token list: %d %q", code, out)
	}
	if code, _, errOut = run(t, "--api", sock, "token", "revoke", "t9"); code == 0 || !strings.Contains(errOut, "no token") {
		t.Errorf("revoking an unknown token: %d %q", code, errOut)
	}
	if code, out, _ = run(t, "--api", sock, "token", "revoke", "t1"); code != 0 || len(f.toks) != 0 {
		t.Errorf("token revoke: %d %q, left %+v", code, out, f.toks)
	}
	if code, out, _ = run(t, "--api", sock, "token", "list"); code != 0 || out != "no API tokens\n" {
		t.Errorf("token list of none: %d %q", code, out)
	}
}
