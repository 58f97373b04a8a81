// Command breakwater is the command-line tool of the Breakwater filter.
//
//	breakwater validate FILE   check a plugin configuration offline, with the
//	                           code the plugin runs at start (config.Load)
//	breakwater serve ...       run the built .wasm in the dev host (serve.go)
//	breakwater demo ...        a self-contained demo: phased upstream, load,
//	                           timeline (demo.go)
//	breakwater perf ...        instructions, host calls, allocations per
//	                           request of any proxy-wasm plugin (perf.go)
//
// Subcommands are entries of the commands table; add one there.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/breakwater/breakwater/filter/config"
)

// command is one subcommand: run gets the arguments after its name.
type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

// commands is the dispatch table, in the order usage lists them.
var commands = []command{
	{"validate", "validate FILE    check a plugin configuration (prints ok, or the one error line)", runValidate},
	{"serve", "serve --wasm FILE --config FILE --cluster NAME=URL ...   run the plugin in the dev host (serve -h)", runServe},
	{"demo", "demo [--wasm FILE] [--duration 30s]   watch the plugin protect a failing upstream (demo -h)", runDemo},
	{"perf", "perf --wasm FILE [--config FILE] [--workers N] [--requests N] [--json]   deterministic guest work per request (perf -h)", runPerf},
}

// Exit codes.
const (
	exitOK      = 0
	exitInvalid = 1 // the configuration (or the file) is not valid
	exitUsage   = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return exitOK
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "breakwater: unknown command %q\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: breakwater COMMAND [ARGS]")
	fmt.Fprintln(w, "commands:")
	for _, c := range commands {
		fmt.Fprintln(w, "  "+c.summary)
	}
}

// runValidate checks one configuration file with config.Load: it prints
// "ok" on stdout and exits 0, or prints the single error line on stderr and
// exits 1.
func runValidate(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 || args[0] == "" {
		fmt.Fprintln(stderr, "usage: breakwater validate FILE")
		return exitUsage
	}
	data, err := os.ReadFile(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "breakwater: validate: %v\n", err)
		return exitInvalid
	}
	if _, err := config.Load(data); err != nil {
		fmt.Fprintln(stderr, err)
		return exitInvalid
	}
	fmt.Fprintln(stdout, "ok")
	return exitOK
}
