package proxy

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/backseal/backseal/upstream"
)

// countLookup fetches, beside the stream, what deciding completeness needs:
// /db_state for transactions and epoch endings, /state_item_count for
// snapshots. It never delays the first byte.
type countLookup struct {
	done  chan struct{}
	db    upstream.DBStateValue
	items uint64
	err   error
}

func (p *Proxy) lookupCounts(ctx context.Context, req upstream.Request) *countLookup {
	c := &countLookup{done: make(chan struct{})}
	needDB := (req.Endpoint == upstream.Transactions && req.Args[1] > 0) ||
		(req.Endpoint == upstream.EpochEndingLedgerInfos && req.Args[0] < req.Args[1])
	needItems := req.NeedsItemCount()
	if !needDB && !needItems {
		close(c.done)
		return c
	}
	go func() {
		defer close(c.done)
		ctx, cancel := context.WithTimeout(ctx, p.cfg.CountTimeout)
		defer cancel()
		endpoint := req.Endpoint.String()
		if needDB {
			spanCtx, span := p.startAttempt(ctx, "count", upstream.Request{Endpoint: upstream.DBState})
			c.err = p.untilAnswered(spanCtx, func() (err error) {
				c.db, err = p.up.DBState(spanCtx)
				return err
			})
			endAttempt(span, 0, c.err)
			p.tel.Metrics.UpstreamAttempt(endpoint, "count", c.err)
			p.tel.Metrics.CountLookup("db_state", false)
		}
		if needItems && c.err == nil {
			countReq := upstream.Request{Endpoint: upstream.StateItemCount, Args: [3]uint64{req.Args[0]}}
			spanCtx, span := p.startAttempt(ctx, "count", countReq)
			var hit bool
			c.err = p.untilAnswered(spanCtx, func() (err error) {
				c.items, hit, err = p.up.StateItemCount(spanCtx, req.Args[0])
				return err
			})
			span.SetAttributes(attribute.Bool("backseal.cache_hit", hit))
			endAttempt(span, 0, c.err)
			if !hit {
				p.tel.Metrics.UpstreamAttempt(endpoint, "count", c.err)
			}
			p.tel.Metrics.CountLookup("state_item_count", hit)
		}
	}()
	return c
}

// untilAnswered calls lookup until the node answers it or ctx ends. A node
// that is down (restarting, say) when the stream opens may be back before
// the stream ends, and nothing needs the count sooner.
func (p *Proxy) untilAnswered(ctx context.Context, lookup func() error) error {
	for wait := p.cfg.ResumeBackoff; ; wait = min(2*wait, time.Second) {
		err := lookup()
		if !errors.Is(err, upstream.ErrUnavailable) {
			return err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return err
		}
	}
}

// wait returns the lookup's results, waiting at most timeout.
func (c *countLookup) wait(ctx context.Context, timeout time.Duration) (upstream.DBStateValue, uint64, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-c.done:
		return c.db, c.items, c.err
	case <-ctx.Done():
		return upstream.DBStateValue{}, 0, context.Cause(ctx)
	case <-t.C:
		return upstream.DBStateValue{}, 0, context.DeadlineExceeded
	}
}

// bounds returns how many records a complete response to req has.
func (c *countLookup) bounds(ctx context.Context, req upstream.Request, timeout time.Duration) (upstream.Bounds, error) {
	db, items, err := c.wait(ctx, timeout)
	if err != nil {
		return upstream.Bounds{}, err
	}
	return req.ExpectedRecords(db, items), nil
}

// boundsNow returns the bounds if the lookup has already finished.
func (c *countLookup) boundsNow(req upstream.Request) (upstream.Bounds, bool) {
	select {
	case <-c.done:
		if c.err != nil {
			return upstream.Bounds{}, false
		}
		return req.ExpectedRecords(c.db, c.items), true
	default:
		return upstream.Bounds{}, false
	}
}
