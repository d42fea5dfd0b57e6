package web

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Ports are where the server listens, on every address of the box (on
// the box, the bridge's management addresses): HTTPS, and plain HTTP
// that redirects to it (0: none).
type Ports struct {
	HTTPS, HTTP int
}

// retryBind is how long a port that could not be bound waits for another
// try.
const retryBind = 10 * time.Second

// Run serves HTTPS, and the HTTP redirect, until ctx ends. A port that
// cannot be bound is logged and tried again: the box protects all the
// same. It returns nil when ctx ends.
func (s *Server) Run(ctx context.Context, p Ports) error {
	var wg sync.WaitGroup
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{s.o.Cert}}
	https := &http.Server{Handler: s, TLSConfig: tlsConf}
	wg.Go(func() {
		s.serve(ctx, "https", p.HTTPS, https, func(l net.Listener) net.Listener { return tls.NewListener(l, tlsConf) })
	})
	if p.HTTP != 0 {
		redirect := &http.Server{Handler: RedirectHandler(p.HTTPS)}
		wg.Go(func() { s.serve(ctx, "http", p.HTTP, redirect, nil) })
	}
	wg.Wait()
	return nil
}

// Listening says the HTTPS port is bound.
func (s *Server) Listening() bool { return s.listening.Load() }

// serve binds port (retrying) and serves srv on it until ctx ends.
func (s *Server) serve(ctx context.Context, name string, port int, srv *http.Server, wrap func(net.Listener) net.Listener) {
	srv.ReadHeaderTimeout = 10 * time.Second
	srv.IdleTimeout = 2 * time.Minute
	srv.MaxHeaderBytes = 64 << 10
	srv.ErrorLog = nil
	srv.BaseContext = func(net.Listener) context.Context { return ctx }
	addr := net.JoinHostPort("", strconv.Itoa(port))
	var lastErr string
	for {
		l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
		if err == nil {
			if name == "https" {
				s.listening.Store(true)
				s.problem.Store("")
			}
			s.o.Log.Info("dashboard listening", "proto", name, "port", port)
			if wrap != nil {
				l = wrap(l)
			}
			go func() {
				<-ctx.Done()
				shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				_ = srv.Shutdown(shut)
			}()
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.o.Log.Error("dashboard stopped serving", "proto", name, "err", err)
			}
			if name == "https" {
				s.listening.Store(false)
			}
			return
		}
		if ctx.Err() != nil {
			return
		}
		if msg := err.Error(); msg != lastErr {
			lastErr = msg
			s.o.Log.Error("dashboard: cannot listen; trying again", "proto", name, "port", port, "err", err)
			if name == "https" {
				s.problem.Store(fmt.Sprintf("port %d: %v", port, err))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.retry):
		}
	}
}

// problemOf is why the server does not serve; "" when it does.
func (s *Server) problemOf() string {
	v, _ := s.problem.Load().(string)
	return v
}
