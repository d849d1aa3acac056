package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/durable-go/durable"
)

// subcommand is one command of a group (executions, migrate).
type subcommand struct {
	name, args, summary string
	run                 func(args []string, stdout, stderr io.Writer) int
}

func executionsCommands() []subcommand {
	return []subcommand{
		{"list", "[flags]", "list executions, newest first, a page at a time", runList},
		{"show", "ID | --key KEY", "show everything about one execution: input, output, error, attempts, children", runShow},
		{"tree", "ID", "show the tree of executions under one, indented, with statuses", runTree},
		{"cancel", "ID", "cancel an execution that has not finished, with its unfinished descendants", runCancel},
		{"retry", "ID", "enqueue a finished top-level execution again, with the same input; print the new id", runRetry},
		{"wake", "KEY", "wake the sleeping execution waiting under KEY, with an output or an error", runWake},
		{"delete", "ID...", "delete finished top-level executions with their trees, all or nothing", runDelete},
		{"purge", "[flags]", "delete the finished top-level executions a filter selects, in batches", runPurge},
	}
}

func runExecutions(args []string, stdout, stderr io.Writer) int {
	return runGroup("executions", "Find, inspect, retry, cancel, wake and delete executions in a store.",
		executionsCommands(), args, stdout, stderr)
}

// runGroup runs one command of a group, or prints the group's usage.
func runGroup(group, about string, subs []subcommand, args []string, stdout, stderr io.Writer) int {
	usage := func(w io.Writer) {
		fmt.Fprintf(w, "usage: durable %s <command> [flags]\n\n%s\n\ncommands:\n", group, about)
		for _, s := range subs {
			fmt.Fprintf(w, "  %-8s %s\n", s.name, s.summary)
		}
		fmt.Fprintf(w, "\nRun 'durable %s <command> --help' for a command's flags.\n", group)
	}
	if len(args) == 0 {
		fmt.Fprintf(stderr, "durable %s: missing command\n\n", group)
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help":
		usage(stdout)
		return exitOK
	case "help":
		if len(args) > 1 {
			return runGroup(group, about, subs, []string{args[1], "--help"}, stdout, stderr)
		}
		usage(stdout)
		return exitOK
	}
	for _, s := range subs {
		if s.name == args[0] {
			return s.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "durable %s: unknown command %q\n\n", group, args[0])
	usage(stderr)
	return exitUsage
}

// failed prints an error of the store or the executor and returns
// exitError.
func (c *cli) failed(err error) int {
	msg := strings.TrimPrefix(err.Error(), "durable: ")
	if errors.Is(err, durable.ErrInvalidInput) && strings.Contains(msg, "unknown status") {
		msg += "\n(statuses: " + statusList() + ")"
	}
	if errors.Is(err, context.Canceled) {
		msg = "interrupted"
	}
	fmt.Fprintf(c.stderr, "durable %s: %s\n", c.name, msg)
	return exitError
}

// opened parses what every store command shares and opens the store: it
// returns the executor, a function closing the store, the context, and
// the exit code when the command must stop.
func (c *cli) opened(conn *connFlags) (*durable.Executor, context.Context, func(), int) {
	if _, err := conn.resolve(c); err != nil {
		return nil, nil, nil, c.fail(err)
	}
	ctx, stop := interruptContext()
	ex, closeStore, err := conn.open(ctx)
	if err != nil {
		stop()
		return nil, nil, nil, c.failed(err)
	}
	return ex, ctx, func() { closeStore(); stop() }, 0
}

func runList(args []string, stdout, stderr io.Writer) int {
	c := newCLI("executions list", "[flags]", "Lists the executions that match the filters, newest first (--oldest-first for the\n"+
		"reverse), one page at a time: a table for people, or JSON (--json) for scripts.\n"+
		"The table's ATTEMPT counts from 1; ERROR is the first line of the error an\n"+
		"execution ended with (or, when it will run again, its last attempt's).", stdout, stderr)
	conn := c.connFlags()
	ff := c.filterFlags(true)
	var oldest, asJSON bool
	var limit int
	var cursor string
	c.boolVar(&oldest, "oldest-first", false, "list the oldest first (default: the newest first)")
	c.intVar(&limit, "limit", 50, "list `N` executions per page, 1..1000")
	c.stringVar(&cursor, "cursor", "", "continue a listing with the `CURSOR` its previous page printed (same filters and order)")
	c.boolVar(&asJSON, "json", false, `print one JSON document: {"records": [...], "next": CURSOR or ""}`)
	c.examples = []string{
		"durable executions list --db app.db --status failed,timed_out --finished-after 24h",
		"durable executions list --dsn postgres://app@db/app --task charge_card --tag customer:7 --json",
	}
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return c.failf("unexpected argument %q (filters are flags: --status, --task, ...)", pos[0])
	}
	if limit < 1 || limit > 1000 {
		return c.failf("--limit must be in 1..1000, not %d", limit)
	}
	filter, err := ff.filter(time.Now())
	if err != nil {
		return c.fail(err)
	}
	ex, ctx, done, code := c.opened(conn)
	if ex == nil {
		return code
	}
	defer done()
	if err := checkTasks(ctx, ex, filter.TaskIDs); err != nil {
		return c.failed(err)
	}
	page, err := ex.List(ctx, durable.ListOptions{Filter: filter, OldestFirst: oldest, Limit: limit, Cursor: cursor})
	if err != nil {
		return c.failed(err)
	}
	if asJSON {
		doc := struct {
			Records []recordJSON `json:"records"`
			Next    string       `json:"next"`
		}{Records: []recordJSON{}, Next: page.Next}
		for _, r := range page.Records {
			doc.Records = append(doc.Records, jsonOf(r))
		}
		if err := writeJSON(stdout, doc); err != nil {
			return c.failed(err)
		}
		return exitOK
	}
	if len(page.Records) == 0 {
		if cursor != "" {
			fmt.Fprintln(stdout, "no more executions")
		} else {
			fmt.Fprintln(stdout, "no executions match")
		}
		return exitOK
	}
	tw := newTable(stdout)
	fmt.Fprintln(tw, "ID\tTASK\tSTATUS\tATTEMPT\tCREATED\tFINISHED\tERROR")
	for _, r := range page.Records {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", r.ID, r.TaskID, r.Status, attemptNumber(r),
			when(r.CreatedAt), when(r.FinishedAt), oneLine(errText(r.Err), 60))
	}
	tw.Flush()
	if page.Next != "" {
		fmt.Fprintf(stdout, "\nmore: add --cursor %s for the next page\n", page.Next)
	}
	return exitOK
}

