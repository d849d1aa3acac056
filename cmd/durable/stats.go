package main

import (
	"fmt"
	"io"
	"time"

	"github.com/durable-go/durable"
)

func runStats(args []string, stdout, stderr io.Writer) int {
	c := newCLI("stats", "[flags]", "Counts executions by task and status, with how long the longest-waiting due\n"+
		"execution of each group has been due (how far behind the executors are).", stdout, stderr)
	conn := c.connFlags()
	ff := c.filterFlags(true)
	var asJSON bool
	c.boolVar(&asJSON, "json", false, `print one JSON document: {"counts": [{"task_id", "status", "count", "oldest_due_at"}...], "total": N}`)
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return c.failf("unexpected argument %q", pos[0])
	}
	now := time.Now()
	filter, err := ff.filter(now)
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
	counts, err := ex.Count(ctx, filter)
	if err != nil {
		return c.failed(err)
	}
	var total int64
	var oldest durable.Count
	for _, n := range counts {
		total += n.N
		if !n.OldestDue.IsZero() && (oldest.OldestDue.IsZero() || n.OldestDue.Before(oldest.OldestDue)) {
			oldest = n
		}
	}
	if asJSON {
		type countJSON struct {
			TaskID    string         `json:"task_id"`
			Status    durable.Status `json:"status"`
			Count     int64          `json:"count"`
			OldestDue time.Time      `json:"oldest_due_at,omitzero"`
		}
		doc := struct {
			Counts []countJSON `json:"counts"`
			Total  int64       `json:"total"`
		}{Counts: []countJSON{}, Total: total}
		for _, n := range counts {
			doc.Counts = append(doc.Counts, countJSON{n.TaskID, n.Status, n.N, n.OldestDue})
		}
		if err := writeJSON(stdout, doc); err != nil {
			return c.failed(err)
		}
		return exitOK
	}
	if total == 0 {
		fmt.Fprintln(stdout, "no executions")
		return exitOK
	}
	tw := newTable(stdout)
	fmt.Fprintln(tw, "TASK\tSTATUS\tCOUNT\tOLDEST DUE")
	for _, n := range counts {
		due := ""
		if !n.OldestDue.IsZero() {
			due = age(now, n.OldestDue) + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", n.TaskID, n.Status, n.N, due)
	}
	tw.Flush()
	fmt.Fprintf(stdout, "\n%d executions: %s\n", total, countsByStatus(counts))
	if !oldest.OldestDue.IsZero() {
		fmt.Fprintf(stdout, "oldest due: %s ago (%s, %s, due since %s)\n", age(now, oldest.OldestDue), oldest.TaskID, oldest.Status, when(oldest.OldestDue))
	} else {
		fmt.Fprintln(stdout, "nothing is due")
	}
	return exitOK
}
