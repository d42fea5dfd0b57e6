//go:build !linux

package daemon

import "log/slog"

// raisePriority does nothing off Linux.
func raisePriority(*slog.Logger) {}
