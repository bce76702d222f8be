package upstream

import (
	"errors"
	"fmt"
)

// PrefixSize is the size of a record's length prefix: a big-endian u32.
const PrefixSize = 4

// ErrRecordTooLarge is returned by RecordScanner.Write when a length prefix
// claims more bytes than the scanner's limit. It is detected at the prefix,
// before any of the record's payload is seen.
var ErrRecordTooLarge = errors.New("upstream: record too large")

// RecordScanner follows the legacy service's stream framing: each record is a
// 4-byte big-endian length followed by that many bytes of BCS. It counts
// complete records and knows whether the bytes seen so far end on a record
// boundary. It never buffers records: memory is a few words whatever the
// stream or record size.
//
// The zero value is not usable; call NewRecordScanner.
type RecordScanner struct {
	maxRecord uint32
	records   uint64
	offset    uint64 // bytes scanned
	boundary  uint64 // offset just past the last complete record
	remaining uint64 // payload bytes still owed by the current record
	prefix    uint32 // the length prefix being assembled
	prefixLen int    // bytes of the prefix seen; 0 when not inside a prefix
}

// NewRecordScanner returns a scanner that rejects records longer than maxRecord
// bytes (payload, excluding the prefix).
func NewRecordScanner(maxRecord uint32) *RecordScanner {
	return &RecordScanner{maxRecord: maxRecord}
}

// Write scans p. It always consumes all of p unless a record is too large, in
// which case it returns the number of bytes up to and including the offending
// prefix and an error wrapping ErrRecordTooLarge. The scanner must not be
// used after an error.
func (s *RecordScanner) Write(p []byte) (int, error) {
	i := 0
	for i < len(p) {
		if s.remaining > 0 {
			n := uint64(len(p) - i)
			if n > s.remaining {
				n = s.remaining
			}
			s.remaining -= n
			i += int(n)
			if s.remaining == 0 {
				s.completeRecord(uint64(i))
			}
			continue
		}
		// Inside or at the start of a length prefix.
		s.prefix = s.prefix<<8 | uint32(p[i])
		s.prefixLen++
		i++
		if s.prefixLen < PrefixSize {
			continue
		}
		size := s.prefix
		s.prefix, s.prefixLen = 0, 0
		if size > s.maxRecord {
			s.offset += uint64(i)
			return i, fmt.Errorf("%w: record %d claims %d bytes, limit %d", ErrRecordTooLarge, s.records, size, s.maxRecord)
		}
		if size == 0 {
			s.completeRecord(uint64(i))
			continue
		}
		s.remaining = uint64(size)
	}
	s.offset += uint64(len(p))
	return len(p), nil
}

// completeRecord notes a record ending at byte i of the current Write.
func (s *RecordScanner) completeRecord(i uint64) {
	s.records++
	s.boundary = s.offset + i
}

// Records returns the number of complete records scanned.
func (s *RecordScanner) Records() uint64 { return s.records }

// Offset returns the number of bytes scanned.
func (s *RecordScanner) Offset() uint64 { return s.offset }

// Boundary returns the offset just past the last complete record: the point a
// resumed stream continues from.
func (s *RecordScanner) Boundary() uint64 { return s.boundary }

// AtBoundary reports whether the bytes scanned end exactly after a complete
// record (or are empty), that is, whether a stream ending here is well formed.
func (s *RecordScanner) AtBoundary() bool { return s.offset == s.boundary }

// InPrefix reports whether the scanned bytes end inside a length prefix.
func (s *RecordScanner) InPrefix() bool { return s.prefixLen > 0 }
