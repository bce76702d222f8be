package sim

import (
	"encoding/binary"
	"net"
	"slices"
	"time"

	"github.com/backseal/backseal/upstream"
)

// A stream is two goroutines, as in the node: a producer (BytesSender on a
// blocking thread) appends records to a buffer and hands each full batch to a
// bounded queue; the connection goroutine (hyper) writes each batch as one
// chunk, coalescing the batches that are ready into one write. Control items
// travel through the same queue, so a fault takes effect exactly after the
// batches queued before it.

type ctl uint8

const (
	ctlData     ctl = iota // a batch
	ctlEnd                 // clean end: the terminating chunk (or close on HTTP/1.0)
	ctlAbort               // cut without the terminating chunk
	ctlReset               // cut with a TCP RST
	ctlRestart             // cut every connection and restart the listener for d
	ctlStall               // write nothing for d
	ctlSlow                // from now on write at rate bytes/s
	ctlBadChunk            // a malformed chunk-size line, then cut
)

type item struct {
	ctl     ctl
	buf     *[]byte // ctlData: the batch; the receiver owns it
	records int     // ctlData: records that end in this batch
	d       time.Duration
	rate    int64
}

type stream struct {
	queue chan item
	done  chan struct{} // closed when the writer stops reading the queue
}

// stream answers a streaming request: 200 and headers at once, then the body.
func (s *Server) stream(c *conn, r upstream.Request, faults []appliedFault, http10, kaHeader, keep bool) bool {
	s.stats.response(200)
	s.stats.streams.Add(1)
	s.stats.streamsActive.Add(1)
	defer s.stats.streamsActive.Add(-1)
	if _, err := c.nc.Write(appendHead(nil, http10, 200, "", kaHeader, -1)); err != nil {
		return false
	}
	st := &stream{queue: make(chan item, s.cfg.QueueBatches), done: make(chan struct{})}
	s.wg.Add(1)
	chain := s.Chain() // the versions the stream sees are those of its start
	go s.produce(st, chain, chain.plan(r), faults)
	clean := s.writeStream(c, st, !http10)
	return clean && keep && !http10 // HTTP/1.0 bodies end with the connection
}

// produce runs a stream's producer once it holds a producer slot.
func (s *Server) produce(st *stream, chain *Chain, p plan, faults []appliedFault) {
	defer s.wg.Done()
	s.stats.producersWaiting.Add(1)
	select {
	case s.slots <- struct{}{}:
		s.stats.producersWaiting.Add(-1)
	case <-st.done:
		s.stats.producersWaiting.Add(-1)
		return
	}
	s.stats.producersRunning.Add(1)
	defer func() {
		<-s.slots
		s.stats.producersRunning.Add(-1)
	}()
	pr := producer{s: s, chain: chain, st: st, batch: s.cfg.BatchSize}
	pr.run(p, faults)
	if pr.buf != nil {
		s.putBuf(pr.buf)
	}
}

type producer struct {
	s       *Server
	chain   *Chain
	st      *stream
	batch   int
	buf     *[]byte // the partial batch, nil when empty
	records int     // records that end in buf
	scratch []byte  // a record's payload, made before it is framed (genuine mode, content faults)
}

func (pr *producer) run(p plan, faults []appliedFault) {
	if p.abort {
		pr.send(item{ctl: ctlAbort})
		return
	}
	// Faults that fire inside the stream, by After; of the terminal ones only
	// the first can fire.
	var markers []appliedFault
	var term *appliedFault
	var excess *appliedFault
	var mutators []appliedFault // content faults, by After; the first at an After wins
	for i := range faults {
		f := &faults[i]
		switch {
		case f.After >= p.n && f.Kind.mutation() != mutNone: // no record to alter
		case f.Kind.mutation() != mutNone:
			mutators = append(mutators, *f)
		case f.After > p.n && f.Kind != Excess:
		case f.Kind == Excess:
			if excess == nil {
				excess = f
			}
		case f.Kind.terminal():
			if term == nil || f.After < term.After {
				term = f
			}
		default:
			markers = append(markers, *f)
		}
	}
	slices.SortStableFunc(markers, func(a, b appliedFault) int { return cmpU64(a.After, b.After) })
	slices.SortStableFunc(mutators, func(a, b appliedFault) int { return cmpU64(a.After, b.After) })

	mi, ui := 0, 0
	for k := uint64(0); ; k++ {
		for ; mi < len(markers) && markers[mi].After == k; mi++ {
			f := markers[mi]
			if !pr.flush() {
				return
			}
			pr.s.fired(f)
			it := item{ctl: ctlStall, d: f.Stall}
			if f.Kind == Slow {
				it = item{ctl: ctlSlow, rate: f.Rate}
			}
			if !pr.send(it) {
				return
			}
		}
		if term != nil && term.After == k {
			pr.terminate(*term, p, k)
			return
		}
		if k == p.n {
			break
		}
		m := mutNone
		for ; ui < len(mutators) && mutators[ui].After == k; ui++ {
			if m == mutNone {
				m = mutators[ui].Kind.mutation()
				pr.s.fired(mutators[ui])
			}
		}
		if !pr.append(p.kind, p.version, p.first+k, m) {
			return
		}
	}
	if excess != nil {
		pr.s.fired(*excess)
		if !pr.append(p.kind, p.version, p.first+p.n, mutNone) {
			return
		}
	}
	if pr.flush() { // BytesSender.finish
		pr.send(item{ctl: ctlEnd})
	}
}

