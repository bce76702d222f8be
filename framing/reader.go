package framing

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/cespare/xxhash/v2"
)

// Reader reads a framed stream and returns only verified payload bytes.
//
// Read and WriteTo return the payload of a data frame only after its check
// has been verified. After the end frame they return io.EOF (Read) or nil
// (WriteTo) if its status is CodeOK, a *StreamError with the status code and
// message otherwise, or a damage error (ErrChecksum, ErrTruncated, ...; see
// the var block) if the stream is not intact. Errors are sticky.
//
// At the end frame the Reader checks, in order: the check, the payload
// layout, the byte count, frame count and digest against the data frames it
// read (ErrSummary), and that one more read of the source gives EOF
// (ErrTrailingData). Only then does it report the status.
//
// The Reader holds at most one frame: a payload buffer that grows to the
// largest frame seen, never above MaxPayload. A Read with len(p) at least
// the next frame's payload length reads it straight into p. Frame headers and
// checks are small reads from the source: give it a buffered reader if the
// source is not buffered. A Reader is not safe for concurrent use.
type Reader struct {
	r         io.Reader
	started   bool // Magic and the header frame have been read, or failed
	headerOK  bool
	header    Header
	frames    uint64 // data frames verified
	bytes     uint64 // data payload bytes verified
	delivered uint64 // verified payload bytes returned to the caller
	digest    xxhash.Digest
	check     dataCheckInput // stream id, previous check, frame header, D_n
	fh        [FrameHeaderSize]byte
	ck        [CheckSize]byte
	one       [1]byte
	hd        xxhash.Digest // scratch for header and end frame checks
	buf       []byte        // payload buffer; cap never above MaxPayload
	pending   []byte        // verified payload not yet delivered, in buf
	summary   Summary
	done      bool // summary holds a verified end frame
	err       error
}

// NewReader returns a Reader that reads a framed stream from r. It reads
// nothing until the first call of Header, Read or WriteTo.
func NewReader(r io.Reader) *Reader {
	fr := &Reader{r: r}
	fr.digest.Reset()
	return fr
}

// Header reads Magic and the header frame if they have not been read yet and
// returns the header. It fails with the error that stopped the header from
// being read; errors in later frames do not affect it.
func (r *Reader) Header() (Header, error) {
	if !r.started {
		r.readHeader()
	}
	if !r.headerOK {
		return Header{}, r.err
	}
	return r.header, nil
}

// Summary returns the end frame once it has been read and verified (check,
// layout, counters and digest), whatever its status. It is not affected by
// data after the end frame: Read may return ErrTrailingData while Summary
// reports a complete stream.
func (r *Reader) Summary() (Summary, bool) { return r.summary, r.done }

// Bytes returns the number of verified payload bytes delivered so far by Read
// and WriteTo.
func (r *Reader) Bytes() uint64 { return r.delivered }

// Read reads verified payload into p. It returns at most one frame's payload
// per call.
func (r *Reader) Read(p []byte) (int, error) {
	if len(r.pending) > 0 {
		n := copy(p, r.pending)
		r.pending = r.pending[n:]
		r.delivered += uint64(n)
		return n, nil
	}
	if r.err != nil {
		return 0, r.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !r.started && !r.readHeader() {
		return 0, r.err
	}
	n, err := r.next(p)
	if err != nil {
		return 0, err
	}
	if n > 0 { // read straight into p
		r.delivered += uint64(n)
		return n, nil
	}
	n = copy(p, r.pending)
	r.pending = r.pending[n:]
	r.delivered += uint64(n)
	return n, nil
}

// WriteTo writes the verified payload to w until the end frame. It returns
// nil for status CodeOK; errors writing to w are returned as
// "framing: writing: ..." and are not sticky.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if len(r.pending) > 0 {
			n, err := w.Write(r.pending)
			r.pending = r.pending[n:]
			r.delivered += uint64(n)
			total += int64(n)
			if err == nil && len(r.pending) > 0 {
				err = io.ErrShortWrite
			}
			if err != nil {
				return total, fmt.Errorf("framing: writing: %w", err)
			}
			continue
		}
		if r.err == io.EOF {
			return total, nil
		}
		if r.err != nil {
			return total, r.err
		}
		if !r.started && !r.readHeader() {
			continue
		}
		r.next(nil) // sets r.pending or r.err
	}
}

