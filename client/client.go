// Package client fetches streams through the backseal sidecar in framed mode
// and verifies them end to end; backseal fetch and backseal verify are thin
// layers over it.
//
// Fetch asks the sidecar for the framed format (docs/FRAMING.md), checks
// every frame as it arrives and writes only verified payload: exactly the
// legacy service's bytes. It returns nil only when the whole stream verified
// and its end frame reports success; for a record stream it also counts the
// records and holds them to the end frame. Verify does the same for a saved
// framed stream. WriteFile makes an output file appear only on success.
//
// Errors fall in classes, each tested with errors.Is or errors.As and mapped
// to an exit status by ExitCode (ExitCodes says what each status means):
//
//	ErrIntegrity           the stream is damaged (wraps framing.ErrChecksum, ...)   ExitIntegrity
//	*framing.StreamError   the stream verified; its end frame reports a failure   ExitStream
//	ErrTransport           no usable answer: dial, cut, stall, 5xx, not framed     ExitTransport
//	ErrRejected            the sidecar answered 4xx                                 ExitUsage
//	ErrInput, ErrOutput    local I/O                                                ExitLocal
//	context.Canceled       the caller gave up                                       ExitInterrupted
package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/backseal/backseal/content"
	"github.com/backseal/backseal/framing"
)

// Response headers the sidecar sends with a framed stream (the same names
// as proxy.HeaderExpectedRecords and proxy.HeaderStreamID; this package does
// not import the server).
const (
	headerExpectedRecords = "Backseal-Expected-Records"
	headerStreamID        = "Backseal-Stream-Id"
)

// Defaults for a zero Client.
const (
	DefaultConnectTimeout = 10 * time.Second
	// DefaultStallTimeout is above the sidecar's own 30 s stall timeout plus
	// a resume, so that the sidecar, which knows more, reports first.
	DefaultStallTimeout = 2 * time.Minute
)

// Client fetches framed streams over HTTP/1.1. The zero value is ready to
// use. Set the fields before the first Fetch and do not change them after;
// a Client is then safe for concurrent use.
type Client struct {
	// ConnectTimeout bounds the TCP connect and the TLS handshake. If zero,
	// DefaultConnectTimeout is used; if negative, there is none.
	ConnectTimeout time.Duration
	// StallTimeout fails a fetch when no byte arrives for this long: while
	// waiting for the response headers, and between body reads (time spent
	// writing to w does not count). There is no limit on the whole
	// transfer. If zero, DefaultStallTimeout is used; if negative, there is
	// none.
	StallTimeout time.Duration
	// Progress, if not nil, is called on the fetching goroutine once the
	// header frame verified and after each verified chunk. It must return
	// quickly; throttle any drawing yourself.
	Progress func(Progress)
	// UserAgent is sent as User-Agent; if empty, "backseal-client".
	UserAgent string
	// BearerToken, if not empty, is sent as "Authorization: Bearer TOKEN",
	// for a sidecar configured with bearer_token_file.
	BearerToken string
	// VerifyContent checks each record stream's content against the
	// chain's commitments as it arrives, with proofs fetched from the same
	// sidecar (docs/OPERATIONS.md, Content verification). A mismatch is a
	// *framing.StreamError with a content code; Summary.ContentRoot names
	// what a verified stream matched.
	VerifyContent bool
	// TrustedWaypoint ("version:hash"), with VerifyContent, is where ledger
	// info signatures are checked from; empty: they are not.
	TrustedWaypoint string

	once sync.Once
	hc   *http.Client
}

var defaultClient Client

// Fetch fetches url with a zero Client; see Client.Fetch.
func Fetch(ctx context.Context, url string, w io.Writer) (Summary, error) {
	return defaultClient.Fetch(ctx, url, w)
}

func (c *Client) connectTimeout() time.Duration {
	return orDefault(c.ConnectTimeout, DefaultConnectTimeout)
}
func (c *Client) stallTimeout() time.Duration { return orDefault(c.StallTimeout, DefaultStallTimeout) }

func orDefault(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}

func (c *Client) httpClient() *http.Client {
	c.once.Do(func() {
		dialer := &net.Dialer{Timeout: c.connectTimeout(), KeepAlive: 30 * time.Second}
		// Never set http.Client.Timeout: it would cap the whole body. The
		// stall timeout is ResponseHeaderTimeout plus the body watchdog.
		c.hc = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   c.connectTimeout(),
			ResponseHeaderTimeout: c.stallTimeout(),
			// The payload must be the exact bytes: no transparent decoding.
			DisableCompression: true,
			// HTTP/1.1 only, as the sidecar speaks.
			TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
			ReadBufferSize:      64 << 10,
		}}
	})
	return c.hc
}

// CloseIdleConnections closes the connections kept for reuse.
func (c *Client) CloseIdleConnections() { c.httpClient().CloseIdleConnections() }

// errStall is the cause the body watchdog cancels a request with.
var errStall = errors.New("stall timeout")

