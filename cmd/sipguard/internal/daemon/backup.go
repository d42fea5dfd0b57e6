package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/backup"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/config"
	"github.com/sipguard/sipguard/cmd/sipguard/internal/store"
)

// Backup implements api.Backend: the configuration file as it is, and the
// state file's lists and permanent bans, encrypted under password.
func (b *backend) Backup(_ context.Context, password string) ([]byte, error) {
	if err := backup.CheckPassword(password); err != nil {
		return nil, fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	if b.state == nil {
		return nil, errNoState
	}
	var text []byte
	if b.configFile != "" {
		var err error
		if text, err = os.ReadFile(b.configFile); err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
	}
	a, err := backup.Collect(text, b.state, b.version, time.Now())
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	return backup.Seal(a, password)
}

// Restore implements api.Backend. Everything is checked first: the
// password, the file's authentication, its format, the configuration by
// the loader's rules, every entry and ban. Then, in order: permanent bans
// the backup does not hold are lifted, the configuration file is replaced
// atomically, the lists and permanent bans are replaced in the state file
// in one transaction, and the new configuration and lists are put in force
// as a reload does.
func (b *backend) Restore(ctx context.Context, password string, file []byte) (api.Restored, error) {
	c, err := backup.Read(file, password)
	if err != nil {
		return api.Restored{}, fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	if b.state == nil {
		return api.Restored{}, errNoState
	}
	if c.Config != nil && b.configFile == "" {
		return api.Restored{}, fmt.Errorf("%w: the backup holds a configuration file and the daemon runs without one (daemon --config): nothing was changed", api.ErrBadRequest)
	}
	// Permanent bans made since the backup are lifted through the
	// detection, which keeps every ban in force; the state file's
	// replacement below drops them there.
	current, err := b.state.Permanents()
	if err != nil {
		return api.Restored{}, err
	}
	var gone []netip.Prefix
	for _, p := range current {
		if !slices.ContainsFunc(c.Permanent, func(q store.Ban) bool { return q.Prefix == p.Prefix }) {
			gone = append(gone, p.Prefix)
		}
	}
	if len(gone) > 0 && b.enforcer != nil {
		if _, err := b.enforcer.LiftPermanent(ctx, gone); err != nil {
			return api.Restored{}, fmt.Errorf("restore: lift the permanent bans the backup does not hold: %w", err)
		}
	}
	out := api.Restored{Firmware: c.Firmware, Created: c.Created, Allow: len(c.Allow), Deny: len(c.Deny), Permanent: len(c.Permanent)}
	if b.configFile != "" {
		text := c.Config
		if text == nil {
			text = []byte{} // the backup's box ran on the defaults
		}
		if err := config.WriteFile(b.configFile, text); err != nil {
			return api.Restored{}, fmt.Errorf("restore: %w", err)
		}
		out.Config = true
	}
	if err := b.state.ReplaceLists(c.Allow, c.Deny, c.Permanent); err != nil {
		return out, fmt.Errorf("restore: the configuration file is written, the lists are not: %w", err)
	}
	if b.reread == nil {
		return out, b.apply(ctx)
	}
	if err := b.Reload(ctx); err != nil {
		// The lists are in the state file: put them in force with the
		// configuration in force.
		return out, errors.Join(fmt.Errorf("restore: written: %w", err), b.apply(ctx))
	}
	return out, nil
}
