package proxy

import (
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/backseal/backseal/internal/config"
)

// The shipped configs/backseal.yaml must list every key with its default, so
// that an operator reading it sees the truth.
func TestShippedConfigIsTheDefaults(t *testing.T) {
	got := Config{}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	apply, err := config.Flags(fs, &got, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := fs.Parse([]string{"--config", "../configs/backseal.yaml"}); err != nil {
		t.Fatal(err)
	}
	if err := apply(); err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	if len(got.TrustedProxies) == 0 {
		got.TrustedProxies = nil // "[]" in YAML
	}
	if len(got.AllowCIDRs) == 0 {
		got.AllowCIDRs = nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("configs/backseal.yaml = %+v\nDefaultConfig() = %+v", got, want)
	}
	if err := want.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidateNamesTheKey(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		key    string
	}{
		{"listen", func(c *Config) { c.Listen = "nope" }, "listen"},
		{"upstream scheme", func(c *Config) { c.Upstream = "ftp://x:1" }, "upstream"},
		{"upstream path", func(c *Config) { c.Upstream = "http://x:1/base" }, "upstream"},
		{"stall", func(c *Config) { c.StallTimeout = 0 }, "stall_timeout"},
		{"record size", func(c *Config) { c.MaxRecordSize = 0 }, "max_record_size"},
		{"cidr", func(c *Config) { c.TrustedProxies = []string{"10.0.0.1"} }, "trusted_proxies"},
		{"log level", func(c *Config) { c.LogLevel = "loud" }, "log_level"},
		{"waypoint without verify_content", func(c *Config) {
			c.TrustedWaypoint = "0:6072b68a942aace147e0655c5704beaa255c84a7829baa4e72a500f1516584c4"
		}, "trusted_waypoint"},
		{"waypoint malformed", func(c *Config) { c.VerifyContent, c.TrustedWaypoint = true, "0:abc" }, "trusted_waypoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), "config: "+tt.key+":") {
				t.Fatalf("Validate() = %v, want an error naming %s", err, tt.key)
			}
		})
	}
}
