package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/backseal/backseal/aptos/hash"
	"github.com/backseal/backseal/content"
	"github.com/backseal/backseal/framing"
	"github.com/backseal/backseal/upstream"
)

// Summary describes a stream: all of it once it verified, or what verified
// before a failure.
type Summary struct {
	// StreamID is the stream's id in hex; "" if the header frame did not verify.
	StreamID string `json:"stream_id,omitempty"`
	// Path is the legacy request path the header frame names ("path"), if any.
	Path string `json:"path,omitempty"`
	// Status is the verified end frame's status: "ok", or the failure's code
	// name ("truncated", "upstream-status", ...); "" if no end frame verified.
	Status string `json:"status,omitempty"`
	// Message is the end frame's message, if any.
	Message string `json:"message,omitempty"`
	// Records is the number of complete legacy records in the verified
	// payload of a record stream; for other endpoints, the end frame's count.
	Records uint64 `json:"records"`
	// Bytes is the number of verified payload bytes written.
	Bytes uint64 `json:"bytes"`
	// Frames is the number of data frames, from the verified end frame.
	Frames uint64 `json:"frames"`
	// Digest is the XXH64 of the whole payload, 16 hex digits, from the
	// verified end frame; "" without one.
	Digest string `json:"xxh64,omitempty"`
	// ContentRoot is, for a stream whose content this client verified, the
	// commitment it matched (64 hex digits; empty where none could be);
	// ContentProof says which proof and trust it rests on.
	ContentRoot  string `json:"content_root,omitempty"`
	ContentProof string `json:"content_proof,omitempty"`
	// Duration is the time from the request (or the first read) to the end.
	Duration time.Duration `json:"duration_ns"`
}

// Rate returns the payload rate in bytes per second, or 0.
func (s Summary) Rate() float64 {
	if s.Duration <= 0 {
		return 0
	}
	return float64(s.Bytes) / s.Duration.Seconds()
}

// Progress is what Client.Progress receives as a stream arrives.
type Progress struct {
	Bytes   uint64 // verified payload bytes so far
	Records uint64 // complete records so far (record streams only)
	// ExpectedRecords is the record count the sidecar announced for a
	// complete response, or -1 if it did not.
	ExpectedRecords int64
	Elapsed         time.Duration
}

// Verify reads a saved framed stream from r, checks it as Fetch does, and
// writes the verified payload to w as it verifies (w may be io.Discard). It
// returns nil only for an intact stream whose end frame reports success.
// Errors match ErrIntegrity, ErrInput, ErrOutput or context.Canceled, or
// wrap a *framing.StreamError; see Fetch.
func Verify(ctx context.Context, r io.Reader, w io.Writer) (Summary, error) {
	src := &source{r: r}
	v := verifier{src: src, start: time.Now(), expected: -1}
	sum, err := v.copy(ctx, w)
	if err != nil && src.failed() {
		err = withClass(ErrInput, fmt.Errorf("client: %w: %w", ErrInput, src.err))
	}
	return sum, err
}

// source records the first error of the reader under the framing Reader, so
// that a failing source (a cut connection, an I/O error) is told apart from
// a damaged stream. With a stall timer, each Read arms it while it waits.
type source struct {
	r     io.Reader
	err   error
	stall *time.Timer
	d     time.Duration
}

func (s *source) Read(p []byte) (int, error) {
	if s.stall != nil {
		s.stall.Reset(s.d)
	}
	n, err := s.r.Read(p)
	if s.stall != nil {
		s.stall.Stop()
	}
	if err != nil && s.err == nil {
		s.err = err
	}
	return n, err
}

// failed reports whether the source failed with something other than EOF.
func (s *source) failed() bool { return s.err != nil && s.err != io.EOF }

// verifier copies the verified payload of one framed stream.
type verifier struct {
	src      *source
	start    time.Time
	expected int64 // records announced by the sidecar, or -1
	progress func(Progress)
	// content, if set, returns the content check for the stream's path.
	content func(path string) (*content.Stream, error)
}

// copyBufferSize is the payload read size: big enough that the Reader reads
// the sidecar's frames straight into it.
const copyBufferSize = 256 << 10

