// Package daemon runs the box's service: it brings up the bridge, applies
// the ruleset and keeps it in force until it is told to stop.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"golang.org/x/sync/errgroup"

	"github.com/sipguard/sipguard/netfilter"
)

// StopMode says what happens to the ruleset when the daemon stops.
type StopMode string

const (
	// KeepRules leaves the ruleset and every ban in the kernel, so the
	// office stays protected while the daemon restarts. The default.
	KeepRules StopMode = "keep"
	// RemoveRules deletes sipguard's table on stop, as sipPROT's stop does.
	// The bridge stays up either way: the phones keep working.
	RemoveRules StopMode = "remove"
)

// Config is what the daemon runs with.
type Config struct {
	Bridge netfilter.BridgeConfig
	Rules  netfilter.Ruleset
	OnStop StopMode
}

// Run brings up the bridge and the ruleset, calls ready once the box
// protects, and blocks until ctx is canceled. With a DHCP management
// address it keeps the lease meanwhile.
func Run(ctx context.Context, log *slog.Logger, cfg Config, ready func()) error {
	if cfg.OnStop != KeepRules && cfg.OnStop != RemoveRules {
		return fmt.Errorf("on-stop: %q is not keep or remove", cfg.OnStop)
	}
	if err := cfg.Rules.Validate(); err != nil {
		return err
	}
	if err := netfilter.SetupBridge(cfg.Bridge); err != nil {
		return fmt.Errorf("bridge: %w", err)
	}
	log.Info("bridge up", "bridge", cfg.Bridge.Name, "wan", cfg.Bridge.WAN, "lan", cfg.Bridge.LAN)
	fw, err := netfilter.Open()
	if err != nil {
		return err
	}
	defer fw.Close()
	if err := fw.Apply(cfg.Rules); err != nil {
		return err
	}
	log.Info("protecting", "table", "bridge "+netfilter.TableName)
	if ready != nil {
		ready()
	}

	g, gctx := errgroup.WithContext(ctx)
	if m := cfg.Bridge.Mgmt; m != nil && m.DHCP {
		g.Go(func() error { return netfilter.RunDHCP(gctx, cfg.Bridge.Name, log) })
	}
	g.Go(func() error {
		<-gctx.Done()
		return nil
	})
	runErr := g.Wait()

	if cfg.OnStop == RemoveRules {
		if err := fw.Remove(); err != nil {
			return errors.Join(runErr, fmt.Errorf("remove ruleset: %w", err))
		}
		log.Info("stopped; ruleset removed, bridge left up")
		return runErr
	}
	log.Info("stopped; ruleset and bans left in force")
	return runErr
}
