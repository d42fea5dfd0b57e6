// Package api is the daemon's local API: JSON over HTTP on a unix socket,
// the one way the command line (and later the dashboard) reads the box's
// state and changes it while the daemon runs.
//
// The daemon serves it with [Serve] (or [Handler]) on [DefaultSocket],
// which only root and the socket's group may open; there is no other
// authentication on the socket. The command line calls it with a
// [Client]. Each call is one request under /v1/: reads are GET, changes
// POST or DELETE, and bodies both ways are JSON (an update bundle is
// uploaded as it is, and a backup travels as its encrypted file both
// ways, its password in a header). The daemon's side is the [Backend]
// interface.
//
// From another machine, the same paths are reached over HTTPS with an API
// token: a Client with a [Remote]. The box's certificate is self-signed,
// so the client pins its SHA-256 fingerprint on first use (or takes it
// from the user) and refuses, before sending anything, a box that shows
// another.
//
// A refused request answers 400 with {"error": "..."}: the daemon's
// backend marks such errors with [ErrBadRequest], and nothing was
// changed. Any other failure answers 500 the same way. The client returns
// either as an error carrying the daemon's message, and [ErrNoDaemon]
// when nothing listens on the socket. A remote box's errors name the box
// and are never ErrNoDaemon: a command that falls back on the local
// kernel when no daemon runs must not do so for a box it cannot reach.
//
// The package is in four parts: types.go holds the wire types, the
// requests and responses as they travel; server.go the handler; client.go
// the client; remote.go the client's way to a box over HTTPS. The wire
// types are the API's own, not the state file's: the daemon converts its
// storage types (package store) to them, so the state file's layout can
// change without breaking the command line, scripts reading its --json
// output, or a dashboard. The package does not import package store (see
// deps_test.go).
package api
