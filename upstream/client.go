package upstream

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// ClientConfig configures a Client. Zero fields take the documented defaults,
// but for Retries, where zero means none (as in the sidecar's Config).
type ClientConfig struct {
	// BaseURL is the legacy service, e.g. "http://127.0.0.1:6186". Required.
	BaseURL string
	// DialTimeout bounds one TCP connect. If zero, 2s is used.
	DialTimeout time.Duration
	// HeaderTimeout bounds the wait for response headers. The node sends
	// headers at once even when its producers are busy, so a long wait means
	// it is unwell. If zero, 60s is used (the legacy client's own limit).
	HeaderTimeout time.Duration
	// Retries is how many times a request that got no usable response (dial
	// error, reset before any byte, 429, 502, 503, 504) is tried again, within
	// the deadline of the request's context. Zero: none.
	Retries int
	// RetryWaitMin and RetryWaitMax bound the backoff. If zero, 50ms and 1s.
	RetryWaitMin, RetryWaitMax time.Duration
	// MaxConns bounds connections to the node for the small endpoints
	// (the count lookups and proxied values). If zero, 32 is used.
	MaxConns int
	// MaxStreamConns bounds the idle connections kept for the streaming
	// endpoints; the caller bounds the streams open at once (the sidecar's
	// max_upstream_streams). Each such connection holds a StreamReadBuffer.
	// If zero, 48 is used.
	MaxStreamConns int
	// UserAgent is sent upstream. If empty, "backseal".
	UserAgent string
	// Logger receives retry notices. If nil, slog.Default().
	Logger *slog.Logger
	// Inject, if set, adds headers derived from a request's context to every
	// upstream request (the W3C trace context, for one).
	Inject func(ctx context.Context, h http.Header)
}

// ErrUnavailable is returned by Client.Open and the count lookups when the
// node gave no usable response after all retries (for a lookup, a body cut
// short is none either).
var ErrUnavailable = errors.New("upstream: unavailable")

// StatusError is returned by the count lookups when the node answered with
// a status other than 200.
type StatusError struct {
	Path   string
	Status int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("upstream: %s answered %d", e.Path, e.Status)
}

// Client talks HTTP/1.1 to one legacy backup service. It is safe for
// concurrent use.
type Client struct {
	base string
	// Streams and small values go over separate pools: a stream's
	// connection reads through a large buffer, a lookup's through a small
	// one, so many lookups do not hold stream-sized buffers while idle.
	values, streams *retryablehttp.Client
	userAgent       string
	inject          func(context.Context, http.Header)

	countsMu sync.Mutex
	counts   map[uint64]uint64 // state_item_count results: immutable per version
}

// maxCachedCounts bounds the item-count cache; snapshot versions are few.
const maxCachedCounts = 4096

// StreamReadBuffer is the read buffer of a connection that carries a
// streaming endpoint. net/http reads a chunked body through it, so its size
// is the most one read(2) takes from the node's socket when chunks are small
// (the node's default is 10 KiB): 128 KiB cost about a tenth less proxy CPU
// per GiB than 64 KiB, and 256 KiB no less than 128 (docs/BENCHMARKS.md,
// step 10). Chunks larger than the buffer are read past it, straight into
// the stream's copy buffer.
const StreamReadBuffer = 128 << 10

// valueReadBuffer is the read buffer of the small endpoints' connections:
// their answers are a few bytes to a few KiB.
const valueReadBuffer = 16 << 10

// NewClient validates cfg and returns a Client.
func NewClient(cfg ClientConfig) (*Client, error) { return newClient(cfg, nil) }

