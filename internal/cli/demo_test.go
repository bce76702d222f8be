package cli

import (
	"bytes"
	"strings"
	"testing"
)

// TestDemo runs what `make demo` runs: every step must behave (exit 0), and
// the output must show the truncation caught and healed.
func TestDemo(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"demo"}, &out, &errOut); code != 0 {
		t.Fatalf("demo exited %d\n%s\n%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"no error anywhere", "Backseal-Status: error", "truncated:", "byte-identical to a clean response from the node: yes"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}
