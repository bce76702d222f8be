package proxy

import (
	"context"
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
			c.db, c.err = p.up.DBState(spanCtx)
			endAttempt(span, 0, c.err)
			p.tel.Metrics.UpstreamAttempt(endpoint, "count", c.err)
			p.tel.Metrics.CountLookup("db_state", false)
		}
		if needItems && c.err == nil {
			countReq := upstream.Request{Endpoint: upstream.StateItemCount, Args: [3]uint64{req.Args[0]}}
			spanCtx, span := p.startAttempt(ctx, "count", countReq)
			var hit bool
			c.items, hit, c.err = p.up.StateItemCount(spanCtx, req.Args[0])
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
