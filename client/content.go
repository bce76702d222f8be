package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/backseal/backseal/aptos/ledger"
	"github.com/backseal/backseal/content"
	"github.com/backseal/backseal/framing"
	"github.com/backseal/backseal/upstream"
)

// sidecarSource fetches proofs from the sidecar a stream came from: the
// same scheme, host and credentials, the legacy paths, plain (not framed).
type sidecarSource struct {
	c    *Client
	base url.URL
}

func (s sidecarSource) Fetch(ctx context.Context, req upstream.Request) ([]byte, error) {
	if d := s.c.stallTimeout(); d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d) // a proof is small: all of it within one stall
		defer cancel()
	}
	u := s.base
	u.Path, u.RawQuery = req.Path(), ""
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	s.c.setHeaders(hr)
	resp, err := s.c.httpClient().Do(hr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d", req.Path(), resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, upstream.MaxProofBody+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", req.Path(), err)
	}
	if len(b) > upstream.MaxProofBody {
		return nil, fmt.Errorf("GET %s: longer than %d bytes", req.Path(), upstream.MaxProofBody)
	}
	return b, nil
}

// contentCheck verifies a fetched stream's content on the client's side,
// independently of the sidecar.
func (c *Client) contentCheck(ctx context.Context, rawURL, path string) (*content.Stream, error) {
	if !c.VerifyContent {
		return nil, nil
	}
	req, err := upstream.ParsePath(path)
	if err != nil || !req.Endpoint.Streaming() {
		return nil, nil // small values carry no records to check
	}
	base, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	var wp *ledger.Waypoint
	if c.TrustedWaypoint != "" {
		w, err := ledger.ParseWaypoint(c.TrustedWaypoint)
		if err != nil {
			return nil, fmt.Errorf("client: %w: trusted waypoint: %w", ErrInvalidURL, err)
		}
		wp = &w
	}
	src := sidecarSource{c: c, base: *base}
	return content.New(ctx, req, src, content.NewTrust(wp, src), maxVerifiedRecord)
}

// maxVerifiedRecord is the largest record the client assembles to check:
// the sidecar's default max_record_size.
const maxVerifiedRecord = 64 << 20

// endRoot is the content root the sidecar vouched for in the end frame, if any.
func endRoot(s framing.Summary) string {
	for _, m := range s.Meta {
		if m.Key == "content-root" {
			return m.Value
		}
	}
	return ""
}
