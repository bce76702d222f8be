package proxy

import (
	"bytes"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
)

// access guards the public listener for deployments that expose it beyond
// the node's pod: the legacy service has no authentication of its own. Token
// and certificate are files, reloaded on SIGHUP without dropping streams.
type access struct {
	allow     []netip.Prefix
	tokenFile string
	token     atomic.Pointer[[]byte] // the bearer token; nil: no token required
	certFile  string
	keyFile   string
	cert      atomic.Pointer[tls.Certificate]
}

func newAccess(cfg Config) (*access, error) {
	a := &access{tokenFile: cfg.BearerTokenFile, certFile: cfg.TLSCertFile, keyFile: cfg.TLSKeyFile}
	for _, cidr := range cfg.AllowCIDRs {
		pre, err := netip.ParsePrefix(cidr)
		if err != nil {
			return nil, fmt.Errorf("config: allow_cidrs: %w", err)
		}
		a.allow = append(a.allow, pre.Masked())
	}
	if err := a.reload(); err != nil {
		return nil, err
	}
	return a, nil
}

// reload rereads the token and the certificate. On error the old ones stay.
func (a *access) reload() error {
	var errs []error
	if a.tokenFile != "" {
		tok, err := readToken(a.tokenFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("bearer_token_file: %w", err))
		} else {
			want := []byte(tok)
			a.token.Store(&want)
		}
	}
	if a.certFile != "" {
		cert, err := tls.LoadX509KeyPair(a.certFile, a.keyFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("tls_cert_file: %w", err))
		} else {
			a.cert.Store(&cert)
		}
	}
	return errors.Join(errs...)
}

func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" || strings.ContainsAny(tok, " \t\r\n") {
		return "", fmt.Errorf("%s: the token must be one non-empty word", path)
	}
	return tok, nil
}

// allowed reports whether addr may use the public listener.
func (a *access) allowed(addr netip.Addr) bool {
	if len(a.allow) == 0 {
		return true
	}
	addr = addr.Unmap()
	for _, pre := range a.allow {
		if pre.Contains(addr) {
			return true
		}
	}
	return false
}

// authorized checks an Authorization header value, comparing the token in
// constant time. The scheme is case-insensitive and one or more spaces may
// follow it (RFC 9110 §11.4: auth-scheme 1*SP token68).
func (a *access) authorized(header []byte) bool {
	want := a.token.Load()
	if want == nil {
		return true
	}
	scheme, cred, ok := bytes.Cut(header, []byte(" "))
	if !ok || !bytes.EqualFold(scheme, []byte("Bearer")) {
		return false
	}
	return subtle.ConstantTimeCompare(bytes.TrimLeft(cred, " "), *want) == 1
}

// tlsConfig serves the current certificate; nil when TLS is off.
func (a *access) tlsConfig() *tls.Config {
	if a.certFile == "" {
		return nil
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return a.cert.Load(), nil
		},
	}
}
