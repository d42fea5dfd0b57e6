package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/sipguard/sipguard/netfilter"
)

// Handler serves the API.
func Handler(b Backend) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		st, err := b.Status(r.Context())
		reply(w, st, err)
	})
	mux.HandleFunc("GET /v1/board", func(w http.ResponseWriter, r *http.Request) {
		st, err := b.Board(r.Context())
		reply(w, st, err)
	})
	mux.HandleFunc("POST /v1/button", func(w http.ResponseWriter, r *http.Request) {
		var p Press
		if err := decode(r, &p); err != nil {
			reply(w, nil, err)
			return
		}
		hold, err := time.ParseDuration(p.Hold)
		if err != nil || hold <= 0 || hold > MaxHold {
			reply(w, nil, fmt.Errorf("%w: hold %q: want a duration up to %v, such as 10s", ErrBadRequest, p.Hold, MaxHold))
			return
		}
		reply(w, struct{}{}, b.Press(r.Context(), hold))
	})
	mux.HandleFunc("POST /v1/system/{action}", func(w http.ResponseWriter, r *http.Request) {
		a := r.PathValue("action")
		if a != HaltReboot && a != HaltPowerOff {
			reply(w, nil, fmt.Errorf("%w: %q: want reboot or poweroff", ErrBadRequest, a))
			return
		}
		reply(w, struct{}{}, b.Halt(r.Context(), a))
	})
	mux.HandleFunc("GET /v1/metrics", func(w http.ResponseWriter, r *http.Request) {
		if m, ok := b.(MetricsBackend); ok {
			if h := m.Metrics(); h != nil {
				h.ServeHTTP(w, r)
				return
			}
		}
		reply(w, nil, errNoMetrics)
	})
	mux.HandleFunc("GET /v1/notify", func(w http.ResponseWriter, r *http.Request) {
		st, err := b.NotifyStatus(r.Context())
		reply(w, st, err)
	})
	mux.HandleFunc("POST /v1/notify/test", func(w http.ResponseWriter, r *http.Request) {
		reply(w, struct{}{}, b.TestNotify(r.Context()))
	})
	handleCrowdSec(mux, b)
	mux.HandleFunc("GET /v1/feeds", func(w http.ResponseWriter, r *http.Request) {
		st, err := b.Feeds(r.Context())
		reply(w, st, err)
	})
	mux.HandleFunc("POST /v1/feeds/refresh", func(w http.ResponseWriter, r *http.Request) {
		var q FeedRefresh
		if err := decode(r, &q); err != nil {
			reply(w, nil, err)
			return
		}
		st, err := b.RefreshFeeds(r.Context(), q.Name)
		reply(w, st, err)
	})
	mux.HandleFunc("GET /v1/geoip", func(w http.ResponseWriter, r *http.Request) {
		g, err := b.GeoIP(r.Context())
		reply(w, g, err)
	})
	mux.HandleFunc("POST /v1/geoip/update", func(w http.ResponseWriter, r *http.Request) {
		g, err := b.UpdateGeoIP(r.Context())
		reply(w, g, err)
	})
	mux.HandleFunc("GET /v1/firmware", func(w http.ResponseWriter, r *http.Request) {
		f, err := b.Firmware(r.Context())
		reply(w, f, err)
	})
	mux.HandleFunc("POST /v1/firmware/ack", func(w http.ResponseWriter, r *http.Request) {
		reply(w, struct{}{}, b.AckTamper(r.Context()))
	})
	mux.HandleFunc("POST /v1/update", func(w http.ResponseWriter, r *http.Request) {
		u, err := b.Update(r.Context(), http.MaxBytesReader(w, r.Body, MaxBundle))
		reply(w, u, err)
	})
	mux.HandleFunc("GET /v1/bans", func(w http.ResponseWriter, r *http.Request) {
		bans, err := b.Bans(r.Context())
		reply(w, bans, err)
	})
	mux.HandleFunc("GET /v1/report", func(w http.ResponseWriter, r *http.Request) {
		q, err := reportQuery(r.URL.Query())
		if err != nil {
			reply(w, nil, err)
			return
		}
		rep, err := b.Report(r.Context(), q)
		reply(w, rep, err)
	})
	mux.HandleFunc("POST /v1/reload", func(w http.ResponseWriter, r *http.Request) {
		reply(w, struct{}{}, b.Reload(r.Context()))
	})
	mux.HandleFunc("POST /v1/unban", func(w http.ResponseWriter, r *http.Request) {
		var req UnbanRequest
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			reply(w, nil, fmt.Errorf("%w: %v", ErrBadRequest, err))
			return
		}
		if len(req.Addresses) == 0 {
			reply(w, nil, fmt.Errorf("%w: no addresses", ErrBadRequest))
			return
		}
		prefixes := make([]netip.Prefix, 0, len(req.Addresses))
		for i, s := range req.Addresses {
			p, err := netfilter.ParsePrefix(s)
			if err != nil {
				reply(w, nil, fmt.Errorf("%w: addresses[%d]: %v", ErrBadRequest, i, err))
				return
			}
			prefixes = append(prefixes, p)
		}
		resp, err := b.Unban(r.Context(), prefixes, req.Permanent)
		reply(w, resp, err)
	})
	mux.HandleFunc("GET /v1/check/{addr}", func(w http.ResponseWriter, r *http.Request) {
		a, err := netip.ParseAddr(r.PathValue("addr"))
		if err != nil || a.Zone() != "" {
			reply(w, nil, fmt.Errorf("%w: %q is not an IP address", ErrBadRequest, r.PathValue("addr")))
			return
		}
		c, err := b.Check(r.Context(), a.Unmap())
		reply(w, c, err)
	})
	mux.HandleFunc("GET /v1/lists/{list}", func(w http.ResponseWriter, r *http.Request) {
		list, err := listName(r)
		if err != nil {
			reply(w, nil, err)
			return
		}
		entries, err := b.List(r.Context(), list)
		reply(w, entries, err)
	})
	mux.HandleFunc("POST /v1/lists/{list}", func(w http.ResponseWriter, r *http.Request) {
		list, err := listName(r)
		var req AddRequest
		if err == nil {
			err = decode(r, &req)
		}
		if err == nil {
			err = checkEntries(req.Entries)
		}
		if err != nil {
			reply(w, nil, err)
			return
		}
		n, err := b.Add(r.Context(), list, req.Entries)
		reply(w, CountResponse{Count: n}, err)
	})
	mux.HandleFunc("DELETE /v1/lists/{list}", func(w http.ResponseWriter, r *http.Request) {
		list, err := listName(r)
		var req RemoveRequest
		if err == nil {
			err = decode(r, &req)
		}
		var prefixes []netip.Prefix
		for i, s := range req.Prefixes {
			if err != nil {
				break
			}
			var p netip.Prefix
			if p, err = netfilter.ParsePrefix(s); err != nil {
				err = fmt.Errorf("%w: prefixes[%d]: %v", ErrBadRequest, i, err)
			}
			prefixes = append(prefixes, p)
		}
		if err == nil && !req.All && len(prefixes) == 0 {
			err = fmt.Errorf("%w: no prefixes, and all not set", ErrBadRequest)
		}
		if err != nil {
			reply(w, nil, err)
			return
		}
		n, err := b.Remove(r.Context(), list, prefixes, req.All)
		reply(w, CountResponse{Count: n}, err)
	})
	mux.HandleFunc("GET /v1/backup", func(w http.ResponseWriter, r *http.Request) {
		file, err := b.Backup(r.Context(), r.Header.Get(PasswordHeader))
		if err != nil {
			reply(w, nil, err)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(file)
	})
	mux.HandleFunc("POST /v1/restore", func(w http.ResponseWriter, r *http.Request) {
		file, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBackup))
		if err != nil {
			reply(w, nil, fmt.Errorf("%w: %v", ErrBadRequest, err))
			return
		}
		res, err := b.Restore(r.Context(), r.Header.Get(PasswordHeader), file)
		reply(w, res, err)
	})
	handleExtras(mux, b)
	mux.HandleFunc("GET /v1/tokens", func(w http.ResponseWriter, r *http.Request) {
		toks, err := b.Tokens(r.Context())
		reply(w, toks, err)
	})
	mux.HandleFunc("POST /v1/tokens", func(w http.ResponseWriter, r *http.Request) {
		var req TokenRequest
		if err := decode(r, &req); err != nil {
			reply(w, nil, err)
			return
		}
		tok, err := b.CreateToken(r.Context(), req.Name)
		reply(w, tok, err)
	})
	mux.HandleFunc("DELETE /v1/tokens/{id}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, struct{}{}, b.RevokeToken(r.Context(), r.PathValue("id")))
	})
	return mux
}

