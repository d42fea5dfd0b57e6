package feeds

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAPIBAN serves APIBAN's banned endpoint: pages[ID] is what comes after
// ID ("" for the first page); an ID with no page answers 400 "no new bans".
type fakeAPIBAN struct {
	*httptest.Server
	mu     sync.Mutex
	key    string
	pages  map[string]apibanTestPage
	status map[string]int // answer this status for this ID
	paths  []string
}

type apibanTestPage struct {
	ips  []string
	next string
}

func newFakeAPIBAN(t *testing.T) *fakeAPIBAN {
	a := &fakeAPIBAN{key: "s3cret", pages: map[string]apibanTestPage{}, status: map[string]int{}}
	a.Server = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.Close)
	return a
}

func (a *fakeAPIBAN) serve(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.paths = append(a.paths, r.URL.Path)
	rest, ok := strings.CutPrefix(r.URL.Path, "/api/"+a.key+"/banned")
	if !ok {
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"ipaddress":"none", "ID":"unauthorized"}`))
		return
	}
	id := strings.TrimPrefix(rest, "/")
	if st := a.status[id]; st != 0 {
		w.WriteHeader(st)
		w.Write([]byte(`{"ipaddress":"rate limit exceeded", "ID":"unauthorized"}`))
		return
	}
	p, ok := a.pages[id]
	if !ok {
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"ipaddress":"no new bans", "ID":"none"}`))
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"ipaddress": p.ips, "ID": p.next})
}

func (a *fakeAPIBAN) takePaths() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.paths
	a.paths = nil
	return p
}

func (a *fakeAPIBAN) feed() Feed {
	return Feed{Name: "apiban", URL: a.URL + "/api/", Format: APIBAN, APIKey: a.key, Enabled: true}
}

func TestAPIBANPaging(t *testing.T) {
	a := newFakeAPIBAN(t)
	a.pages[""] = apibanTestPage{[]string{"198.51.100.1", "198.51.100.2", "10.1.1.1"}, "100"}
	a.pages["100"] = apibanTestPage{[]string{"203.0.113.1", "2001:db8::5", "bogus"}, "101"}
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	opts := testOptions()
	opts.Now = func() time.Time { return now }
	m := newManager(t, opts, a.feed())

	mustRefresh(t, m, "apiban", true)
	want := []string{"198.51.100.1/32", "198.51.100.2/32", "203.0.113.1/32", "2001:db8::5/128"}
	if got := all(m); !slices.Equal(got, want) {
		t.Errorf("All %q, want %q", got, want)
	}
	if got, want := a.takePaths(), []string{"/api/s3cret/banned", "/api/s3cret/banned/100", "/api/s3cret/banned/101"}; !slices.Equal(got, want) {
		t.Errorf("requests %q, want %q", got, want)
	}
	st := status(t, m, "apiban")
	if st.APIBANCursor != "101" || st.V4 != 3 || st.V6 != 1 || st.Ignored != 1 || st.BadLines != 1 || st.Lines != 6 {
		t.Errorf("status %+v", st)
	}

	// New bans since 101; the old ones stay.
	now = now.Add(24 * time.Hour)
	a.mu.Lock()
	a.pages["101"] = apibanTestPage{[]string{"192.0.2.50"}, "102"}
	a.mu.Unlock()
	mustRefresh(t, m, "apiban", true)
	if got := a.takePaths(); !slices.Equal(got, []string{"/api/s3cret/banned/101", "/api/s3cret/banned/102"}) {
		t.Errorf("requests %q", got)
	}
	if got := all(m); len(got) != 5 || got[0] != "192.0.2.50/32" {
		t.Errorf("All %q", got)
	}

	// Nothing new: no change. A week later, the first bans expire.
	mustRefresh(t, m, "apiban", false)
	now = now.Add(6*24*time.Hour + time.Minute)
	mustRefresh(t, m, "apiban", true)
	if got := all(m); !slices.Equal(got, []string{"192.0.2.50/32"}) {
		t.Errorf("after retention: %q", got)
	}
}

func TestAPIBANPageLimit(t *testing.T) {
	a := newFakeAPIBAN(t)
	a.pages[""] = apibanTestPage{[]string{"198.51.100.1"}, "1"}
	a.pages["1"] = apibanTestPage{[]string{"198.51.100.2"}, "2"}
	a.pages["2"] = apibanTestPage{[]string{"198.51.100.3"}, "3"}
	opts := testOptions()
	opts.APIBANPages = 2
	opts.APIBANPageDelay = 30 * time.Millisecond
	m := newManager(t, opts, a.feed())
	f := m.find("apiban")
	start := time.Now()
	changed, more, err := m.refresh(context.Background(), f)
	if err != nil || !changed || !more {
		t.Fatalf("changed %v more %v err %v", changed, more, err)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("two pages in %v: no delay between them", d)
	}
	if got := all(m); len(got) != 2 {
		t.Errorf("after 2 pages: %q", got)
	}
	changed, more, err = m.refresh(context.Background(), f)
	if err != nil || !changed || more {
		t.Fatalf("changed %v more %v err %v", changed, more, err)
	}
	if got := all(m); len(got) != 3 {
		t.Errorf("after the rest: %q", got)
	}
	if got := a.takePaths(); len(got) != 4 {
		t.Errorf("%d requests, want 4: %q", len(got), got)
	}
}

func TestAPIBANErrors(t *testing.T) {
	a := newFakeAPIBAN(t)
	a.pages[""] = apibanTestPage{[]string{"198.51.100.1"}, "1"}
	a.pages["1"] = apibanTestPage{[]string{"198.51.100.2"}, "2"}
	a.status["1"] = http.StatusTooManyRequests
	m := newManager(t, testOptions(), a.feed())

	// Rate limited after the first page: that page counts, the error shows.
	changed, err := m.Refresh(context.Background(), "apiban")
	if err == nil || !strings.Contains(err.Error(), "429") || !changed {
		t.Fatalf("changed %v err %v", changed, err)
	}
	if got := all(m); !slices.Equal(got, []string{"198.51.100.1/32"}) {
		t.Errorf("All %q", got)
	}
	if strings.Contains(err.Error(), a.key) {
		t.Errorf("error shows the key: %v", err)
	}
	a.mu.Lock()
	delete(a.status, "1")
	a.mu.Unlock()
	mustRefresh(t, m, "apiban", true)
	if got := all(m); len(got) != 2 {
		t.Errorf("All %q", got)
	}

	// A wrong key: unauthorized, content kept, key not shown anywhere.
	f := a.feed()
	f.APIKey = "wrong-key"
	if err := m.SetFeeds([]Feed{f}); err != nil {
		t.Fatal(err)
	}
	_, err = m.Refresh(context.Background(), "apiban")
	if err == nil || !strings.Contains(err.Error(), "check the API key") || strings.Contains(err.Error(), "wrong-key") {
		t.Fatalf("err %v", err)
	}
	st := status(t, m, "apiban")
	if strings.Contains(st.LastError, "wrong-key") || strings.Contains(st.URL, "wrong-key") {
		t.Errorf("status shows the key: %+v", st)
	}
}

func TestAPIBANNotJSON(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<html>oops</html>"))
	}))
	defer srv.Close()
	m := newManager(t, testOptions(), Feed{Name: "apiban", URL: srv.URL, Format: APIBAN, APIKey: "k", Enabled: true})
	if _, err := m.Refresh(context.Background(), "apiban"); err == nil || !strings.Contains(err.Error(), "not APIBAN's JSON") {
		t.Fatalf("err %v", err)
	}
}