// terminate ends the stream with a terminal fault after k records.
func (pr *producer) terminate(f appliedFault, p plan, k uint64) {
	if f.Kind != HTTP10 { // counted when its head was written
		pr.s.fired(f)
	}
	switch f.Kind {
	case HTTP10:
		pr.discard() // cut as Abort: on a close-delimited body, a clean-looking end
		pr.send(item{ctl: ctlAbort})
	case HugePrefix:
		pr.ensureBuf()
		*pr.buf = binary.BigEndian.AppendUint32(*pr.buf, HugePrefixLength)
		*pr.buf = pr.chain.payload(*pr.buf, p.kind, p.version, p.first+k, mutNone)
		if pr.flush() {
			pr.send(item{ctl: ctlEnd})
		}
	case BadChunk:
		if pr.flush() {
			pr.send(item{ctl: ctlBadChunk})
		}
	case Drop, Abort, Reset:
		pr.discard() // the partial batch dies with the producer
		c := map[FaultKind]ctl{Drop: ctlEnd, Abort: ctlAbort, Reset: ctlReset}[f.Kind]
		pr.send(item{ctl: c})
	case PrefixCut:
		pr.scratch = pr.chain.payload(pr.scratch[:0], p.kind, p.version, p.first+k, mutNone)
		size := len(pr.scratch)
		pr.ensureBuf()
		*pr.buf = binary.BigEndian.AppendUint32(*pr.buf, uint32(size))
		if pr.flush() {
			pr.send(item{ctl: ctlEnd})
		}
	case Restart:
		if pr.flush() {
			pr.send(item{ctl: ctlRestart, d: f.Restart})
		}
	}
}

func (pr *producer) ensureBuf() {
	if pr.buf == nil {
		pr.buf = pr.s.getBuf()
	}
}

// append adds one record, altered by m, flushing when the batch reaches its target.
func (pr *producer) append(k recordKind, a, b uint64, m mutation) bool {
	pr.ensureBuf()
	if pr.chain.gen != nil || m != mutNone {
		pr.scratch = pr.chain.payload(pr.scratch[:0], k, a, b, m)
		return pr.appendPayload(pr.scratch)
	}
	h, size := pr.chain.record(k, a, b)
	if !pr.appendPrefix(size) {
		return false
	}
	*pr.buf = pr.chain.appendPayload(*pr.buf, h, size) // straight into the batch: no copy
	return pr.endRecord()
}

// appendPayload adds one record whose payload is already made.
func (pr *producer) appendPayload(payload []byte) bool {
	if !pr.appendPrefix(len(payload)) {
		return false
	}
	*pr.buf = append(*pr.buf, payload...)
	return pr.endRecord()
}

// appendPrefix starts a record of size bytes. It returns false once the writer is gone.
func (pr *producer) appendPrefix(size int) bool {
	*pr.buf = binary.BigEndian.AppendUint32(*pr.buf, uint32(size))
	if pr.s.cfg.PrefixSplit && len(*pr.buf) >= pr.batch {
		// Older nodes sent the prefix and the payload as two send_bytes calls.
		if !pr.flush() {
			return false
		}
		pr.ensureBuf()
	}
	return true
}

// endRecord counts a record appended and flushes a full batch.
func (pr *producer) endRecord() bool {
	pr.records++
	if len(*pr.buf) >= pr.batch {
		return pr.flush()
	}
	return true
}

// flush queues the partial batch, if any. It returns false once the writer is gone.
func (pr *producer) flush() bool {
	if pr.buf == nil || len(*pr.buf) == 0 {
		return true
	}
	it := item{ctl: ctlData, buf: pr.buf, records: pr.records}
	n := len(*pr.buf)
	pr.buf, pr.records = nil, 0
	if !pr.send(it) {
		pr.s.putBuf(it.buf)
		return false
	}
	pr.s.stats.bytesProduced.Add(uint64(n))
	return true
}

func (pr *producer) discard() {
	if pr.buf != nil {
		pr.s.putBuf(pr.buf)
		pr.buf, pr.records = nil, 0
	}
}

