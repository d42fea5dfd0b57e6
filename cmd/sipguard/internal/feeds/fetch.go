package feeds

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
)

// errTooLarge reports a download past its feed's byte limit.
var errTooLarge = errors.New("larger than the limit")

// result is one accepted download of a feed.
type result struct {
	l             *list
	c             counts
	etag, lastMod string
}

// refresh downloads f once and records the outcome in its status. more
// tells that an APIBAN refresh stopped at its page limit with pages left.
func (m *Manager) refresh(ctx context.Context, f *feed) (changed, more bool, err error) {
	f.busy.Lock()
	defer f.busy.Unlock()
	m.mu.Lock()
	fd := f.Feed
	etag, lastMod := f.st.ETag, f.st.LastModified
	old := f.content
	f.st.LastAttempt = m.opts.Now()
	m.mu.Unlock()

	var res *result
	switch fd.Format {
	case APIBAN:
		res, more, err = m.fetchAPIBAN(ctx, f, fd)
	default:
		res, err = m.fetchText(ctx, fd, etag, lastMod)
	}
	now := m.opts.Now()

	m.mu.Lock()
	defer m.mu.Unlock()
	st := &f.st
	if res != nil && res.l != nil {
		changed = old == nil || !slices.Equal(old.v4, res.l.v4) || !slices.Equal(old.v6, res.l.v6)
		f.content = res.l
		st.V4, st.V6 = len(res.l.v4), len(res.l.v6)
		st.Bytes, st.Lines = res.c.Bytes, res.c.Lines
		st.BadLines, st.BadLineNos = res.c.Bad, res.c.BadAt
		st.Refused, st.Refusals = res.c.Refused, res.c.Refusals
		st.Ignored, st.IgnoredNote = res.c.Ignored, ""
		if res.c.Ignored > 0 {
			st.IgnoredNote = IgnoredNote
		}
		if fd.Format == Text {
			st.ETag, st.LastModified = res.etag, res.lastMod
		}
		if changed {
			st.LastChange = now
		}
	}
	if f.apiban != nil {
		st.APIBANCursor = f.apiban.cursor
	}
	if err != nil {
		err = fmt.Errorf("feed %q: %w", fd.Name, err)
		st.LastError = err.Error()
		st.Failures++
		return changed, more, err
	}
	st.LastSuccess, st.LastError, st.Failures = now, "", 0
	return changed, more, nil
}

// get makes one GET request with the Manager's client and headers.
func (m *Manager) get(ctx context.Context, fd Feed, rawURL string, hdr map[string]string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("request %s: %w", redact(Feed{URL: rawURL, APIKey: fd.APIKey}), err)
	}
	req.Header.Set("User-Agent", m.opts.UserAgent)
	req.Header.Set("Accept-Encoding", "gzip")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := m.opts.Client.Do(req)
	if err != nil {
		// url.Error repeats the URL, which may hold an API key.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("get %s: %w", redact(Feed{URL: rawURL, APIKey: fd.APIKey}), err)
	}
	return resp, nil
}

// fetchText downloads and parses a text feed. A 304 answer gives a nil
// result and no error.
func (m *Manager) fetchText(ctx context.Context, fd Feed, etag, lastMod string) (*result, error) {
	ctx, cancel := context.WithTimeout(ctx, m.opts.Timeout)
	defer cancel()
	hdr := map[string]string{}
	if etag != "" {
		hdr["If-None-Match"] = etag
	}
	if lastMod != "" {
		hdr["If-Modified-Since"] = lastMod
	}
	resp, err := m.get(ctx, fd, fd.URL, hdr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotModified:
		return nil, nil
	case http.StatusOK:
	default:
		return nil, fmt.Errorf("get %s: HTTP %s", redact(fd), resp.Status)
	}
	body, err := m.body(resp, fd.maxBytes())
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", redact(fd), err)
	}
	l, c, err := parseText(body, fd.maxEntries())
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", redact(fd), err)
	}
	if err := m.acceptable(l, c); err != nil {
		return nil, fmt.Errorf("refused %s: %w", redact(fd), err)
	}
	return &result{l: l, c: c, etag: resp.Header.Get("ETag"), lastMod: resp.Header.Get("Last-Modified")}, nil
}