// MetricsBackend is a Backend that exposes Prometheus metrics: GET
// /v1/metrics serves its handler, in the text exposition format (or
// what the scraper negotiates).
type MetricsBackend interface {
	// Metrics returns the handler of the metrics; nil when there are
	// none.
	Metrics() http.Handler
}

var errNoMetrics = errors.New("this daemon exposes no metrics")

// MaxBackup bounds an encrypted backup the API takes.
const MaxBackup = 64 << 20

// maxTop bounds the report's top lists.
const maxTop = 1000

// reportQuery reads the report's parameters: day, since, top.
func reportQuery(v url.Values) (ReportQuery, error) {
	q := ReportQuery{Day: v.Get("day"), Top: DefaultTop}
	for k := range v {
		if k != "day" && k != "since" && k != "top" {
			return q, fmt.Errorf("%w: unknown parameter %q (day, since, top)", ErrBadRequest, k)
		}
	}
	if q.Day != "" {
		if _, err := time.Parse("2006-01-02", q.Day); err != nil {
			return q, fmt.Errorf("%w: day: %q is not a date like 2026-11-25", ErrBadRequest, q.Day)
		}
	}
	if s := v.Get("since"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return q, fmt.Errorf("%w: since: %q is not a positive duration like 90m or 24h", ErrBadRequest, s)
		}
		if q.Day != "" {
			return q, fmt.Errorf("%w: give day or since, not both", ErrBadRequest)
		}
		q.Since = d
	}
	if s := v.Get("top"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxTop {
			return q, fmt.Errorf("%w: top: %q is not a number from 1 to %d", ErrBadRequest, s, maxTop)
		}
		q.Top = n
	}
	return q, nil
}

