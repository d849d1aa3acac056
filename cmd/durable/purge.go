package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/durable-go/durable"
)

func runPurge(args []string, stdout, stderr io.Writer) int {
	c := newCLI("executions purge", "[flags]", "Deletes the finished top-level executions the filters select, each with its\n"+
		"whole tree, oldest first, in batches (one short transaction each): what\n"+
		"retention (durable.Config.Retention) does in a running executor, by hand.\n"+
		"--status may name finished statuses only (default: every one). A purge needs at\n"+
		"least one filter: to purge every finished execution, say --finished-before 0s.\n"+
		"A tree whose root has finished but a descendant has not is skipped, and counted.\n"+
		"On a terminal, standard error shows the progress.", stdout, stderr)
	conn := c.connFlags()
	ff := c.filterFlags(false)
	var dryRun bool
	var batch int
	c.boolVar(&dryRun, "dry-run", false, "count what would be deleted, delete nothing")
	c.intVar(&batch, "batch", 1000, "delete `N` top-level executions (with their trees) per transaction, 1..1000")
	c.examples = []string{
		"durable executions purge --db app.db --finished-before 30d --dry-run",
		"durable executions purge --db app.db --status failed --task charge_card --finished-before 7d",
	}
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	switch {
	case len(pos) > 0:
		return c.failf("unexpected argument %q (to delete given executions: durable executions delete ID...)", pos[0])
	case batch < 1 || batch > 1000:
		return c.failf("--batch must be in 1..1000, not %d", batch)
	case !ff.any():
		return c.failf("refusing to purge without a filter: give --finished-before (e.g. 30d), --status, --task, ... " +
			"(--finished-before 0s selects every finished execution)")
	}
	filter, err := ff.filter(time.Now())
	if err != nil {
		return c.fail(err)
	}
	filter.TopLevel = true
	if len(filter.Statuses) == 0 {
		for _, s := range allStatuses {
			if s.Terminal() {
				filter.Statuses = append(filter.Statuses, s)
			}
		}
	}
	for _, s := range filter.Statuses {
		if slices.Contains(allStatuses, s) && !s.Terminal() {
			return c.failf("--status %s: purge deletes finished executions only (%s is not a finished status)", s, s)
		}
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
	for _, n := range counts {
		total += n.N
	}
	if dryRun {
		fmt.Fprintf(stdout, "would delete %d top-level executions, with their descendants", total)
		if total > 0 {
			fmt.Fprintf(stdout, ": %s", countsByStatus(counts))
		}
		fmt.Fprintln(stdout, " (dry run: nothing deleted)")
		return exitOK
	}
	p := purger{ex: ex, filter: filter, batch: batch, total: total, progress: isTerminal(stderr), stderr: stderr}
	err = p.run(ctx)
	if p.progress && p.trees > 0 {
		fmt.Fprintln(stderr)
	}
	fmt.Fprintf(stdout, "deleted %d top-level executions, %d executions in all", p.trees, p.rows)
	if p.skipped > 0 {
		fmt.Fprintf(stdout, "; skipped %d whose trees have unfinished executions", p.skipped)
	}
	fmt.Fprintln(stdout)
	if errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "durable %s: interrupted; run it again to go on\n", c.name)
		return exitInterrupted
	}
	if err != nil {
		return c.failed(err)
	}
	return exitOK
}

// purger deletes what a filter selects, batch by batch.
type purger struct {
	ex     *durable.Executor
	filter durable.Filter
	batch  int
	total  int64

	trees, rows, skipped int

	progress bool
	stderr   io.Writer
}

func (p *purger) run(ctx context.Context) error {
	cursor := ""
	for {
		page, err := p.ex.List(ctx, durable.ListOptions{Filter: p.filter, OldestFirst: true, Limit: p.batch, Cursor: cursor})
		if err != nil {
			return err
		}
		if len(page.Records) == 0 {
			return nil
		}
		ids := make([]string, len(page.Records))
		for i, r := range page.Records {
			ids[i] = r.ID
		}
		if err := p.delete(ctx, ids); err != nil {
			return err
		}
		p.show()
		if page.Next == "" {
			return nil
		}
		cursor = page.Next
	}
}

// delete deletes a batch of trees; when the batch is refused (a tree with
// an unfinished descendant, or one deleted meanwhile), it deletes tree by
// tree, skipping the refused ones.
func (p *purger) delete(ctx context.Context, ids []string) error {
	n, err := p.ex.Delete(ctx, ids...)
	if err == nil {
		p.trees, p.rows = p.trees+len(ids), p.rows+n
		return nil
	}
	if !errors.Is(err, durable.ErrNotDeletable) && !errors.Is(err, durable.ErrNotFound) {
		return err
	}
	for _, id := range ids {
		n, err := p.ex.Delete(ctx, id)
		switch {
		case err == nil:
			p.trees, p.rows = p.trees+1, p.rows+n
		case errors.Is(err, durable.ErrNotFound): // deleted meanwhile (retention)
		case errors.Is(err, durable.ErrNotDeletable):
			p.skipped++
		default:
			return err
		}
	}
	return nil
}

// show prints the progress on one line of a terminal.
func (p *purger) show() {
	if !p.progress {
		return
	}
	pct := 100.0
	if p.total > 0 {
		pct = min(100, 100*float64(p.trees+p.skipped)/float64(p.total))
	}
	const width = 20 // the line stays within 80 columns: a wrapped line would not be redrawn
	bar := make([]byte, width)
	for i := range bar {
		bar[i] = '.'
		if float64(i) < pct*width/100 {
			bar[i] = '#'
		}
	}
	fmt.Fprintf(p.stderr, "\r[%s] %3.0f%%  %d/%d trees, %d executions deleted", bar, pct,
		p.trees+p.skipped, p.total, p.rows)
}

// countsByStatus sums counts by status: "12 completed, 3 failed".
func countsByStatus(counts []durable.Count) string {
	n := map[durable.Status]int64{}
	for _, c := range counts {
		n[c.Status] += c.N
	}
	var out string
	for _, s := range allStatuses {
		if n[s] == 0 {
			continue
		}
		if out != "" {
			out += ", "
		}
		out += fmt.Sprintf("%d %s", n[s], s)
	}
	return out
}
