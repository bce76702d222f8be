package content

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/backseal/backseal/framing"
)

// recorder is a checker that keeps the records it is given.
type recorder struct {
	got    [][]byte
	failAt int64 // record index to refuse; -1 none
}

func (r *recorder) record(_ context.Context, i uint64, payload []byte) error {
	if int64(i) == r.failAt {
		return mismatch(int64(i), "refused")
	}
	r.got = append(r.got, bytes.Clone(payload))
	return nil
}

func (r *recorder) finish(context.Context, uint64) (Verified, error) {
	return Verified{Proof: "recorded"}, nil
}

func framed(records ...[]byte) []byte {
	var b []byte
	for _, p := range records {
		b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	return b
}

// TestStreamSplitsRecordsAnywhere feeds the same records cut at every
// length from 1 byte up: the checker sees each whole record once, in order.
func TestStreamSplitsRecordsAnywhere(t *testing.T) {
	records := [][]byte{[]byte("first"), {}, bytes.Repeat([]byte{7}, 300), []byte("x"), {}}
	input := framed(records...)
	for step := 1; step <= len(input); step++ {
		rec := &recorder{failAt: -1}
		s := &Stream{ctx: context.Background(), chk: rec, maxRecord: 1 << 10}
		for off := 0; off < len(input); off += step {
			if err := s.Write(input[off:min(off+step, len(input))]); err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
		}
		v, err := s.Finish(context.Background())
		if err != nil || v.Records != uint64(len(records)) {
			t.Fatalf("step %d: Finish = %+v, %v", step, v, err)
		}
		if len(rec.got) != len(records) {
			t.Fatalf("step %d: %d records, want %d", step, len(rec.got), len(records))
		}
		for i := range records {
			if !bytes.Equal(rec.got[i], records[i]) {
				t.Fatalf("step %d: record %d = %q, want %q", step, i, rec.got[i], records[i])
			}
		}
	}
}

func TestStreamFailures(t *testing.T) {
	ctx := context.Background()
	t.Run("ends inside a record", func(t *testing.T) {
		s := &Stream{ctx: ctx, chk: &recorder{failAt: -1}, maxRecord: 1 << 10}
		in := framed([]byte("whole"), []byte("cut"))
		if err := s.Write(in[:len(in)-1]); err != nil {
			t.Fatal(err)
		}
		_, err := s.Finish(ctx)
		if framing.CodeOf(err) != framing.CodeIncompleteRecord {
			t.Fatalf("Finish = %v, want incomplete-record", err)
		}
	})
	t.Run("record over the limit", func(t *testing.T) {
		s := &Stream{ctx: ctx, chk: &recorder{failAt: -1}, maxRecord: 4}
		if err := s.Write(framed([]byte("12345"))); framing.CodeOf(err) != framing.CodeRecordTooLarge {
			t.Fatalf("Write = %v, want record-too-large", err)
		}
	})
	t.Run("checker refuses: sticky, with the index", func(t *testing.T) {
		rec := &recorder{failAt: 1}
		s := &Stream{ctx: ctx, chk: rec, maxRecord: 1 << 10}
		err := s.Write(framed([]byte("a"), []byte("b"), []byte("c")))
		var se *framing.StreamError
		if !errors.As(err, &se) || se.Code != framing.CodeContentMismatch || se.Message != "content: record 1: refused" {
			t.Fatalf("Write = %v", err)
		}
		if err2 := s.Write([]byte{0}); err2 != err {
			t.Fatalf("second Write = %v, want the same failure", err2)
		}
		if _, err3 := s.Finish(ctx); err3 != err {
			t.Fatalf("Finish = %v, want the same failure", err3)
		}
		if len(rec.got) != 1 || s.Records() != 1 {
			t.Fatalf("%d records checked, Records() = %d", len(rec.got), s.Records())
		}
	})
}

// FuzzStream: any bytes, cut anywhere, never panic, and the records the
// checker sees are those a direct parse finds.
func FuzzStream(f *testing.F) {
	f.Add(framed([]byte("abc"), nil, []byte("de")), uint8(1))
	f.Add([]byte{0, 0, 0}, uint8(2))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1}, uint8(3))
	f.Fuzz(func(t *testing.T, in []byte, step uint8) {
		st := int(step%16) + 1
		rec := &recorder{failAt: -1}
		s := &Stream{ctx: context.Background(), chk: rec, maxRecord: 64}
		var werr error
		for off := 0; off < len(in) && werr == nil; off += st {
			werr = s.Write(in[off:min(off+st, len(in))])
		}
		var want [][]byte
		rest := in
		for len(rest) >= 4 {
			n := binary.BigEndian.Uint32(rest)
			if n > 64 || uint64(len(rest)-4) < uint64(n) {
				break
			}
			want = append(want, rest[4:4+n])
			rest = rest[4+n:]
		}
		if len(rec.got) != len(want) {
			t.Fatalf("%d records, want %d (err %v)", len(rec.got), len(want), werr)
		}
		for i := range want {
			if !bytes.Equal(rec.got[i], want[i]) {
				t.Fatalf("record %d differs", i)
			}
		}
	})
}
