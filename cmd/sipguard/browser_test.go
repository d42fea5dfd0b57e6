package main

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/web"
	"github.com/sipguard/sipguard/netfilter/netlab"
)

// dashboardSPKI reads the box's certificate from the state directory and
// returns the base64 SHA-256 of its public key (what Chromium pins with
// --ignore-certificate-errors-spki-list), after checking that it is the
// certificate whose fingerprint the console shows.
func dashboardSPKI(t *testing.T, dir, fingerprint string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "dashboard.pem"))
	if err != nil {
		t.Fatal(err)
	}
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			t.Fatal("dashboard.pem holds no certificate")
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if got := web.Fingerprint(cert.Raw); got != fingerprint {
			t.Fatalf("dashboard.pem's certificate is %s, the console shows %s", got, fingerprint)
		}
		sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
		return base64.StdEncoding.EncodeToString(sum[:])
	}
}

// artifactsDir is where the browser's screenshots go: $SIPGUARD_ARTIFACTS
// (make test keeps out/artifacts), else a temporary folder.
func artifactsDir(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	if base := os.Getenv("SIPGUARD_ARTIFACTS"); base != "" {
		dir = filepath.Join(base, name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// officeBrowser starts headless Chromium inside namespace ns, trusting
// exactly the certificate whose public key hashes to spki. Cancelling the
// returned context ends the browser.
func officeBrowser(t *testing.T, ns *netlab.NS, spki string) (context.Context, context.CancelFunc) {
	t.Helper()
	chromium := netlab.RequireTool(t, "chromium")
	dir := t.TempDir()
	wrapper := filepath.Join(dir, "chromium-in-office")
	script := fmt.Sprintf("#!/bin/sh\nexec ip netns exec %s %s \"$@\"\n", ns.Name, chromium)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(wrapper),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Headless,
		chromedp.NoSandbox, // root
		chromedp.DisableGPU,
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.WindowSize(1280, 800),
		chromedp.Flag("ignore-certificate-errors-spki-list", spki),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("password-store", "basic"),
	)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 80*time.Second)
	return ctx, func() { cancelTime(); cancelCtx(); cancelAlloc() }
}

// browserPage drives the office's browser and keeps screenshots.
type browserPage struct {
	t     *testing.T
	ctx   context.Context
	shots string
	n     int
}

const (
	desktopWidth = 1280
	phoneWidth   = 390
)

func (p *browserPage) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

// open loads path and returns the main part's text.
func (p *browserPage) open(path string) string {
	p.t.Helper()
	resp, err := chromedp.RunResponse(p.ctx, chromedp.Navigate("https://"+netlab.BoxMgmt4.String()+path))
	if err != nil {
		p.t.Fatalf("open %s: %v", path, err)
	}
	if resp.Status != 200 {
		p.t.Fatalf("open %s: HTTP %d", path, resp.Status)
	}
	return p.text()
}

// submit clicks the submit button of the form that sel names, waits for
// the page it leads to, and returns that page's status and text.
func (p *browserPage) submit(sel string) (int64, string) {
	p.t.Helper()
	resp, err := chromedp.RunResponse(p.ctx, chromedp.Click(sel+` button[type=submit]`, chromedp.NodeVisible))
	if err != nil {
		p.t.Fatalf("submit %s: %v", sel, err)
	}
	return resp.Status, p.text()
}

func (p *browserPage) fill(sel, value string) {
	p.t.Helper()
	p.do("fill "+sel, chromedp.SetValue(sel, value, chromedp.NodeVisible))
}

func (p *browserPage) text() string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Text("body", chromedp.NodeVisible))
	if err != nil {
		p.t.Fatalf("page text: %v", err)
	}
	return s
}

func (p *browserPage) location() string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Location())
	if err != nil {
		p.t.Fatal(err)
	}
	return strings.TrimPrefix(s, "https://"+netlab.BoxMgmt4.String())
}

