package cli

import "io"

// run runs a backseal command line in-process, as main does, with the
// commands these tests drive.
func run(args []string, stdout, stderr io.Writer) int {
	commands := []Command{
		{Name: "demo", Run: Demo},
		{Name: "fetch", Run: Fetch},
		{Name: "health", Run: Health},
		{Name: "serve", Run: Serve},
		{Name: "verify", Run: Verify},
	}
	return Run("test", commands, args, stdout, stderr)
}
