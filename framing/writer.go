package framing

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/cespare/xxhash/v2"
)

// Writer frames a stream. NewWriter writes MAGIC and the header frame, each
// Write one or more data frames, End the end frame.
//
// A Writer does not copy payloads: Write sends every frame to the underlying
// writer as three writes (frame header, payload, check), so give it a
// buffered writer (bufio.Writer, or a server's response writer) and flush
// after End; WriteFrameInPlace sends a frame the caller laid out as one
// write. It makes no allocations per frame. A Writer is not safe for
// concurrent use.
type Writer struct {
	w      io.Writer
	header Header
	frames uint64 // data frames written in full
	bytes  uint64
	digest xxhash.Digest // running XXH64 of all data payload bytes
	check  dataCheckInput
	fh     [FrameHeaderSize]byte
	ck     [CheckSize]byte
	hd     xxhash.Digest // scratch for header and end frame checks
	buf    []byte        // header and end payloads
	err    error         // sticky: a write error or ErrClosed
}

// NewWriter writes MAGIC and the header frame for h to w and returns a Writer
// for the data frames. If h.StreamID is zero, NewWriter uses NewStreamID();
// Writer.Header returns the header as written. It fails, writing nothing, if
// the metadata does not fit the format.
func NewWriter(w io.Writer, h Header) (*Writer, error) {
	if h.StreamID == (StreamID{}) {
		h.StreamID = NewStreamID()
	}
	buf, err := appendHeaderPayload(make([]byte, 0, 64), h)
	if err != nil {
		return nil, err
	}
	fw := &Writer{w: w, header: h, buf: buf}
	fw.digest.Reset()
	copy(fw.check[:16], h.StreamID[:])
	if _, err := w.Write(Magic[:]); err != nil {
		return nil, fmt.Errorf("framing: writing magic: %w", err)
	}
	if err := fw.writeFrame(KindHeader, 0, buf); err != nil {
		return nil, err
	}
	return fw, nil
}

// Header returns the header the Writer wrote.
func (w *Writer) Header() Header { return w.header }

// writeFrame writes a header or end frame with payload p.
func (w *Writer) writeFrame(k Kind, seq uint64, p []byte) error {
	putFrameHeader(&w.fh, k, uint32(len(p)), seq)
	prev := w.check[16:24]
	w.hd.Reset()
	w.hd.Write(w.header.StreamID[:])
	w.hd.Write(prev)
	w.hd.Write(w.fh[:])
	w.hd.Write(p)
	binary.BigEndian.PutUint64(w.ck[:], w.hd.Sum64())
	copy(prev, w.ck[:])
	return w.emit(seq, p)
}

// emit writes the frame header in w.fh, payload p and check in w.ck.
func (w *Writer) emit(seq uint64, p []byte) error {
	if _, err := w.w.Write(w.fh[:]); err != nil {
		return w.fail(seq, err)
	}
	if len(p) > 0 {
		if _, err := w.w.Write(p); err != nil {
			return w.fail(seq, err)
		}
	}
	if _, err := w.w.Write(w.ck[:]); err != nil {
		return w.fail(seq, err)
	}
	return nil
}

func (w *Writer) fail(seq uint64, err error) error {
	w.err = fmt.Errorf("framing: writing frame %d: %w", seq, err)
	return w.err
}

// Write writes p as one data frame, or several of at most MaxPayload bytes if
// p is longer. An empty p writes nothing. It returns the number of bytes of p
// in frames written in full. After a write error or End, Write fails.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), MaxPayload)]
		p = p[len(chunk):]
		seq := w.frames + 1
		binary.BigEndian.PutUint64(w.ck[:], w.sealData(seq, chunk))
		if err := w.emit(seq, chunk); err != nil {
			return n, err
		}
		w.frames++
		w.bytes += uint64(len(chunk))
		n += len(chunk)
	}
	return n, nil
}

