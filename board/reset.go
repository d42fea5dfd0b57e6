package board

import (
	"context"
	"log/slog"

	"github.com/sipguard/sipguard/leds"
)

// Resetter puts the box back to factory defaults: it wipes the data
// partition's configuration, lists, bans and log, restores the default
// configuration and reboots. The daemon implements it.
type Resetter interface {
	FactoryReset(ctx context.Context) error
}

// Feedback is what the button shows on the LEDs; *leds.Engine is one.
type Feedback interface {
	StatusBlink()              // a short press: the lamp test
	ArmReset(progress float64) // the reset countdown, 0 to 1 (1: resetting)
	CancelReset()              // the countdown ended without a reset
}

var _ Feedback = (*leds.Engine)(nil)

// ButtonActions returns the handler to pass to Button.Run on the box: a
// short press blinks the status, a long press shows the countdown and
// cancels it on release, and a completed hold calls r.FactoryReset with
// ctx. A failed reset is logged and the countdown cleared, so the LEDs do
// not claim a reset that did not happen.
func ButtonActions(ctx context.Context, fb Feedback, r Resetter, log *slog.Logger) func(Event) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return func(ev Event) {
		switch ev.Kind {
		case ShortPress:
			fb.StatusBlink()
		case ResetArmed:
			log.Debug("button: factory reset armed", "held", ev.Held)
			fb.ArmReset(ev.Progress)
		case ResetCancelled:
			log.Info("button: factory reset cancelled", "held", ev.Held)
			fb.CancelReset()
		case FactoryReset:
			log.Warn("button: factory reset")
			fb.ArmReset(1)
			if err := r.FactoryReset(ctx); err != nil {
				log.Error("button: factory reset failed", "err", err)
				fb.CancelReset()
			}
		}
	}
}
