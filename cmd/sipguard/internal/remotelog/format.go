// Package remotelog sends the box's events to a remote syslog server as
// RFC 5424 messages over UDP, TCP or TLS (RFC 5426, 6587, 5425).
//
// Send never blocks: messages go to a bounded queue, and a full queue
// drops the message and counts it, so that a slow or absent server never
// holds up the detection. One goroutine (Run) writes the queue out,
// reconnecting with back-off; over TCP and TLS each message is framed
// by octet counting ("LEN SP MSG"), over UDP it is one datagram.
package remotelog

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// EnterpriseID is the SD-ID suffix of the box's structured data,
// "sipguard@32473" (32473 is the example enterprise number of RFC 5612).
const EnterpriseID = "sipguard@32473"

// AppName is the APP-NAME of every message.
const AppName = "sipguard"

// Severities of RFC 5424.
const (
	Emergency = iota
	Alert
	Critical
	Error
	Warning
	Notice
	Informational
	Debug
)

// Param is one SD-PARAM of the box's structured data element.
type Param struct{ Name, Value string }

// Message is one event to send.
type Message struct {
	Time     time.Time
	Severity int
	// MsgID says what happened: ban, alert, tamper, admin, unban.
	MsgID  string
	Params []Param // empty values are left out
	Text   string
}

// facilities are the RFC 5424 facility names, by code.
var facilities = [...]string{"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp",
	"ntp", "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"}

// ParseFacility returns the code of a facility name such as local0.
func ParseFacility(s string) (int, error) {
	for i, f := range facilities {
		if s == f {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%q is not a syslog facility (local0 to local7, daemon, auth, user…)", s)
}

// ParseAddress reads a server address: udp://host:514, tcp://host:601 or
// tls://host:6514 (the port defaults to those). It returns the scheme and
// host:port.
func ParseAddress(s string) (scheme, hostport string, err error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", "", fmt.Errorf("%q is not an address like udp://192.0.2.9:514, tcp://host:601 or tls://host:6514", s)
	}
	port := map[string]string{"udp": "514", "tcp": "601", "tls": "6514"}[u.Scheme]
	if port == "" {
		return "", "", fmt.Errorf("%q: the scheme is %q, want udp, tcp or tls", s, u.Scheme)
	}
	host := u.Hostname()
	if u.Port() != "" {
		n, err := strconv.Atoi(u.Port())
		if err != nil || n < 1 || n > 65535 {
			return "", "", fmt.Errorf("%q: port %q is not 1-65535", s, u.Port())
		}
		port = u.Port()
	}
	return u.Scheme, net.JoinHostPort(host, port), nil
}

// CheckHostname checks a HOSTNAME field: 1 to 255 printable ASCII
// characters, no space.
func CheckHostname(h string) error {
	if h == "" || len(h) > 255 {
		return errors.New("want 1 to 255 characters")
	}
	for i := 0; i < len(h); i++ {
		if h[i] < 33 || h[i] > 126 {
			return fmt.Errorf("%q: only printable ASCII without spaces", h)
		}
	}
	return nil
}

// Format appends m as an RFC 5424 message (without transport framing)
// to b.
func Format(b []byte, facility int, hostname, procid string, m Message) []byte {
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(facility*8+min(max(m.Severity, 0), 7)), 10)
	b = append(b, ">1 "...)
	b = m.Time.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
	b = append(b, ' ')
	b = appendField(b, hostname, 255)
	b = append(b, ' ')
	b = append(b, AppName...)
	b = append(b, ' ')
	b = appendField(b, procid, 128)
	b = append(b, ' ')
	b = appendField(b, m.MsgID, 32)
	b = append(b, ' ')
	b = appendSD(b, m.Params)
	if m.Text != "" {
		b = append(b, ' ')
		b = appendText(b, m.Text)
	}
	return b
}

// appendField appends a header field: printable ASCII, at most n
// characters, "-" when empty.
func appendField(b []byte, s string, n int) []byte {
	start := len(b)
	for i := 0; i < len(s) && len(b)-start < n; i++ {
		if c := s[i]; c >= 33 && c <= 126 {
			b = append(b, c)
		}
	}
	if len(b) == start {
		b = append(b, '-')
	}
	return b
}

// appendSD appends the box's structured data element, or "-" without
// parameters.
func appendSD(b []byte, params []Param) []byte {
	start := len(b)
	b = append(b, '[')
	b = append(b, EnterpriseID...)
	n := 0
	for _, p := range params {
		if p.Value == "" {
			continue
		}
		n++
		b = append(b, ' ')
		b = appendName(b, p.Name)
		b = append(b, `="`...)
		b = appendValue(b, p.Value)
		b = append(b, '"')
	}
	if n == 0 {
		return append(b[:start], '-')
	}
	return append(b, ']')
}

// appendName appends an SD-NAME: printable ASCII but '=', ' ', ']', '"',
// at most 32 characters.
func appendName(b []byte, s string) []byte {
	start := len(b)
	for i := 0; i < len(s) && len(b)-start < 32; i++ {
		if c := s[i]; c > 32 && c < 127 && c != '=' && c != ']' && c != '"' {
			b = append(b, c)
		}
	}
	return b
}

// appendValue appends a PARAM-VALUE, escaping '"', '\' and ']' and
// replacing control characters and invalid UTF-8 by spaces and U+FFFD.
func appendValue(b []byte, s string) []byte {
	for _, r := range s {
		switch {
		case r == '"' || r == '\\' || r == ']':
			b = append(b, '\\', byte(r))
		case r < 32 || r == 127:
			b = append(b, ' ')
		default:
			b = append(b, string(r)...)
		}
	}
	return b
}

// appendText appends the free-form MSG on one line.
func appendText(b []byte, s string) []byte {
	return append(b, strings.Map(func(r rune) rune {
		if r < 32 || r == 127 {
			return ' '
		}
		return r
	}, s)...)
}