// body returns the response's content, decompressed if it is gzip (by
// Content-Encoding, or a .gz file served as it is), limited to maxBytes
// both before and after decompression.
func (m *Manager) body(resp *http.Response, maxBytes int64) (io.Reader, error) {
	if resp.ContentLength > maxBytes {
		return nil, fmt.Errorf("%d bytes: %w of %d bytes", resp.ContentLength, errTooLarge, maxBytes)
	}
	br := bufio.NewReader(&limitReader{r: resp.Body, n: maxBytes})
	magic, _ := br.Peek(2)
	if !strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") && string(magic) != "\x1f\x8b" {
		return br, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return &limitReader{r: zr, n: maxBytes}, nil
}

// limitReader fails with errTooLarge once more than n bytes come through.
type limitReader struct {
	r io.Reader
	n int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return n, errTooLarge
	}
	return n, err
}

// acceptable refuses content that is more likely a broken download than a
// blocklist: too many bad lines, or nothing to block.
func (m *Manager) acceptable(l *list, c counts) error {
	if c.Bad > m.opts.MaxBadLines && float64(c.Bad) > m.opts.MaxBadRatio*float64(c.Lines) {
		return fmt.Errorf("%d of %d lines are not addresses or networks (first at lines %s)",
			c.Bad, c.Lines, joinInts(c.BadAt))
	}
	if len(l.v4)+len(l.v6) == 0 {
		return fmt.Errorf("no entries to block (%d lines, %d bad, %d refused, %d ignored)",
			c.Lines, c.Bad, c.Refused, c.Ignored)
	}
	return nil
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
}

// apibanState is what an APIBAN feed keeps between refreshes: the last ID
// the API gave (it pages from there) and when each address was last listed.
type apibanState struct {
	cursor string
	seen   map[netip.Prefix]time.Time
}

// apibanPage is one answer of the API: ipaddress is a list of addresses, or
// a message such as "no new bans".
type apibanPage struct {
	IPAddress json.RawMessage `json:"ipaddress"`
	ID        string          `json:"ID"`
}

// apibanPageMax bounds one page's body: a page holds at most 250 addresses.
const apibanPageMax = 1 << 20

