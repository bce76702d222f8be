package proxy

import (
	"context"
	"time"

	"github.com/backseal/backseal/aptos/ledger"
	"github.com/backseal/backseal/content"
	"github.com/backseal/backseal/framing"
	"github.com/backseal/backseal/upstream"
)

// Trailers of a content-verified stream (verify_content), declared beside
// the others only then.
const (
	TrailerVerifiedRoot  = "Backseal-Verified-Root"
	TrailerVerifiedProof = "Backseal-Verified-Proof"
)

var verifiedTrailerNames = trailerNames + ", " + TrailerVerifiedRoot + ", " + TrailerVerifiedProof

// proofSource fetches the proofs content verification needs from the node,
// each within timeout (count_timeout): a stream waits for the first of
// them, and the client is silent meanwhile.
type proofSource struct {
	up      *upstream.Client
	timeout time.Duration
}

func (s proofSource) Fetch(ctx context.Context, req upstream.Request) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.up.Fetch(ctx, req, upstream.MaxProofBody)
}

// newTrust is the sidecar's one Trust, anchored at trusted_waypoint.
func newTrust(cfg Config, up *upstream.Client) *content.Trust {
	var wp *ledger.Waypoint
	if cfg.TrustedWaypoint != "" {
		w, _ := ledger.ParseWaypoint(cfg.TrustedWaypoint) // Validate parsed it
		wp = &w
	}
	return content.NewTrust(wp, proofSource{up, cfg.CountTimeout})
}

// startContent begins verifying a stream's content, where it is on.
func (s *stream) startContent() {
	if s.p.trust == nil || !s.req.Endpoint.Streaming() {
		return
	}
	c, err := content.New(s.ctx, s.req, proofSource{s.p.up, s.p.cfg.CountTimeout}, s.p.trust, s.p.cfg.MaxRecordSize)
	if err == nil {
		s.content = c
	}
}

// checkContent ends a stream that is complete by count: the range against
// the node's proofs, within count_timeout.
func (s *stream) checkContent() *framing.StreamError {
	if s.content == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.p.cfg.CountTimeout)
	defer cancel()
	v, err := s.content.Finish(ctx)
	if err != nil {
		return classify(err)
	}
	s.verified = &v
	return nil
}

// trailerList is the Trailer header value for the stream.
func (s *stream) trailerList() string {
	if s.content != nil {
		return verifiedTrailerNames
	}
	return trailerNames
}
