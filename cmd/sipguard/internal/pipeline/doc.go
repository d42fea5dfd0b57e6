// Package pipeline is the box's ban pipeline, from the captured frame to
// the kernel and the state file:
//
//	Capture ─► Inspect (decode, TCP framing, parse) ─► sip.Engine
//	                                                     │ decisions
//	                                                     ▼
//	                         Enforcer: batch, escalate ─► Kernel (nftables)
//	                                                     │ what changed
//	                                                     ▼
//	                                           Journal (the state file)
//
// Inspect reads one port's copy of the SIP traffic and hands every message
// to the detection engine; nothing there allocates per packet. The engine
// judges sources and emits decisions (ban, refresh, alert) without ever
// blocking: they go to the Enforcer's bounded queue, and a full queue
// counts what it drops.
//
// The Enforcer applies whatever has queued up since its last batch in one
// netlink batch, so a burst of bans costs one round trip and a single ban
// is applied at once. It is the one owner of "permanent": it keeps each
// source's ban history (read from the journal, so it counts across
// restarts) and moves a source to the permanent list when a new ban
// reaches the block threshold. The allowlist wins here too: a decision for
// a source the allowlist covers is dropped. A kernel error is counted,
// logged and reported as a fault until a later change succeeds; the
// engine's refresh of a still-attacking source applies the ban again.
//
// What a batch changed (bans, permanent bans, events) goes to the journal
// off the ban path: the kernel has the bans already, the SD card may take
// milliseconds. The journal's queue is bounded as well, and drained when
// the pipeline stops, so nothing queued is lost on a clean stop.
//
// The kernel and the journal are small interfaces (Kernel, Journal): the
// daemon passes the netfilter firewall and the store, tests pass fakes.
package pipeline
