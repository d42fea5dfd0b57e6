package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The dashboard's credentials: the administrator's password (its hash, as
// the dashboard encodes it) in bucket auth, the API tokens (their
// secrets' SHA-256, never the secrets) in bucket tokens, keyed by ID. A
// factory reset (Wipe) empties both.

var keyPassword = []byte("password")

// Token is an API token as the state file keeps it.
type Token struct {
	ID       string    `json:"-"`
	Name     string    `json:"name"`
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"last_used,omitzero"`
	// Hash is the SHA-256 of the token's secret.
	Hash []byte `json:"hash"`
}

// ErrNotFound marks a record that is not in the state file.
var ErrNotFound = errors.New("not found")

// PasswordHash returns the administrator's password hash; "" when none
// is set.
func (s *Store) PasswordHash() (string, error) {
	var h string
	err := s.db.View(func(tx *bolt.Tx) error {
		h = string(tx.Bucket(bucketAuth).Get(keyPassword))
		return nil
	})
	return h, err
}

// SetPasswordHash replaces the administrator's password hash. With
// ifNone, it sets one only if none is set, and otherwise is ErrInvalid
// (two first visits racing).
func (s *Store) SetPasswordHash(hash string, ifNone bool) error {
	if hash == "" {
		return fmt.Errorf("%w: an empty password hash", ErrInvalid)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAuth)
		if ifNone && b.Get(keyPassword) != nil {
			return fmt.Errorf("%w: a password is already set", ErrInvalid)
		}
		return b.Put(keyPassword, []byte(hash))
	})
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	return nil
}

// Tokens returns the API tokens, oldest first.
func (s *Store) Tokens() ([]Token, error) {
	var out []Token
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTokens).ForEach(func(k, v []byte) error {
			var t Token
			if json.Unmarshal(v, &t) != nil {
				return nil // counted at Open; passed over
			}
			t.ID = string(k)
			out = append(out, t)
			return nil
		})
	})
	slices.SortFunc(out, func(a, b Token) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, err
}

// PutToken adds a token or replaces the one of the same ID.
func (s *Store) PutToken(t Token) error {
	if t.ID == "" || len(t.Hash) == 0 {
		return fmt.Errorf("%w: a token without an ID or hash", ErrInvalid)
	}
	v, err := json.Marshal(t)
	if err != nil {
		return err
	}
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketTokens).Put([]byte(t.ID), v) }); err != nil {
		return fmt.Errorf("store token %s: %w", t.ID, err)
	}
	return nil
}

// DeleteToken removes the token id; ErrNotFound if there is none.
func (s *Store) DeleteToken(id string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTokens)
		if b.Get([]byte(id)) == nil {
			return ErrNotFound
		}
		return b.Delete([]byte(id))
	})
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", id, err)
	}
	return nil
}
