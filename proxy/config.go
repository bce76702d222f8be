package proxy

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"time"

	"github.com/backseal/backseal/aptos/ledger"
)

// Config is the sidecar's configuration. Every field is also a YAML key,
// a BACKSEAL_* environment variable and a flag (see internal/config);
// configs/backseal.yaml documents each with its default. Each field is
// named as its key is (upstream_header_timeout: UpstreamHeaderTimeout).
//
// The zero Config is not usable: start from DefaultConfig. One convention
// for "none", here and in upstream.ClientConfig: a zero count or an empty
// value turns a feature off, and is allowed only where its help says so
// (admin_listen, resume_attempts, upstream_retries, allow_cidrs,
// bearer_token_file, tls_cert_file with tls_key_file, trusted_proxies).
// Every duration and every other limit must be positive; Validate names
// the key that is not.
type Config struct {
	Listen      string `yaml:"listen" help:"public listener address (the legacy paths)"`
	Upstream    string `yaml:"upstream" help:"the legacy backup service's base URL"`
	AdminListen string `yaml:"admin_listen" help:"admin listener address (/healthz, /readyz, /metrics); empty disables it"`

	StallTimeout          time.Duration `yaml:"stall_timeout" help:"fail or resume an upstream stream that sends no byte for this long"`
	MaxRecordSize         uint32        `yaml:"max_record_size" help:"largest legacy record accepted, in bytes"`
	ResumeAttempts        int           `yaml:"resume_attempts" help:"upstream re-requests allowed per stream to heal a broken stream; 0 disables resume"`
	ResumeWindow          time.Duration `yaml:"resume_window" help:"longest a heal may take, from a failure to the client's next byte (the first request counts as one); keep stall_timeout + resume_window below the client's read timeout (backup-cli: 60 s)"`
	ResumeBackoff         time.Duration `yaml:"resume_backoff" help:"first wait before a resume; doubles per attempt"`
	UpstreamRetries       int           `yaml:"upstream_retries" help:"retries of an upstream request that got no usable response, within resume_window; 0: none"`
	UpstreamHeaderTimeout time.Duration `yaml:"upstream_header_timeout" help:"wait for the upstream's response headers, per request"`
	CountTimeout          time.Duration `yaml:"count_timeout" help:"wait for the record-count lookups at the end of a stream"`

	DrainTimeout       time.Duration `yaml:"drain_timeout" help:"on SIGTERM, time in-flight streams get to finish before they end as failures"`
	ReadHeaderTimeout  time.Duration `yaml:"read_header_timeout" help:"time a client has to send its request (slow clients are cut)"`
	ClientWriteTimeout time.Duration `yaml:"client_write_timeout" help:"cut a client that accepts no byte of its response for this long, releasing its upstream stream"`
	IdleTimeout        time.Duration `yaml:"idle_timeout" help:"keep-alive idle time on client connections"`
	MaxHeaderBytes     int           `yaml:"max_header_bytes" help:"largest request line plus headers accepted"`

	MaxStreams           int           `yaml:"max_streams" help:"concurrent requests the sidecar serves; beyond it, 503 with Retry-After"`
	MaxStreamsPerClient  int           `yaml:"max_streams_per_client" help:"concurrent requests one client address may hold; beyond it, 503 with Retry-After"`
	BufferBudget         int           `yaml:"buffer_budget" help:"bytes of copy buffers all streams share: each gets the largest read buffer (512 KiB down to 16 KiB) the budget has room for, and the smallest when it has none"`
	MaxUpstreamStreams   int           `yaml:"max_upstream_streams" help:"concurrent streams sent to the node (it runs 64 producers); others queue. Each holds a 128 KiB upstream read buffer"`
	UpstreamQueueTimeout time.Duration `yaml:"upstream_queue_timeout" help:"how long a request waits for an upstream stream slot before 503"`

	AllowCIDRs      []string `yaml:"allow_cidrs" help:"client addresses allowed on the public listener (empty: all)"`
	BearerTokenFile string   `yaml:"bearer_token_file" help:"file holding the token clients must send as Authorization: Bearer (empty: none); reloaded on SIGHUP"`
	TLSCertFile     string   `yaml:"tls_cert_file" help:"PEM certificate for TLS on the public listener (with tls_key_file); reloaded on SIGHUP"`
	TLSKeyFile      string   `yaml:"tls_key_file" help:"PEM private key for tls_cert_file"`

	VerifyContent   bool   `yaml:"verify_content" help:"check each streamed record's hashes and the range against the node's proofs; a mismatch ends the stream content-mismatch (docs/OPERATIONS.md, Content verification)"`
	TrustedWaypoint string `yaml:"trusted_waypoint" help:"with verify_content: the waypoint (version:hash) ledger info signatures are checked from; empty: hashes and proofs only, signatures unchecked"`

	TrustedProxies []string `yaml:"trusted_proxies" help:"CIDRs whose X-Forwarded-For is believed for the logged client address (empty: none)"`
	LogLevel       string   `yaml:"log_level" help:"debug, info, warn or error"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Listen:                "0.0.0.0:6187",
		Upstream:              "http://127.0.0.1:6186",
		AdminListen:           "127.0.0.1:9187",
		StallTimeout:          30 * time.Second, // below the legacy client's 60 s read timeout
		MaxRecordSize:         64 << 20,
		ResumeAttempts:        5,
		ResumeWindow:          20 * time.Second, // + stall_timeout: 50 s, below backup-cli's 60 s
		ResumeBackoff:         100 * time.Millisecond,
		UpstreamRetries:       3,
		UpstreamHeaderTimeout: 10 * time.Second,
		CountTimeout:          10 * time.Second,
		DrainTimeout:          25 * time.Second,
		ReadHeaderTimeout:     10 * time.Second,
		ClientWriteTimeout:    60 * time.Second, // nginx's send_timeout
		IdleTimeout:           90 * time.Second,
		MaxHeaderBytes:        8 << 10,
		MaxStreams:            1024,
		MaxStreamsPerClient:   64,
		BufferBudget:          32 << 20, // 64 streams at 512 KiB reads
		MaxUpstreamStreams:    48,       // below the node's 64 producers, leaving it room for others
		UpstreamQueueTimeout:  10 * time.Second,
		LogLevel:              "info",
	}
}

// Validate reports the first invalid setting, naming its key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config: %s: %s", key, fmt.Sprintf(format, args...)))
	}
	checkAddr := func(key, addr string, optional bool) {
		if addr == "" && optional {
			return
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			bad(key, "%q is not host:port", addr)
		}
	}
	checkAddr("listen", c.Listen, false)
	checkAddr("admin_listen", c.AdminListen, true)
	if u, err := url.Parse(c.Upstream); err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") {
		bad("upstream", "%q must be http://host:port", c.Upstream)
	}
	positive := func(key string, d time.Duration) {
		if d <= 0 {
			bad(key, "must be positive, got %v", d)
		}
	}
	positive("stall_timeout", c.StallTimeout)
	positive("resume_window", c.ResumeWindow)
	positive("resume_backoff", c.ResumeBackoff)
	positive("upstream_header_timeout", c.UpstreamHeaderTimeout)
	positive("count_timeout", c.CountTimeout)
	positive("drain_timeout", c.DrainTimeout)
	positive("read_header_timeout", c.ReadHeaderTimeout)
	positive("client_write_timeout", c.ClientWriteTimeout)
	positive("idle_timeout", c.IdleTimeout)
	if c.MaxRecordSize == 0 {
		bad("max_record_size", "must be positive")
	}
	if c.ResumeAttempts < 0 {
		bad("resume_attempts", "must not be negative")
	}
	if c.UpstreamRetries < 0 {
		bad("upstream_retries", "must not be negative")
	}
	if c.MaxHeaderBytes < 1024 {
		bad("max_header_bytes", "must be at least 1024, got %d", c.MaxHeaderBytes)
	}
	for _, cidr := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(cidr); err != nil {
			bad("trusted_proxies", "%q is not a CIDR", cidr)
		}
	}
	for _, cidr := range c.AllowCIDRs {
		if _, err := netip.ParsePrefix(cidr); err != nil {
			bad("allow_cidrs", "%q is not a CIDR", cidr)
		}
	}
	atLeastOne := func(key string, n int) {
		if n < 1 {
			bad(key, "must be at least 1, got %d", n)
		}
	}
	atLeastOne("max_streams", c.MaxStreams)
	atLeastOne("max_streams_per_client", c.MaxStreamsPerClient)
	atLeastOne("max_upstream_streams", c.MaxUpstreamStreams)
	atLeastOne("buffer_budget", c.BufferBudget)
	positive("upstream_queue_timeout", c.UpstreamQueueTimeout)
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		bad("tls_cert_file", "tls_cert_file and tls_key_file go together")
	}
	if c.BearerTokenFile != "" {
		if _, err := readToken(c.BearerTokenFile); err != nil {
			bad("bearer_token_file", "%v", err)
		}
	}
	if c.TLSCertFile != "" && c.TLSKeyFile != "" {
		if _, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile); err != nil {
			bad("tls_cert_file", "%v", err)
		}
	}
	if c.TrustedWaypoint != "" {
		if !c.VerifyContent {
			bad("trusted_waypoint", "needs verify_content")
		}
		if _, err := ledger.ParseWaypoint(c.TrustedWaypoint); err != nil {
			bad("trusted_waypoint", "%v", err)
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log_level", "%q is not debug, info, warn or error", c.LogLevel)
	}
	return errors.Join(errs...)
}
