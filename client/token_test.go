package client_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/backseal/backseal/client"
	"github.com/backseal/backseal/proxy"
	"github.com/backseal/backseal/sim"
)

// TestBearerToken: against a sidecar with bearer_token_file, a fetch without
// the token is rejected (401) and one with it verifies.
func TestBearerToken(t *testing.T) {
	up, err := sim.NewServer(testChain())
	if err != nil {
		t.Fatal(err)
	}
	if err := up.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600)
	pc := proxy.DefaultConfig()
	pc.Listen, pc.AdminListen, pc.Upstream, pc.BearerTokenFile = "127.0.0.1:0", "", up.URL(), tokenFile
	px, err := proxy.NewServer(pc, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := px.Start(); err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	url := "http://" + px.Addr() + "/transactions/0/10"

	_, err = (&client.Client{}).Fetch(context.Background(), url, io.Discard)
	if !errors.Is(err, client.ErrRejected) || client.ExitCode(err) != client.ExitUsage {
		t.Fatalf("without the token: %v (exit %d), want a rejection", err, client.ExitCode(err))
	}
	var got bytes.Buffer
	sum, err := (&client.Client{BearerToken: "s3cret"}).Fetch(context.Background(), url, &got)
	if err != nil || sum.Records != 10 {
		t.Fatalf("with the token: %+v, %v", sum, err)
	}
}
