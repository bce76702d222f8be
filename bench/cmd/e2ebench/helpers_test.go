package main

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"2GiB": 2 << 30, "256MiB": 256 << 20, "64k": 64 << 10, "1.5GiB": 3 << 29, "65536": 65536, "8 MB": 8 << 20} {
		got, err := parseSize(in)
		if err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "GiB", "-1MiB", "2TiB", "x"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
	if s := formatSize(2 << 30); s != "2GiB" {
		t.Errorf("formatSize = %q", s)
	}
}

func TestMedianQuantile(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median odd = %v", m)
	}
	if m := median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Errorf("median even = %v", m)
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median of nothing is not NaN")
	}
	ds := make([]time.Duration, 100)
	for i := range ds {
		ds[i] = time.Duration(100-i) * time.Millisecond
	}
	if q := quantile(ds, 0.99); q != 99*time.Millisecond {
		t.Errorf("p99 = %v", q)
	}
	if q := quantile(ds, 0.5); q != 50*time.Millisecond {
		t.Errorf("p50 = %v", q)
	}
	if ds[0] != 100*time.Millisecond {
		t.Error("quantile sorted its input")
	}
}

func TestRotate(t *testing.T) {
	if got := rotate([]int{1, 2, 3}, 4); got[0] != 2 || got[1] != 3 || got[2] != 1 {
		t.Errorf("rotate = %v", got)
	}
}

func TestReplaceSection(t *testing.T) {
	sec := sectionBegin + "\n## End to end\nnew\n" + sectionEnd + "\n"
	doc := "# Benchmarks\n\n## framing\n\ntext\n"
	out, err := replaceSection([]byte(doc), sec)
	if err != nil || string(out) != doc+"\n"+sec {
		t.Fatalf("append: %q, %v", out, err)
	}
	doc2 := "# B\n\n" + sectionBegin + "\nold\n" + sectionEnd + "\n\n## later\n"
	out, err = replaceSection([]byte(doc2), sec)
	if err != nil || string(out) != "# B\n\n"+sec+"\n## later\n" {
		t.Fatalf("replace: %q, %v", out, err)
	}
	if _, err := replaceSection([]byte(sectionEnd+sectionBegin), sec); err == nil || !strings.Contains(err.Error(), "unbalanced") {
		t.Fatalf("unbalanced markers: %v", err)
	}
}

func TestParseFlagHelp(t *testing.T) {
	help := []byte(`flags:
  -max-streams value
    	concurrent requests (env BACKSEAL_MAX_STREAMS, default 1024)
  -max-streams-per-client value
    	per client; beyond it, 503 (env BACKSEAL_MAX_STREAMS_PER_CLIENT, default 64)
  -listen value
    	public listener address (env BACKSEAL_LISTEN, default "0.0.0.0:6187")
  -trusted-proxies value
    	CIDRs (env BACKSEAL_TRUSTED_PROXIES)
`)
	for name, want := range map[string]string{"max-streams": "1024", "max-streams-per-client": "64", "listen": "0.0.0.0:6187", "trusted-proxies": ""} {
		ok, def := parseFlagHelp(help, name)
		if !ok || def != want {
			t.Errorf("%s: ok %v default %q, want %q", name, ok, def, want)
		}
	}
	if ok, _ := parseFlagHelp(help, "max-stream"); ok {
		t.Error("prefix of a flag matched")
	}
}
