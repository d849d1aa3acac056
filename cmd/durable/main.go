// Command durable is the durable task engine's command-line tool: it runs
// a demo, measures the engine, and operates a store (SQLite or PostgreSQL).
//
//	durable demo        run a demo workflow on an embedded SQLite file
//	durable executions  list, show, tree, cancel, retry, wake, delete, purge
//	durable stats       count executions by task and status
//	durable schedules   list, pause, resume the schedules in a store
//	durable migrate     up, status, sql: the store's schema
//	durable version     print the version
//	durable serve       serve the HTTP API over a store
//	durable bench       measure durable on the standard workloads
//	durable bench-table compare bench results of durable, River and DBOS
//
// Run "durable <command> --help" for a command's flags; docs/cli.md
// describes every command.
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
		{"executions", "find, inspect, cancel, retry, wake and delete executions in a store", runExecutions},
		{"stats", "count a store's executions by task and status; how long the oldest due one waits", runStats},
		{"queues", "list, pause and resume a store's queues", runQueues},
		{"schedules", "list, pause and resume the schedules kept in a store", runSchedules},
		{"migrate", "apply, inspect or print the store's schema migrations", runMigrate},
		{"version", "print durable's version and the Go version it was built with", runVersion},
		{"bench", "measure the standard workloads on a store", runBench},
		{"serve", "serve the HTTP API (get, wait, cancel, retry, wake, list, stats) over a store", runServe},
		{"bench-table", "read bench JSON lines (durable, River, DBOS) on stdin; print one comparison table",
			func(args []string, stdout, stderr io.Writer) int {
				return runBenchTable(args, os.Stdin, stdout, stderr)
			}},
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help":
		usage(stdout)
		return exitOK
	case "help":
		if len(args) > 1 { // durable help executions list: that command's help
			return run(append(args[1:len(args):len(args)], "--help"), stdout, stderr)
		}
		usage(stdout)
		return exitOK
	case "bench-worker": // internal: the worker process of the recovery and latency-remote workloads
		return runBenchWorker(args[1:], stdout, stderr)
	case "--version":
		return runVersion(nil, stdout, stderr)
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
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
	fmt.Fprintln(w, "\nThe commands that operate a store take --db PATH (a SQLite file) or --dsn URL\n"+
		"and --schema NAME (PostgreSQL), or read DURABLE_DB, DURABLE_DSN and DURABLE_SCHEMA.\n"+
		"Run 'durable <command> --help' for a command's flags.")
}
