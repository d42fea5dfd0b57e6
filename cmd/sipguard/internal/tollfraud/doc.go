// Package tollfraud watches the office's outbound calls on the wire for
// toll fraud: a PBX whose extension was taken over dials premium and
// international numbers, often at night, until the phone bill arrives.
//
// A [Watch] is fed every SIP request that enters from the office side (the
// PBX towards its carrier). It counts new outbound calls (an INVITE without
// a To tag) per calling extension (the From user) and per dialled number
// (the Request-URI's user, with visual separators removed and the
// international prefix read as "+") over the last hour, and raises an
// alert when an extension goes over its hourly budget, calls a high-risk
// destination, or calls too much outside office hours. It never blocks a
// call: a kernel rule does that, for the number prefixes the operator
// lists (netfilter.Ruleset.BlockDialled).
//
// Memory is fixed: the tables of extensions and numbers never grow, so a
// PBX inventing extensions cannot exhaust the box. Observing a message
// allocates nothing, except to describe an alert.
package tollfraud

import _ "time/tzdata" // the box's image has no zoneinfo: time zones are built in
