// Package dashboard serves the box's web pages: the overview, the bans,
// the allow and deny lists, the settings, the firmware, the API tokens and
// the backups.
//
// The pages are html/template, server-rendered, with their templates, one
// stylesheet and one small script embedded in the binary: nothing is
// fetched from elsewhere and there is no build step. Every page reads
// without JavaScript; the script only refreshes the overview's feed of
// bans and alerts. There is no inline script or style (the web server's
// Content-Security-Policy forbids them), and the layout stacks on a
// phone's screen, its tables scrolling sideways.
//
// The package does not authenticate: the web server mounts [New]'s
// handler for signed-in sessions and checks each form's CSRF field, which
// every form carries with the value [Options].CSRFToken gives. Changes go
// through the daemon's [Backend], the same the JSON API serves. Each
// action answers with a redirect to a page and a one-time flash message
// saying what happened (POST/redirect/GET); a refused one answers with its
// page again, status 400, the error next to its field, and nothing
// changed. Destructive actions (deleting entries, emptying a list,
// rebooting) take a confirmation page first.
package dashboard
