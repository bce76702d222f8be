package proxy

import (
	"net"
	"sync"
	"sync/atomic"
)

// liveStreams is the bookkeeping of the streams in flight: how many, which
// (for the drain event, and to close what the drain deadline cannot end),
// and a wait for all of them. A stream joins in newStream and leaves in
// release, once.
type liveStreams struct {
	active   atomic.Int64
	inflight sync.WaitGroup
	mu       sync.Mutex
	set      map[*stream]struct{}
}

func (l *liveStreams) add(s *stream) {
	l.active.Add(1)
	l.inflight.Add(1)
	l.mu.Lock()
	if l.set == nil {
		l.set = map[*stream]struct{}{}
	}
	l.set[s] = struct{}{}
	l.mu.Unlock()
}

func (l *liveStreams) remove(s *stream) {
	l.mu.Lock()
	delete(l.set, s)
	l.mu.Unlock()
	l.active.Add(-1)
	l.inflight.Done()
}

// count is the number of streams in flight.
func (l *liveStreams) count() int64 { return l.active.Load() }

// wait returns when every stream has left.
func (l *liveStreams) wait() { l.inflight.Wait() }

// each calls f for every live stream, under the lock: f must not block.
func (l *liveStreams) each(f func(*stream)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for s := range l.set {
		f(s)
	}
}

// conns returns the client connections of the live streams.
func (l *liveStreams) conns() []net.Conn {
	var cs []net.Conn
	l.each(func(s *stream) { cs = append(cs, s.conn) })
	return cs
}
