package daemon

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
	"github.com/sipguard/sipguard/netfilter"
)

// restore puts the state file's lists into rules, and returns the dynamic
// bans still in force, to apply once the ruleset is.
func restore(st *store.Store, rules *netfilter.Ruleset) ([]netfilter.Ban, error) {
	if err := addStoredLists(st, rules); err != nil {
		return nil, err
	}
	now := time.Now()
	dyn, err := st.Dynamics(now)
	if err != nil {
		return nil, fmt.Errorf("read dynamic bans: %w", err)
	}
	bans := make([]netfilter.Ban, 0, len(dyn))
	for _, d := range dyn {
		bans = append(bans, netfilter.Ban{Addr: d.Prefix.Addr(), Timeout: max(time.Second, d.Until.Sub(now))})
	}
	return bans, nil
}

// addStoredLists adds the state file's allow and deny lists and permanent
// bans to rules.
func addStoredLists(st *store.Store, rules *netfilter.Ruleset) error {
	for _, l := range []struct {
		list store.List
		dst  *[]netip.Prefix
	}{{store.Allow, &rules.Allow}, {store.Deny, &rules.Deny}} {
		entries, err := st.Entries(l.list)
		if err != nil {
			return fmt.Errorf("read %s list: %w", l.list, err)
		}
		for _, e := range entries {
			*l.dst = append(*l.dst, e.Prefix)
		}
	}
	perms, err := st.Permanents()
	if err != nil {
		return fmt.Errorf("read permanent bans: %w", err)
	}
	for _, p := range perms {
		rules.Permanent = append(rules.Permanent, p.Prefix)
	}
	return nil
}
