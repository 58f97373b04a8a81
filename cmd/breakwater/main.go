// Command breakwater is the command-line tool of the Breakwater filter.
//
//	breakwater validate [--explain|-v] FILE|-
//	                           check a plugin configuration offline, with the
//	                           code the plugin runs at start (config.Load);
//	                           warnings for valid but suspicious settings;
//	                           --explain prints the effective configuration
//	breakwater serve ...       run the built .wasm in the dev host (serve.go)
//	breakwater demo ...        a self-contained demo: phased upstream, load,
//	                           timeline (demo.go)
//	breakwater dlq ...         the dead-letter sink on a Redis Stream and its
//	                           list, replay and purge tools (dlq.go)
//	breakwater perf ...        instructions, host calls, allocations per
//	                           request of any proxy-wasm plugin (perf.go)
//
// Subcommands are entries of the commands table; add one there.
package main

import (
	"fmt"
	"io"
	"os"
	"strings"

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
	{"validate", "validate [--explain|-v] FILE|-   check a plugin configuration (prints ok and warnings, or the one error line; - is stdin; --explain prints it with every default)", runValidate},
	{"serve", "serve --wasm FILE --config FILE --cluster NAME=URL ...   run the plugin in the dev host (serve -h)", runServe},
	{"demo", "demo [--wasm FILE] [--duration 30s]   watch the plugin protect a failing upstream (demo -h)", runDemo},
	{"dlq", "dlq serve|list|replay|purge ...   dead letters on a Redis Stream (dlq -h)", runDLQ},
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

// stdin is what "validate -" reads (tests replace it).
var stdin io.Reader = os.Stdin

const validateUsage = "usage: breakwater validate [--explain|-v] FILE|-"

// runValidate checks one configuration (a file, or standard input for "-")
// with config.Load, the code the plugin runs at start. Valid: it prints "ok"
// on stdout (or, with --explain / -v, the effective configuration with every
// default filled in) and one line per warning on stderr, and exits 0 (a
// warning is a valid configuration that is almost certainly wrong). Invalid:
// it prints the single error line on stderr and exits 1. With --explain,
// stderr also gets the worst-case shared data of each user (keyed table,
// stale cache, retry budget, the plugin's own keys) and the total.
func runValidate(args []string, stdout, stderr io.Writer) int {
	explain := false
	file, files := "", 0
	for _, a := range args {
		switch a {
		case "--explain", "-explain", "-v", "--verbose":
			explain = true
		case "-h", "-help", "--help":
			fmt.Fprintln(stdout, validateUsage)
			return exitOK
		default:
			if a == "" || (strings.HasPrefix(a, "-") && a != "-") {
				fmt.Fprintln(stderr, validateUsage)
				return exitUsage
			}
			file = a
			files++
		}
	}
	if files != 1 {
		fmt.Fprintln(stderr, validateUsage)
		return exitUsage
	}
	var data []byte
	var err error
	if file == "-" {
		data, err = io.ReadAll(io.LimitReader(stdin, config.MaxDocumentBytes+1))
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		fmt.Fprintf(stderr, "breakwater: validate: %v\n", err)
		return exitInvalid
	}
	cfg, err := config.Load(data)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitInvalid
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintln(stderr, w)
	}
	if explain {
		out, err := cfg.Explain()
		if err != nil {
			fmt.Fprintf(stderr, "breakwater: validate: %v\n", err)
			return exitInvalid
		}
		_, _ = stdout.Write(out)
		// The worst-case shared data, per user and in total, on stderr
		// (stdout stays the configuration).
		for _, u := range cfg.SharedUses() {
			fmt.Fprintf(stderr, "shared data: %s: %d records of up to %d bytes: at most %d bytes\n", u.Path, u.Entries, u.RecordBytes, u.Bytes)
		}
		fmt.Fprintf(stderr, "shared data: total at most %d bytes (%.1f MiB) of max_shared_bytes %d\n",
			cfg.SharedBytes(), float64(cfg.SharedBytes())/(1<<20), cfg.MaxSharedBytes)
		return exitOK
	}
	fmt.Fprintln(stdout, "ok")
	return exitOK
}
