package dashboard

import (
	"bytes"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/config"
)

func TestUnblock(t *testing.T) {
	bn := newBench(t)
	page := bn.redirected(bn.post("/bans/unblock", formOf("address", "203.0.113.7/32")), "/bans")
	if len(bn.b.unbanned) != 1 || bn.b.unbanned[0] != netip.MustParsePrefix("203.0.113.7/32") || bn.b.permanent {
		t.Errorf("unbanned %v (permanent %v)", bn.b.unbanned, bn.b.permanent)
	}
	if !strings.Contains(page, "1 temporary ban(s) lifted") {
		t.Error("no flash message")
	}
	if strings.Contains(bn.get("/bans").Body.String(), "ban(s) lifted") {
		t.Error("the flash message shows twice")
	}
	bn.redirected(bn.post("/bans/unblock", formOf("typed", "198.51.100.0/24", "permanent", "yes")), "/bans")
	if !bn.b.permanent || len(bn.b.unbanned) != 2 {
		t.Errorf("permanent unban: %v %v", bn.b.unbanned, bn.b.permanent)
	}
	// A bad address, or a temporary unban of a permanent ban: refused,
	// the error next to the field, nothing lifted.
	bn.b.unbanned = nil
	for typed, want := range map[string]string{
		"203.0.113.300":   `&#34;203.0.113.300&#34; is not an address or network`,
		"192.0.2.5/24":    "has host bits set",
		"198.51.100.0/24": "is banned permanently",
		"":                "tick the bans to lift",
	} {
		w := bn.post("/bans/unblock", formOf("typed", typed))
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), want) {
			t.Errorf("%q: %d, want %q", typed, w.Code, want)
		}
		if !strings.Contains(w.Body.String(), `class="field-error"`) {
			t.Errorf("%q: no error next to the field", typed)
		}
	}
	if bn.b.unbanned != nil {
		t.Errorf("refused unbans lifted %v", bn.b.unbanned)
	}
}

func TestListAdd(t *testing.T) {
	bn := newBench(t)
	w := bn.post("/lists/deny/add", formOf("prefix", "198.51.100.7/24", "note", "scanner"))
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "host bits set") || len(bn.b.lists["deny"]) != 0 {
		t.Fatalf("bad network: %d, %d entries", w.Code, len(bn.b.lists["deny"]))
	}
	if !strings.Contains(w.Body.String(), `value="198.51.100.7/24"`) || !strings.Contains(w.Body.String(), `value="scanner"`) {
		t.Error("the values typed are not kept")
	}
	page := bn.redirected(bn.post("/lists/deny/add", formOf("prefix", "198.51.100.0/24", "note", "scanner")), "/lists/deny")
	if d := bn.b.lists["deny"]; len(d) != 1 || d[0].Prefix != "198.51.100.0/24" || d[0].Note != "scanner" || d[0].By != "dashboard" {
		t.Errorf("deny list %+v", d)
	}
	if !strings.Contains(page, "198.51.100.0/24 added to the deny list") {
		t.Error("no flash message")
	}
}

// Deleting entries takes a confirmation page; the page's form deletes
// exactly what was ticked.
func TestListDeleteConfirms(t *testing.T) {
	bn := newBench(t)
	bn.b.lists["allow"] = append(bn.b.lists["allow"], bn.b.lists["allow"][0], bn.b.lists["allow"][0])
	bn.b.lists["allow"][1].Prefix, bn.b.lists["allow"][2].Prefix = "2001:db8::/32", "203.0.113.9/32"
	w := bn.post("/lists/allow/delete", formOf("prefix", "192.0.2.0/24", "prefix", "2001:db8::/32"))
	if w.Code != http.StatusOK || len(bn.b.lists["allow"]) != 3 {
		t.Fatalf("asked: %d, %d entries left", w.Code, len(bn.b.lists["allow"]))
	}
	doc := parse(t, w.Body.String())
	if !strings.Contains(text(doc), "Delete 2 entries from the allow list?") {
		t.Error("no question")
	}
	form := confirmForm(t, doc)
	if form.Get("confirm") != "yes" || strings.Join(form["prefix"], " ") != "192.0.2.0/24 2001:db8::/32" {
		t.Errorf("the confirmation form posts %v", form)
	}
	page := bn.redirected(bn.post("/lists/allow/delete", form), "/lists/allow")
	if l := bn.b.lists["allow"]; len(l) != 1 || l[0].Prefix != "203.0.113.9/32" {
		t.Errorf("left %+v", l)
	}
	if !strings.Contains(page, "2 removed from the allow list") {
		t.Error("no flash message")
	}
	// Nothing ticked, or a bad value: refused.
	if w := bn.post("/lists/allow/delete", formOf()); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "tick the entries") {
		t.Errorf("nothing ticked: %d", w.Code)
	}
	// Delete all, confirmed the same way.
	w = bn.post("/lists/allow/clear", formOf())
	if w.Code != http.StatusOK || len(bn.b.lists["allow"]) != 1 || !strings.Contains(w.Body.String(), "Delete all 1 entries of the allow list?") {
		t.Fatalf("clear asked: %d", w.Code)
	}
	bn.redirected(bn.post("/lists/allow/clear", confirmForm(t, parse(t, w.Body.String()))), "/lists/allow")
	if len(bn.b.lists["allow"]) != 0 {
		t.Errorf("left %+v", bn.b.lists["allow"])
	}
}

