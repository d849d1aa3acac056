package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
)

// cli is one command's flags, usage and output streams. Every command
// parses its arguments the same way: help (-h, --help) prints the usage
// to standard output and exits 0; a bad flag or argument prints one error
// line, and a hint to ask for help, to standard error and exits 2. Flags
// may come before or after the positional arguments; the usage spells
// every flag with two dashes (Go's flag package takes one or two).
type cli struct {
	fs             *flag.FlagSet
	name           string // "executions list"
	args           string // what follows the name in the usage line
	about          string
	examples       []string
	groups         []flagGroup
	stdout, stderr io.Writer
}

// flagGroup is a titled list of flags, in the order they were defined.
type flagGroup struct {
	title string
	names []string
}

func newCLI(name, args, about string, stdout, stderr io.Writer) *cli {
	fs := flag.NewFlagSet("durable "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors and usage are printed by parse
	fs.Usage = func() {}
	return &cli{fs: fs, name: name, args: args, about: about, stdout: stdout, stderr: stderr,
		groups: []flagGroup{{title: "flags"}}}
}

// group starts a new group of flags in the usage.
func (c *cli) group(title string) { c.groups = append(c.groups, flagGroup{title: title}) }

func (c *cli) added(name string) {
	g := &c.groups[len(c.groups)-1]
	g.names = append(g.names, name)
}

func (c *cli) stringVar(p *string, name, def, usage string) {
	c.fs.StringVar(p, name, def, usage)
	c.added(name)
}

func (c *cli) boolVar(p *bool, name string, def bool, usage string) {
	c.fs.BoolVar(p, name, def, usage)
	c.added(name)
}

func (c *cli) intVar(p *int, name string, def int, usage string) {
	c.fs.IntVar(p, name, def, usage)
	c.added(name)
}

func (c *cli) float64Var(p *float64, name string, def float64, usage string) {
	c.fs.Float64Var(p, name, def, usage)
	c.added(name)
}

func (c *cli) durationVar(p *time.Duration, name string, def time.Duration, usage string) {
	c.fs.DurationVar(p, name, def, usage)
	c.added(name)
}

func (c *cli) varFlag(v flag.Value, name, usage string) {
	c.fs.Var(v, name, usage)
	c.added(name)
}

// parse parses args. It returns the positional arguments and, when the
// command must stop, the exit code (ok false): 0 after printing help,
// exitUsage after printing an error.
func (c *cli) parse(args []string) (pos []string, code int, ok bool) {
	for {
		err := c.fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			c.usage(c.stdout)
			return nil, exitOK, false
		}
		if err != nil {
			return nil, c.fail(flagError(err)), false
		}
		rest := c.fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), 0, true
		}
		if len(rest) == 0 {
			return pos, 0, true
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// fail prints a usage error and returns exitUsage.
func (c *cli) fail(err error) int {
	fmt.Fprintf(c.stderr, "durable %s: %v\nRun 'durable %s --help' for usage.\n", c.name, err, c.name)
	return exitUsage
}

// failf is fail with a formatted error.
func (c *cli) failf(format string, a ...any) int { return c.fail(fmt.Errorf(format, a...)) }

// errorf prints an error of the command's work and returns exitError.
func (c *cli) errorf(format string, a ...any) int {
	fmt.Fprintf(c.stderr, "durable %s: %s\n", c.name, fmt.Sprintf(format, a...))
	return exitError
}

// flagDash spells the flag package's "-name" as "--name".
var flagDash = regexp.MustCompile(`(: |flag |for )-([A-Za-z])`)

func flagError(err error) error {
	msg := flagDash.ReplaceAllString(err.Error(), "$1--$2")
	msg = strings.Replace(msg, "flag provided but not defined", "unknown flag", 1)
	return errors.New(msg)
}

// usage prints the command's usage: its synopsis, what it does, its flags
// by group, and examples.
func (c *cli) usage(w io.Writer) {
	line := "durable " + c.name
	if c.args != "" {
		line += " " + c.args
	}
	fmt.Fprintf(w, "usage: %s\n", line)
	if c.about != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(c.about, "\n"))
	}
	width := 0
	for _, g := range c.groups {
		for _, name := range g.names {
			width = max(width, len(flagLeft(c.fs.Lookup(name))))
		}
	}
	width = min(width, 24)
	for _, g := range c.groups {
		if len(g.names) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", g.title)
		printFlags(w, c.fs, g.names, width)
	}
	if len(c.examples) > 0 {
		fmt.Fprintln(w, "\nexamples:")
		for _, e := range c.examples {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
}

// flagLeft is a flag as the usage spells it: --name VALUE.
func flagLeft(f *flag.Flag) string {
	value, _ := flag.UnquoteUsage(f)
	if value == "" {
		return "--" + f.Name
	}
	return "--" + f.Name + " " + value
}

// printFlags prints the named flags, one per line, their descriptions
// wrapped in a column width characters from the left (a longer flag has
// its description on the next lines).
func printFlags(w io.Writer, fs *flag.FlagSet, names []string, width int) {
	const lineWidth = 80
	for _, name := range names {
		f := fs.Lookup(name)
		_, usage := flag.UnquoteUsage(f)
		if def := f.DefValue; def != "" && def != "0" && def != "false" {
			usage += fmt.Sprintf(" (default %s)", def)
		}
		left := flagLeft(f)
		lines := wrap(usage, max(lineWidth-width-4, 30))
		if len(left) > width {
			fmt.Fprintf(w, "  %s\n", left)
			left = ""
		}
		for i, l := range lines {
			if i > 0 {
				left = ""
			}
			fmt.Fprintf(w, "  %-*s  %s\n", width, left, l)
		}
	}
}

// wrap breaks s into lines of at most n characters, at spaces.
func wrap(s string, n int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		switch {
		case line == "":
			line = word
		case len(line)+1+len(word) > n:
			lines, line = append(lines, line), word
		default:
			line += " " + word
		}
	}
	return append(lines, line)
}

// listFlag is a repeatable flag whose values may also be comma-separated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}