// fail makes err sticky and returns it.
func (r *Reader) fail(err error) error {
	r.err = err
	return err
}

// readErr turns an error reading frame seq into the error to return: an
// early EOF is ErrTruncated (and io.ErrUnexpectedEOF).
func (r *Reader) readErr(seq uint64, err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return r.fail(fmt.Errorf("framing: frame %d: %w: %w", seq, ErrTruncated, io.ErrUnexpectedEOF))
	}
	return r.fail(fmt.Errorf("framing: frame %d: reading: %w", seq, err))
}

func (r *Reader) malformed(seq uint64, format string, args ...any) error {
	return r.fail(fmt.Errorf("framing: frame %d: "+format+": %w", append(append([]any{seq}, args...), ErrMalformed)...))
}

// payloadBuf returns a buffer of n <= MaxPayload bytes.
func (r *Reader) payloadBuf(n int) []byte {
	if cap(r.buf) < n {
		r.buf = make([]byte, max(n, min(2*cap(r.buf), MaxPayload), 512))
	}
	return r.buf[:n]
}

// readHeader reads Magic and the header frame. It reports whether they
// were read and verified; if not, r.err says why.
func (r *Reader) readHeader() bool {
	r.started = true
	n, err := io.ReadFull(r.r, r.fh[:len(Magic)])
	if !bytes.Equal(r.fh[:n], Magic[:n]) {
		r.fail(fmt.Errorf("framing: %w", ErrBadMagic))
		return false
	}
	if err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			r.fail(fmt.Errorf("framing: magic: %w: %w", ErrTruncated, io.ErrUnexpectedEOF))
		} else {
			r.fail(fmt.Errorf("framing: reading magic: %w", err))
		}
		return false
	}
	_, length, err := r.frameHeader(0)
	if err != nil {
		return false
	}
	p := r.payloadBuf(int(length))
	if _, err := io.ReadFull(r.r, p); err != nil {
		r.readErr(0, err)
		return false
	}
	if _, err := io.ReadFull(r.r, r.ck[:]); err != nil {
		r.readErr(0, err)
		return false
	}
	// The version comes first: a later version may compute checks differently.
	if len(p) == 0 {
		r.malformed(0, "empty header payload")
		return false
	}
	if p[0] != Version {
		r.fail(fmt.Errorf("framing: version %d, want %d: %w", p[0], Version, ErrVersion))
		return false
	}
	if len(p) < headerFixedSize {
		r.malformed(0, "header payload of %d bytes, want at least %d", len(p), headerFixedSize)
		return false
	}
	copy(r.check[:16], p[1:17])
	if !r.verify(p) {
		r.fail(fmt.Errorf("framing: frame 0: %w", ErrChecksum))
		return false
	}
	h, bad := parseHeaderPayload(p)
	if bad != "" {
		r.malformed(0, "%s", bad)
		return false
	}
	r.header = h
	r.headerOK = true
	return true
}

// frameHeader reads and checks the frame header of frame seq, up to the
// point where the payload can be read.
func (r *Reader) frameHeader(seq uint64) (Kind, uint32, error) {
	if _, err := io.ReadFull(r.r, r.fh[:]); err != nil {
		return 0, 0, r.readErr(seq, err)
	}
	k := Kind(r.fh[0])
	if k < KindHeader || k > KindEnd {
		return 0, 0, r.malformed(seq, "unknown kind 0x%02x", r.fh[0])
	}
	if r.fh[1] != 0 {
		return 0, 0, r.malformed(seq, "flags 0x%02x", r.fh[1])
	}
	if r.fh[2] != 0 || r.fh[3] != 0 {
		return 0, 0, r.malformed(seq, "reserved bytes %02x%02x", r.fh[2], r.fh[3])
	}
	length := binary.BigEndian.Uint32(r.fh[4:8])
	if length > MaxPayload {
		return 0, 0, r.fail(fmt.Errorf("framing: frame %d: payload length %d above %d: %w", seq, length, MaxPayload, ErrFrameTooLarge))
	}
	if seq == 0 && k != KindHeader {
		return 0, 0, r.malformed(seq, "%v frame where the header frame belongs", k)
	}
	if seq > 0 && k == KindHeader {
		return 0, 0, r.malformed(seq, "header frame where a data or end frame belongs")
	}
	if got := binary.BigEndian.Uint64(r.fh[8:16]); got != seq {
		return 0, 0, r.fail(fmt.Errorf("framing: frame %d: got seq %d: %w", seq, got, ErrSequence))
	}
	return k, length, nil
}