// confirmForm reads the confirmation page's form's fields.
func confirmForm(t *testing.T, doc *html.Node) url.Values {
	t.Helper()
	out := formOf()
	var forms []node
	for _, f := range findAll(doc, "form") {
		if attr(f.Token(), "action") != "/logout" {
			forms = append(forms, f)
		}
	}
	if len(forms) != 1 {
		t.Fatalf("%d forms on the confirmation page", len(forms))
	}
	for _, in := range findAll(forms[0].Node, "input") {
		if n := attr(in.Token(), "name"); n != "csrf" {
			out.Add(n, attr(in.Token(), "value"))
		}
	}
	return out
}

// A CSV file with bad lines is refused whole: each bad line is shown with
// its number, and nothing is added.
func TestListImport(t *testing.T) {
	bn := newBench(t)
	file := "# office lists\n198.51.100.0/24,scanners\nnot-an-address,x\n\n2001:db8::1,carrier\n192.0.2.5/24\n"
	w := bn.upload("/lists/deny/import", nil, "file", "deny.csv", []byte(file))
	if w.Code != http.StatusBadRequest || len(bn.b.lists["deny"]) != 0 {
		t.Fatalf("bad file: %d, %d entries added", w.Code, len(bn.b.lists["deny"]))
	}
	doc := parse(t, w.Body.String())
	var lines []string
	for _, tr := range findAll(doc, "tr") {
		if tds := findAll(tr.Node, "td"); len(tds) == 2 {
			lines = append(lines, text(tds[0].Node)+": "+text(tds[1].Node))
		}
	}
	want := []string{`3: "not-an-address" is not an address or network`, `6: "192.0.2.5/24" has host bits set (did you mean 192.0.2.0/24?)`}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("bad lines shown:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(text(doc), "nothing was imported: 2 bad line(s)") {
		t.Error("no summary")
	}
	good := "198.51.100.0/24,scanners\n2001:db8::1,carrier\n"
	page := bn.redirected(bn.upload("/lists/deny/import", nil, "file", "deny.csv", []byte(good)), "/lists/deny")
	if d := bn.b.lists["deny"]; len(d) != 2 || d[1].Prefix != "2001:db8::1/128" || d[1].Note != "carrier" {
		t.Errorf("imported %+v", d)
	}
	if !strings.Contains(page, "2 imported into the deny list") {
		t.Error("no flash message")
	}
	if w := bn.upload("/lists/deny/import", nil, "file", "empty.csv", []byte("# nothing\n")); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "no entries") {
		t.Errorf("empty file: %d", w.Code)
	}
}

func TestListExport(t *testing.T) {
	bn := newBench(t)
	w := bn.get("/lists/allow/export")
	if w.Header().Get("Content-Type") != "text/csv; charset=utf-8" || !strings.Contains(w.Header().Get("Content-Disposition"), "sipguard-allow.csv") {
		t.Errorf("headers %v", w.Header())
	}
	if got, want := w.Body.String(), "192.0.2.0/24,office,2026-11-01T09:00:00Z,cli\n"; got != want {
		t.Errorf("export %q, want %q", got, want)
	}
}

