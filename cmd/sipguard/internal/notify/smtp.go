package notify

import (
	"context"
	"crypto/tls"

	gomail "github.com/wneessen/go-mail"
)

// mailer sends messages through the SMTP account.
type mailer struct {
	cfg       SMTP
	tlsConfig *tls.Config
	clock     Clock
}

func (m *mailer) client() (*gomail.Client, error) {
	opts := []gomail.Option{gomail.WithPort(m.cfg.port()), gomail.WithTimeout(m.cfg.Timeout)}
	tc := &tls.Config{ServerName: m.cfg.Host, MinVersion: tls.VersionTLS12}
	if m.tlsConfig != nil {
		tc = m.tlsConfig.Clone()
		if tc.ServerName == "" {
			tc.ServerName = m.cfg.Host
		}
	}
	opts = append(opts, gomail.WithTLSConfig(tc))
	switch m.cfg.security() {
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
	return gomail.NewClient(m.cfg.Host, opts...)
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
	c, err := m.client()
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
