package store

import (
	"errors"
	"net/netip"
	"path/filepath"
	"testing"
	"time"
)

// ReplaceLists puts exactly the lists and permanent bans given, in one
// transaction; the ban history stays. An invalid entry writes nothing.
func TestReplaceLists(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "state.db"), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	old := netip.MustParsePrefix("198.51.100.1/32")
	if err := s.Add(Allow, Entry{Prefix: old, Note: "old"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddPermanent(Ban{Prefix: netip.MustParsePrefix("192.0.2.1/32"), Reason: "old"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordBans(time.Hour, netip.MustParsePrefix("192.0.2.1/32")); err != nil {
		t.Fatal(err)
	}
	allow := []Entry{{Prefix: netip.MustParsePrefix("198.51.100.2/32"), Note: "carrier"}}
	deny := []Entry{{Prefix: netip.MustParsePrefix("2001:db8::/32"), Note: "abuse"}}
	perms := []Ban{{Prefix: netip.MustParsePrefix("203.0.113.9/32"), Reason: "register brute force", Country: "NL", Bans: 3}}
	if err := s.ReplaceLists(allow, deny, perms); err != nil {
		t.Fatal(err)
	}
	gotAllow, _ := s.Entries(Allow)
	gotDeny, _ := s.Entries(Deny)
	gotPerms, _ := s.Permanents()
	if len(gotAllow) != 1 || gotAllow[0].Note != "carrier" || len(gotDeny) != 1 || gotDeny[0].Note != "abuse" ||
		len(gotPerms) != 1 || gotPerms[0].Prefix != perms[0].Prefix || gotPerms[0].Bans != 3 || gotPerms[0].Country != "NL" {
		t.Errorf("after replace: allow %+v deny %+v permanent %+v", gotAllow, gotDeny, gotPerms)
	}
	if h, _ := s.BanCounts(netip.MustParsePrefix("192.0.2.1/32")); len(h) != 1 || h[0] != 1 {
		t.Errorf("ban history after replace: %v", h)
	}
	err = s.ReplaceLists(nil, []Entry{{Note: "no prefix"}}, nil)
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("an invalid entry: %v", err)
	}
	if got, _ := s.Entries(Allow); len(got) != 1 {
		t.Errorf("a refused replace changed the allow list: %+v", got)
	}
}