// fetchAPIBAN pages through the addresses listed since the last refresh
// (all of them on the first), adds them to the ones kept, and drops those
// not listed again within the retention. Pages already read count even if
// a later one fails: the API's own rate limit may stop a long first load.
func (m *Manager) fetchAPIBAN(ctx context.Context, f *feed, fd Feed) (res *result, more bool, err error) {
	if f.apiban == nil {
		f.apiban = &apibanState{seen: map[netip.Prefix]time.Time{}}
	}
	st := f.apiban
	var c counts
	n, added := 0, 0
	for page := 0; ; page++ {
		if page == m.opts.APIBANPages {
			more = true
			break
		}
		if page > 0 && m.opts.APIBANPageDelay > 0 {
			t := time.NewTimer(m.opts.APIBANPageDelay)
			select {
			case <-ctx.Done():
				t.Stop()
				err = ctx.Err()
			case <-t.C:
			}
			if err != nil {
				break
			}
		}
		var ips []string
		var next string
		var done bool
		ips, next, done, err = m.apibanGet(ctx, fd, st.cursor)
		if err != nil || done {
			break
		}
		p := parser{maxEntries: apibanPageMax}
		for _, s := range ips {
			n++
			c.Lines++
			if err := p.entry(n, []byte(strings.TrimSpace(s))); err != nil {
				return nil, false, err
			}
		}
		c.Bad, c.Refused, c.Ignored = c.Bad+p.c.Bad, c.Refused+p.c.Refused, c.Ignored+p.c.Ignored
		c.BadAt = append(c.BadAt, p.c.BadAt...)[:min(maxNoted, len(c.BadAt)+len(p.c.BadAt))]
		c.Refusals = append(c.Refusals, p.c.Refusals...)[:min(maxNoted, len(c.Refusals)+len(p.c.Refusals))]
		if p.c.Bad > m.opts.MaxBadLines && float64(p.c.Bad) > m.opts.MaxBadRatio*float64(len(ips)) {
			err = fmt.Errorf("APIBAN page after %q: %d of %d entries are not addresses", st.cursor, p.c.Bad, len(ips))
			break
		}
		now := m.opts.Now()
		for _, k := range p.l.v4 {
			st.seen[v4prefix(k)] = now
		}
		for _, q := range p.l.v6 {
			st.seen[q.prefix()] = now
		}
		added += p.entries()
		if next == "" || next == st.cursor || len(ips) == 0 {
			break
		}
		st.cursor = next
	}
	cutoff := m.opts.Now().Add(-m.opts.APIBANRetention)
	expired := 0
	for p, t := range st.seen {
		if t.Before(cutoff) {
			delete(st.seen, p)
			expired++
		}
	}
	if err != nil && added == 0 && expired == 0 {
		return nil, more, err // nothing read: the status keeps the counts in force
	}
	if len(st.seen) > fd.maxEntries() {
		return nil, more, errors.Join(err, fmt.Errorf("%d addresses: %w (limit %d)", len(st.seen), errTooMany, fd.maxEntries()))
	}
	var l list
	for p := range st.seen {
		if p.Addr().Is4() {
			a := p.Addr().As4()
			l.v4 = append(l.v4, v4key(uint32(a[0])<<24|uint32(a[1])<<16|uint32(a[2])<<8|uint32(a[3]), p.Bits()))
		} else {
			l.v6 = append(l.v6, pfx6From(p))
		}
	}
	l.normalize()
	c.Bytes = 0
	return &result{l: &l, c: c}, more, err
}

// apibanGet asks for the addresses listed after cursor ("" for all). done
// tells that there are none (the API answers 400 with ID "none").
func (m *Manager) apibanGet(ctx context.Context, fd Feed, cursor string) (ips []string, next string, done bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, m.opts.Timeout)
	defer cancel()
	u := strings.TrimSuffix(fd.URL, "/") + "/" + url.PathEscape(fd.APIKey) + "/banned"
	if cursor != "" {
		u += "/" + url.PathEscape(cursor)
	}
	shown := redact(Feed{URL: u, APIKey: url.PathEscape(fd.APIKey)})
	resp, err := m.get(ctx, fd, u, nil)
	if err != nil {
		return nil, "", false, err
	}
	defer resp.Body.Close()
	body, err := m.body(resp, apibanPageMax)
	if err != nil {
		return nil, "", false, fmt.Errorf("get %s: %w", shown, err)
	}
	var page apibanPage
	derr := json.NewDecoder(body).Decode(&page)
	switch {
	case resp.StatusCode == http.StatusBadRequest && derr == nil && page.ID == "none":
		return nil, "", true, nil
	case resp.StatusCode == http.StatusForbidden:
		return nil, "", false, fmt.Errorf("get %s: HTTP %s (check the API key)", shown, resp.Status)
	case resp.StatusCode == http.StatusTooManyRequests:
		return nil, "", false, fmt.Errorf("get %s: HTTP %s (APIBAN's rate limit; paging continues at the next refresh)", shown, resp.Status)
	case resp.StatusCode != http.StatusOK:
		return nil, "", false, fmt.Errorf("get %s: HTTP %s", shown, resp.Status)
	case derr != nil:
		return nil, "", false, fmt.Errorf("get %s: not APIBAN's JSON: %w", shown, derr)
	case page.ID == "none":
		return nil, "", true, nil
	}
	if len(page.IPAddress) > 0 && page.IPAddress[0] == '[' {
		if err := json.Unmarshal(page.IPAddress, &ips); err != nil {
			return nil, "", false, fmt.Errorf("get %s: ipaddress: %w", shown, err)
		}
	}
	return ips, page.ID, false, nil
}
