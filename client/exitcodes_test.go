package client_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/backseal/backseal/client"
	"github.com/backseal/backseal/framing"
)

var update = flag.Bool("update", false, "rewrite the README's exit status table from client.ExitCodes")

func TestExitCodesTable(t *testing.T) {
	seen := map[string]bool{}
	for i, st := range client.ExitCodes {
		if i > 0 && st.Code <= client.ExitCodes[i-1].Code {
			t.Errorf("ExitCodes[%d] = %d: not in ascending order", i, st.Code)
		}
		if st.Name == "" || st.Meaning == "" || st.Detail == "" || seen[st.Name] {
			t.Errorf("ExitCodes[%d] = %+v: a field is empty or the name is taken", i, st)
		}
		seen[st.Name] = true
		if got := client.ExitName(st.Code); got != st.Name {
			t.Errorf("ExitName(%d) = %q, want %q", st.Code, got, st.Name)
		}
	}
	if got, want := client.ExitName(99), "99"; got != want {
		t.Errorf("ExitName(99) = %q, want %q", got, want)
	}
}

// readmeExitTable is the README's exit status table, header included.
var readmeExitTable = regexp.MustCompile(`(?m)^\| exit \| meaning \|\n\|---\|---\|\n(?:\|.*\n)*`)

// TestREADMEExitCodes checks that the README's table is client.ExitCodes;
// -update rewrites it.
func TestREADMEExitCodes(t *testing.T) {
	var b strings.Builder
	b.WriteString("| exit | meaning |\n|---|---|\n")
	for _, st := range client.ExitCodes {
		fmt.Fprintf(&b, "| %d | %s |\n", st.Code, st.Detail)
	}
	want := b.String()

	const path = "../README.md"
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	loc := readmeExitTable.FindIndex(readme)
	if loc == nil {
		t.Fatalf("%s: no table headed | exit | meaning |", path)
	}
	got := string(readme[loc[0]:loc[1]])
	if got == want {
		return
	}
	if *update {
		out := string(readme[:loc[0]]) + want + string(readme[loc[1]:])
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s's exit status table is not client.ExitCodes (go test ./client -run TestREADMEExitCodes -update):\ngot:\n%swant:\n%s", path, got, want)
}

// TestPackageDocExitTable checks the package comment's table of error
// classes: ExitCode maps each class to the status the row names, and every
// failure status has a row.
func TestPackageDocExitTable(t *testing.T) {
	src, err := os.ReadFile("client.go")
	if err != nil {
		t.Fatal(err)
	}
	samples := map[string]error{
		"ErrIntegrity":         client.ErrIntegrity,
		"*framing.StreamError": &framing.StreamError{Code: framing.CodeTruncated},
		"ErrTransport":         client.ErrTransport,
		"ErrRejected":          client.ErrRejected,
		"ErrInput":             client.ErrInput,
		"ErrOutput":            client.ErrOutput,
		"context.Canceled":     context.Canceled,
	}
	statuses := map[string]int{
		"ExitLocal":       client.ExitLocal,
		"ExitUsage":       client.ExitUsage,
		"ExitTransport":   client.ExitTransport,
		"ExitStream":      client.ExitStream,
		"ExitIntegrity":   client.ExitIntegrity,
		"ExitInterrupted": client.ExitInterrupted,
	}
	row := regexp.MustCompile(`(?m)^//\t(\S+(?:, \S+)*)\s{2,}.*\s(Exit\w+)$`)
	rows := row.FindAllStringSubmatch(string(src), -1)
	if len(rows) == 0 {
		t.Fatal("client.go: no table of error classes and Exit statuses in the package comment")
	}
	covered := map[int]bool{}
	for _, r := range rows {
		code, ok := statuses[r[2]]
		if !ok {
			t.Errorf("client.go: row %q names %s, not a failure status", r[0], r[2])
			continue
		}
		covered[code] = true
		for _, class := range strings.Split(r[1], ", ") {
			err, ok := samples[class]
			if !ok {
				t.Errorf("client.go: row %q: no sample error for %s; add one to this test", r[0], class)
				continue
			}
			if got := client.ExitCode(err); got != code {
				t.Errorf("client.go says %s maps to %s (%d); ExitCode gives %d", class, r[2], code, got)
			}
		}
	}
	for _, st := range client.ExitCodes {
		if st.Code != client.ExitOK && !covered[st.Code] {
			t.Errorf("client.go's table has no row for exit %d (%s)", st.Code, st.Name)
		}
	}
}
