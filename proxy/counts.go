package proxy

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/backseal/backseal/upstream"
)

// countLookup fetches, beside the stream, what deciding completeness needs:
// /db_state for transactions and epoch endings, /state_item_count for
// snapshots. It never delays the first byte, and it keeps asking while the
// stream runs: a node too slow to answer at the open has the whole stream,
// and count_timeout after it, to answer.
//
// (E, C) only grow, and a stream that straddles C may legitimately end
// short only up to the C of its end, not of its start: refresh re-reads
// /db_state where the stale value would let a producer that died past the
// old C pass as a clean end, and before a resume (Continuation needs C).
type countLookup struct {
	p                 *Proxy
	req               upstream.Request
	needDB, needItems bool

	done   chan struct{} // closed when the first lookup has its answer, or gave up
	mu     sync.Mutex
	db     upstream.DBStateValue
	haveDB bool
	// items is /state_item_count for the request's version: immutable.
	items uint64
	err   error
}

func (p *Proxy) lookupCounts(ctx context.Context, req upstream.Request) *countLookup {
	c := &countLookup{
		p: p, req: req, done: make(chan struct{}),
		needDB: (req.Endpoint == upstream.Transactions && req.Args[1] > 0) ||
			(req.Endpoint == upstream.EpochEndingLedgerInfos && req.Args[0] < req.Args[1]),
		needItems: req.NeedsItemCount(),
	}
	if !c.needDB && !c.needItems {
		close(c.done)
		return c
	}
	go func() {
		defer close(c.done)
		var err error
		if c.needDB {
			var db upstream.DBStateValue
			db, err = c.fetchDB(ctx)
			c.merge(db, err)
		}
		if c.needItems && err == nil {
			err = c.fetchItems(ctx)
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
		}
	}()
	return c
}

// fetchDB asks /db_state until the node answers or ctx ends.
func (c *countLookup) fetchDB(ctx context.Context) (db upstream.DBStateValue, err error) {
	spanCtx, span := c.p.startAttempt(ctx, "count", upstream.Request{Endpoint: upstream.DBState})
	err = c.p.untilAnswered(spanCtx, func() (err error) {
		db, err = c.p.up.DBState(spanCtx)
		return err
	})
	endAttempt(span, 0, err)
	c.p.tel.Metrics.UpstreamAttempt(c.req.Endpoint.String(), "count", err)
	c.p.tel.Metrics.CountLookup("db_state", false)
	return db, err
}

func (c *countLookup) fetchItems(ctx context.Context) error {
	countReq := upstream.Request{Endpoint: upstream.StateItemCount, Args: [3]uint64{c.req.Args[0]}}
	spanCtx, span := c.p.startAttempt(ctx, "count", countReq)
	var hit bool
	var items uint64
	err := c.p.untilAnswered(spanCtx, func() (err error) {
		items, hit, err = c.p.up.StateItemCount(spanCtx, c.req.Args[0])
		return err
	})
	span.SetAttributes(attribute.Bool("backseal.cache_hit", hit))
	endAttempt(span, 0, err)
	if !hit {
		c.p.tel.Metrics.UpstreamAttempt(c.req.Endpoint.String(), "count", err)
	}
	c.p.tel.Metrics.CountLookup("state_item_count", hit)
	c.mu.Lock()
	c.items = items
	c.mu.Unlock()
	return err
}

// merge keeps the newest (E, C) seen: both only grow, so an answer that
// arrives late or out of order never moves them back.
func (c *countLookup) merge(db upstream.DBStateValue, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		if !c.haveDB {
			c.err = err
		}
		return
	}
	c.haveDB = true
	c.db.Epoch = max(c.db.Epoch, db.Epoch)
	c.db.CommittedVersion = max(c.db.CommittedVersion, db.CommittedVersion)
	c.err = nil
}

// untilAnswered calls lookup until the node answers it or ctx ends. A node
// that is down (restarting, say) when the stream opens may be back before
// the stream ends, and nothing needs the count sooner. Its waits are the
// one backoff every retry uses.
func (p *Proxy) untilAnswered(ctx context.Context, lookup func() error) error {
	for attempt := 0; ; attempt++ {
		err := lookup()
		if !errors.Is(err, upstream.ErrUnavailable) {
			return err
		}
		select {
		case <-time.After(upstream.Backoff(attempt, p.cfg.ResumeBackoff, time.Second)):
		case <-ctx.Done():
			return err
		}
	}
}

// wait returns the lookup's results, waiting at most timeout for the first.
func (c *countLookup) wait(ctx context.Context, timeout time.Duration) (upstream.DBStateValue, uint64, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-c.done:
	case <-ctx.Done():
		return upstream.DBStateValue{}, 0, context.Cause(ctx)
	case <-t.C:
		return upstream.DBStateValue{}, 0, errors.New("no answer within count_timeout")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.db, c.items, c.err
}

// refresh re-reads /db_state and returns the counts the newest answer
// gives, all within timeout (the first lookup's wait included). Where the
// node cannot be asked, the stale counts come back with the error.
func (c *countLookup) refresh(ctx context.Context, timeout time.Duration) (upstream.DBStateValue, uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, _, err := c.wait(ctx, timeout); err != nil && !errors.Is(err, upstream.ErrUnavailable) {
		return upstream.DBStateValue{}, 0, err
	}
	if c.needDB {
		db, err := c.fetchDB(ctx)
		c.merge(db, err)
		if err != nil {
			c.mu.Lock()
			defer c.mu.Unlock()
			return c.db, c.items, err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.db, c.items, c.err
}

// bounds returns how many records a complete response to the request has,
// waiting at most timeout for the lookup.
func (c *countLookup) bounds(ctx context.Context, timeout time.Duration) (upstream.Bounds, error) {
	db, items, err := c.wait(ctx, timeout)
	if err != nil {
		return upstream.Bounds{}, err
	}
	return c.req.ExpectedRecords(db, items), nil
}

// boundsNow returns the bounds if the lookup has already finished.
func (c *countLookup) boundsNow() (upstream.Bounds, bool) {
	select {
	case <-c.done:
	default:
		return upstream.Bounds{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return upstream.Bounds{}, false
	}
	return c.req.ExpectedRecords(c.db, c.items), true
}
