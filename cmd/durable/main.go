// Command durable is the durable task engine's command-line tool.
//
//	durable demo    run a demo workflow on an embedded SQLite file
//	durable bench        measure durable on the standard workloads
//	durable bench-table  compare bench results of durable, River and DBOS
//
// Run "durable <command> -h" for a command's flags.
package main

import (
	"fmt"
	"io"
	"os"
)

// exit codes
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitInterrupted = 130
)

type command struct {
	name, summary string
	run           func(args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"demo", "run a demo workflow on an embedded SQLite file (resumable)", runDemo},
		{"bench", "measure the standard workloads on a store", runBench},
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	switch args[0] {
	case "bench-worker": // internal: the worker process of the recovery and latency-remote workloads
		return runBenchWorker(args[1:], stdout, stderr)
	case "bench-table":
		return runBenchTable(args[1:], os.Stdin, stdout, stderr)
	}
	fmt.Fprintf(stderr, "durable: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: durable <command> [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "  %-12s %s\n", "bench-table", "read bench JSON lines (durable, River, DBOS) on stdin; print one comparison table")
}