// shot keeps full-page screenshots of the page at the desktop's and at a
// phone's width, and checks that nothing is wider than the phone's screen.
func (p *browserPage) shot(name string) {
	p.t.Helper()
	p.n++
	for _, w := range []struct {
		suffix string
		width  int64
		opts   []chromedp.EmulateViewportOption
	}{{"phone", phoneWidth, []chromedp.EmulateViewportOption{chromedp.EmulateMobile}}, {"desktop", desktopWidth, nil}} {
		png, err := chromedp.Run(p.ctx, func(ctx context.Context, t *chromedp.Target) ([]byte, error) {
			if _, err := chromedp.EmulateViewport(w.width, 800, w.opts...)(ctx, t); err != nil {
				return nil, err
			}
			return chromedp.FullScreenshot(100)(ctx, t)
		})
		if err != nil {
			p.t.Fatalf("screenshot %s: %v", name, err)
		}
		if w.width == phoneWidth {
			// A mobile viewport widens to fit the page: compare with the
			// screen's width.
			wide, err := chromedp.Run(p.ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
			if err != nil {
				p.t.Fatal(err)
			}
			if wide > phoneWidth {
				// Name the innermost elements that stick out.
				culprits, _ := chromedp.Run(p.ctx, chromedp.Evaluate[[]string](fmt.Sprintf(`Array.from(document.querySelectorAll("body *")).filter(e =>
					e.getBoundingClientRect().right > %d && !Array.from(e.children).some(c => c.getBoundingClientRect().right > %d)).slice(0, 5).map(e =>
					e.tagName.toLowerCase() + (e.className ? "." + e.className : "") + " " + JSON.stringify((e.textContent || "").trim().slice(0, 40)))`, phoneWidth, phoneWidth)))
				p.t.Errorf("%s: the page is %d pixels wide, wider than a phone's %d: %q", name, wide, phoneWidth, culprits)
			}
		}
		file := filepath.Join(p.shots, fmt.Sprintf("%02d-%s-%s.png", p.n, name, w.suffix))
		if err := os.WriteFile(file, png, 0o644); err != nil {
			p.t.Fatal(err)
		}
	}
}

// The office's administrator in a real browser: Chromium in the office's
// namespace, trusting the box's own certificate alone, sets the first
// password, allowlists an address, has a bad CSV refused whole, watches a
// SIPVicious scan get banned and unblocks it, then downloads a backup and
// restores it (a wrong password changes nothing).
func TestDashboardInBrowser(t *testing.T) {
	lab := netlab.NewT(t)
	netlab.RequireTool(t, "chromium")
	bin := buildSipguard(t)
	startRegistrar(t, lab)
	dir := t.TempDir()
	sock, conf := filepath.Join(dir, "api.sock"), filepath.Join(dir, "sipguard.toml")
	if err := os.WriteFile(conf, []byte("# the office box\n[sip]\nregister_limit = 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	launchDaemon(t, lab, bin, "--api", sock, "--state", filepath.Join(dir, "state.db"), "--config", conf,
		"--mgmt-addr", netip.PrefixFrom(netlab.BoxMgmt4, 24).String())
	fp, _ := dashboardFingerprint(t, lab, bin, sock)
	cli := func(args ...string) string { return sipguard(t, lab, bin, append([]string{"--api", sock}, args...)...) }

	ctx, cancel := officeBrowser(t, lab.PBX, dashboardSPKI(t, dir, fp))
	defer cancel()
	p := &browserPage{t: t, ctx: ctx, shots: artifactsDir(t, "browser")}

	// The first visit: the password's page, then the overview.
	text := p.open("/")
	if p.location() != "/setup" || !strings.Contains(text, "First password") {
		t.Fatalf("first visit: %s\n%s", p.location(), text)
	}
	// Styled by the pages' stylesheet, though no one is logged in yet.
	if bg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.body).backgroundColor`)); err != nil || bg != "rgb(245, 247, 250)" {
		t.Errorf("the first password's page is not styled: background %q, %v", bg, err)
	}
	p.shot("setup")
	p.fill(`input[name=password]`, "correct horse battery")
	p.fill(`input[name=again]`, "correct horse battery")
	if code, text := p.submit(`form[action="/setup"]`); code != 200 || p.location() != "/" || !strings.Contains(text, "Overview") {
		t.Fatalf("after the first password: %d %s\n%s", code, p.location(), text)
	}
	p.shot("overview")

	// An allow entry, on the page and in the box's list.
	p.open("/lists/allow")
	p.fill(`form[action="/lists/allow/add"] input[name=prefix]`, "198.51.100.7")
	p.fill(`form[action="/lists/allow/add"] input[name=note]`, "the carrier")
	if _, text := p.submit(`form[action="/lists/allow/add"]`); !strings.Contains(text, "198.51.100.7/32") || !strings.Contains(text, "the carrier") {
		t.Fatalf("the allow entry is not on the page:\n%s", text)
	}
	if out := cli("allow", "list"); !strings.Contains(out, "198.51.100.7/32") {
		t.Fatalf("sipguard allow list lacks the entry:\n%s", out)
	}
	p.shot("allow")

	// A CSV with one bad line: the page names it, nothing is imported.
	csv := filepath.Join(t.TempDir(), "trunks.csv")
	if err := os.WriteFile(csv, []byte("# trunks\n198.51.100.20,second trunk\n198.51.100.300,typo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := cli("allow", "list")
	p.do("choose the CSV", chromedp.SetUploadFiles(`form[action="/lists/allow/import"] input[name=file]`, []string{csv}))
	code, text := p.submit(`form[action="/lists/allow/import"]`)
	bad, err := chromedp.Run(ctx, chromedp.Text(`table.bad-lines`, chromedp.NodeVisible))
	if err != nil || code != 400 || !strings.Contains(bad, "3") || !strings.Contains(bad, "198.51.100.300") {
		t.Errorf("the bad line is not named: %d %v %q\n%s", code, err, bad, text)
	}
	if strings.Contains(text, "198.51.100.20/32") {
		t.Error("the page lists an entry of the refused CSV")
	}
	if after := cli("allow", "list"); after != before {
		t.Errorf("the refused CSV changed the list:\n%s\nwas\n%s", after, before)
	}
	p.shot("csv-refused")

	// A real SIPVicious scan from the internet: its ban shows on the
	// overview and on the bans page.
	attack(t, lab, "svmap", "-b", netlab.Attacker4.String(), "-p", "5060", netlab.PBX4.String())
	attacker := netlab.Attacker4.String() + "/32"
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		if text = p.open("/"); strings.Contains(text, netlab.Attacker4.String()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ban on the overview after the attack:\n%s", text)
		}
	}
	p.shot("overview-ban")
	if text = p.open("/bans"); !strings.Contains(text, attacker) || !strings.Contains(text, "Temporary bans (1)") {
		t.Fatalf("the bans page lacks %s:\n%s", attacker, text)
	}
	p.shot("bans")

	// Unblocked from the page: gone from it and from the box.
	p.do("tick the ban", chromedp.Click(`input[name=address][value="`+attacker+`"]`, chromedp.NodeVisible))
	if _, text = p.submit(`section:nth-of-type(2) form[action="/bans/unblock"]`); !strings.Contains(text, "1 temporary ban(s) lifted") || strings.Contains(text, attacker) {
		t.Errorf("after the unblock:\n%s", text)
	}
	if out := cli("bans"); strings.Contains(out, netlab.Attacker4.String()) {
		t.Errorf("sipguard bans still lists the attacker:\n%s", out)
	}
	p.shot("unblocked")

	// A backup, downloaded by the browser.
	downloads := t.TempDir()
	p.open("/backup")
	p.fill(`form[action="/backup/download"] input[name=password]`, "backup passphrase 1")
	p.fill(`form[action="/backup/download"] input[name=again]`, "backup passphrase 1")
	progress := chromedp.Events(ctx, browser.DownloadProgress)
	p.do("download", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads, EventsEnabled: ptrTo(true)})
		return err
	}), chromedp.Click(`form[action="/backup/download"] button[type=submit]`, chromedp.NodeVisible))
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("download: %v", err)
		}
		if ev.State == browser.DownloadProgressStateCanceled {
			t.Fatal("the download was cancelled")
		}
		if ev.State == browser.DownloadProgressStateCompleted {
			break
		}
	}
	files, _ := filepath.Glob(filepath.Join(downloads, "sipguard-*.backup"))
	if len(files) != 1 {
		t.Fatalf("downloaded: %v", files)
	}
	backupFile := files[0]
	if b, err := os.ReadFile(backupFile); err != nil || len(b) < 100 || !strings.HasPrefix(string(b), "age-encryption.org/v1\n") {
		t.Fatalf("the backup is not an age file: %v %q", err, b[:min(len(b), 40)])
	}
	p.shot("backup")

	// The allow entry deleted from the page (after its confirmation).
	p.open("/lists/allow")
	p.do("tick the entry", chromedp.Click(`input[name=prefix][value="198.51.100.7/32"]`, chromedp.NodeVisible))
	if _, text = p.submit(`form[action="/lists/allow/delete"]`); !strings.Contains(text, "Delete 1 entries from the allow list?") {
		t.Fatalf("no confirmation:\n%s", text)
	}
	if _, text = p.submit(`form[action="/lists/allow/delete"]`); !strings.Contains(text, "The list is empty.") {
		t.Fatalf("after the delete:\n%s", text)
	}
	if out := cli("allow", "list"); strings.Contains(out, "198.51.100.7") {
		t.Fatalf("the deleted entry is still on the box:\n%s", out)
	}

	// A wrong password: refused, nothing changed.
	restore := func(password string) (int64, string) {
		p.open("/backup")
		p.do("choose the backup", chromedp.SetUploadFiles(`form[action="/backup/restore"] input[name=file]`, []string{backupFile}))
		p.fill(`form[action="/backup/restore"] input[name=password]`, password)
		return p.submit(`form[action="/backup/restore"]`)
	}
	before = cli("allow", "list")
	if code, text := restore("not the passphrase"); code != 400 || !strings.Contains(text, "refused, nothing was changed") {
		t.Errorf("a wrong password: %d\n%s", code, text)
	}
	if after := cli("allow", "list"); after != before {
		t.Errorf("a refused restore changed the list:\n%s", after)
	}
	p.shot("restore-refused")

	// The right one brings the entry back.
	if _, text := restore("backup passphrase 1"); !strings.Contains(text, "restored the backup") || !strings.Contains(text, "1 allowed") {
		t.Errorf("restore: %s", text)
	}
	if out := cli("allow", "list"); !strings.Contains(out, "198.51.100.7/32") {
		t.Errorf("the restored entry is not on the box:\n%s", out)
	}
	p.open("/lists/allow")
	p.shot("restored")

	// The other pages, at both widths too.
	for _, path := range []string{"/settings", "/firmware", "/tokens", "/lists/deny"} {
		if text := p.open(path); !strings.Contains(text, "Sign out") {
			t.Errorf("%s:\n%s", path, text)
		}
		p.shot(strings.ReplaceAll(strings.Trim(path, "/"), "/", "-"))
	}
	cancel()

	// Pinned to another key, the browser refuses the box's certificate:
	// the pin, not a blanket exception, is what lets it in.
	other := sha256.Sum256([]byte("another box"))
	ctx2, cancel2 := officeBrowser(t, lab.PBX, base64.StdEncoding.EncodeToString(other[:]))
	defer cancel2()
	_, err = chromedp.RunResponse(ctx2, chromedp.Navigate("https://"+netlab.BoxMgmt4.String()+"/login"))
	if err == nil || !strings.Contains(err.Error(), "ERR_CERT") {
		t.Errorf("a browser pinned to another key: %v", err)
	}
}

func ptrTo[T any](v T) *T { return &v }