// Fetch GETs rawURL from the sidecar in framed mode and writes the verified
// payload to w as it verifies: every byte written is exactly what the legacy
// service sent, but only a nil error says the payload is complete. Use
// WriteFile to get a file that exists only when it is.
//
// A non-200 answer with a framed body (an upstream 500 on a small endpoint)
// is verified and returned as the *framing.StreamError its end frame
// reports; its payload is not written. A non-200 answer without one is a
// *StatusError. The caller's context governs the whole exchange: canceling
// it returns an error wrapping context.Canceled.
func (c *Client) Fetch(ctx context.Context, rawURL string, w io.Writer) (Summary, error) {
	start := time.Now()
	if err := checkURL(rawURL); err != nil {
		return Summary{}, err
	}
	reqCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(context.Canceled)
	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, rawURL, nil)
	if err != nil {
		return Summary{}, fmt.Errorf("client: %w: %w", ErrInvalidURL, err)
	}
	req.Header.Set("Accept", framing.ContentType)
	c.setHeaders(req)

	resp, err := c.httpClient().Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return Summary{}, fmt.Errorf("client: GET %s: %w", rawURL, ctx.Err())
		}
		return Summary{}, withClass(ErrTransport, fmt.Errorf("client: %w", err)) // *url.Error says "Get URL: ..."
	}
	defer resp.Body.Close()

	src := &source{r: resp.Body}
	if d := c.stallTimeout(); d > 0 {
		src.d = d
		src.stall = time.AfterFunc(d, func() { cancel(errStall) })
		src.stall.Stop()
		defer src.stall.Stop()
	}
	v := verifier{src: src, start: start, expected: -1, progress: c.Progress}
	if c.VerifyContent {
		v.content = func(path string) (*content.Stream, error) { return c.contentCheck(ctx, rawURL, path) }
	}
	if n, err := strconv.ParseUint(resp.Header.Get(headerExpectedRecords), 10, 63); err == nil {
		v.expected = int64(n)
	}

	framed := isFramed(resp.Header.Get("Content-Type"))
	if resp.StatusCode != http.StatusOK && !framed {
		return Summary{Duration: time.Since(start)}, statusError(resp.StatusCode, src)
	}
	if !framed {
		return Summary{Duration: time.Since(start)}, withClass(ErrTransport,
			fmt.Errorf("client: %w: the server answered with Content-Type %q, not %s: is the URL the backseal sidecar?",
				ErrNotFramed, resp.Header.Get("Content-Type"), framing.ContentType))
	}
	out := w
	if resp.StatusCode != http.StatusOK {
		out = io.Discard
	}
	sum, err := v.copy(ctx, out)
	switch {
	case ctx.Err() != nil && err != nil:
		return sum, fmt.Errorf("client: %w", ctx.Err())
	case src.failed() && errors.Is(context.Cause(reqCtx), errStall):
		return sum, withClass(ErrTransport, fmt.Errorf("client: %w: no byte for %v after %d payload bytes", ErrStalled, src.d, sum.Bytes))
	case src.failed():
		return sum, withClass(ErrTransport, fmt.Errorf("client: connection failed after %d payload bytes: %w", sum.Bytes, src.err))
	case err != nil && resp.StatusCode != http.StatusOK && !errors.Is(err, ErrIntegrity):
		return sum, fmt.Errorf("client: HTTP %d: %w", resp.StatusCode, errors.Unwrap(err))
	case err != nil:
		return sum, err
	case resp.StatusCode != http.StatusOK:
		return sum, fmt.Errorf("client: %w", &StatusError{StatusCode: resp.StatusCode})
	}
	if id := resp.Header.Get(headerStreamID); id != "" && id != sum.StreamID {
		sum.Status = ""
		return sum, fmt.Errorf("client: %w: the %s header says %s, the stream says %s", ErrIntegrity, headerStreamID, id, sum.StreamID)
	}
	return sum, nil
}

// setHeaders sets what every request to the sidecar carries.
func (c *Client) setHeaders(req *http.Request) {
	ua := c.UserAgent
	if ua == "" {
		ua = "backseal-client"
	}
	req.Header.Set("User-Agent", ua)
	if c.BearerToken != "" {
		req.Header.Set("Authorization", "Bearer "+c.BearerToken)
	}
}

// checkURL accepts http:// and https:// URLs with a host.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("client: %w: %w", ErrInvalidURL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("client: %w %q: want http://host:port/path or https://host:port/path", ErrInvalidURL, raw)
	}
	return nil
}

func isFramed(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && strings.EqualFold(mt, framing.ContentType)
}

// maxStatusBody bounds the text of a non-framed error answer kept for the
// message.
const maxStatusBody = 512

func statusError(code int, body io.Reader) error {
	b, _ := io.ReadAll(io.LimitReader(body, maxStatusBody))
	for !utf8.Valid(b) && len(b) > 0 { // cut inside a character
		b = b[:len(b)-1]
	}
	text := strings.Join(strings.Fields(string(b)), " ")
	return fmt.Errorf("client: %w", &StatusError{StatusCode: code, Body: text})
}
