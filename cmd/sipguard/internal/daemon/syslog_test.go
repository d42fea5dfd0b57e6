package daemon

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/leodido/go-syslog/v4/rfc5424"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/remotelog"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
)

// Each kind of attack-log event becomes a syslog message with its MSGID,
// severity and parameters; an action the box does not know yet (an
// admin's change) goes out as it is.
func TestSyslogMessage(t *testing.T) {
	at := time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)
	v6 := netip.MustParseAddr("2001:db8:1:2::66")
	for _, c := range []struct {
		ev       store.Event
		msgid    string
		severity uint8
		params   map[string]string
		text     string
	}{
		{store.Event{Time: at, Action: store.ActionBan, Source: netip.MustParsePrefix("203.0.113.66/32"), Addr: netip.MustParseAddr("203.0.113.66"),
			Reason: "REGISTER brute force", Count: 6, UserAgent: `sip"vicious]`, Extension: "1001", Country: "NL"},
			"ban", remotelog.Warning, map[string]string{"src": "203.0.113.66", "reason": "REGISTER brute force", "count": "6", "ua": `sip"vicious]`, "ext": "1001", "country": "NL"},
			"ban 203.0.113.66: REGISTER brute force"},
		{store.Event{Time: at, Action: store.ActionPermanent, Source: netip.PrefixFrom(v6, 64).Masked(), Addr: v6, Reason: "slow guessing by a source that never authenticated"},
			"ban", remotelog.Warning, map[string]string{"src": "2001:db8:1:2::66", "source": "2001:db8:1:2::/64", "permanent": "true"}, ""},
		{store.Event{Time: at, Action: store.ActionAlert, Source: netip.MustParsePrefix("198.51.100.10/32"), Addr: netip.MustParseAddr("198.51.100.10"), Reason: "extension registered from several sources"},
			"alert", remotelog.Warning, map[string]string{"src": "198.51.100.10"}, ""},
		{store.Event{Time: at, Action: store.ActionUnban, Source: netip.MustParsePrefix("203.0.113.66/32"), Addr: netip.MustParseAddr("203.0.113.66")},
			"unban", remotelog.Notice, map[string]string{"src": "203.0.113.66"}, "unban 203.0.113.66"},
		{store.Event{Time: at, Action: "admin", Reason: "allow add 192.0.2.0/24 by token backup-script"},
			"admin", remotelog.Notice, map[string]string{"reason": "allow add 192.0.2.0/24 by token backup-script"}, "admin: allow add 192.0.2.0/24 by token backup-script"},
	} {
		line := remotelog.Format(nil, 16, "box", "1", syslogMessage(c.ev))
		parsed, err := rfc5424.NewParser().Parse(line)
		if err != nil {
			t.Fatalf("%s: not RFC 5424: %v", line, err)
		}
		m := parsed.(*rfc5424.SyslogMessage)
		if *m.MsgID != c.msgid || *m.Severity != c.severity || !m.Timestamp.Equal(at) {
			t.Errorf("%s: msgid %q severity %d time %v", line, *m.MsgID, *m.Severity, m.Timestamp)
		}
		sd := (*m.StructuredData)["sipguard@32473"]
		for k, v := range c.params {
			if sd[k] != v {
				t.Errorf("%s: %s = %q, want %q", line, k, sd[k], v)
			}
		}
		if c.text != "" && (m.Message == nil || !strings.HasPrefix(*m.Message, c.text)) {
			t.Errorf("%s: message, want %q", line, c.text)
		}
	}
}
