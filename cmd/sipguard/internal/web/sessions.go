package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"
)

// Session lifetimes: a session ends after IdleTimeout without a request,
// and AbsoluteTimeout after the login whatever happens.
const (
	IdleTimeout     = 30 * time.Minute
	AbsoluteTimeout = 12 * time.Hour
)

// maxSessions bounds the sessions kept; a new one beyond ends the oldest.
const maxSessions = 32

// session is one logged-in browser. The server keeps sessions in memory
// only: a restart logs everyone out.
type session struct {
	id       string
	csrf     string
	created  time.Time
	lastSeen time.Time
}

// sessions are the logged-in browsers.
type sessions struct {
	mu  sync.Mutex
	m   map[string]*session
	now func() time.Time
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{m: map[string]*session{}, now: now}
}

// randomID returns n random bytes, base64url.
func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// start makes a new session.
func (s *sessions) start() *session {
	now := s.now()
	ss := &session{id: randomID(32), csrf: randomID(32), created: now, lastSeen: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(now)
	for len(s.m) >= maxSessions {
		var oldest *session
		for _, o := range s.m {
			if oldest == nil || o.lastSeen.Before(oldest.lastSeen) {
				oldest = o
			}
		}
		delete(s.m, oldest.id)
	}
	s.m[ss.id] = ss
	return ss
}

// expire ends the sessions past their time; s.mu held.
func (s *sessions) expire(now time.Time) {
	for id, ss := range s.m {
		if !ss.valid(now) {
			delete(s.m, id)
		}
	}
}

func (ss *session) valid(now time.Time) bool {
	return now.Sub(ss.lastSeen) < IdleTimeout && now.Sub(ss.created) < AbsoluteTimeout
}

// get returns the live session id, and notes the request; nil when there
// is none (never was, ended, expired).
func (s *sessions) get(id string) *session {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.m[id]
	if ss == nil {
		return nil
	}
	if !ss.valid(now) {
		delete(s.m, id)
		return nil
	}
	ss.lastSeen = now
	cp := *ss
	return &cp
}

// end ends the session id.
func (s *sessions) end(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

// endAll ends every session: the password changed, or was wiped.
func (s *sessions) endAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.m)
}

// checkCSRF says whether token is the session's CSRF token.
func (ss *session) checkCSRF(token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(ss.csrf)) == 1
}
