package cli

import (
	"bytes"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	commands := []Command{
		{Name: "version", Summary: "print the version and exit", Run: Version},
		{Name: "echo", Summary: "print the arguments", Run: func(env Env, args []string) int {
			env.Stdout.Write([]byte(strings.Join(args, " ")))
			return 7
		}},
	}
	tests := []struct {
		name   string
		args   []string
		exit   int
		stdout string
		stderr string
	}{
		{"no command", nil, 2, "", "commands:\n  echo     print the arguments\n  version  print the version and exit\n"},
		{"help", []string{"--help"}, 0, "", "usage: backseal COMMAND"},
		{"unknown", []string{"nope"}, 2, "", `unknown command "nope"`},
		{"dispatch", []string{"echo", "a", "-b"}, 7, "a -b", ""},
		{"version", []string{"version"}, 0, "backseal 1.2.3\n", ""},
		{"version usage", []string{"version", "x"}, 2, "", "usage: backseal version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if got := Run("1.2.3", commands, tt.args, &out, &errOut); got != tt.exit {
				t.Fatalf("exit %d, want %d; stderr %q", got, tt.exit, errOut.String())
			}
			if got := out.String(); got != tt.stdout {
				t.Errorf("stdout %q, want %q", got, tt.stdout)
			}
			if !strings.Contains(errOut.String(), tt.stderr) {
				t.Errorf("stderr %q, want it to contain %q", errOut.String(), tt.stderr)
			}
		})
	}
}
