// Command backseal is a sidecar reverse proxy that makes the legacy node backup
// service's streams verifiable. See README.md and docs/.
//
// main holds only the command table; the commands live in internal/cli and
// the work itself in the packages (proxy/, sim/, client/, framing/, upstream/).
package main

import (
	"os"

	"github.com/backseal/backseal/internal/cli"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

// commands is backseal's command table; usage lists it by name.
var commands = []cli.Command{
	{Name: "demo", Summary: "simulator + sidecar + verified fetch, showing a truncation caught", Run: cli.Demo},
	{Name: "fetch", Summary: "fetch a framed stream through the sidecar and verify it", Run: cli.Fetch},
	{Name: "health", Summary: "GET a URL; exit 0 on 200, else 1 (container health checks)", Run: cli.Health},
	{Name: "serve", Summary: "run the validating, reframing sidecar proxy", Run: cli.Serve},
	{Name: "sim", Summary: "run the legacy backup service simulator", Run: cli.Sim},
	{Name: "verify", Summary: "verify a saved framed stream offline", Run: cli.Verify},
	{Name: "version", Summary: "print the version and exit", Run: cli.Version},
}

func main() {
	os.Exit(cli.Run(version, commands, os.Args[1:], os.Stdout, os.Stderr))
}
