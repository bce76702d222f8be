package framing

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf8"
)

// StreamID identifies a stream. Every check covers it, so a frame spliced
// from another stream fails.
type StreamID [16]byte

// NewStreamID returns a random stream id from crypto/rand.
func NewStreamID() StreamID {
	var id StreamID
	rand.Read(id[:]) // never returns an error; crashes the program if it cannot
	return id
}

// String returns the id in lowercase hex.
func (id StreamID) String() string { return hex.EncodeToString(id[:]) }

// Meta is one metadata entry of the header frame. Key is 1..255 bytes of
// ASCII [a-z0-9-]; Value is UTF-8, at most 65535 bytes.
type Meta struct{ Key, Value string }

// Header is the header frame. The format version is implied (Version).
type Header struct {
	StreamID StreamID
	Meta     []Meta // in order; keys may repeat
}

// Get returns the value of the first entry with key, or "".
func (h Header) Get(key string) string {
	for _, m := range h.Meta {
		if m.Key == key {
			return m.Value
		}
	}
	return ""
}

// Summary is the end frame.
type Summary struct {
	Code    Code   // status; CodeOK for a complete stream
	Message string // UTF-8, at most MaxMessage bytes
	Records uint64 // legacy records the sender saw; carried, not checked
	Bytes   uint64 // sum of data payload lengths
	Frames  uint64 // number of data frames
	Digest  uint64 // XXH64 of the whole data payload
	// Meta is what the sender vouches for at the end, such as the
	// commitment a content-verified stream matched (content-root).
	Meta []Meta
}