func listName(r *http.Request) (string, error) {
	switch l := r.PathValue("list"); l {
	case "allow", "deny":
		return l, nil
	default:
		return "", fmt.Errorf("%w: no list %q (allow or deny)", ErrBadRequest, l)
	}
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	return nil
}

// checkEntries refuses the whole request if one entry is bad.
func checkEntries(entries []Entry) error {
	if len(entries) == 0 {
		return fmt.Errorf("%w: no entries", ErrBadRequest)
	}
	for i, e := range entries {
		if _, err := netfilter.ParsePrefix(e.Prefix); err != nil {
			return fmt.Errorf("%w: entries[%d]: %v", ErrBadRequest, i, err)
		}
	}
	return nil
}

func reply(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, ErrBadRequest) {
			code = http.StatusBadRequest
		}
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(errorBody{Error: err.Error()})
		return
	}
	_ = json.NewEncoder(w).Encode(v)
}

// Serve listens on the unix socket at path (replacing a stale one) and
// serves b until ctx ends. Only root and the socket's group may connect.
func Serve(ctx context.Context, path string, b Backend, log *slog.Logger) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("api socket: %w", err)
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return fmt.Errorf("api socket %s: another daemon is listening", path)
	}
	_ = os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("api socket: %w", err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return fmt.Errorf("api socket: %w", err)
	}
	srv := &http.Server{Handler: Handler(b), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	log.Info("api listening", "socket", path)
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("api: %w", err)
	}
	_ = os.Remove(path)
	return nil
}
