package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/sipguard/sipguard/board"
	"github.com/sipguard/sipguard/leds"
	"github.com/sipguard/sipguard/netfilter"
)

// ErrFactoryReset ends Run after a factory reset: the state file is empty,
// the configuration file holds the defaults, the ruleset is gone. The
// caller starts the service again (or the box reboots).
var ErrFactoryReset = errors.New("factory reset")

// portWait is how long the daemon waits for a port the board profile
// names: a USB Ethernet adapter may show up after the service starts.
const portWait = 10 * time.Second

// hardware is the board the daemon runs on, and what it shows on it.
type hardware struct {
	board   board.Board // nil when there is none
	profile board.Profile
	leds    *leds.Engine // nil without a board
}

// openBoard opens the board named in cfg (detected when empty) and fills in
// the ports the configuration leaves to the board. Without a board, the
// ports must be named.
func openBoard(ctx context.Context, cfg *Config, root fs.FS, log *slog.Logger) (*hardware, error) {
	hw := &hardware{}
	p, err := board.Detect(root, cfg.Board)
	if err != nil && cfg.Board == "" && !errors.Is(err, board.ErrUnknownBoard) {
		// No device tree: a PC, where the box runs as the simulated board
		// (ports named wan and lan, LEDs and button through the API).
		log.Info("no device tree: running as the simulated board", "why", err)
		p, err = board.ByName("sim")
	}
	switch {
	case err != nil && cfg.Board != "":
		return nil, err
	case err != nil:
		log.Warn("unknown board: no LEDs, button or port detection", "why", err)
	default:
		hw.profile = p
		b, err := board.Open(p, board.Options{LEDs: board.Wiring(cfg.LEDs), Log: log})
		if err != nil {
			return nil, err
		}
		hw.board = b
		if hw.leds, err = leds.New(b.Lights(), log); err != nil {
			b.Close()
			return nil, err
		}
		log.Info("board", "name", p.Name, "title", p.Title)
	}
	if cfg.Bridge.WAN != "" && cfg.Bridge.LAN != "" {
		return hw, nil
	}
	if hw.board == nil {
		return nil, errors.New("ports.wan and ports.lan must be named: no board was detected to find them")
	}
	deadline := time.Now().Add(portWait)
	for {
		ports, err := p.Ports(root)
		if err == nil {
			if cfg.Bridge.WAN == "" {
				cfg.Bridge.WAN = ports.WAN.Name
			}
			if cfg.Bridge.LAN == "" {
				cfg.Bridge.LAN = ports.LAN.Name
			}
			return hw, nil
		}
		if !errors.Is(err, board.ErrPortMissing) || time.Now().After(deadline) {
			hw.close()
			return nil, err
		}
		select {
		case <-ctx.Done():
			hw.close()
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (hw *hardware) close() {
	if hw.board != nil {
		hw.board.Close()
	}
}

// start runs the LEDs, the link watch and the button. reset is the
// button's factory reset.
func (hw *hardware) start(ctx context.Context, g *errgroup.Group, log *slog.Logger, bridge netfilter.BridgeConfig, reset board.Resetter) {
	if hw.leds == nil {
		return
	}
	g.Go(func() error { return hw.leds.Run(ctx) })
	g.Go(func() error {
		err := netfilter.WatchLinks(ctx, []string{bridge.WAN, bridge.LAN}, func(port string, up bool) {
			f := leds.FaultLANDown
			if port == bridge.WAN {
				f = leds.FaultWANDown
			}
			hw.leds.SetFault(f, !up)
			if up {
				log.Info("link up", "port", port)
			} else {
				log.Warn("link down", "port", port)
			}
		})
		if err != nil {
			log.Error("port links are not watched", "err", err)
		}
		return nil
	})
	if btn := hw.board.Button(); btn != nil {
		g.Go(func() error {
			if err := btn.Run(ctx, board.ButtonActions(ctx, hw.leds, reset, log)); err != nil {
				log.Error("the button is off", "err", err)
			}
			return nil
		})
	}
}

// banned shows a ban.
func (hw *hardware) banned() {
	if hw.leds != nil {
		hw.leds.Ban()
	}
}

func (hw *hardware) ready(on bool) {
	if hw.leds != nil {
		hw.leds.SetReady(on)
	}
}

func (hw *hardware) tamper(on bool) {
	if hw.leds != nil {
		hw.leds.SetFault(leds.FaultTamper, on)
	}
}

func (hw *hardware) storeFault(err error) {
	if hw.leds != nil {
		hw.leds.SetFault(leds.FaultStore, err != nil)
	}
}

// resetter is the factory reset behind the button.
type resetter struct {
	log      *slog.Logger
	wipe     func() error // empties the state file; nil without one
	defaults func() error // writes the default configuration file; nil without one
	forget   func() error // removes the dashboard's certificate; nil without one
	done     context.CancelCauseFunc
}

// FactoryReset implements board.Resetter.
func (r resetter) FactoryReset(context.Context) error {
	r.log.Warn("factory reset: wiping lists, bans, the attack log, the dashboard's password, tokens and certificate, and the configuration")
	if r.wipe != nil {
		if err := r.wipe(); err != nil {
			return err
		}
	}
	if r.forget != nil {
		if err := r.forget(); err != nil {
			return err
		}
	}
	if r.defaults != nil {
		if err := r.defaults(); err != nil {
			return fmt.Errorf("restore the default configuration: %w", err)
		}
	}
	r.done(ErrFactoryReset)
	return nil
}

// simulated returns the simulated board, nil on real hardware.
func (hw *hardware) simulated() *board.Sim {
	s, _ := hw.board.(*board.Sim)
	return s
}

// stateLost shows that the state file of before is not in use: set aside,
// or nothing is kept. It stays until the service starts again.
func (hw *hardware) stateLost() {
	if hw.leds != nil {
		hw.leds.SetFault(leds.FaultStateLost, true)
	}
}

// captureFault shows that a capture keeps losing frames, until it stops.
func (hw *hardware) captureFault(on bool) {
	if hw.leds != nil {
		hw.leds.SetFault(leds.FaultCapture, on)
	}
}

// kernelFault shows a kernel change that was refused, until one succeeds.
func (hw *hardware) kernelFault(err error) {
	if hw.leds != nil {
		hw.leds.SetFault(leds.FaultKernel, err != nil)
	}
}
