package dashboard

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
)

// Every page shows its values, is well-formed, and each of its forms
// carries the CSRF token (checkPage, on every answer of these tests).
func TestPagesRender(t *testing.T) {
	bn := newBench(t)
	for path, want := range map[string][]string{
		"/": {"Protecting — attack blocked", "amber steady", "Office link (lan)", "down", "friendly-scanner", "203.0.113.7", "toll-fraud",
			"Feeds (ranges)", "4333", "9876", "Attacks, last 24 hours", `data-after="0002"`, "123456", "first-packet verdict"},
		"/?chart=7d":   {"Attacks, last 7 days"},
		"/bans":        {"203.0.113.7/32", "register-flood", "friendly-scanner", "NL", "9m30s", "198.51.100.0/24", "sipvicious", "CN"},
		"/lists/allow": {"192.0.2.0/24", "office", "2026-11-01", "/lists/allow/export"},
		"/lists/deny":  {"The list is empty."},
		"/settings": {"register_limit", `value="7"`, "default: 5", "unauthorized REGISTER attempts a minute before a ban (1-1000)", "edit the file by hand", "/data/sipguard.toml", "voipbl", "spamhaus_drop", "block: CN, RU", "Send a test message", "&#34;sent&#34;: 3",
			"CrowdSec", "http://198.51.100.50:8080/", "12 decisions (11 IPv4, 1 IPv6 networks)", "4 alerts sent, 2 queued", "connection refused"},
		"/firmware":         {"v1.4.0", "rpi4", "Raspberry Pi 4", "matches the signed manifest", "Reboot"},
		"/tokens":           {"AB:CD:EF:01", "No tokens."},
		"/backup":           {"Download a backup", "Restore a backup"},
		"/static/style.css": {"--amber"},
		"/static/live.js":   {"/events?after="},
	} {
		w := bn.get(path)
		if w.Code != http.StatusOK {
			t.Errorf("%s: %d", path, w.Code)
			continue
		}
		for _, s := range want {
			if !strings.Contains(w.Body.String(), s) {
				t.Errorf("%s: no %q", path, s)
			}
		}
	}
	if w := bn.get("/lists/grey"); w.Code != http.StatusNotFound {
		t.Errorf("/lists/grey: %d", w.Code)
	}
}

// The templates hold no inline script, style or event handler: the
// Content-Security-Policy forbids them.
func TestNoInlineScriptOrStyle(t *testing.T) {
	bad := regexp.MustCompile(`(?i)<style|style\s*=|\son[a-z]+\s*=|<script(?:\s[^>]*)?>\s*[^<\s]|javascript:`)
	ts := templates(t)
	if len(ts) < 9 {
		t.Fatalf("%d templates", len(ts))
	}
	for name, text := range ts {
		if m := bad.FindString(text); m != "" {
			t.Errorf("%s: %q", name, m)
		}
		for _, m := range regexp.MustCompile(`<script[^>]*>`).FindAllString(text, -1) {
			if !strings.Contains(m, `src="/static/`) {
				t.Errorf("%s: %s", name, m)
			}
		}
	}
}

// The tamper warning shows on every page until acknowledged.
func TestTamperBanner(t *testing.T) {
	bn := newBench(t)
	bn.b.firmware.Tamper = []string{"boot/cmdline.txt: altered"}
	for _, p := range []string{"/", "/bans", "/lists/deny", "/settings", "/firmware", "/tokens", "/backup"} {
		if body := bn.get(p).Body.String(); !strings.Contains(body, "Tamper warning") || !strings.Contains(body, "boot/cmdline.txt: altered") {
			t.Errorf("%s: no tamper banner", p)
		}
	}
	page := bn.redirected(bn.post("/tamper/ack", formOf("back", "/bans")), "/bans")
	if bn.b.acks != 1 || strings.Contains(page, "Tamper warning") || !strings.Contains(page, "tamper warning acknowledged") {
		t.Errorf("after acknowledging: %d acks, page %s", bn.b.acks, page)
	}
	if !strings.Contains(bn.get("/firmware").Body.String(), "(acknowledged)") {
		t.Error("the firmware page does not say the warning was acknowledged")
	}
	// Only a path of this site is gone back to.
	if w := bn.post("/tamper/ack", formOf("back", "//example.com/")); w.Header().Get("Location") != "/firmware" {
		t.Errorf("back to %q", w.Header().Get("Location"))
	}
}