// A bad value is refused with config set's message, next to its key; the
// file is unchanged, byte for byte, and so is every other key of the
// save.
func TestSettingsRefusesBadValue(t *testing.T) {
	bn := newBench(t)
	before := bytes.Clone(bn.b.file)
	w := bn.post("/settings", formOf("section", "sip", "sip.register_limit", "abc", "sip.invite_limit", "9", "sip.block_time", "10m"))
	if w.Code != http.StatusBadRequest || !bytes.Equal(bn.b.file, before) || bn.b.reloads != 0 {
		t.Fatalf("refused save: %d, file %q, %d reloads", w.Code, bn.b.file, bn.b.reloads)
	}
	_, setErr := config.Set(before, "sip.register_limit", "abc")
	doc := parse(t, w.Body.String())
	key := findByID(doc, "k-sip.register_limit").Parent
	var shown string
	for _, p := range findAll(key, "p") {
		if attr(p.Token(), "class") == "field-error" {
			shown = text(p.Node)
		}
	}
	if setErr == nil || shown != setErr.Error() {
		t.Errorf("shown %q, config set says %v", shown, setErr)
	}
	if !strings.Contains(text(doc), "Nothing was changed") {
		t.Error("the page does not say nothing was changed")
	}
	if in := findByID(doc, "k-sip.register_limit"); attr(node{in}.Token(), "value") != "abc" {
		t.Error("the value typed is not kept")
	}
	// Out of range, the same.
	w = bn.post("/settings", formOf("section", "sip", "sip.register_limit", "0"))
	_, setErr = config.Set(before, "sip.register_limit", "0")
	if w.Code != http.StatusBadRequest || !strings.Contains(text(parse(t, w.Body.String())), setErr.Error()) || !bytes.Equal(bn.b.file, before) {
		t.Errorf("out of range: %d, want %q", w.Code, setErr)
	}
}

func TestSettingsSave(t *testing.T) {
	bn := newBench(t)
	page := bn.redirected(bn.post("/settings", formOf("section", "sip", "sip.register_limit", "9", "sip.protocols", "udp", "sip.trusted_only", "false")), "/settings#sip")
	want, err := config.Apply([]byte("# the box's settings\n[sip]\nregister_limit = 7 # per minute\n"),
		config.Change{Key: "sip.register_limit", Value: "9"}, config.Change{Key: "sip.protocols", Value: "udp"})
	if err != nil || !bytes.Equal(bn.b.file, want) || bn.b.reloads != 1 {
		t.Errorf("file %q, want %q (%v); %d reloads", bn.b.file, want, err, bn.b.reloads)
	}
	if !strings.Contains(page, "saved and applied: sip.protocols, sip.register_limit") || !strings.Contains(page, `value="9"`) {
		t.Error("the page does not show the change")
	}
	if w := bn.post("/settings", formOf("section", "sip", "sip.register_limit", "9")); w.Code != http.StatusSeeOther || bn.b.reloads != 1 {
		t.Errorf("no change: %d, %d reloads", w.Code, bn.b.reloads)
	}
}

func TestSettingsActions(t *testing.T) {
	bn := newBench(t)
	if page := bn.redirected(bn.post("/settings/notify/test", formOf()), "/settings#notifications"); bn.b.tests != 1 || !strings.Contains(page, "test message sent") {
		t.Errorf("test message: %d", bn.b.tests)
	}
	if page := bn.redirected(bn.post("/settings/feeds/refresh", formOf("name", "voipbl")), "/settings#feeds-status"); len(bn.b.refreshed) != 1 || bn.b.refreshed[0] != "voipbl" || !strings.Contains(page, "voipbl refreshed") {
		t.Errorf("refresh: %v", bn.b.refreshed)
	}
	if page := bn.redirected(bn.post("/settings/geoip/update", formOf()), "/settings#geoip"); bn.b.geoUpdates != 1 || !strings.Contains(page, "no update source configured") {
		t.Errorf("geoip update: %d", bn.b.geoUpdates)
	}
}

func TestFirmware(t *testing.T) {
	bn := newBench(t)
	w := bn.upload("/firmware/update", nil, "bundle", "update.bin", []byte("forged"))
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "signature does not verify") || bn.b.bundle != nil {
		t.Errorf("forged bundle: %d", w.Code)
	}
	page := bn.redirected(bn.upload("/firmware/update", nil, "bundle", "update.bin", []byte("signed bundle")), "/firmware")
	if string(bn.b.bundle) != "signed bundle" || !strings.Contains(page, "v1.5.0 installed into slot b") {
		t.Errorf("bundle %q", bn.b.bundle)
	}
	w = bn.post("/firmware/reboot", formOf())
	if w.Code != http.StatusOK || len(bn.b.halts) != 0 || !strings.Contains(w.Body.String(), "Reboot the box?") {
		t.Fatalf("reboot asked: %d, halts %v", w.Code, bn.b.halts)
	}
	bn.redirected(bn.post("/firmware/reboot", confirmForm(t, parse(t, w.Body.String()))), "/firmware")
	if len(bn.b.halts) != 1 || bn.b.halts[0] != "reboot" {
		t.Errorf("halts %v", bn.b.halts)
	}
}

