package config

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type settingsUnderTest struct {
	Listen  string        `yaml:"listen" help:"address"`
	Stall   time.Duration `yaml:"stall_timeout" help:"stall"`
	Retries int           `yaml:"retries" help:"retries"`
	Max     uint32        `yaml:"max_record_size" help:"max"`
	Debug   bool          `yaml:"debug" help:"debug"`
	CIDRs   []string      `yaml:"trusted_proxies" help:"cidrs"`
}

func load(t *testing.T, yamlText string, env []string, args ...string) (settingsUnderTest, error) {
	t.Helper()
	s := settingsUnderTest{Listen: "default:1", Stall: time.Second, Retries: 3, Max: 10}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	apply, err := Flags(fs, &s, env)
	if err != nil {
		t.Fatal(err)
	}
	if yamlText != "" {
		path := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(path, []byte(yamlText), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append([]string{"--config", path}, args...)
	}
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	return s, apply()
}

func TestPrecedence(t *testing.T) {
	yamlText := "listen: file:1\nstall_timeout: 5s\nretries: 7\ntrusted_proxies: [10.0.0.0/8]\n"
	env := []string{"BACKSEAL_STALL_TIMEOUT=6s", "BACKSEAL_MAX_RECORD_SIZE=99", "OTHER=x"}
	got, err := load(t, yamlText, env, "--stall-timeout", "9s", "--debug")
	if err != nil {
		t.Fatal(err)
	}
	want := settingsUnderTest{Listen: "file:1", Stall: 9 * time.Second, Retries: 7, Max: 99, Debug: true, CIDRs: []string{"10.0.0.0/8"}}
	if got.Listen != want.Listen || got.Stall != want.Stall || got.Retries != want.Retries || got.Max != want.Max || got.Debug != want.Debug || strings.Join(got.CIDRs, ",") != "10.0.0.0/8" {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestDefaultsStayWithoutInput(t *testing.T) {
	got, err := load(t, "", nil)
	if err != nil || got.Listen != "default:1" || got.Stall != time.Second || got.Retries != 3 {
		t.Fatalf("got %+v, %v", got, err)
	}
}

// TestIntegersAreDecimal: a leading zero is not octal and 0x is not hex,
// from the environment or a flag alike.
func TestIntegersAreDecimal(t *testing.T) {
	got, err := load(t, "", []string{"BACKSEAL_RETRIES=010", "BACKSEAL_MAX_RECORD_SIZE=0099"})
	if err != nil || got.Retries != 10 || got.Max != 99 {
		t.Fatalf("retries=010, max_record_size=0099: got %d, %d, %v; want 10, 99", got.Retries, got.Max, err)
	}
	for _, tt := range []struct {
		env  []string
		args []string
		want string
	}{
		{[]string{"BACKSEAL_RETRIES=0x10"}, nil, `retries (from BACKSEAL_RETRIES): "0x10" must be a decimal integer`},
		{[]string{"BACKSEAL_MAX_RECORD_SIZE=0x10"}, nil, `max_record_size (from BACKSEAL_MAX_RECORD_SIZE): "0x10" must be a decimal integer`},
		{[]string{"BACKSEAL_RETRIES=0o7"}, nil, `"0o7" must be a decimal integer`},
		{[]string{"BACKSEAL_RETRIES=1_000"}, nil, `"1_000" must be a decimal integer`},
		{nil, []string{"--retries", "0b1"}, `retries (from --retries): "0b1" must be a decimal integer`},
		{[]string{"BACKSEAL_MAX_RECORD_SIZE=4294967296"}, nil, `"4294967296" is out of range`},
	} {
		_, err := load(t, "", tt.env, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("env %q args %q: err = %v, want it to say %q", tt.env, tt.args, err, tt.want)
		}
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  []string
		args []string
		want string
	}{
		{"bad duration flag", "", nil, []string{"--stall-timeout", "soon"}, "stall_timeout (from --stall-timeout)"},
		{"bad env", "", []string{"BACKSEAL_RETRIES=many"}, nil, "retries (from BACKSEAL_RETRIES)"},
		{"overflow", "", []string{"BACKSEAL_MAX_RECORD_SIZE=99999999999"}, nil, "max_record_size"},
		{"unknown yaml key", "stall_timout: 5s\n", nil, nil, "stall_timout"},
		{"bad yaml value", "stall_timeout: [1]\n", nil, nil, "c.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.yaml, tt.env, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}