func validKey(k string) bool {
	if len(k) == 0 || len(k) > maxKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// appendHeaderPayload appends the header frame payload of h to b.
func appendHeaderPayload(b []byte, h Header) ([]byte, error) {
	if len(h.Meta) > maxMetaCount {
		return nil, fmt.Errorf("framing: header: %d metadata entries, at most %d allowed", len(h.Meta), maxMetaCount)
	}
	b = append(b, Version)
	b = append(b, h.StreamID[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(h.Meta)))
	b, err := appendMeta(b, "header", h.Meta)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxPayload {
		return nil, fmt.Errorf("framing: header: payload of %d bytes, at most %d allowed", len(b), MaxPayload)
	}
	return b, nil
}

// parseHeaderPayload parses a header frame payload whose version byte has
// been checked. It returns a description of the first layout error.
func parseHeaderPayload(p []byte) (Header, string) {
	var h Header
	if len(p) < headerFixedSize {
		return h, "header payload shorter than 19 bytes"
	}
	copy(h.StreamID[:], p[1:17])
	n := int(binary.BigEndian.Uint16(p[17:19]))
	var bad string
	h.Meta, p, bad = parseMeta(p[headerFixedSize:], n)
	if bad != "" {
		return h, bad
	}
	if len(p) != 0 {
		return h, fmt.Sprintf("%d bytes after the last metadata entry", len(p))
	}
	return h, ""
}

// appendMeta appends metadata entries (without their count) to b; where
// names the frame, for errors.
func appendMeta(b []byte, where string, meta []Meta) ([]byte, error) {
	for _, m := range meta {
		if !validKey(m.Key) {
			return nil, fmt.Errorf("framing: %s: metadata key %q: want 1..255 bytes of [a-z0-9-]", where, m.Key)
		}
		if len(m.Value) > maxValueLen || !utf8.ValidString(m.Value) {
			return nil, fmt.Errorf("framing: %s: metadata %q: value must be UTF-8 of at most %d bytes", where, m.Key, maxValueLen)
		}
		b = append(b, byte(len(m.Key)))
		b = append(b, m.Key...)
		b = binary.BigEndian.AppendUint16(b, uint16(len(m.Value)))
		b = append(b, m.Value...)
	}
	return b, nil
}

// parseMeta parses n metadata entries at the start of p and returns them
// with the bytes after them, or a description of the first layout error.
func parseMeta(p []byte, n int) (meta []Meta, rest []byte, bad string) {
	if n > 0 {
		meta = make([]Meta, 0, min(n, len(p)/4)) // each entry takes at least 4 bytes
	}
	for i := range n {
		if len(p) < 1 {
			return meta, p, fmt.Sprintf("metadata entry %d: missing key length", i)
		}
		kl := int(p[0])
		if len(p) < 1+kl+2 {
			return meta, p, fmt.Sprintf("metadata entry %d: key or value length past the payload", i)
		}
		key := string(p[1 : 1+kl])
		if !validKey(key) {
			return meta, p, fmt.Sprintf("metadata entry %d: key %q not 1..255 bytes of [a-z0-9-]", i, key)
		}
		vl := int(binary.BigEndian.Uint16(p[1+kl:]))
		p = p[1+kl+2:]
		if len(p) < vl {
			return meta, p, fmt.Sprintf("metadata entry %d (%s): value past the payload", i, key)
		}
		if !utf8.Valid(p[:vl]) {
			return meta, p, fmt.Sprintf("metadata entry %d (%s): value not UTF-8", i, key)
		}
		meta = append(meta, Meta{Key: key, Value: string(p[:vl])})
		p = p[vl:]
	}
	return meta, p, ""
}

// appendEndPayload appends the end frame payload of s to b. s.Message must be
// valid UTF-8 of at most MaxMessage bytes.
func appendEndPayload(b []byte, s *Summary) ([]byte, error) {
	if len(s.Meta) > maxMetaCount {
		return nil, fmt.Errorf("framing: end: %d metadata entries, at most %d allowed", len(s.Meta), maxMetaCount)
	}
	b = append(b, byte(s.Code), 0)
	b = binary.BigEndian.AppendUint16(b, uint16(len(s.Message)))
	b = binary.BigEndian.AppendUint16(b, uint16(len(s.Meta)))
	b = append(b, 0, 0)
	b = binary.BigEndian.AppendUint64(b, s.Records)
	b = binary.BigEndian.AppendUint64(b, s.Bytes)
	b = binary.BigEndian.AppendUint64(b, s.Frames)
	b = binary.BigEndian.AppendUint64(b, s.Digest)
	b = append(b, s.Message...)
	b, err := appendMeta(b, "end", s.Meta)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxPayload {
		return nil, fmt.Errorf("framing: end: payload of %d bytes, at most %d allowed", len(b), MaxPayload)
	}
	return b, nil
}

// parseEndPayload parses an end frame payload. It returns a description of
// the first layout error.
func parseEndPayload(p []byte) (Summary, string) {
	var s Summary
	if len(p) < endFixedSize {
		return s, "end payload shorter than 40 bytes"
	}
	if p[1] != 0 || p[6] != 0 || p[7] != 0 {
		return s, "end payload reserved bytes not zero"
	}
	n := int(binary.BigEndian.Uint16(p[2:4]))
	if n > MaxMessage {
		return s, fmt.Sprintf("end message length %d above %d", n, MaxMessage)
	}
	if len(p) < endFixedSize+n {
		return s, fmt.Sprintf("end payload is %d bytes, shorter than 40 + message length %d", len(p), n)
	}
	msg := p[endFixedSize : endFixedSize+n]
	var bad string
	var rest []byte
	s.Meta, rest, bad = parseMeta(p[endFixedSize+n:], int(binary.BigEndian.Uint16(p[4:6])))
	if bad != "" {
		return s, "end " + bad
	}
	if len(rest) != 0 {
		return s, fmt.Sprintf("end payload has %d bytes after the last metadata entry", len(rest))
	}
	if !utf8.Valid(msg) {
		return s, "end message not UTF-8"
	}
	s.Code = Code(p[0])
	s.Records = binary.BigEndian.Uint64(p[8:16])
	s.Bytes = binary.BigEndian.Uint64(p[16:24])
	s.Frames = binary.BigEndian.Uint64(p[24:32])
	s.Digest = binary.BigEndian.Uint64(p[32:40])
	s.Message = string(msg)
	return s, ""
}

// endMessage makes msg fit an end frame: invalid UTF-8 becomes U+FFFD, and a
// message longer than MaxMessage is cut on a rune boundary.
func endMessage(msg string) string {
	if !utf8.ValidString(msg) {
		msg = strings.ToValidUTF8(msg, "\uFFFD")
	}
	if len(msg) <= MaxMessage {
		return msg
	}
	i := MaxMessage
	for i > 0 && !utf8.RuneStart(msg[i]) {
		i--
	}
	return msg[:i]
}