// send blocks until the writer takes the item (back-pressure) or goes away.
func (pr *producer) send(it item) bool {
	select {
	case <-pr.st.done:
		return false
	default:
	}
	select {
	case pr.st.queue <- it:
		return true
	case <-pr.st.done:
		return false
	}
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Coalescing limits for one write: hyper also gathers ready chunks into one
// vectored write.
const (
	maxWriteBatches = 64
	maxWriteBytes   = 1 << 20
)

// streamWriter writes batches as chunks.
type streamWriter struct {
	s       *Server
	c       *conn
	chunked bool
	vec     [][]byte
	hdrs    []byte
	held    []*[]byte // batches in vec, returned to the pool once written
	bytes   int       // payload bytes in vec
	records int
	// Slow: pacing since rateStart.
	rate      int64
	rateStart time.Time
	rateBytes int64
}

// writeStream writes the stream's queue to the connection until the stream
// ends. It reports a clean end (the connection may carry another request).
func (s *Server) writeStream(c *conn, st *stream, chunked bool) bool {
	defer close(st.done)
	w := &streamWriter{s: s, c: c, chunked: chunked,
		vec:  make([][]byte, 0, 3*maxWriteBatches+1),
		hdrs: make([]byte, 0, 20*maxWriteBatches)}
	defer w.release()
	for {
		var it item
		select {
		case it = <-st.queue:
		default:
			// Nothing ready: write what we have, then wait.
			if !w.flush() {
				return false
			}
			select {
			case it = <-st.queue:
			case <-c.kill:
				return false
			}
		}
		switch it.ctl {
		case ctlData:
			w.add(it)
			if len(w.held) >= maxWriteBatches || w.bytes >= maxWriteBytes {
				if !w.flush() {
					return false
				}
			}
		case ctlEnd:
			if chunked {
				w.vec = append(w.vec, lastChunk)
			}
			return w.flush() && chunked
		case ctlAbort:
			w.flush()
			return false
		case ctlBadChunk:
			if chunked {
				w.vec = append(w.vec, badChunkLine)
			}
			w.flush()
			return false
		case ctlReset:
			w.flush()
			c.reset()
			return false
		case ctlRestart:
			w.flush()
			s.restart(it.d)
			return false
		case ctlStall:
			if !w.flush() || !c.pause(it.d, s.closing) {
				return false
			}
		case ctlSlow:
			if !w.flush() {
				return false
			}
			w.rate, w.rateStart, w.rateBytes = it.rate, time.Now(), 0
		}
	}
}

var (
	lastChunk    = []byte("0\r\n\r\n")
	badChunkLine = []byte(BadChunkLine)
	crlf         = []byte("\r\n")
)

func (w *streamWriter) add(it item) {
	data := *it.buf
	if w.chunked {
		start := len(w.hdrs)
		w.hdrs = appendHexUpper(w.hdrs, uint64(len(data)))
		w.hdrs = append(w.hdrs, '\r', '\n')
		w.vec = append(w.vec, w.hdrs[start:len(w.hdrs):len(w.hdrs)], data, crlf)
	} else {
		w.vec = append(w.vec, data)
	}
	w.held = append(w.held, it.buf)
	w.bytes += len(data)
	w.records += it.records
}

// flush writes the gathered chunks in one vectored write (paced when slow).
func (w *streamWriter) flush() bool {
	if len(w.vec) == 0 {
		return true
	}
	var err error
	if w.rate > 0 {
		err = w.writePaced()
	} else {
		bufs := net.Buffers(w.vec)
		_, err = bufs.WriteTo(w.c.nc)
	}
	if err == nil {
		w.s.stats.recordsSent.Add(uint64(w.records))
		w.s.stats.bytesSent.Add(uint64(w.bytes))
	}
	w.release()
	return err == nil
}

// release returns the held batches to the pool and empties the write.
func (w *streamWriter) release() {
	for _, b := range w.held {
		w.s.putBuf(b)
	}
	clear(w.vec)
	w.vec, w.hdrs, w.held = w.vec[:0], w.hdrs[:0], w.held[:0]
	w.bytes, w.records = 0, 0
}

// writePaced writes vec in small pieces, sleeping to keep to the rate.
func (w *streamWriter) writePaced() error {
	piece := int(min(max(w.rate/20, 1), 64<<10))
	for _, b := range w.vec {
		for len(b) > 0 {
			n := min(len(b), piece)
			if _, err := w.c.nc.Write(b[:n]); err != nil {
				return err
			}
			b = b[n:]
			w.rateBytes += int64(n)
			due := w.rateStart.Add(time.Duration(float64(w.rateBytes) / float64(w.rate) * float64(time.Second)))
			if wait := time.Until(due); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-w.c.kill:
					t.Stop()
					return net.ErrClosed
				case <-w.s.closing:
					t.Stop()
					return net.ErrClosed
				}
			}
		}
	}
	return nil
}

// appendHexUpper appends v in uppercase hex, as hyper writes chunk sizes.
func appendHexUpper(b []byte, v uint64) []byte {
	const digits = "0123456789ABCDEF"
	var tmp [16]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = digits[v&0xf]
		v >>= 4
		if v == 0 {
			break
		}
	}
	return append(b, tmp[i:]...)
}
