//go:build !linux

package netfilter

// Verdict is only implemented on Linux.
type Verdict struct{}

// OpenVerdict fails with ErrUnsupported.
func OpenVerdict(...Option) (*Verdict, error) { return nil, ErrUnsupported }

func (*Verdict) Close() error                 { return ErrUnsupported }
func (*Verdict) Enable() error                { return ErrUnsupported }
func (*Verdict) Disable() error               { return ErrUnsupported }
func (*Verdict) FlushJudged() error           { return ErrUnsupported }
func (*Verdict) Stats() (VerdictStats, error) { return VerdictStats{}, ErrUnsupported }
