package crowdsec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// maxReply bounds a reply the LAPI sends: a first stream of a large
// community blocklist fits well within it.
const maxReply = 64 << 20

// errAuth is a reply refusing the credentials.
var errAuth = errors.New("credentials refused")

// client speaks to the LAPI.
type client struct {
	base *url.URL
	http *http.Client
	ua   string

	mu      sync.Mutex
	token   string // the machine's JWT
	expires time.Time
}

func newClient(raw string, version string) (*client, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("crowdsec url: %w", err)
	}
	if version == "" {
		version = "dev"
	}
	return &client{base: u, http: &http.Client{Timeout: 30 * time.Second}, ua: "sipguard/" + version}, nil
}

// endpoint is the URL of path under the LAPI's base URL.
func (c *client) endpoint(path string, q url.Values) string {
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawQuery = q.Encode()
	return u.String()
}

// do sends a request and decodes a 2xx reply's JSON into out.
func (c *client) do(ctx context.Context, method, url string, body any, header http.Header, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", c.ua)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	lr := io.LimitReader(resp.Body, maxReply+1)
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(lr, 512))
		err := fmt.Errorf("%s %s: %s: %s", method, req.URL.Path, resp.Status, strings.TrimSpace(string(msg)))
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			err = fmt.Errorf("%w: %w", errAuth, err)
		}
		return err
	}
	data, err := io.ReadAll(lr)
	if err != nil {
		return fmt.Errorf("%s %s: read reply: %w", method, req.URL.Path, err)
	}
	if len(data) > maxReply {
		return fmt.Errorf("%s %s: reply larger than %d MiB", method, req.URL.Path, maxReply>>20)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: bad reply: %w", method, req.URL.Path, err)
	}
	return nil
}

// decision is one decision as the LAPI sends it.
type decision struct {
	ID        int64   `json:"id"`
	Origin    string  `json:"origin"`
	Type      string  `json:"type"`
	Scope     string  `json:"scope"`
	Value     string  `json:"value"`
	Duration  string  `json:"duration"`
	Scenario  string  `json:"scenario"`
	Simulated bool    `json:"simulated"`
	Until     *string `json:"until,omitempty"`
}

// stream is a reply of the decision stream.
type stream struct {
	New     []decision `json:"new"`
	Deleted []decision `json:"deleted"`
}

// stream asks for the decisions: every one in force with startup, else
// what changed since the last call.
func (c *client) stream(ctx context.Context, key string, startup bool) (stream, error) {
	q := url.Values{"startup": {fmt.Sprint(startup)}, "scopes": {"ip,range"}}
	var s stream
	err := c.do(ctx, http.MethodGet, c.endpoint("/v1/decisions/stream", q), nil, http.Header{"X-Api-Key": {key}}, &s)
	return s, err
}

// login logs the machine in, unless its token still has a minute to go.
func (c *client) login(ctx context.Context, machine, password string, scenarios []string, now time.Time) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && now.Add(time.Minute).Before(c.expires) {
		return c.token, nil
	}
	var reply struct {
		Code   int    `json:"code"`
		Expire string `json:"expire"`
		Token  string `json:"token"`
	}
	body := map[string]any{"machine_id": machine, "password": password, "scenarios": scenarios}
	if err := c.do(ctx, http.MethodPost, c.endpoint("/v1/watchers/login", nil), body, nil, &reply); err != nil {
		return "", fmt.Errorf("machine login: %w", err)
	}
	if reply.Token == "" {
		return "", errors.New("machine login: no token in the reply")
	}
	exp, err := time.Parse(time.RFC3339, reply.Expire)
	if err != nil {
		exp = now.Add(15 * time.Minute) // the token lives at least that long
	}
	c.token, c.expires = reply.Token, exp
	return c.token, nil
}

// forget drops the token, so the next push logs in again.
func (c *client) forget() {
	c.mu.Lock()
	c.token = ""
	c.mu.Unlock()
}

// pushAlerts sends alerts with the machine's token.
func (c *client) pushAlerts(ctx context.Context, token string, alerts []alert) error {
	var ids []string
	return c.do(ctx, http.MethodPost, c.endpoint("/v1/alerts", nil), alerts, http.Header{"Authorization": {"Bearer " + token}}, &ids)
}
