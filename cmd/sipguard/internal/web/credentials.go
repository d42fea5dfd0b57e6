package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
)

// Store keeps the administrator's password hash and the API tokens: the
// state file (*store.Store), or memory when the box keeps none.
type Store interface {
	PasswordHash() (string, error)
	SetPasswordHash(hash string, ifNone bool) error
	Tokens() ([]store.Token, error)
	PutToken(store.Token) error
	DeleteToken(id string) error
}

var _ Store = (*store.Store)(nil)

// MemoryStore is a Store in memory: what the dashboard runs with when the
// box has no state file. Its password and tokens are lost on restart.
type MemoryStore struct {
	mu     sync.Mutex
	hash   string
	tokens map[string]store.Token
}

// PasswordHash implements Store.
func (m *MemoryStore) PasswordHash() (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hash, nil
}

// SetPasswordHash implements Store.
func (m *MemoryStore) SetPasswordHash(hash string, ifNone bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ifNone && m.hash != "" {
		return fmt.Errorf("set password: %w: a password is already set", store.ErrInvalid)
	}
	m.hash = hash
	return nil
}

// Tokens implements Store.
func (m *MemoryStore) Tokens() ([]store.Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]store.Token, 0, len(m.tokens))
	for _, t := range m.tokens {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b store.Token) int { return a.Created.Compare(b.Created) })
	return out, nil
}

// PutToken implements Store.
func (m *MemoryStore) PutToken(t store.Token) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tokens == nil {
		m.tokens = map[string]store.Token{}
	}
	m.tokens[t.ID] = t
	return nil
}

// DeleteToken implements Store.
func (m *MemoryStore) DeleteToken(id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.tokens[id]; !ok {
		return store.ErrNotFound
	}
	delete(m.tokens, id)
	return nil
}

// TokenPrefix starts every API token's secret.
const TokenPrefix = "sgt_"

// maxTokens bounds the API tokens the box keeps.
const maxTokens = 100

// usedEvery is how often a token's last use is written to the state
// file: not at every request, for the SD card's sake.
const usedEvery = time.Hour

// Tokens makes, lists, checks and revokes API tokens. It implements
// api.TokenBackend for the daemon, and what the dashboard's token page
// needs.
type Tokens struct {
	store Store
	now   func() time.Time
	mu    sync.Mutex // one change at a time
}

// NewTokens returns the tokens kept in s.
func NewTokens(s Store, now func() time.Time) *Tokens {
	if now == nil {
		now = time.Now
	}
	return &Tokens{store: s, now: now}
}

// List returns the tokens, oldest first.
func (t *Tokens) List(context.Context) ([]api.Token, error) {
	toks, err := t.store.Tokens()
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	out := make([]api.Token, 0, len(toks))
	for _, k := range toks {
		out = append(out, apiToken(k))
	}
	return out, nil
}

func apiToken(k store.Token) api.Token {
	return api.Token{ID: k.ID, Name: k.Name, Created: k.Created, LastUsed: k.LastUsed}
}

// Create makes a token named name and returns it with its secret, which
// is nowhere else: the box keeps its SHA-256.
func (t *Tokens) Create(_ context.Context, name string) (api.NewToken, error) {
	name = strings.TrimSpace(name)
	if err := checkTokenName(name); err != nil {
		return api.NewToken{}, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	toks, err := t.store.Tokens()
	if err != nil {
		return api.NewToken{}, fmt.Errorf("tokens: %w", err)
	}
	if len(toks) >= maxTokens {
		return api.NewToken{}, fmt.Errorf("%w: %d tokens already: revoke one first", api.ErrBadRequest, len(toks))
	}
	if slices.ContainsFunc(toks, func(k store.Token) bool { return k.Name == name }) {
		return api.NewToken{}, fmt.Errorf("%w: a token named %q exists", api.ErrBadRequest, name)
	}
	raw := make([]byte, 32+6)
	if _, err := rand.Read(raw); err != nil {
		return api.NewToken{}, err
	}
	secret := TokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:32])
	sum := sha256.Sum256([]byte(secret))
	k := store.Token{ID: hex.EncodeToString(raw[32:]), Name: name, Created: t.now().UTC(), Hash: sum[:]}
	if err := t.store.PutToken(k); err != nil {
		return api.NewToken{}, err
	}
	return api.NewToken{Token: apiToken(k), Secret: secret}, nil
}

func checkTokenName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("%w: a token's name is 1 to 64 characters, such as laptop", api.ErrBadRequest)
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("%w: a token's name is printable text", api.ErrBadRequest)
		}
	}
	return nil
}

// Revoke deletes the token id: it authorizes nothing from then on.
func (t *Tokens) Revoke(_ context.Context, id string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.store.DeleteToken(id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: no token %q (sipguard token list)", api.ErrBadRequest, id)
		}
		return err
	}
	return nil
}

// Check returns the token whose secret is secret, and notes its use.
func (t *Tokens) Check(secret string) (api.Token, bool) {
	if !strings.HasPrefix(secret, TokenPrefix) || len(secret) > 128 {
		return api.Token{}, false
	}
	sum := sha256.Sum256([]byte(secret))
	toks, err := t.store.Tokens()
	if err != nil {
		return api.Token{}, false
	}
	for _, k := range toks {
		if subtle.ConstantTimeCompare(k.Hash, sum[:]) == 1 {
			if now := t.now(); now.Sub(k.LastUsed) >= usedEvery {
				k.LastUsed = now.UTC()
				t.noteUse(k)
			}
			return apiToken(k), true
		}
	}
	return api.Token{}, false
}

// noteUse writes a token's last use, unless it was revoked meanwhile.
func (t *Tokens) noteUse(k store.Token) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cur, err := t.store.Tokens()
	if err == nil && slices.ContainsFunc(cur, func(c store.Token) bool { return c.ID == k.ID }) {
		_ = t.store.PutToken(k) // the use is a note; the token stands
	}
}