// The chart draws the daily counts it is given: a bar per day, as tall as
// its count relative to the tallest.
func TestChartFromDailyCounts(t *testing.T) {
	bn := newBench(t)
	counts := []int{0, 3, 10, 1, 0, 7, 5}
	var a api.Activity
	a.Step = api.StepDay
	for i, n := range counts {
		a.Buckets = append(a.Buckets, api.Bucket{Label: "2026-12-0" + string(rune('0'+i)), Events: n, Bans: n})
	}
	a.Today = api.Bucket{Events: 5, Bans: 4, Alerts: 1}
	bn.b.activity[api.StepDay] = a
	page := bn.get("/?chart=7d").Body.String()
	doc := parse(t, page)
	rects := findAll(doc, "rect")
	if len(rects) != len(counts) {
		t.Fatalf("%d bars, want %d", len(rects), len(counts))
	}
	full := chartBase - 10
	for i, r := range rects {
		tok := r.Token()
		if got := attr(tok, "data-count"); got != strconv.Itoa(counts[i]) {
			t.Errorf("bar %d counts %s, want %d", i, got, counts[i])
		}
		if got, want := attr(tok, "height"), strconv.Itoa(counts[i]*full/10); got != want {
			t.Errorf("bar %d is %s high, want %s", i, got, want)
		}
	}
	if !strings.Contains(page, "26 events in all; the tallest bar is 10") {
		t.Error("no total under the chart")
	}
	if today := findByID(doc, "today"); today == nil || text(today) != "5" {
		t.Errorf("attacks today: %v", today)
	}
}

// The live feed's endpoint answers the events after the one named.
func TestEventsFeed(t *testing.T) {
	bn := newBench(t)
	w := bn.get("/events?after=0001")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"ID":"0002"`) || strings.Contains(w.Body.String(), `"0001"`) {
		t.Errorf("%d %s", w.Code, w.Body.String())
	}
	if w := bn.get("/events?after=0002"); w.Body.String() != "[]\n" {
		t.Errorf("nothing new: %s", w.Body.String())
	}
	// Without JavaScript, the overview lists the latest events itself.
	doc := parse(t, bn.get("/").Body.String())
	if rows := findAll(findByID(doc, "feed"), "tr"); len(rows) != 3 {
		t.Errorf("%d rows in the feed, want a header and 2 events", len(rows))
	}
}

// The page check finds what it looks for.
func TestPageChecker(t *testing.T) {
	const good = `<!DOCTYPE html><html><head><script src="/static/live.js"></script></head><body><form method="post"><input type="hidden" name="csrf" value="` + testCSRF + `"></form></body></html>`
	if p := pageProblems(good); len(p) != 0 {
		t.Errorf("a good page: %v", p)
	}
	for page, want := range map[string]string{
		`<html><body><form method="post"></form></body></html>`:                                  "carries csrf []",
		`<html><body><form method="POST"><input name="csrf" value="other"></form></body></html>`: `carries csrf ["other"]`,
		`<html><body><p>open</body></html>`:                                                      "</body> closes [html body p]",
		`<html><body><div></div>`:                                                                "left open: [html body]",
		`<html><body><p style="color:red"></p></body></html>`:                                    "inline style=",
		`<html><body><a onclick="x()"></a></body></html>`:                                        "inline onclick=",
		`<html><head><script>alert(1)</script></head></html>`:                                    "an inline <script>",
		`<html><head><style>p{}</style></head></html>`:                                           "a <style> element",
		`<html><body><p id="a"></p><p id="a"></p></body></html>`:                                 `two elements with id "a"`,
	} {
		if p := strings.Join(pageProblems(page), "; "); !strings.Contains(p, want) {
			t.Errorf("%s: %q, want %q", page, p, want)
		}
	}
}
