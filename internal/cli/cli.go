// Package cli holds backseal's subcommands: flags, output and exit statuses.
// The work itself lives in the packages (proxy/, sim/, client/, framing/,
// upstream/); main lists the commands in its table and calls Run.
package cli

import (
	"fmt"
	"io"
	"runtime/debug"
	"sort"
)

// Command is one subcommand, an entry of main's command table.
type Command struct {
	Name    string // what follows "backseal" on the command line
	Summary string // one line for the usage list
	// Run runs the command with the arguments after its name and returns
	// the process exit status.
	Run func(env Env, args []string) int
}

// Env is what Run gives every command besides its arguments.
type Env struct {
	// Version is the build's version: the -ldflags stamp main passes to Run,
	// else the module version go install recorded, else "dev".
	Version        string
	Stdout, Stderr io.Writer
}

// Run runs the command line args (without the program name) against
// commands and returns the exit status for os.Exit. version is main's
// stamped version ("dev" when not stamped).
func Run(version string, commands []Command, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		usage(commands, stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, cmd := range commands {
		if cmd.Name == args[0] {
			return cmd.Run(Env{Version: buildVersion(version), Stdout: stdout, Stderr: stderr}, args[1:])
		}
	}
	fmt.Fprintf(stderr, "backseal: unknown command %q\n\n", args[0])
	usage(commands, stderr)
	return 2
}

// usage lists the commands by name.
func usage(commands []Command, w io.Writer) {
	fmt.Fprintln(w, "usage: backseal COMMAND [flags]   (backseal COMMAND -h for a command's flags)")
	fmt.Fprintln(w, "\ncommands:")
	sorted := append([]Command(nil), commands...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	for _, cmd := range sorted {
		fmt.Fprintf(w, "  %-8s %s\n", cmd.Name, cmd.Summary)
	}
}

// Version prints the version.
func Version(env Env, args []string) int {
	if len(args) > 0 {
		fmt.Fprintln(env.Stderr, "usage: backseal version")
		if args[0] == "-h" || args[0] == "--help" {
			return 0
		}
		return 2
	}
	fmt.Fprintf(env.Stdout, "backseal %s\n", env.Version)
	return 0
}

// buildVersion returns version unless it is "dev", the unstamped default;
// then the module version of a go install, if any.
func buildVersion(version string) string {
	if version != "dev" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return version
}
