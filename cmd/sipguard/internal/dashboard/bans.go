package dashboard

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/netfilter"
)

// bansData is the bans page's.
type bansData struct {
	Bans    api.Bans
	Address string // the unblock form's, as typed
	Error   string // next to the unblock form's address
}

func (s *server) bans(w http.ResponseWriter, r *http.Request) {
	s.showBans(w, r, http.StatusOK, bansData{})
}

func (s *server) showBans(w http.ResponseWriter, r *http.Request, code int, d bansData) {
	bans, err := s.b.Bans(r.Context())
	if err != nil {
		s.failed(w, r, "read the bans", err)
		return
	}
	d.Bans = bans
	s.render(w, r, code, "bans", "Bans", d)
}

// unblock lifts the bans of the addresses ticked or typed: the temporary
// ones, or with permanent=yes the permanent ones.
func (s *server) unblock(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.showBans(w, r, http.StatusBadRequest, bansData{Error: message(err)})
		return
	}
	typed := strings.TrimSpace(r.PostForm.Get("typed"))
	addrs := r.PostForm["address"]
	if typed != "" {
		addrs = append(addrs, strings.Fields(strings.ReplaceAll(typed, ",", " "))...)
	}
	prefixes, err := parsePrefixes(addrs)
	if err == nil && len(prefixes) == 0 {
		err = fmt.Errorf("tick the bans to lift, or type an address or network")
	}
	if err != nil {
		s.showBans(w, r, http.StatusBadRequest, bansData{Address: typed, Error: message(err)})
		return
	}
	permanent := r.PostForm.Get("permanent") == "yes"
	res, err := s.b.Unban(r.Context(), prefixes, permanent)
	if err != nil {
		s.showBans(w, r, http.StatusBadRequest, bansData{Address: typed, Error: message(err)})
		return
	}
	kind := "temporary"
	if permanent {
		kind = "permanent"
	}
	msg := fmt.Sprintf("%d %s ban(s) lifted", res.Unbanned, kind)
	if len(res.NotBanned) > 0 {
		msg += fmt.Sprintf("; not banned: %s", strings.Join(res.NotBanned, ", "))
	}
	s.done(w, r, "/bans", msg, "unblocked", addrs, "permanent", permanent)
}

// parsePrefixes reads addresses and networks as the command line does,
// refusing all at the first bad one.
func parsePrefixes(in []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(in))
	for _, a := range in {
		p, err := netfilter.ParsePrefix(strings.TrimSpace(a))
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}
