package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/feeds"
)

// Client calls the daemon's API: on the unix socket at Socket, or, when
// Remote is set, on a box over HTTPS.
type Client struct {
	Socket string
	Remote *Remote
}

func (c Client) http(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", c.Socket)
		},
	}}
}

// ErrNoDaemon means nothing listens on the socket.
var ErrNoDaemon = errors.New("the sipguard daemon is not running (no API socket)")

func (c Client) do(ctx context.Context, method, path string, in, out any) error {
	return c.doFor(ctx, 10*time.Second, method, path, in, out)
}

// doFor is do with a time limit for the whole exchange.
func (c Client) doFor(ctx context.Context, timeout time.Duration, method, path string, in, out any) error {
	return c.doWith(ctx, timeout, method, path, nil, in, out)
}

// doWith is doFor with request headers. An out of type *[]byte takes the
// reply's body as it is.
func (c Client) doWith(ctx context.Context, timeout time.Duration, method, path string, header http.Header, in, out any) error {
	if out == nil {
		out = &struct{}{}
	}
	var body io.Reader
	if raw, ok := in.(rawBody); ok {
		body = raw.Reader
	} else if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://sipguard"+path, body)
	if err != nil {
		return err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if c.Remote != nil {
		return c.Remote.do(req, timeout, out)
	}
	resp, err := c.http(timeout).Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return ErrNoDaemon
		}
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e errorBody
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("daemon: %s", e.Error)
	}
	return readReply(resp, out)
}

