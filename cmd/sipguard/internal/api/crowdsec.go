package api

import (
	"context"
	"net/http"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/crowdsec"
)

// CrowdSecBackend is what a Backend that links the box to CrowdSec
// serves: GET /v1/crowdsec. A Backend without it answers 404 there.
type CrowdSecBackend interface {
	// CrowdSec reports the bouncer and the agent: state, decisions in
	// force, alerts sent and queued, last error.
	CrowdSec(context.Context) (crowdsec.Status, error)
}

// handleCrowdSec serves GET /v1/crowdsec from b, if it links to CrowdSec.
func handleCrowdSec(mux *http.ServeMux, b Backend) {
	cs, ok := b.(CrowdSecBackend)
	if !ok {
		return
	}
	mux.HandleFunc("GET /v1/crowdsec", func(w http.ResponseWriter, r *http.Request) {
		st, err := cs.CrowdSec(r.Context())
		reply(w, st, err)
	})
}

// CrowdSec asks for the state of the box's link to CrowdSec.
func (c Client) CrowdSec(ctx context.Context) (crowdsec.Status, error) {
	var st crowdsec.Status
	err := c.do(ctx, http.MethodGet, "/v1/crowdsec", nil, &st)
	return st, err
}
