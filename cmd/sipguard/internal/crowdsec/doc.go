// Package crowdsec joins the box to a CrowdSec local API (LAPI), the
// distributed ban engine an installer runs for a fleet of boxes.
//
// The Bouncer pulls the LAPI's decision stream (GET /v1/decisions/stream,
// the whole list at start, then what changed) and keeps the ban decisions
// of Ip and Range scope, IPv4 and IPv6, in the kernel's crowdsec set, each
// element ending on its decision's own timeout: when the LAPI cannot be
// reached the decisions in force stay until they end, and the Bouncer tries
// again with a growing back-off.
//
// The Agent pushes the box's own bans and alerts to the LAPI as alerts
// (POST /v1/alerts, after a machine login), a ban with its decision, so
// that every box of the fleet that runs the Bouncer enforces it. Detection
// never waits for it: events go through a bounded channel, are batched, and
// queue, bounded, while the LAPI is away. Bans of sources the Bouncer
// already holds a decision for are not pushed back.
//
// Both speak the LAPI's small JSON API with net/http alone.
package crowdsec