// readReply reads a successful reply into out: JSON, or the body as it is
// for an out of type *[]byte.
func readReply(resp *http.Response, out any) error {
	if raw, ok := out.(*[]byte); ok {
		var err error
		*raw, err = io.ReadAll(resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// replyError is the message of a refused request: the API's error, or
// the reply's status when it did not come from the API.
func replyError(resp *http.Response) string {
	var e errorBody
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e); err != nil || e.Error == "" {
		return resp.Status
	}
	return e.Error
}

// Status reads the box's state.
func (c Client) Status(ctx context.Context) (Status, error) {
	var st Status
	err := c.do(ctx, http.MethodGet, "/v1/status", nil, &st)
	return st, err
}

// Bans reads the dynamic list.
func (c Client) Bans(ctx context.Context) (Bans, error) {
	var out Bans
	err := c.do(ctx, http.MethodGet, "/v1/bans", nil, &out)
	return out, err
}

// Report reads the attack report of a period.
func (c Client) Report(ctx context.Context, q ReportQuery) (Report, error) {
	v := url.Values{}
	if q.Day != "" {
		v.Set("day", q.Day)
	}
	if q.Since != 0 {
		v.Set("since", q.Since.String())
	}
	if q.Top != 0 {
		v.Set("top", strconv.Itoa(q.Top))
	}
	path := "/v1/report"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var out Report
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out, err
}

// Reload asks the daemon to read its configuration file again.
func (c Client) Reload(ctx context.Context) error {
	var out struct{}
	return c.do(ctx, http.MethodPost, "/v1/reload", nil, &out)
}

// Check says which lists hold an address.
func (c Client) Check(ctx context.Context, addr string) (Check, error) {
	var out Check
	err := c.do(ctx, http.MethodGet, "/v1/check/"+url.PathEscape(addr), nil, &out)
	return out, err
}

// List reads a list.
func (c Client) List(ctx context.Context, list string) ([]Entry, error) {
	var out []Entry
	err := c.do(ctx, http.MethodGet, "/v1/lists/"+list, nil, &out)
	return out, err
}

// Add puts entries on a list, all or none.
func (c Client) Add(ctx context.Context, list string, entries []Entry) (int, error) {
	var r CountResponse
	err := c.do(ctx, http.MethodPost, "/v1/lists/"+list, AddRequest{Entries: entries}, &r)
	return r.Count, err
}

// Remove takes prefixes, or everything, off a list.
func (c Client) Remove(ctx context.Context, list string, prefixes []string, all bool) (int, error) {
	var r CountResponse
	err := c.do(ctx, http.MethodDelete, "/v1/lists/"+list, RemoveRequest{Prefixes: prefixes, All: all}, &r)
	return r.Count, err
}

// Unban lifts the bans of addresses or networks: the dynamic ones, or
// with permanent the permanent ones.
func (c Client) Unban(ctx context.Context, addrs []string, permanent bool) (UnbanResponse, error) {
	var r UnbanResponse
	err := c.do(ctx, http.MethodPost, "/v1/unban", UnbanRequest{Addresses: addrs, Permanent: permanent}, &r)
	return r, err
}

// Board asks the daemon for its board and LEDs.
func (c Client) Board(ctx context.Context) (Board, error) {
	var b Board
	err := c.do(ctx, http.MethodGet, "/v1/board", nil, &b)
	return b, err
}

// Press presses the simulated board's button for hold, and returns when it
// is released.
func (c Client) Press(ctx context.Context, hold time.Duration) error {
	return c.doFor(ctx, hold+10*time.Second, http.MethodPost, "/v1/button", Press{Hold: hold.String()}, nil)
}

// Halt asks the box to reboot or power off.
func (c Client) Halt(ctx context.Context, action string) error {
	return c.do(ctx, http.MethodPost, "/v1/system/"+action, nil, nil)
}

// Firmware asks for the running firmware and its tamper check.
func (c Client) Firmware(ctx context.Context) (Firmware, error) {
	var f Firmware
	err := c.do(ctx, http.MethodGet, "/v1/firmware", nil, &f)
	return f, err
}

// AckTamper acknowledges the tamper warning.
func (c Client) AckTamper(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/firmware/ack", nil, nil)
}

// Update uploads an update bundle; the daemon verifies and installs it.
func (c Client) Update(ctx context.Context, bundle io.Reader) (Update, error) {
	var u Update
	err := c.doFor(ctx, 10*time.Minute, http.MethodPost, "/v1/update", rawBody{bundle}, &u)
	return u, err
}

// rawBody is a request body sent as it is, not as JSON.
type rawBody struct{ io.Reader }

// GeoIP asks for the country database's state.
func (c Client) GeoIP(ctx context.Context) (GeoIP, error) {
	var g GeoIP
	err := c.do(ctx, http.MethodGet, "/v1/geoip", nil, &g)
	return g, err
}

// UpdateGeoIP asks the daemon to look for a new country database now.
func (c Client) UpdateGeoIP(ctx context.Context) (GeoIP, error) {
	var g GeoIP
	err := c.doFor(ctx, 6*time.Minute, http.MethodPost, "/v1/geoip/update", nil, &g)
	return g, err
}

// Feeds asks for the blocklist feeds' state.
func (c Client) Feeds(ctx context.Context) ([]feeds.Status, error) {
	var st []feeds.Status
	err := c.do(ctx, http.MethodGet, "/v1/feeds", nil, &st)
	return st, err
}

// RefreshFeeds refreshes one feed, or every enabled one, now.
func (c Client) RefreshFeeds(ctx context.Context, name string) ([]feeds.Status, error) {
	var st []feeds.Status
	err := c.doFor(ctx, 10*time.Minute, http.MethodPost, "/v1/feeds/refresh", FeedRefresh{Name: name}, &st)
	return st, err
}

// NotifyStatus asks for the notifications' state, as JSON.
func (c Client) NotifyStatus(ctx context.Context) (json.RawMessage, error) {
	var st json.RawMessage
	err := c.do(ctx, http.MethodGet, "/v1/notify", nil, &st)
	return st, err
}

// TestNotify sends a test message through every configured channel.
func (c Client) TestNotify(ctx context.Context) error {
	return c.doFor(ctx, 2*time.Minute, http.MethodPost, "/v1/notify/test", nil, nil)
}

// backupTimeout bounds a backup or a restore: scrypt takes about a second
// on the box, the rest is small.
const backupTimeout = 2 * time.Minute

// Metrics reads the daemon's Prometheus metrics, in the text exposition
// format.
func (c Client) Metrics(ctx context.Context) ([]byte, error) {
	var text []byte
	h := http.Header{"Accept": {"text/plain"}}
	err := c.doWith(ctx, 10*time.Second, http.MethodGet, "/v1/metrics", h, nil, &text)
	return text, err
}

// Backup asks the daemon for an encrypted backup under password.
func (c Client) Backup(ctx context.Context, password string) ([]byte, error) {
	var file []byte
	h := http.Header{PasswordHeader: {password}}
	err := c.doWith(ctx, backupTimeout, http.MethodGet, "/v1/backup", h, nil, &file)
	return file, err
}

// Restore sends an encrypted backup; the daemon checks it whole, then
// applies it.
func (c Client) Restore(ctx context.Context, password string, file []byte) (Restored, error) {
	var r Restored
	h := http.Header{PasswordHeader: {password}}
	err := c.doWith(ctx, backupTimeout, http.MethodPost, "/v1/restore", h, rawBody{bytes.NewReader(file)}, &r)
	return r, err
}

// Tokens lists the API tokens.
func (c Client) Tokens(ctx context.Context) ([]Token, error) {
	var out []Token
	err := c.do(ctx, http.MethodGet, "/v1/tokens", nil, &out)
	return out, err
}

// CreateToken makes an API token named name; its secret is in the reply
// only.
func (c Client) CreateToken(ctx context.Context, name string) (NewToken, error) {
	var out NewToken
	err := c.do(ctx, http.MethodPost, "/v1/tokens", TokenRequest{Name: name}, &out)
	return out, err
}

// RevokeToken deletes the API token id.
func (c Client) RevokeToken(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/tokens/"+url.PathEscape(id), nil, nil)
}
