// Package framing is backseal's wire format (v1): a stream of checksummed,
// sequenced frames that ends with an in-band status, so a client can verify a
// backup stream end to end and learn whether it completed.
//
// The package holds the format and nothing else: no HTTP, no configuration.
// docs/FRAMING.md is the specification; the two are kept in step, and the
// golden vectors in testdata/ (regenerated with `go test ./framing -update`)
// appear in both.
//
// # Protocol flow
//
//	stream = MAGIC, header frame, data frame*, end frame, EOF
//
// All integers are big-endian. XXH64 is xxhash64 with seed 0.
//
// MAGIC is 8 bytes, 89 42 53 4C 0D 0A 1A 0A ("\x89BSL\r\n\x1a\n"), PNG-style:
// it catches 7-bit transports and line-ending rewriting.
//
// Every frame is a 16-byte frame header, the payload and an 8-byte check:
//
//	off  len  field
//	0    1    kind: 0x01 header, 0x02 data, 0x03 end (other: ErrMalformed)
//	1    1    flags: 0 (reserved; nonzero: ErrMalformed)
//	2    2    reserved: 0 (nonzero: ErrMalformed)
//	4    4    payload length L (u32); L > MaxPayload: ErrFrameTooLarge, before any payload is read
//	8    8    seq (u64): header 0, data 1, 2, 3..., end = last data seq + 1
//	16   L    payload
//	16+L 8    check (u64)
//
// The check chains every frame to the stream and to the frame before it:
//
//	check_n = XXH64(stream_id[16] || prev_check[8] || frame_header[16] || body_n)
//
// prev_check is the previous frame's check (all zero for the header frame).
// body_n is the payload for header and end frames; for data frames it is
// BE64(D_n), where D_n is the XXH64 of all data payload bytes of the stream so
// far, this frame's included. Each payload byte is hashed once, yet every check
// binds the stream id, the seq, the payload and everything before it.
//
// Header frame payload (kind 0x01, seq 0):
//
//	0   1   format version = 1 (other: ErrVersion)
//	1   16  stream id
//	17  2   metadata entry count M
//	then M entries:
//	        key length (u8, 1..255), key (ASCII [a-z0-9-]),
//	        value length (u16), value (UTF-8)
//	the payload ends exactly after the last entry
//
// Data frame payload (kind 0x02, seq 1, 2, ...): 1..MaxPayload opaque bytes.
//
// End frame payload (kind 0x03, 40+N bytes):
//
//	0   1   status code (Code; 0 ok)
//	1   1   reserved 0
//	2   2   message length N (u16, <= MaxMessage)
//	4   4   reserved 0
//	8   8   records: legacy records the sender saw (carried, not checked)
//	16  8   payload bytes: sum of data payload lengths
//	24  8   data frames: count
//	32  8   payload digest: XXH64 of the whole data payload
//	40  N   message (UTF-8)
//
// A future version keeps MAGIC, the frame header layout and the version byte
// at offset 0 of the header payload, so a v1 reader reports ErrVersion.
//
// The check guards against accidents (bit rot, truncating proxies, bugs), not
// adversaries: anyone can recompute an XXH64. Use TLS for the latter.
package framing

import "encoding/binary"

// Sizes and identifiers of format v1.
const (
	// Version is the format version in the header frame payload.
	Version = 1
	// MaxPayload is the largest payload of any frame (1 MiB).
	MaxPayload = 1 << 20
	// FrameHeaderSize is the size of the header in front of every payload.
	FrameHeaderSize = 16
	// CheckSize is the size of the check after every payload.
	CheckSize = 8
	// MaxMessage is the longest end frame message in bytes; the Writer
	// truncates longer messages on a UTF-8 boundary.
	MaxMessage = 1024
	// ContentType is the media type of a framed stream.
	ContentType = "application/vnd.backseal.frames.v1"
)

// Payload layout sizes.
const (
	headerFixedSize = 1 + 16 + 2 // version, stream id, metadata count
	endFixedSize    = 40         // end payload without the message
	maxKeyLen       = 255
	maxValueLen     = 1<<16 - 1
	maxMetaCount    = 1<<16 - 1
)

// Magic starts every stream.
var Magic = [8]byte{0x89, 'B', 'S', 'L', '\r', '\n', 0x1a, '\n'}

// Kind is a frame's kind, its first byte.
type Kind uint8

// Frame kinds.
const (
	KindHeader Kind = 0x01 // first frame: version, stream id, metadata
	KindData   Kind = 0x02 // payload bytes
	KindEnd    Kind = 0x03 // last frame: status and summary
)

// String returns "header", "data", "end" or "kind(0xNN)".
func (k Kind) String() string {
	switch k {
	case KindHeader:
		return "header"
	case KindData:
		return "data"
	case KindEnd:
		return "end"
	}
	const hex = "0123456789abcdef"
	return "kind(0x" + string([]byte{hex[k>>4], hex[k&0xf]}) + ")"
}

// putFrameHeader encodes a frame header into b.
func putFrameHeader(b *[FrameHeaderSize]byte, k Kind, length uint32, seq uint64) {
	b[0] = byte(k)
	b[1] = 0
	b[2], b[3] = 0, 0
	binary.BigEndian.PutUint32(b[4:8], length)
	binary.BigEndian.PutUint64(b[8:16], seq)
}

// dataCheckInput is the fixed-size input of a data frame's check:
// stream id, previous check, frame header, BE64(D_n).
type dataCheckInput [16 + CheckSize + FrameHeaderSize + 8]byte
