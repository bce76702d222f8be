package cli

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHealth(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "draining", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/healthz", http.StatusFound) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String() + "/healthz"
	ln.Close()

	tests := []struct {
		name   string
		args   []string
		exit   int
		stderr string
	}{
		{"200", []string{srv.URL + "/healthz"}, 0, ""},
		{"503", []string{srv.URL + "/readyz"}, 1, "503 Service Unavailable"},
		{"404", []string{srv.URL + "/nope"}, 1, "404"},
		{"redirect is not 200", []string{srv.URL + "/moved"}, 1, "302"},
		{"refused", []string{refused}, 1, "refused"},
		{"timeout", []string{"--timeout", "100ms", srv.URL + "/slow"}, 1, "Timeout"},
		{"no URL", nil, 2, "usage"},
		{"two URLs", []string{srv.URL, srv.URL}, 2, "usage"},
		{"not a URL", []string{"127.0.0.1:9187/healthz"}, 2, "not an http"},
		{"bad timeout", []string{"--timeout", "0s", srv.URL}, 2, "positive"},
		{"help", []string{"-h"}, 0, "usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if got := run(append([]string{"health"}, tt.args...), &out, &errOut); got != tt.exit {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", got, tt.exit, out.String(), errOut.String())
			}
			if !strings.Contains(errOut.String(), tt.stderr) {
				t.Fatalf("stderr %q, want it to mention %q", errOut.String(), tt.stderr)
			}
			if tt.exit == 0 && len(tt.args) > 0 && tt.args[0] != "-h" && !strings.Contains(out.String(), "200 OK") {
				t.Fatalf("stdout %q, want the status", out.String())
			}
		})
	}
}
