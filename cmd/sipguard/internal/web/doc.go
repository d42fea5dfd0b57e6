// Package web is the box's HTTPS server on its management address: the
// dashboard's pages, its login, and the local API (package api) under
// /v1/ for a logged-in browser or an API token.
//
// Access is checked twice. The kernel drops new connections from the wan
// port unless their source is in the admin allowlist (netfilter's mgmt_in
// chain); the server checks again, for every request: it answers the box
// itself, the admin allowlist, and sources it finds behind the office
// (lan) port in the bridge's neighbour table and forwarding database
// (Sides). Anything else, unknown included, is the wan, and gets 403.
//
// There is no default password. While none is set, the first visit from
// the office side sets it (/setup); it is hashed with argon2id and kept in
// the state file with the API tokens' hashes, so a factory reset wipes
// them. A login opens a session: a random ID in the __Host-sipguard cookie
// (Secure, HttpOnly, SameSite=Strict), kept in memory only, so a restart
// logs everyone out; it ends after 30 minutes idle or 12 hours. Every
// change a session makes carries its CSRF token (form field csrf or
// header X-CSRF-Token), and net/http's cross-origin protection refuses
// cross-site requests as well. An API token (Authorization: Bearer
// sgt_...) needs no CSRF token, and cannot make tokens. Failed logins are
// limited per source and over all; a lock-out is an alert. Every change
// an administrator makes is written to the attack log (action admin).
//
// The certificate is self-signed, made on first start and kept beside the
// state file; clients pin it by its SHA-256 fingerprint (Fingerprint),
// which the daemon logs, and the status, the console and the dashboard
// show.
package web