// A token's secret is shown once: on the answer to its creation, never on
// the page after.
func TestTokens(t *testing.T) {
	bn := newBench(t)
	w := bn.post("/tokens", formOf("name", "laptop"))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "sgt_secret1") || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("create: %d", w.Code)
	}
	page := bn.get("/tokens").Body.String()
	if strings.Contains(page, "sgt_secret1") || !strings.Contains(page, "laptop") {
		t.Error("the list shows the secret, or not the token")
	}
	if w := bn.post("/tokens", formOf("name", " ")); w.Code != http.StatusBadRequest || len(bn.tokens.tokens) != 1 {
		t.Errorf("no name: %d", w.Code)
	}
	bn.redirected(bn.post("/tokens/revoke", formOf("id", "t1")), "/tokens")
	if len(bn.tokens.tokens) != 0 {
		t.Errorf("tokens %v", bn.tokens.tokens)
	}
}

func TestBackupRestore(t *testing.T) {
	bn := newBench(t)
	w := bn.post("/backup/download", formOf("password", "correct horse battery", "again", "correct horse battery"))
	if w.Code != http.StatusOK || w.Body.String() != "age-encryption.org/v1\nsealed" || !strings.Contains(w.Header().Get("Content-Disposition"), "sipguard-20261206-0530.backup") {
		t.Errorf("download: %d %q %v", w.Code, w.Body.String(), w.Header())
	}
	for pw, want := range map[string]string{"short": "too short", "differs": "the two passwords differ"} {
		again := pw
		if pw == "differs" {
			again = "something else entirely"
		}
		if w := bn.post("/backup/download", formOf("password", pw, "again", again)); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), want) {
			t.Errorf("%s: %d", pw, w.Code)
		}
	}
	file := []byte("age-encryption.org/v1\nsealed")
	w = bn.upload("/backup/restore", map[string]string{"password": "wrong password!!"}, "file", "b.backup", file)
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "refused, nothing was changed: wrong password") || bn.b.restored != nil {
		t.Errorf("wrong password: %d", w.Code)
	}
	page := bn.redirected(bn.upload("/backup/restore", map[string]string{"password": "correct horse battery"}, "file", "b.backup", file), "/backup")
	if !bytes.Equal(bn.b.restored, file) || !strings.Contains(page, "2 allowed, 1 denied, 3 permanent bans") {
		t.Errorf("restore: %q", bn.b.restored)
	}
}

// Secrets are not shown, and an empty box leaves them as they are.
func TestSettingsSecrets(t *testing.T) {
	bn := newBench(t)
	bn.b.file = []byte("[feeds]\napiban_key = \"k3y-0f-the-0ffice\"\n[notify.smtp]\nhost = \"mail.example.com\"\nuser = \"box\"\nfrom = \"box@example.com\"\nto = [\"it@example.com\"]\npassword = \"hunter2-mail\"\n")
	page := bn.get("/settings").Body.String()
	if strings.Contains(page, "k3y-0f-the-0ffice") || strings.Contains(page, "hunter2-mail") || !strings.Contains(page, "mail.example.com") {
		t.Fatal("the settings page shows a secret, or not the table")
	}
	if !strings.Contains(page, "set, not shown: type to replace") {
		t.Error("no sign the key is set")
	}
	before := bytes.Clone(bn.b.file)
	bn.post("/settings", formOf("section", "feeds", "feeds.apiban_key", "", "feeds.defaults", "true"))
	if !bytes.Equal(bn.b.file, before) {
		t.Errorf("an empty box changed the secret: %q", bn.b.file)
	}
	bn.redirected(bn.post("/settings", formOf("section", "feeds", "feeds.apiban_key", "n3w-key")), "/settings#feeds")
	if !bytes.Contains(bn.b.file, []byte(`apiban_key = "n3w-key"`)) {
		t.Errorf("file %q", bn.b.file)
	}
}