// verify checks a header or end frame: its check in r.ck against
// XXH64(stream id || previous check || frame header || payload). If they
// match, the check becomes the previous check.
func (r *Reader) verify(p []byte) bool {
	r.hd.Reset()
	r.hd.Write(r.check[:24]) // stream id, previous check
	r.hd.Write(r.fh[:])
	r.hd.Write(p)
	if r.hd.Sum64() != binary.BigEndian.Uint64(r.ck[:]) {
		return false
	}
	copy(r.check[16:24], r.ck[:])
	return true
}

// next reads the frame after the last one read. For a data frame whose
// payload fits p, it reads the payload into p, verifies it and returns its
// length; for any other data frame it sets r.pending and returns 0. For the
// end frame, it returns io.EOF, a *StreamError or a damage error.
func (r *Reader) next(p []byte) (int, error) {
	seq := r.frames + 1
	k, length, err := r.frameHeader(seq)
	if err != nil {
		return 0, err
	}
	if k == KindEnd {
		return 0, r.end(seq, length)
	}
	if length == 0 {
		return 0, r.malformed(seq, "empty data frame")
	}
	n := int(length)
	direct := len(p) >= n
	if direct {
		p = p[:n]
	} else {
		p = r.payloadBuf(n)
	}
	if _, err := io.ReadFull(r.r, p); err != nil {
		return 0, r.readErr(seq, err)
	}
	if _, err := io.ReadFull(r.r, r.ck[:]); err != nil {
		return 0, r.readErr(seq, err)
	}
	r.digest.Write(p)
	copy(r.check[24:40], r.fh[:])
	binary.BigEndian.PutUint64(r.check[40:48], r.digest.Sum64())
	if xxhash.Sum64(r.check[:]) != binary.BigEndian.Uint64(r.ck[:]) {
		return 0, r.fail(fmt.Errorf("framing: frame %d: %w", seq, ErrChecksum))
	}
	copy(r.check[16:24], r.ck[:])
	r.frames++
	r.bytes += uint64(n)
	if direct {
		return n, nil
	}
	r.pending = p
	return 0, nil
}

// end reads and verifies the end frame and the EOF after it.
func (r *Reader) end(seq uint64, length uint32) error {
	if length < endFixedSize || length > endFixedSize+MaxMessage {
		return r.malformed(seq, "end payload of %d bytes, want %d..%d", length, endFixedSize, endFixedSize+MaxMessage)
	}
	p := r.payloadBuf(int(length))
	if _, err := io.ReadFull(r.r, p); err != nil {
		return r.readErr(seq, err)
	}
	if _, err := io.ReadFull(r.r, r.ck[:]); err != nil {
		return r.readErr(seq, err)
	}
	if !r.verify(p) {
		return r.fail(fmt.Errorf("framing: frame %d: %w", seq, ErrChecksum))
	}
	s, bad := parseEndPayload(p)
	if bad != "" {
		return r.malformed(seq, "%s", bad)
	}
	if d := r.digest.Sum64(); s.Bytes != r.bytes || s.Frames != r.frames || s.Digest != d {
		return r.fail(fmt.Errorf("framing: frame %d: end frame counts %d bytes in %d frames, digest %016x; read %d bytes in %d frames, digest %016x: %w",
			seq, s.Bytes, s.Frames, s.Digest, r.bytes, r.frames, d, ErrSummary))
	}
	r.summary, r.done = s, true
	switch n, err := io.ReadFull(r.r, r.one[:]); {
	case n > 0:
		return r.fail(fmt.Errorf("framing: after end frame: %w", ErrTrailingData))
	case err != io.EOF:
		return r.fail(fmt.Errorf("framing: reading after end frame: %w", err))
	}
	if s.Code == CodeOK {
		return r.fail(io.EOF)
	}
	return r.fail(&StreamError{Code: s.Code, Message: s.Message})
}