// copy verifies the stream and writes its payload to w. A failing source
// surfaces as a framing error; the caller checks v.src.failed() first.
func (v *verifier) copy(ctx context.Context, w io.Writer) (sum Summary, err error) {
	fr := framing.NewReader(bufio.NewReaderSize(v.src, 64<<10))
	defer func() { sum.Duration = time.Since(v.start) }()

	var h framing.Header
	h, err = fr.Header()
	if err != nil {
		return sum, fmt.Errorf("client: %w: %w", ErrIntegrity, err)
	}
	sum.StreamID = h.StreamID.String()
	sum.Path = h.Get("path")
	var scanner *upstream.RecordScanner
	if req, err := upstream.ParsePath(sum.Path); err == nil && req.Endpoint.Streaming() {
		scanner = upstream.NewRecordScanner(math.MaxUint32) // counts only; the sidecar enforces sizes
	}
	report := func() {
		if v.progress != nil {
			p := Progress{Bytes: sum.Bytes, ExpectedRecords: v.expected, Elapsed: time.Since(v.start)}
			if scanner != nil {
				p.Records = scanner.Records()
			}
			v.progress(p)
		}
	}
	report()
	var check *content.Stream
	if v.content != nil {
		if check, err = v.content(sum.Path); err != nil {
			return sum, err
		}
	}

	buf := make([]byte, copyBufferSize)
	for {
		if err := ctx.Err(); err != nil {
			return sum, fmt.Errorf("client: %w", err)
		}
		n, rerr := fr.Read(buf)
		if n > 0 {
			if scanner != nil {
				scanner.Write(buf[:n]) // no error: the limit is the largest prefix
				sum.Records = scanner.Records()
			}
			if check != nil {
				if err := check.Write(buf[:n]); err != nil {
					return sum, fmt.Errorf("client: content check: %w", err)
				}
			}
			wn, werr := w.Write(buf[:n])
			sum.Bytes += uint64(wn)
			if werr == nil && wn < n {
				werr = io.ErrShortWrite
			}
			if werr != nil {
				return sum, withClass(ErrOutput, fmt.Errorf("client: %w: %w", ErrOutput, werr))
			}
			report()
		}
		if rerr == nil {
			continue
		}
		var se *framing.StreamError
		if rerr != io.EOF && !errors.As(rerr, &se) {
			return sum, fmt.Errorf("client: %w: %w", ErrIntegrity, rerr)
		}
		// A verified end frame, ok or not.
		es, _ := fr.Summary()
		sum.Status = es.Code.String()
		sum.Message = es.Message
		sum.Frames = es.Frames
		sum.Digest = fmt.Sprintf("%016x", es.Digest)
		if scanner == nil {
			sum.Records = es.Records
		}
		if se != nil {
			return sum, fmt.Errorf("client: stream failed: %w", se)
		}
		if scanner != nil {
			if err := v.checkRecords(scanner, es.Records); err != nil {
				sum.Status = ""
				return sum, fmt.Errorf("client: %w: %w: %s", ErrIntegrity, ErrRecordCount, err)
			}
		}
		if check != nil {
			verified, err := check.Finish(ctx)
			if err != nil {
				sum.Status = ""
				return sum, fmt.Errorf("client: content check: %w", err)
			}
			sum.ContentProof = verified.Proof
			if verified.Root != (hash.Value{}) {
				sum.ContentRoot = verified.Root.String()
			}
			if r := endRoot(es); r != "" && r != sum.ContentRoot {
				sum.Status = ""
				return sum, fmt.Errorf("client: %w: the sidecar verified against root %s, this client against %q", ErrIntegrity, r, sum.ContentRoot)
			}
		}
		return sum, nil
	}
}

// checkRecords holds a complete record stream to its end frame and to the
// count the sidecar announced.
func (v *verifier) checkRecords(s *upstream.RecordScanner, endRecords uint64) error {
	switch {
	case !s.AtBoundary():
		return fmt.Errorf("payload ends inside record %d", s.Records())
	case s.Records() != endRecords:
		return fmt.Errorf("payload holds %d records, end frame says %d", s.Records(), endRecords)
	case v.expected >= 0 && s.Records() != uint64(v.expected):
		return fmt.Errorf("payload holds %d records, the sidecar announced %d", s.Records(), v.expected)
	}
	return nil
}
