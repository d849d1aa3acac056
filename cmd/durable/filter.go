package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/durable-go/durable"
)

// filterFlags select executions: the flags of list, purge and stats.
type filterFlags struct {
	statuses, tasks             listFlag
	tag, root, parent, key      string
	topLevel                    bool
	createdAfter, createdBefore string
	finishedAfter, finishedBef  string
}

// filterFlags adds the filter flags; with tree false, --root, --parent and
// --top-level are left out (purge: it deletes top-level trees only).
func (c *cli) filterFlags(tree bool) *filterFlags {
	var f filterFlags
	c.group("filters (all must match; TIME: RFC 3339, a date, or a duration ago like 2h or 7d)")
	c.varFlag(&f.statuses, "status", "executions in this `STATUS` (repeatable, or a comma list): "+statusList())
	c.varFlag(&f.tasks, "task", "executions of this `TASK` id (repeatable, or a comma list)")
	c.stringVar(&f.tag, "tag", "", "executions carrying this `TAG` (exact match)")
	c.stringVar(&f.key, "key", "", "the execution enqueued with this idempotency `KEY`")
	if tree {
		c.stringVar(&f.root, "root", "", "the descendants of this top-level execution `ID` (not the root itself)")
		c.stringVar(&f.parent, "parent", "", "the children of this execution `ID`")
		c.boolVar(&f.topLevel, "top-level", false, "only executions without a parent")
	}
	c.stringVar(&f.createdAfter, "created-after", "", "created at or after `TIME`")
	c.stringVar(&f.createdBefore, "created-before", "", "created before `TIME`")
	c.stringVar(&f.finishedAfter, "finished-after", "", "finished at or after `TIME` (leaves out unfinished executions)")
	c.stringVar(&f.finishedBef, "finished-before", "", "finished before `TIME` (leaves out unfinished executions)")
	c.group("flags")
	return &f
}

func statusList() string {
	names := make([]string, len(allStatuses))
	for i, s := range allStatuses {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

var allStatuses = []durable.Status{
	durable.StatusReady, durable.StatusRunning, durable.StatusWaitingForChildren, durable.StatusWaitingForFinalize,
	durable.StatusCompleted, durable.StatusFailed, durable.StatusTimedOut, durable.StatusChildrenFailed,
	durable.StatusFinalizeFailed, durable.StatusCancelled,
}

// filter is the Filter the flags give, relative times taken back from
// now. Statuses are passed as given: the executor refuses an unknown one.
func (f *filterFlags) filter(now time.Time) (durable.Filter, error) {
	fl := durable.Filter{TaskIDs: f.tasks, Tag: f.tag, IdempotencyKey: f.key, RootID: f.root, ParentID: f.parent, TopLevel: f.topLevel}
	for _, s := range f.statuses {
		fl.Statuses = append(fl.Statuses, durable.Status(s))
	}
	for _, t := range []struct {
		flag, value string
		dst         *time.Time
	}{
		{"--created-after", f.createdAfter, &fl.CreatedFrom},
		{"--created-before", f.createdBefore, &fl.CreatedTo},
		{"--finished-after", f.finishedAfter, &fl.FinishedFrom},
		{"--finished-before", f.finishedBef, &fl.FinishedTo},
	} {
		if t.value == "" {
			continue
		}
		at, err := parseWhen(t.value, now)
		if err != nil {
			return fl, fmt.Errorf("%s: %w", t.flag, err)
		}
		*t.dst = at
	}
	return fl, nil
}

// any reports whether a filter flag was given.
func (f *filterFlags) any() bool {
	return len(f.statuses) > 0 || len(f.tasks) > 0 || f.tag != "" || f.key != "" || f.root != "" || f.parent != "" ||
		f.topLevel || f.createdAfter != "" || f.createdBefore != "" || f.finishedAfter != "" || f.finishedBef != ""
}

// parseWhen reads a time: RFC 3339 (2026-12-01T15:04:05Z, fractions
// allowed), a date (2026-12-01, midnight UTC), or a duration ago (90s,
// 15m, 2h, 7d, 1d12h).
func parseWhen(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	d, err := parseAgo(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a time (RFC 3339, like 2026-12-01T15:04:05Z, or a date) nor a duration ago (like 90m, 2h, 7d)", s)
	}
	return now.Add(-d), nil
}

// parseAgo reads a duration that is not negative, with days (d) allowed
// before the units of time.ParseDuration.
func parseAgo(s string) (time.Duration, error) {
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n < 0 || n > 100000 {
			return 0, fmt.Errorf("bad days in %q", s)
		}
		days, s = time.Duration(n)*24*time.Hour, s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("bad duration %q", s)
	}
	return days + d, nil
}

// checkTasks fails when a task the filter names has no execution in the
// store: a misspelt task would otherwise list, count or purge nothing
// without a word. The error names the tasks that have executions.
func checkTasks(ctx context.Context, ex *durable.Executor, tasks []string) error {
	var unknown []string
	for _, task := range tasks {
		counts, err := ex.Count(ctx, durable.Filter{TaskIDs: []string{task}})
		if err != nil {
			return err
		}
		if len(counts) == 0 {
			unknown = append(unknown, task)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	all, err := ex.Count(ctx, durable.Filter{})
	if err != nil {
		return err
	}
	var known []string
	for _, c := range all {
		if len(known) == 0 || known[len(known)-1] != c.TaskID {
			known = append(known, c.TaskID)
		}
	}
	have := "the store has no executions"
	if len(known) > 0 {
		have = "tasks with executions: " + strings.Join(known, ", ")
	}
	return fmt.Errorf("unknown task %q: no execution of it in this store (%s)", strings.Join(unknown, `", "`), have)
}
