package main

import "testing"

// TestCommands checks the command table: every entry is complete and no
// name is listed twice.
func TestCommands(t *testing.T) {
	seen := map[string]bool{}
	for _, cmd := range commands {
		if cmd.Name == "" || cmd.Summary == "" || cmd.Run == nil {
			t.Errorf("incomplete entry %+v", cmd)
		}
		if seen[cmd.Name] {
			t.Errorf("%q listed twice", cmd.Name)
		}
		seen[cmd.Name] = true
	}
}
