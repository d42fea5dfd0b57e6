package remotelog

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"
)

// Config is where and how messages go.
type Config struct {
	// Address is the server: udp://host:514, tcp://host:601 or
	// tls://host:6514.
	Address string
	// Facility is the facility code (ParseFacility); Hostname the
	// HOSTNAME field.
	Facility int
	Hostname string
	// CA is a PEM file of the certificates that may sign a TLS server's;
	// empty: the system's roots.
	CA string
	// Queue bounds the messages waiting (default 1024).
	Queue int
	// Backoff is the first wait after a failure, doubled up to MaxBackoff
	// (defaults 1 s and 1 min).
	Backoff, MaxBackoff time.Duration
}

// Status is what the sender did.
type Status struct {
	Address     string    `json:"address"`
	Connected   bool      `json:"connected"`
	Sent        uint64    `json:"sent"`
	Dropped     uint64    `json:"dropped"` // the queue was full
	Errors      uint64    `json:"errors"`  // failed connections and writes
	Queued      int       `json:"queued"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
}

// Logger sends messages to one server. Send is safe for concurrent use
// and never blocks.
type Logger struct {
	cfg     Config
	scheme  string
	addr    string
	tls     *tls.Config // nil unless over TLS
	log     *slog.Logger
	procid  string
	queue   chan Message
	mu      sync.Mutex
	status  Status
	running bool
}

// New checks cfg and returns its Logger; Run sends.
func New(cfg Config, log *slog.Logger) (*Logger, error) {
	scheme, addr, err := ParseAddress(cfg.Address)
	if err != nil {
		return nil, err
	}
	if err := CheckHostname(cfg.Hostname); err != nil {
		return nil, fmt.Errorf("hostname: %w", err)
	}
	if cfg.Facility < 0 || cfg.Facility >= len(facilities) {
		return nil, fmt.Errorf("facility %d: want 0 to %d", cfg.Facility, len(facilities)-1)
	}
	l := &Logger{cfg: cfg, scheme: scheme, addr: addr, log: log, procid: strconv.Itoa(os.Getpid())}
	if scheme == "tls" {
		host, _, _ := net.SplitHostPort(addr)
		l.tls = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		if cfg.CA != "" {
			pem, err := os.ReadFile(cfg.CA)
			if err != nil {
				return nil, fmt.Errorf("ca: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("ca: %s holds no PEM certificate", cfg.CA)
			}
			l.tls.RootCAs = pool
		}
	}
	if l.cfg.Queue <= 0 {
		l.cfg.Queue = 1024
	}
	if l.cfg.Backoff <= 0 {
		l.cfg.Backoff = time.Second
	}
	if l.cfg.MaxBackoff < l.cfg.Backoff {
		l.cfg.MaxBackoff = max(time.Minute, l.cfg.Backoff)
	}
	l.queue = make(chan Message, l.cfg.Queue)
	l.status.Address = cfg.Address
	return l, nil
}

// Send queues m; a full queue drops it, counted.
func (l *Logger) Send(m Message) {
	select {
	case l.queue <- m:
	default:
		l.mu.Lock()
		l.status.Dropped++
		l.mu.Unlock()
	}
}

// Status returns what the sender did so far.
func (l *Logger) Status() Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.status
	s.Queued = len(l.queue)
	return s
}

// Run sends the queue until ctx ends. A message whose write failed is
// sent again after the reconnection (over TCP and TLS a server may then
// see it twice).
func (l *Logger) Run(ctx context.Context) error {
	l.mu.Lock()
	if l.running {
		l.mu.Unlock()
		return errors.New("remotelog: Run called twice")
	}
	l.running = true
	l.mu.Unlock()
	var (
		conn    net.Conn
		pending *Message
		wait    = l.cfg.Backoff
		buf     []byte
	)
	defer func() {
		if conn != nil {
			conn.Close()
		}
		l.setConnected(false)
	}()
	for {
		if pending == nil {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case m := <-l.queue:
				pending = &m
			}
		}
		if conn == nil {
			c, err := l.dial(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				l.failed("connect", err)
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(wait):
				}
				wait = min(2*wait, l.cfg.MaxBackoff)
				continue
			}
			conn = c
			l.setConnected(true)
		}
		buf = l.frame(buf[:0], *pending)
		_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Write(buf); err != nil {
			l.failed("write", err)
			conn.Close()
			conn = nil
			l.setConnected(false)
			continue // reconnect at once; back off if that fails
		}
		pending, wait = nil, l.cfg.Backoff
		l.mu.Lock()
		l.status.Sent++
		l.status.LastSuccess = time.Now()
		l.status.LastError = ""
		l.mu.Unlock()
	}
}

// frame appends m as the transport sends it: one datagram over UDP,
// octet counting over TCP and TLS.
func (l *Logger) frame(b []byte, m Message) []byte {
	msg := Format(nil, l.cfg.Facility, l.cfg.Hostname, l.procid, m)
	if l.scheme == "udp" {
		return append(b, msg...)
	}
	b = strconv.AppendInt(b, int64(len(msg)), 10)
	b = append(b, ' ')
	return append(b, msg...)
}

func (l *Logger) dial(ctx context.Context) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	network := l.scheme
	if network == "tls" {
		network = "tcp"
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, l.addr)
	if err != nil || l.tls == nil {
		return c, err
	}
	tc := tls.Client(c, l.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return tc, nil
}

func (l *Logger) failed(what string, err error) {
	l.mu.Lock()
	first := l.status.LastError == ""
	l.status.Errors++
	l.status.LastError = fmt.Sprintf("%s: %v", what, err)
	l.mu.Unlock()
	if first {
		l.log.Warn("remote syslog: "+what+" failed; retrying with back-off", "address", l.cfg.Address, "err", err)
	}
}

func (l *Logger) setConnected(on bool) {
	l.mu.Lock()
	l.status.Connected = on
	l.mu.Unlock()
}
