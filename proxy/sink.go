package proxy

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/backseal/backseal/framing"
)

// A sink is where a response body goes. Small values go through fasthttp
// (fasthttpSink); streams take over the connection (connSink) so that each
// upstream read leaves as one chunk in one write, framed in place in the
// copy buffer: no second copy, no second syscall.
type sink interface {
	// Write sends p as body bytes (framed mode's header and end frames).
	Write(p []byte) (int, error)
	// emit sends buf[lo:hi] as body bytes. buf has chunkRoom bytes free
	// before lo and chunkTail after hi.
	emit(buf []byte, lo, hi int) error
	// trailer records one trailer field, sent when the body terminates.
	trailer(name, value string)
	// terminate ends the body as complete: the zero-size chunk and the
	// trailers. A body that is not terminated is cut.
	terminate() error
}

// Room the copy buffer keeps around each read: a chunk size line and a
// frame header before it, a frame check and the chunk's CRLF after it.
const (
	chunkRoom = 10 // up to 8 hex digits and CRLF
	chunkTail = 2
)

// fasthttpSink writes through fasthttp's body writer, which frames each
// Write as a chunk (or counts it against a Content-Length), sends the zero
// chunk when WriteTo returns nil and cuts the connection when it fails.
type fasthttpSink struct {
	w      io.Writer
	header *fasthttp.ResponseHeader
}

func (f fasthttpSink) Write(p []byte) (int, error) { return f.w.Write(p) }
func (f fasthttpSink) emit(buf []byte, lo, hi int) error {
	_, err := f.w.Write(buf[lo:hi])
	return err
}
func (f fasthttpSink) trailer(name, value string) { f.header.Set(name, value) }
func (f fasthttpSink) terminate() error           { return nil }

// connSink writes a chunked body straight to the client's connection.
type connSink struct {
	c       net.Conn
	timeout time.Duration // longest wait for the client to accept any byte
	scratch []byte        // small chunks
	end     []byte        // the last chunk and the trailer fields
}

// write sends b whole. A client that accepts no byte for the timeout is cut,
// so that it cannot hold an upstream stream forever; one that accepts some
// gets a fresh deadline, so a slow reader is not. (Over TLS a timed-out
// write cannot be resumed: there the timeout bounds each chunk.)
func (c *connSink) write(b []byte) error {
	for {
		if err := c.c.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
			return err
		}
		n, err := c.c.Write(b)
		if err == nil {
			return nil
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
		if _, tlsConn := c.c.(*tls.Conn); n == 0 || tlsConn {
			return fmt.Errorf("client accepted no byte for %v: %w", c.timeout, err)
		}
		b = b[n:]
	}
}

// Write sends p as one chunk (small writes only: it copies).
func (c *connSink) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	b := strconv.AppendUint(c.scratch[:0], uint64(len(p)), 16)
	b = append(b, "\r\n"...)
	b = append(b, p...)
	b = append(b, "\r\n"...)
	c.scratch = b
	if err := c.write(b); err != nil {
		return 0, err
	}
	return len(p), nil
}

// emit lays the chunk's size line and CRLF around buf[lo:hi] and sends it
// with one write.
func (c *connSink) emit(buf []byte, lo, hi int) error {
	var line [chunkRoom]byte
	l := strconv.AppendUint(line[:0], uint64(hi-lo), 16)
	l = append(l, "\r\n"...)
	start := lo - len(l)
	copy(buf[start:lo], l)
	buf[hi], buf[hi+1] = '\r', '\n'
	return c.write(buf[start : hi+2])
}

func (c *connSink) trailer(name, value string) {
	if len(c.end) == 0 {
		c.end = append(c.end, "0\r\n"...)
	}
	c.end = append(c.end, name...)
	c.end = append(c.end, ": "...)
	c.end = append(c.end, value...)
	c.end = append(c.end, "\r\n"...)
}

func (c *connSink) terminate() error {
	if len(c.end) == 0 {
		c.end = append(c.end, "0\r\n"...)
	}
	c.end = append(c.end, "\r\n"...)
	return c.write(c.end)
}

// appendResponseHead writes the status line and headers of a chunked 200
// as fasthttp would, plus Connection: close: the connection is the stream's.
func appendResponseHead(b []byte, h *fasthttp.ResponseHeader) []byte {
	b = append(b, "HTTP/1.1 200 OK\r\nDate: "...)
	b = fasthttp.AppendHTTPDate(b, time.Now())
	b = append(b, "\r\n"...)
	if ct := h.ContentType(); len(ct) > 0 {
		b = append(b, "Content-Type: "...)
		b = append(b, ct...)
		b = append(b, "\r\n"...)
	}
	for k, v := range h.All() {
		switch string(k) {
		case "Content-Type", "Content-Length", "Transfer-Encoding", "Connection", "Date", "Server":
			continue
		}
		b = append(b, k...)
		b = append(b, ": "...)
		b = append(b, v...)
		b = append(b, "\r\n"...)
	}
	return append(b, "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"...)
}

// sealedFrames sends each read as one framed data frame, sealed in place.
type sealedFrames struct {
	fw   *framing.Writer
	sink sink
}

func (f sealedFrames) emit(buf []byte, lo, hi int) error {
	a, b := lo-framing.FrameHeaderSize, hi+framing.CheckSize
	if _, err := f.fw.SealFrame(buf[a:b]); err != nil {
		return err
	}
	return f.sink.emit(buf, a, b)
}
