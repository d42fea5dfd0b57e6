package store

import (
	"errors"
	"testing"
	"time"
)

func TestPasswordAndTokens(t *testing.T) {
	s, path := open(t, Limits{})
	if h, err := s.PasswordHash(); err != nil || h != "" {
		t.Fatalf("a new state file's password: %q, %v", h, err)
	}
	if err := s.SetPasswordHash("$argon2id$first", true); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPasswordHash("$argon2id$second", true); !errors.Is(err, ErrInvalid) {
		t.Errorf("a second first password: %v, want ErrInvalid", err)
	}
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	for _, tok := range []Token{{ID: "b", Name: "laptop", Created: now, Hash: []byte{1}}, {ID: "a", Name: "nms", Created: now.Add(time.Hour), Hash: []byte{2}}} {
		if err := s.PutToken(tok); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutToken(Token{ID: "c"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("a token without a hash: %v, want ErrInvalid", err)
	}
	if err := s.DeleteToken("zz"); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoking an unknown token: %v, want ErrNotFound", err)
	}

	// Both survive a restart.
	s.Close()
	s, err := Open(path, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if h, _ := s.PasswordHash(); h != "$argon2id$first" {
		t.Errorf("password after reopening: %q", h)
	}
	toks, err := s.Tokens()
	if err != nil || len(toks) != 2 || toks[0].ID != "b" || toks[0].Name != "laptop" || toks[1].ID != "a" || !toks[0].Created.Equal(now) {
		t.Fatalf("tokens: %+v, %v", toks, err)
	}
	if err := s.DeleteToken("b"); err != nil {
		t.Fatal(err)
	}
	if toks, _ := s.Tokens(); len(toks) != 1 || toks[0].ID != "a" {
		t.Errorf("tokens after a revoke: %+v", toks)
	}

	// The factory reset takes them.
	if err := s.Wipe(); err != nil {
		t.Fatal(err)
	}
	if h, _ := s.PasswordHash(); h != "" {
		t.Errorf("password after a wipe: %q", h)
	}
	if toks, _ := s.Tokens(); len(toks) != 0 {
		t.Errorf("tokens after a wipe: %+v", toks)
	}
}

func TestAdminEventsAreNotAttacks(t *testing.T) {
	var tally Tally
	tally.Add(Event{Action: ActionAdmin, Reason: "admin POST /v1/reload"})
	if tally.Events != 0 || len(tally.Attacks) != 0 {
		t.Errorf("an admin action counted: %+v", tally)
	}
}