// newClient is NewClient with dial, if not nil, in place of a net.Dialer
// (tests watch the connections through it).
func newClient(cfg ClientConfig, dial func(ctx context.Context, network, addr string) (net.Conn, error)) (*Client, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("upstream: base URL %q must be http://host:port", cfg.BaseURL)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		return nil, fmt.Errorf("upstream: base URL %q must have no path or query", cfg.BaseURL)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.DialTimeout, 2*time.Second)
	def(&cfg.HeaderTimeout, 60*time.Second)
	def(&cfg.RetryWaitMin, 50*time.Millisecond)
	def(&cfg.RetryWaitMax, time.Second)
	if cfg.Retries < 0 {
		return nil, fmt.Errorf("upstream: retries %d must not be negative", cfg.Retries)
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = 32
	}
	if cfg.MaxStreamConns == 0 {
		cfg.MaxStreamConns = 48
	}
	if cfg.MaxConns < 0 || cfg.MaxStreamConns < 0 {
		return nil, fmt.Errorf("upstream: connection limits %d and %d must not be negative", cfg.MaxConns, cfg.MaxStreamConns)
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "backseal"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if dial == nil {
		dial = (&net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}).DialContext
	}
	values := newTransport(cfg, dial, valueReadBuffer)
	values.MaxConnsPerHost = cfg.MaxConns
	values.MaxIdleConnsPerHost = cfg.MaxConns
	// Streams are bounded by the caller; only the idle ones are bounded here.
	streams := newTransport(cfg, dial, StreamReadBuffer)
	streams.MaxIdleConnsPerHost = cfg.MaxStreamConns
	return &Client{
		base:      strings.TrimSuffix(u.String(), "/"),
		values:    newRetrying(cfg, values),
		streams:   newRetrying(cfg, streams),
		userAgent: cfg.UserAgent,
		inject:    cfg.Inject,
		counts:    make(map[uint64]uint64),
	}, nil
}

func newTransport(cfg ClientConfig, dial func(ctx context.Context, network, addr string) (net.Conn, error), readBuffer int) *http.Transport {
	return &http.Transport{
		DialContext:           dial,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: cfg.HeaderTimeout,
		// The node never compresses; asking would make net/http decode.
		DisableCompression: true,
		// HTTP/1.1 only: the node speaks nothing else, and a non-nil empty
		// map keeps net/http from negotiating h2 over TLS.
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
		// The node's headers are a few lines; an upstream that sends endless
		// headers fails fast instead of growing a buffer.
		MaxResponseHeaderBytes: 64 << 10,
		ReadBufferSize:         readBuffer,
		WriteBufferSize:        4 << 10,
	}
}

func newRetrying(cfg ClientConfig, t *http.Transport) *retryablehttp.Client {
	rc := retryablehttp.NewClient()
	// Never set http.Client.Timeout: it would cap a whole streamed body.
	rc.HTTPClient = &http.Client{Transport: t}
	rc.RetryMax = cfg.Retries
	rc.RetryWaitMin, rc.RetryWaitMax = cfg.RetryWaitMin, cfg.RetryWaitMax
	rc.CheckRetry = retryPolicy
	rc.Backoff = retryBackoff
	rc.ErrorHandler = retryablehttp.PassthroughErrorHandler
	rc.Logger = slogAdapter{cfg.Logger}
	return rc
}

// retryPolicy retries what is safe and useful for a GET to the node: no
// response at all, or a status that says "try later". A 500 is the node's
// considered answer (pruned, not a snapshot version) and is passed on.
func retryPolicy(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, context.Cause(ctx)
	}
	if err != nil {
		return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true, nil
	}
	return false, nil
}

// retryBackoff is Backoff, or the node's Retry-After when it sends one
// (capped like any wait: a node's "come back in an hour" is not ours to obey).
func retryBackoff(first, limit time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs >= 0 {
			return min(time.Duration(secs)*time.Second, limit)
		}
	}
	return Backoff(attempt, first, limit)
}