// WriteFrameInPlace writes one data frame whose payload already sits in
// frame[FrameHeaderSize:len(frame)-CheckSize]. It fills the frame header and
// the check in place (SealFrame) and hands the whole frame to the underlying
// writer in one Write, so a caller that reads into a buffer with room on
// both sides of the payload frames it without copying. It returns the
// payload length.
func (w *Writer) WriteFrameInPlace(frame []byte) (int, error) {
	n, err := w.SealFrame(frame)
	if err != nil {
		return 0, err
	}
	if _, err := w.w.Write(frame); err != nil {
		return 0, w.fail(w.frames, err)
	}
	return n, nil
}

// SealFrame makes frame a complete data frame in place, as WriteFrameInPlace
// does, but leaves sending it to the caller (who may, say, add transport
// framing around it): the frame counts as written. The payload must be 1 to
// MaxPayload bytes. It returns the payload length.
func (w *Writer) SealFrame(frame []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n := len(frame) - FrameHeaderSize - CheckSize
	if n <= 0 || n > MaxPayload {
		return 0, fmt.Errorf("framing: in-place frame with a %d-byte payload, want 1 to %d", n, MaxPayload)
	}
	seq := w.frames + 1
	ck := w.sealData(seq, frame[FrameHeaderSize:FrameHeaderSize+n])
	copy(frame[:FrameHeaderSize], w.fh[:])
	binary.BigEndian.PutUint64(frame[FrameHeaderSize+n:], ck)
	w.frames++
	w.bytes += uint64(n)
	return n, nil
}

// sealData puts data frame seq's header in w.fh, adds its payload to the
// running digest and returns its check:
// XXH64(stream id || prev check || frame header || BE64(D_n)).
func (w *Writer) sealData(seq uint64, payload []byte) uint64 {
	putFrameHeader(&w.fh, KindData, uint32(len(payload)), seq)
	w.digest.Write(payload)
	// The stream id is in place; the previous check is in check[16:24].
	copy(w.check[24:40], w.fh[:])
	binary.BigEndian.PutUint64(w.check[40:48], w.digest.Sum64())
	ck := xxhash.Sum64(w.check[:])
	binary.BigEndian.PutUint64(w.check[16:24], ck)
	return ck
}

// End writes the end frame and closes the Writer; it does not close or flush
// the underlying writer. A nil outcome is status CodeOK. Otherwise the status
// is CodeOf(outcome) and the message is the *StreamError's Message (or, when
// that is empty, its Err's text) if outcome is or wraps one, else
// outcome.Error(). Invalid UTF-8 in the message becomes U+FFFD and a message
// longer than MaxMessage is cut on a rune boundary. records is carried as is.
// After End, Write and End return ErrClosed.
func (w *Writer) End(records uint64, outcome error) error {
	return w.EndWith(records, outcome, nil)
}

// EndWith is End with metadata in the end frame: what the sender vouches for
// once the stream is over (docs/FRAMING.md lists the keys backseal uses).
func (w *Writer) EndWith(records uint64, outcome error, meta []Meta) error {
	if w.err != nil {
		return w.err
	}
	s := Summary{
		Code:    CodeOf(outcome),
		Records: records,
		Bytes:   w.bytes,
		Frames:  w.frames,
		Digest:  w.digest.Sum64(),
		Meta:    meta,
	}
	if outcome != nil {
		var se *StreamError
		switch {
		case errors.As(outcome, &se) && se.Message != "":
			s.Message = se.Message
		case se != nil && se.Err != nil:
			s.Message = se.Err.Error()
		case se == nil:
			s.Message = outcome.Error()
		}
		s.Message = endMessage(s.Message)
	}
	b, err := appendEndPayload(w.buf[:0], &s)
	if err != nil {
		return err
	}
	w.buf = b
	if err := w.writeFrame(KindEnd, w.frames+1, w.buf); err != nil {
		return err
	}
	w.err = ErrClosed
	return nil
}

// Bytes returns the number of payload bytes written so far.
func (w *Writer) Bytes() uint64 { return w.bytes }

// Frames returns the number of data frames written so far.
func (w *Writer) Frames() uint64 { return w.frames }

// Digest returns the XXH64 of the payload written so far.
func (w *Writer) Digest() uint64 { return w.digest.Sum64() }