func runShow(args []string, stdout, stderr io.Writer) int {
	c := newCLI("executions show", "ID | --key KEY", "Shows everything stored about one execution: its fields, input and output (as\n"+
		"text when they are UTF-8 JSON, else in base64), its error (kind, message, stack),\n"+
		"the history of its failed attempts, tags, the execution it retries, and a summary\n"+
		"of its children.", stdout, stderr)
	conn := c.connFlags()
	var key string
	var asJSON bool
	var maxChildren int
	c.stringVar(&key, "key", "", "show the execution enqueued with this idempotency `KEY` instead of an ID")
	c.intVar(&maxChildren, "children", 20, "list at most `N` children (0: only count them)")
	c.boolVar(&asJSON, "json", false, "print the execution as one JSON object, its children listed briefly")
	c.examples = []string{"durable executions show te_01jd0v8k2m7q3x9c4n5p6r7s8t --db app.db",
		"durable executions show --key order-B-18 --db app.db --json"}
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	switch {
	case len(pos) == 0 && key == "":
		return c.failf("missing execution ID (or --key KEY)")
	case len(pos) > 0 && key != "":
		return c.failf("give an execution ID or --key, not both")
	case len(pos) > 1:
		return c.failf("unexpected argument %q: show takes one execution", pos[1])
	case maxChildren < 0:
		return c.failf("--children must not be negative, not %d", maxChildren)
	}
	ex, ctx, done, code := c.opened(conn)
	if ex == nil {
		return code
	}
	defer done()
	var r durable.Record
	var err error
	if key != "" {
		r, err = ex.GetByKey(ctx, key)
	} else {
		r, err = ex.Get(ctx, pos[0])
	}
	if err != nil {
		return c.failed(err)
	}
	var children []durable.Record
	if r.ChildrenTotal > 0 {
		if children, err = ex.Children(ctx, r.ID); err != nil {
			return c.failed(err)
		}
	}
	if asJSON {
		j := jsonOf(r)
		for _, ch := range children {
			j.Children = append(j.Children, briefJSON(ch))
		}
		if err := writeJSON(stdout, j); err != nil {
			return c.failed(err)
		}
		return exitOK
	}
	printRecord(stdout, r, children, maxChildren, time.Now())
	return exitOK
}

