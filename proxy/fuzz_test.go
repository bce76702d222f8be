package proxy

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"

	"github.com/backseal/backseal/framing"
	"github.com/backseal/backseal/telemetry"
	"github.com/backseal/backseal/upstream"
)

// FuzzUpstreamBody feeds arbitrary upstream bodies, cut into arbitrary
// reads, through the stream's validation and checks its one promise: it
// calls a body complete only when the body is exactly `want` whole records,
// and what it forwards is always a prefix of what the upstream sent.
func FuzzUpstreamBody(f *testing.F) {
	rec := func(b []byte, n int) []byte {
		b = binary.BigEndian.AppendUint32(b, uint32(n))
		return append(b, bytes.Repeat([]byte{7}, n)...)
	}
	f.Add(rec(rec(nil, 3), 0), uint8(2), uint16(2))
	f.Add(rec(nil, 5)[:6], uint8(1), uint16(1))
	f.Add([]byte{0xff, 0xff, 0xff, 0xf0, 1, 2}, uint8(3), uint16(1))
	f.Add(append(rec(nil, 3), 0xff, 0xff, 0xff, 0xf0, 1), uint8(8), uint16(2)) // the huge prefix across two reads
	f.Add(rec(rec(rec(nil, 1), 2), 3), uint8(4), uint16(2))
	f.Fuzz(func(t *testing.T, body []byte, split uint8, want uint16) {
		p := &Proxy{cfg: DefaultConfig(), tel: telemetry.Disabled()}
		p.cfg.MaxRecordSize = 1 << 12
		req := upstream.Request{Endpoint: upstream.Transactions, Args: [3]uint64{0, uint64(want)}}
		s := &stream{
			p:       p,
			ctx:     context.Background(),
			req:     req,
			scanner: upstream.NewRecordScanner(p.cfg.MaxRecordSize),
			counts:  &countLookup{req: req, done: make(chan struct{}), db: upstream.DBStateValue{Epoch: 1, CommittedVersion: 1 << 40}, haveDB: true},
		}
		close(s.counts.done)
		s.digest.Reset()
		s.overlap.reset()
		var out bytes.Buffer
		step := int(split)%9 + 1
		var failure *framing.StreamError
		buf := make([]byte, readOffset+step+framing.CheckSize)
		for i := 0; i < len(body) && failure == nil; i += step {
			n := copy(buf[readOffset:readOffset+step], body[i:])
			if err := s.forward(buf, readOffset, readOffset+n, fasthttpSink{w: &out}); err != nil {
				failure = classify(err)
			}
		}
		if failure == nil {
			failure = s.checkComplete()
		}
		if !bytes.HasPrefix(body, out.Bytes()) {
			t.Fatalf("forwarded bytes are not a prefix of the upstream body")
		}
		if uint64(out.Len()) != s.sent {
			t.Fatalf("sent %d, forwarded %d", s.sent, out.Len())
		}
		ref := upstream.NewRecordScanner(p.cfg.MaxRecordSize)
		_, refErr := ref.Write(body)
		complete := refErr == nil && ref.AtBoundary() && ref.Records() == uint64(want)
		if (failure == nil) != complete {
			t.Fatalf("outcome %v, but the body complete = %v (%d records, boundary %v, err %v)", failure, complete, ref.Records(), ref.AtBoundary(), refErr)
		}
		if failure != nil && failure.Code == framing.CodeRecordTooLarge {
			// The refused record's prefix never reaches the client, however the reads cut it.
			got := upstream.NewRecordScanner(p.cfg.MaxRecordSize)
			if _, err := got.Write(out.Bytes()); err != nil || !got.AtBoundary() || got.Records() != s.scanner.Records() {
				t.Fatalf("record too large: forwarded %d bytes, not the %d whole records counted", out.Len(), s.scanner.Records())
			}
		}
		if failure == nil && !bytes.Equal(out.Bytes(), body) {
			t.Fatal("complete, yet the forwarded bytes differ from the body")
		}
	})
}
