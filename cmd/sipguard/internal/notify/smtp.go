package notify

import (
	"context"
	"crypto/tls"
	"net"
	"sync"

	gomail "github.com/wneessen/go-mail"
)

// mailer sends messages through the SMTP account.
type mailer struct {
	cfg       SMTP
	tlsConfig *tls.Config
	clock     Clock
}

// client returns a client for one exchange. Over STARTTLS or in clear,
// its connection is closed when ctx ends, so that a server that stalls
// does not hold up a shutdown; the returned function releases that watch.
// (Implicit TLS keeps go-mail's own dialer, bounded by the timeout.)
func (m *mailer) client(ctx context.Context) (*gomail.Client, func(), error) {
	var (
		mu    sync.Mutex
		stops []func() bool
	)
	release := func() {
		mu.Lock()
		defer mu.Unlock()
		for _, stop := range stops {
			stop()
		}
	}
	opts := []gomail.Option{gomail.WithPort(smtpPort(m.cfg)), gomail.WithTimeout(m.cfg.Timeout)}
	if smtpSecurity(m.cfg) != TLS {
		opts = append(opts, gomail.WithDialContextFunc(func(dctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(dctx, network, addr)
			if err != nil {
				return nil, err
			}
			mu.Lock()
			stops = append(stops, context.AfterFunc(ctx, func() { c.Close() }))
			mu.Unlock()
			return c, nil
		}))
	}
	tc := &tls.Config{ServerName: m.cfg.Host, MinVersion: tls.VersionTLS12}
	if m.tlsConfig != nil {
		tc = m.tlsConfig.Clone()
		if tc.ServerName == "" {
			tc.ServerName = m.cfg.Host
		}
	}
	opts = append(opts, gomail.WithTLSConfig(tc))
	switch smtpSecurity(m.cfg) {
	case TLS:
		opts = append(opts, gomail.WithSSL())
	case None:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if m.cfg.User != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(m.cfg.User), gomail.WithPassword(m.cfg.Password))
	}
	c, err := gomail.NewClient(m.cfg.Host, opts...)
	return c, release, err
}

// message builds the mail of msg.
func (m *mailer) message(msg *message) (*gomail.Msg, error) {
	out := gomail.NewMsg()
	if err := out.From(m.cfg.From); err != nil {
		return nil, err
	}
	if err := out.To(m.cfg.To...); err != nil {
		return nil, err
	}
	out.Subject(msg.subject)
	out.SetDateWithValue(m.clock.Now())
	out.SetMessageID()
	out.SetGenHeader("Auto-Submitted", "auto-generated")
	out.SetGenHeader(gomail.HeaderXMailer, "sipguard")
	out.SetBodyString(gomail.TypeTextPlain, msg.text)
	if msg.html != "" {
		out.AddAlternativeString(gomail.TypeTextHTML, msg.html)
	}
	return out, nil
}

// send delivers msg to every recipient.
func (m *mailer) send(ctx context.Context, msg *message) error {
	c, release, err := m.client(ctx)
	defer release()
	if err != nil {
		return errorf("mail", msg, err)
	}
	mm, err := m.message(msg)
	if err != nil {
		return errorf("mail", msg, err)
	}
	if err := c.DialAndSendWithContext(ctx, mm); err != nil {
		return errorf("mail", msg, err)
	}
	return nil
}