// briefJSON is a child in show's JSON: without payloads and attempts.
func briefJSON(r durable.Record) recordJSON {
	r.Input, r.Output, r.Attempts = nil, nil, nil
	if r.Err != nil {
		e := *r.Err
		e.Stack = ""
		r.Err = &e
	}
	return jsonOf(r)
}

// printRecord prints an execution for people.
func printRecord(w io.Writer, r durable.Record, children []durable.Record, maxChildren int, now time.Time) {
	tw := newTable(w)
	field := func(name, format string, a ...any) { fmt.Fprintf(tw, "%s\t%s\n", name, fmt.Sprintf(format, a...)) }
	field("execution", "%s", r.ID)
	field("task", "%s", r.TaskID)
	field("status", "%s", r.Status)
	attempt := fmt.Sprintf("%d", attemptNumber(r))
	if r.Attempt > 0 {
		attempt += fmt.Sprintf(" (after %d %s)", r.Attempt, plural(r.Attempt, "retry", "retries"))
	}
	field("attempt", "%s", attempt)
	if r.Iteration > 0 {
		field("iteration", "%d", r.Iteration+1)
	}
	if r.Crashes > 0 {
		field("crashes", "%d (runs whose executor died)", r.Crashes)
	}
	field("created", "%s", whenExact(r.CreatedAt))
	if !r.StartedAt.IsZero() {
		field("started", "%s", whenExact(r.StartedAt))
	}
	if !r.WaitingForChildrenAt.IsZero() {
		field("waiting for children", "%s", whenExact(r.WaitingForChildrenAt))
	}
	if !r.WaitingForFinalizeAt.IsZero() {
		field("waiting for finalize", "%s", whenExact(r.WaitingForFinalizeAt))
	}
	if !r.FinishedAt.IsZero() {
		took := ""
		if !r.CreatedAt.IsZero() {
			took = fmt.Sprintf(" (%s after it was created)", roundDuration(r.FinishedAt.Sub(r.CreatedAt)))
		}
		field("finished", "%s%s", whenExact(r.FinishedAt), took)
	}
	if !r.DueAt.IsZero() && !r.Status.Terminal() {
		what := "due"
		switch {
		case r.SleepKey != "" && r.Status == durable.StatusRunning:
			what = "wake by" // then it times out
		case r.Status == durable.StatusRunning:
			what = "lease until"
		}
		rel := "in " + roundDuration(r.DueAt.Sub(now))
		if r.DueAt.Before(now) {
			rel = age(now, r.DueAt) + " ago"
		}
		field(what, "%s (%s)", whenExact(r.DueAt), rel)
	}
	field("updated", "%s", whenExact(r.UpdatedAt))
	if r.ExecutorID != "" {
		field("executor", "%s", r.ExecutorID)
	}
	if r.ParentID != "" {
		role := fmt.Sprintf("child %d", r.ChildIndex)
		if r.IsFinalize {
			role = "finalize"
		}
		field("parent", "%s (%s), as its %s", r.ParentID, r.ParentTaskID, role)
		field("root", "%s (%s)", r.RootID, r.RootTaskID)
	}
	if r.SleepKey != "" {
		field("sleep key", "%s", r.SleepKey)
	}
	if len(r.Tags) > 0 {
		field("tags", "%s", strings.Join(r.Tags, ", "))
	}
	if r.RetryOf != "" {
		field("retry of", "%s", r.RetryOf)
	}
	if r.ActiveKey != "" {
		field("active key", "%s", r.ActiveKey)
	}
	if r.ConcurrencyKey != "" {
		field("concurrency key", "%q", r.ConcurrencyKey)
	}
	for _, k := range slices.Sorted(maps.Keys(r.Metadata)) {
		field("metadata "+k, "%s", r.Metadata[k])
	}
	tw.Flush()

	block(w, "input", r.Input)
	block(w, "output", r.Output)
	if r.Err != nil {
		fmt.Fprintf(w, "\nerror (%s", r.Err.Kind)
		if r.Err.Retryable {
			fmt.Fprint(w, ", retryable")
		}
		fmt.Fprintf(w, "):\n%s\n", indent(r.Err.Message, "  "))
		if r.Err.Stack != "" {
			fmt.Fprintf(w, "  stack:\n%s\n", indent(strings.TrimRight(r.Err.Stack, "\n"), "    "))
		}
	}
	if len(r.Attempts) > 0 {
		fmt.Fprintf(w, "\nfailed attempts (%d", len(r.Attempts))
		if n := r.Attempts[len(r.Attempts)-1].Attempt + 1; n > len(r.Attempts) {
			fmt.Fprintf(w, " kept of %d: the first and the latest", n)
		}
		fmt.Fprintln(w, "):")
		tw := newTable(w)
		fmt.Fprintln(tw, "  #\tSTARTED\tTOOK\tEXECUTOR\tTHEN\tERROR")
		for _, a := range r.Attempts {
			n := fmt.Sprintf("%d", a.Attempt+1)
			if a.Iteration > 0 {
				n += fmt.Sprintf(" (iteration %d)", a.Iteration+1)
			}
			took := "-"
			if !a.StartedAt.IsZero() && !a.FinishedAt.IsZero() {
				took = roundDuration(a.FinishedAt.Sub(a.StartedAt))
			}
			then := string(a.Outcome)
			if a.Outcome == durable.StatusReady {
				then = "retried"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", n, whenExact(a.StartedAt), took, dash(a.ExecutorID), then,
				oneLine(errText(a.Err), 100))
		}
		tw.Flush()
		for _, a := range r.Attempts {
			if a.Err != nil && a.Err.Stack != "" {
				fmt.Fprintf(w, "  attempt %d stack:\n%s\n", a.Attempt+1, indent(strings.TrimRight(a.Err.Stack, "\n"), "    "))
			}
		}
	}
	if r.ChildrenTotal > 0 || len(children) > 0 {
		fmt.Fprintf(w, "\nchildren (%d, %d unfinished): %s\n", max(r.ChildrenTotal, len(children)), r.ChildrenPending, byStatus(children))
		tw := newTable(w)
		for i, ch := range children {
			if i == maxChildren {
				fmt.Fprintf(tw, "  … %d more: durable executions list --parent %s\n", len(children)-maxChildren, r.ID)
				break
			}
			n := fmt.Sprintf("%d", ch.ChildIndex)
			if ch.IsFinalize {
				n = "finalize"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", n, ch.ID, ch.TaskID, ch.Status, oneLine(errText(ch.Err), 60))
		}
		tw.Flush()
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// block prints a payload under a heading: JSON indented when it is long.
func block(w io.Writer, name string, p []byte) {
	if p == nil {
		return
	}
	text := payloadText(p)
	if len(text) > 80 && json.Valid(p) {
		var b bytes.Buffer
		if err := json.Indent(&b, p, "  ", "  "); err == nil {
			text = b.String()
		}
	}
	fmt.Fprintf(w, "\n%s:\n  %s\n", name, text)
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

// byStatus counts records by status: "3 completed, 1 failed".
func byStatus(rs []durable.Record) string {
	n := map[durable.Status]int{}
	for _, r := range rs {
		n[r.Status]++
	}
	var parts []string
	for _, s := range allStatuses {
		if n[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[s], s))
		}
	}
	return strings.Join(parts, ", ")
}

func runTree(args []string, stdout, stderr io.Writer) int {
	c := newCLI("executions tree", "ID", "Shows the execution ID and every execution under it (its children, their\n"+
		"children, ... and finalizes), one per line, indented by depth, with their\n"+
		"statuses. ID may be any execution of a tree, not only its root.", stdout, stderr)
	conn := c.connFlags()
	var asJSON bool
	c.boolVar(&asJSON, "json", false, "print the tree as one JSON object, children nested under \"children\" (no payloads)")
	return c.withOneID(args, conn, func(ctx context.Context, ex *durable.Executor, id string) int {
		root, err := ex.Get(ctx, id)
		if err != nil {
			return c.failed(err)
		}
		tree, err := walkTree(ctx, ex, root)
		if err != nil {
			return c.failed(err)
		}
		if asJSON {
			if err := writeJSON(stdout, tree.json()); err != nil {
				return c.failed(err)
			}
			return exitOK
		}
		tw := newTable(stdout)
		fmt.Fprintln(tw, "TASK\tSTATUS\tID\tATTEMPT\tFINISHED\tERROR")
		tree.print(tw, 0)
		tw.Flush()
		return exitOK
	})
}

// treeNode is an execution with its children.
type treeNode struct {
	rec      durable.Record
	children []*treeNode
}

func walkTree(ctx context.Context, ex *durable.Executor, r durable.Record) (*treeNode, error) {
	n := &treeNode{rec: r}
	if r.ChildrenTotal == 0 {
		return n, nil
	}
	kids, err := ex.Children(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	for _, k := range kids {
		sub, err := walkTree(ctx, ex, k)
		if err != nil {
			return nil, err
		}
		n.children = append(n.children, sub)
	}
	return n, nil
}

func (n *treeNode) print(w io.Writer, depth int) {
	r := n.rec
	name := strings.Repeat("  ", depth) + r.TaskID
	if r.IsFinalize {
		name += " (finalize)"
	}
	if r.SleepKey != "" {
		name += " (key " + r.SleepKey + ")"
	}
	fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\n", name, r.Status, r.ID, attemptNumber(r), when(r.FinishedAt), oneLine(errText(r.Err), 60))
	for _, c := range n.children {
		c.print(w, depth+1)
	}
}

func (n *treeNode) json() recordJSON {
	j := briefJSON(n.rec)
	for _, c := range n.children {
		j.Children = append(j.Children, c.json())
	}
	return j
}

func runCancel(args []string, stdout, stderr io.Writer) int {
	c := newCLI("executions cancel", "ID", "Cancels an execution that has not finished: a ready one never runs, a running\n"+
		"one has its context cancelled in whichever executor runs it (this command does\n"+
		"not wait for it to return), and its unfinished descendants are cancelled with\n"+
		"it. An execution that has finished is left as it is.", stdout, stderr)
	conn := c.connFlags()
	return c.withOneID(args, conn, func(ctx context.Context, ex *durable.Executor, id string) int {
		before, err := ex.Get(ctx, id)
		if err != nil {
			return c.failed(err)
		}
		if before.Status.Terminal() {
			fmt.Fprintf(stdout, "%s (%s) has already finished: %s; nothing to cancel\n", before.ID, before.TaskID, before.Status)
			return exitOK
		}
		if err := ex.Cancel(ctx, before.ID); err != nil {
			return c.failed(err)
		}
		after, err := ex.Get(ctx, before.ID)
		if err != nil {
			return c.failed(err)
		}
		if after.Status != durable.StatusCancelled {
			fmt.Fprintf(stdout, "%s (%s) finished before it could be cancelled: %s\n", after.ID, after.TaskID, after.Status)
			return exitOK
		}
		fmt.Fprintf(stdout, "cancelled %s (%s), which was %s\n", after.ID, after.TaskID, before.Status)
		return exitOK
	})
}

func runRetry(args []string, stdout, stderr io.Writer) int {
	c := newCLI("executions retry", "ID", "Enqueues a new execution of a finished top-level execution's task with the same\n"+
		"input, tags, retry policy and timeout, linked to it (its retry_of), and prints\n"+
		"the new execution's id alone on standard output. The original is left as it\n"+
		"was. An executor that has the task registered runs the retry. A child cannot\n"+
		"be retried alone (retry its root), nor a sleeping execution.", stdout, stderr)
	conn := c.connFlags()
	return c.withOneID(args, conn, func(ctx context.Context, ex *durable.Executor, id string) int {
		r, err := ex.Retry(ctx, id)
		if err != nil {
			return c.failed(err)
		}
		fmt.Fprintln(stdout, r.ID)
		fmt.Fprintf(stderr, "enqueued %s (%s), a retry of %s\n", r.ID, r.TaskID, r.RetryOf)
		return exitOK
	})
}

func runWake(args []string, stdout, stderr io.Writer) int {
	c := newCLI("executions wake", "KEY [--output JSON | --error MESSAGE]", "Ends the sleeping execution waiting under KEY, as SleepingTask.Wake does: it\n"+
		"completes with the output given (JSON, as the default codec encodes the task's\n"+
		"output type; null when none is given), or fails with --error's message. Waking\n"+
		"is idempotent: an execution that has already finished is shown as it is.", stdout, stderr)
	conn := c.connFlags()
	var output, failure string
	c.stringVar(&output, "output", "", "complete the execution with this `JSON` output (a JSON string is quoted: '\"paid\"')")
	c.stringVar(&failure, "error", "", "fail the execution with this `MESSAGE` instead")
	c.examples = []string{`durable executions wake payment-42 --output '"paid $42.00"' --db app.db`,
		`durable executions wake approval-7 --error "rejected by the reviewer" --db app.db`}
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	set := map[string]bool{}
	c.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case len(pos) == 0:
		return c.failf("missing sleep KEY")
	case len(pos) > 1:
		return c.failf("unexpected argument %q: wake takes one key", pos[1])
	case set["output"] && set["error"]:
		return c.failf("give --output or --error, not both")
	case set["error"] && failure == "":
		return c.failf("--error needs a message")
	case set["output"] && !json.Valid([]byte(output)):
		return c.failf("--output %q is not JSON (a string needs quotes: '\"text\"')", output)
	}
	if !set["output"] {
		output = "null"
	}
	var wakeErr error
	if set["error"] {
		wakeErr = errors.New(failure)
	}
	ex, ctx, done, code := c.opened(conn)
	if ex == nil {
		return code
	}
	defer done()
	r, err := ex.Wake(ctx, pos[0], compactJSON(output), wakeErr)
	if err != nil {
		return c.failed(err)
	}
	fmt.Fprintf(stdout, "%s (%s, key %s) is %s", r.ID, r.TaskID, r.SleepKey, r.Status)
	switch {
	case r.Output != nil:
		fmt.Fprintf(stdout, ": %s\n", payloadText(r.Output))
	case r.Err != nil:
		fmt.Fprintf(stdout, ": %s\n", errText(r.Err))
	default:
		fmt.Fprintln(stdout)
	}
	return exitOK
}

// compactJSON is valid JSON without its insignificant spaces, as the
// default codec writes it.
func compactJSON(s string) []byte {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		return []byte(s)
	}
	return b.Bytes()
}

func runDelete(args []string, stdout, stderr io.Writer) int {
	c := newCLI("executions delete", "ID...", "Deletes finished top-level executions, each with its whole tree, all or nothing:\n"+
		"if one ID is unknown, unfinished, has an unfinished descendant or is a child\n"+
		"(trees are deleted from their root), nothing is deleted.", stdout, stderr)
	conn := c.connFlags()
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(pos) == 0 {
		return c.failf("missing execution ID")
	}
	ex, ctx, done, code := c.opened(conn)
	if ex == nil {
		return code
	}
	defer done()
	n, err := ex.Delete(ctx, pos...)
	if err != nil {
		return c.failed(fmt.Errorf("%w; nothing was deleted", err))
	}
	fmt.Fprintf(stdout, "deleted %d executions: %d top-level and their descendants\n", n, len(unique(pos)))
	return exitOK
}

func unique(ss []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// withOneID parses the flags and the one execution ID of a command (a
// bad flag, the ID missing or an argument too many is a usage error), opens
// the store and runs fn with them; it returns the exit code.
func (c *cli) withOneID(args []string, conn *connFlags, fn func(ctx context.Context, ex *durable.Executor, id string) int) int {
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	switch {
	case len(pos) == 0:
		return c.failf("missing execution ID")
	case len(pos) > 1:
		verb := c.name[strings.LastIndex(c.name, " ")+1:]
		return c.failf("unexpected argument %q: %s takes one execution", pos[1], verb)
	}
	ex, ctx, done, code := c.opened(conn)
	if ex == nil {
		return code
	}
	defer done()
	return fn(ctx, ex, pos[0])
}
