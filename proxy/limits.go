package proxy

import (
	"context"
	"sync"
	"time"
)

// limiter bounds concurrent streams: in all, per client, and towards the
// upstream. The first two refuse at once (503 and Retry-After: the client
// should go elsewhere or come back); the upstream bound queues for a while,
// because the node itself only runs 64 producers and makes the rest wait.
type limiter struct {
	maxTotal, maxPerClient int
	upstream               chan struct{} // a slot per concurrent upstream stream
	queueTimeout           time.Duration

	mu       sync.Mutex
	total    int
	byClient map[string]int
}

func newLimiter(cfg Config) *limiter {
	return &limiter{
		maxTotal:     cfg.MaxStreams,
		maxPerClient: cfg.MaxStreamsPerClient,
		upstream:     make(chan struct{}, cfg.MaxUpstreamStreams),
		queueTimeout: cfg.UpstreamQueueTimeout,
		byClient:     map[string]int{},
	}
}

// admit takes a stream slot for client; it reports false when the global or
// the client's limit is reached.
func (l *limiter) admit(client string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.maxTotal || l.byClient[client] >= l.maxPerClient {
		return false
	}
	l.total++
	l.byClient[client]++
	return true
}

// leave returns client's stream slot.
func (l *limiter) leave(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.byClient[client]--; l.byClient[client] <= 0 {
		delete(l.byClient, client)
	}
}

// acquireUpstream waits for an upstream slot, at most queueTimeout.
func (l *limiter) acquireUpstream(ctx context.Context) bool {
	select {
	case l.upstream <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(l.queueTimeout)
	defer t.Stop()
	select {
	case l.upstream <- struct{}{}:
		return true
	case <-ctx.Done():
	case <-t.C:
	}
	return false
}

func (l *limiter) releaseUpstream() { <-l.upstream }