// Open sends GET req to the node and returns the response with its body
// unread. The caller must close the body. ctx governs the whole exchange,
// retries, header waits and body included: its deadline bounds how long
// Open may take, and canceling it abandons the stream. header, if not nil,
// is added to the request (trace context, for instance).
func (c *Client) Open(ctx context.Context, req Request, header http.Header) (*http.Response, error) {
	r, err := retryablehttp.NewRequestWithContext(ctx, http.MethodGet, c.base+req.Path(), nil)
	if err != nil {
		return nil, fmt.Errorf("upstream: building request: %w", err)
	}
	for k, v := range header {
		r.Header[k] = v
	}
	r.Header.Set("User-Agent", c.userAgent)
	if c.inject != nil {
		c.inject(ctx, r.Header)
	}
	rc := c.values
	if req.Endpoint.Streaming() {
		rc = c.streams
	}
	resp, err := rc.Do(r)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("upstream: GET %s: %w", req.Path(), context.Cause(ctx))
		}
		return nil, fmt.Errorf("%w: GET %s: %w", ErrUnavailable, req.Path(), err)
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		resp.Body.Close()
		return nil, fmt.Errorf("%w: GET %s: still %d after retries", ErrUnavailable, req.Path(), resp.StatusCode)
	}
	return resp, nil
}

// maxSmallBody bounds the small values the count lookups read.
const maxSmallBody = 64

// MaxProofBody bounds a proof: a few KiB of siblings and a ledger info
// whose signature bitmask and validator set are a few KiB more.
const MaxProofBody = 1 << 20

// Fetch fetches a small endpoint's whole body (a proof, say), of at most
// limit bytes. A body cut short is no usable response: ErrUnavailable,
// like no response at all; a non-200 answer is a *StatusError.
func (c *Client) Fetch(ctx context.Context, req Request, limit int) ([]byte, error) {
	return c.small(ctx, req, limit)
}

func (c *Client) small(ctx context.Context, req Request, limit int) ([]byte, error) {
	resp, err := c.Open(ctx, req, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &StatusError{Path: req.Path(), Status: resp.StatusCode}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("upstream: reading %s: %w", req.Path(), context.Cause(ctx))
		}
		return nil, fmt.Errorf("%w: reading %s: %w", ErrUnavailable, req.Path(), err)
	}
	if len(b) > limit {
		return nil, fmt.Errorf("upstream: %s: body longer than %d bytes", req.Path(), limit)
	}
	return b, nil
}

// DBState fetches /db_state. It is never cached: the committed version moves.
func (c *Client) DBState(ctx context.Context) (DBStateValue, error) {
	b, err := c.small(ctx, Request{Endpoint: DBState}, maxSmallBody)
	if err != nil {
		return DBStateValue{}, err
	}
	return ParseDBState(b)
}

// StateItemCount fetches /state_item_count/{version}. Results are cached:
// a persisted tree never changes. cached reports a cache hit.
func (c *Client) StateItemCount(ctx context.Context, version uint64) (count uint64, cached bool, err error) {
	c.countsMu.Lock()
	n, ok := c.counts[version]
	c.countsMu.Unlock()
	if ok {
		return n, true, nil
	}
	b, err := c.small(ctx, Request{Endpoint: StateItemCount, Args: [3]uint64{version}}, maxSmallBody)
	if err != nil {
		return 0, false, err
	}
	if len(b) != 8 {
		return 0, false, fmt.Errorf("upstream: state_item_count/%d: %d-byte body, want 8", version, len(b))
	}
	n = binary.LittleEndian.Uint64(b)
	c.countsMu.Lock()
	if len(c.counts) >= maxCachedCounts {
		clear(c.counts)
	}
	c.counts[version] = n
	c.countsMu.Unlock()
	return n, false, nil
}

// Close releases idle connections.
func (c *Client) Close() {
	c.values.HTTPClient.CloseIdleConnections()
	c.streams.HTTPClient.CloseIdleConnections()
}

// slogAdapter lets go-retryablehttp log through slog at debug level.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Error(msg string, kv ...any) { a.l.Warn("upstream: "+msg, kv...) }
func (a slogAdapter) Info(msg string, kv ...any)  { a.l.Debug("upstream: "+msg, kv...) }
func (a slogAdapter) Debug(msg string, kv ...any) { a.l.Debug("upstream: "+msg, kv...) }
func (a slogAdapter) Warn(msg string, kv ...any)  { a.l.Warn("upstream: "+msg, kv...) }
