package crowdsec

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/sipguard/sipguard/netfilter"
)

// fakeLAPI is a CrowdSec local API in memory: a decision stream whose
// replies the test sets, and the alerts machines push.
type fakeLAPI struct {
	t *testing.T
	*httptest.Server

	mu       sync.Mutex
	replies  []string // stream replies, served in order; then empty ones
	startups []bool   // the startup parameter of each stream request
	down     bool     // every request fails with 503
	alerts   [][]alert
	logins   int
	token    string // the token the LAPI takes now
	reject   bool   // the stream refuses the key
}

const (
	testKey      = "bouncer-key"
	testMachine  = "box-a"
	testPassword = "box-a-password"
	testToken    = "jwt-token" // then -1, -2… at each login
)

func newFakeLAPI(t *testing.T) *fakeLAPI {
	f := &fakeLAPI{t: t}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/decisions/stream", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if r.Header.Get("X-Api-Key") != testKey || f.reject {
			http.Error(w, `{"message":"access forbidden"}`, http.StatusForbidden)
			return
		}
		f.startups = append(f.startups, r.URL.Query().Get("startup") == "true")
		reply := `{"new":null,"deleted":null}`
		if len(f.replies) > 0 {
			reply, f.replies = f.replies[0], f.replies[1:]
		}
		w.Write([]byte(reply))
	})
	mux.HandleFunc("POST /v1/watchers/login", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		var q struct {
			MachineID string `json:"machine_id"`
			Password  string `json:"password"`
		}
		if err := json.NewDecoder(r.Body).Decode(&q); err != nil || q.MachineID != testMachine || q.Password != testPassword {
			http.Error(w, `{"code":401,"message":"incorrect Username or Password"}`, http.StatusUnauthorized)
			return
		}
		f.logins++
		f.token = fmt.Sprintf("%s-%d", testToken, f.logins)
		w.Write([]byte(`{"code":200,"expire":"2099-01-01T00:00:00Z","token":"` + f.token + `"}`))
	})
	mux.HandleFunc("POST /v1/alerts", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if f.token == "" || r.Header.Get("Authorization") != "Bearer "+f.token {
			http.Error(w, `{"message":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		var batch []alert
		if err := json.NewDecoder(r.Body).Decode(&batch); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.alerts = append(f.alerts, batch)
		ids := make([]string, len(batch))
		for i := range ids {
			ids[i] = "1"
		}
		json.NewEncoder(w).Encode(ids)
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

func (f *fakeLAPI) queue(replies ...string) {
	f.mu.Lock()
	f.replies = append(f.replies, replies...)
	f.mu.Unlock()
}

func (f *fakeLAPI) setDown(down bool) {
	f.mu.Lock()
	f.down = down
	f.mu.Unlock()
}

// revoke makes the LAPI refuse the token it gave, as when it restarts
// with a new signing secret.
func (f *fakeLAPI) revoke() {
	f.mu.Lock()
	f.token = "revoked"
	f.mu.Unlock()
}

func (f *fakeLAPI) pushed() [][]alert {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.alerts)
}

// fakeKernel records what the Bouncer loads.
type fakeKernel struct {
	mu    sync.Mutex
	bans  []netfilter.Ban
	loads int
}

func (k *fakeKernel) SetCrowdSec(bans []netfilter.Ban) (int, int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.bans, k.loads = slices.Clone(bans), k.loads+1
	v4, v6 := 0, 0
	for _, b := range bans {
		if b.Addr.Is4() {
			v4++
		} else {
			v6++
		}
	}
	return v4, v6, nil
}

func (k *fakeKernel) state() ([]netfilter.Ban, int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.bans), k.loads
}
