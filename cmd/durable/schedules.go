package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/durable-go/durable"
)

func schedulesCommands() []subcommand {
	return []subcommand{
		{"list", "[flags]", "list the schedules kept in the store: task, spec, paused, the last tick handled, the next", runSchedulesList},
		{"pause", "NAME", "pause a schedule in every process: its ticks are skipped until it is resumed", runSchedulesPause},
		{"resume", "NAME", "resume a paused schedule: it fires again from its next tick", runSchedulesResume},
	}
}

func runSchedules(args []string, stdout, stderr io.Writer) int {
	return runGroup("schedules", "List, pause and resume the schedules kept in a store (durable.Executor.Schedule).",
		schedulesCommands(), args, stdout, stderr)
}

// scheduleJSON is a schedule in --json output.
type scheduleJSON struct {
	Name      string    `json:"name"`
	TaskID    string    `json:"task_id"`
	Cron      string    `json:"cron,omitempty"`
	Zone      string    `json:"zone,omitempty"`
	Every     string    `json:"every,omitempty"`
	Missed    string    `json:"missed"`
	Paused    bool      `json:"paused"`
	Through   time.Time `json:"through"`
	Next      time.Time `json:"next,omitzero"`
	UpdatedAt time.Time `json:"updated_at"`
}

func scheduleJSONOf(s durable.ScheduleInfo) scheduleJSON {
	j := scheduleJSON{Name: s.Name, TaskID: s.TaskID, Cron: s.Cron, Zone: s.Zone, Missed: s.Missed.String(),
		Paused: s.Paused, Through: s.Through, Next: s.Next, UpdatedAt: s.UpdatedAt}
	if s.Every > 0 {
		j.Every = s.Every.String()
	}
	return j
}

func runSchedulesList(args []string, stdout, stderr io.Writer) int {
	c := newCLI("schedules list", "[flags]", "Lists the schedules kept in the store, by name, whichever process registered\n"+
		"them: the task each enqueues, when it ticks (a cron expression and its time zone,\n"+
		"or an interval), the policy for missed ticks, whether it is paused, THROUGH (every\n"+
		"tick up to it has been enqueued or skipped) and the NEXT tick.", stdout, stderr)
	conn := c.connFlags()
	var asJSON bool
	c.boolVar(&asJSON, "json", false, `print one JSON document: {"schedules": [{"name", "task_id", "cron", "zone", "every", "missed", "paused", "through", "next", "updated_at"}...]}`)
	c.examples = []string{"durable schedules list --db app.db", "durable schedules list --dsn postgres://app@db/app --json"}
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return c.failf("unexpected argument %q", pos[0])
	}
	ex, ctx, done, code := c.opened(conn)
	if ex == nil {
		return code
	}
	defer done()
	list, err := ex.Schedules(ctx)
	if err != nil {
		return c.failed(err)
	}
	if asJSON {
		doc := struct {
			Schedules []scheduleJSON `json:"schedules"`
		}{Schedules: []scheduleJSON{}}
		for _, s := range list {
			doc.Schedules = append(doc.Schedules, scheduleJSONOf(s))
		}
		if err := writeJSON(stdout, doc); err != nil {
			return c.failed(err)
		}
		return exitOK
	}
	if len(list) == 0 {
		fmt.Fprintln(stdout, "no schedules")
		return exitOK
	}
	tw := newTable(stdout)
	fmt.Fprintln(tw, "NAME\tTASK\tSPEC\tMISSED\tPAUSED\tTHROUGH\tNEXT")
	for _, s := range list {
		spec := s.Spec().String()
		if s.TaskID == "" {
			spec = "(written by a newer durable)"
		}
		paused := "no"
		if s.Paused {
			paused = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.TaskID, spec, s.Missed, paused, when(s.Through), when(s.Next))
	}
	tw.Flush()
	return exitOK
}

func runSchedulesPause(args []string, stdout, stderr io.Writer) int {
	return pauseOrResume("pause", "Pauses a schedule in every process on the store: its ticks are skipped (not\n"+
		"queued for later) until it is resumed. Pausing a paused schedule does nothing.", args, stdout, stderr)
}

func runSchedulesResume(args []string, stdout, stderr io.Writer) int {
	return pauseOrResume("resume", "Resumes a paused schedule: it fires again from its next tick; the ticks\n"+
		"that passed while it was paused are not enqueued. Resuming a schedule that is\n"+
		"not paused does nothing.", args, stdout, stderr)
}

func pauseOrResume(verb, about string, args []string, stdout, stderr io.Writer) int {
	return runToggle(toggle{kind: "schedule", verb: verb, about: about,
		example: "durable schedules " + verb + " nightly-report --db app.db",
		pause:   (*durable.Executor).PauseSchedule, resume: (*durable.Executor).ResumeSchedule}, args, stdout, stderr)
}

// toggle is the pause or resume command of a queue or a schedule.
type toggle struct {
	kind, verb, about, example string
	pause, resume              func(*durable.Executor, context.Context, string) (bool, error)
}

// runToggle runs t: it pauses or resumes the one named, and says whether
// that changed anything.
func runToggle(t toggle, args []string, stdout, stderr io.Writer) int {
	c := newCLI(t.kind+"s "+t.verb, "NAME", t.about, stdout, stderr)
	conn := c.connFlags()
	c.examples = []string{t.example}
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	switch {
	case len(pos) == 0:
		return c.failf("missing %s NAME", t.kind)
	case len(pos) > 1:
		return c.failf("unexpected argument %q: %s takes one %s", pos[1], t.verb, t.kind)
	}
	ex, ctx, done, code := c.opened(conn)
	if ex == nil {
		return code
	}
	defer done()
	op, past, already := t.pause, "paused", "was already paused"
	if t.verb == "resume" {
		op, past, already = t.resume, "resumed", "was not paused"
	}
	changed, err := op(ex, ctx, pos[0])
	if err != nil {
		return c.failed(err)
	}
	if !changed {
		fmt.Fprintf(stdout, "%s %s %s\n", t.kind, pos[0], already)
		return exitOK
	}
	fmt.Fprintf(stdout, "%s %s %s\n", past, t.kind, pos[0])
	return exitOK
}
