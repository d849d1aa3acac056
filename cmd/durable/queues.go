package main

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/durable-go/durable"
)

func queuesCommands() []subcommand {
	return []subcommand{
		{"list", "[flags]", "list the queues known to the store, paused or not", runQueuesList},
		{"pause", "NAME", "pause a queue: no executor claims its executions until it is resumed", runQueuePause},
		{"resume", "NAME", "resume a paused queue: its due executions are claimed at once", runQueueResume},
		{"limit", "NAME --concurrency N", "set a queue's global concurrency limit (0: none)", runQueueLimit},
	}
}

func runQueues(args []string, stdout, stderr io.Writer) int {
	return runGroup("queues", "List, pause, resume and limit the queues of a store.", queuesCommands(), args, stdout, stderr)
}

func runQueuesList(args []string, stdout, stderr io.Writer) int {
	c := newCLI("queues list", "[flags]", "Lists the queues known to the store: the default queue, those that started\n"+
		"executors serve (Config.Queues) and those their tasks name (WithQueue).", stdout, stderr)
	conn := c.connFlags()
	var asJSON bool
	c.boolVar(&asJSON, "json", false, `print one JSON document: {"queues": [{"name", "paused", "concurrency", "updated_at"}...]}`)
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
	qs, err := ex.Queues(ctx)
	if err != nil {
		return c.failed(err)
	}
	if asJSON {
		type queueJSON struct {
			Name        string    `json:"name"`
			Paused      bool      `json:"paused"`
			Concurrency int       `json:"concurrency"`
			UpdatedAt   time.Time `json:"updated_at"`
		}
		doc := struct {
			Queues []queueJSON `json:"queues"`
		}{Queues: []queueJSON{}}
		for _, q := range qs {
			doc.Queues = append(doc.Queues, queueJSON{q.Name, q.Paused, q.Concurrency, q.UpdatedAt})
		}
		if err := writeJSON(stdout, doc); err != nil {
			return c.failed(err)
		}
		return exitOK
	}
	if len(qs) == 0 {
		fmt.Fprintln(stdout, "no queues (an executor registers its queues when it starts)")
		return exitOK
	}
	now := time.Now()
	tw := newTable(stdout)
	fmt.Fprintln(tw, "QUEUE\tSTATE\tLIMIT\tSINCE")
	for _, q := range qs {
		state := "running"
		if q.Paused {
			state = "paused"
		}
		limit := "-"
		if q.Concurrency > 0 {
			limit = fmt.Sprint(q.Concurrency)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s ago\n", q.Name, state, limit, age(now, q.UpdatedAt))
	}
	tw.Flush()
	return exitOK
}

func runQueuePause(args []string, stdout, stderr io.Writer) int {
	return queueToggle("pause", "Pauses a queue in the store: from now on no executor, in any process, claims\n"+
		"its executions until it is resumed; runs already started go on, and\n"+
		"executions can still be enqueued into it.", args, stdout, stderr)
}

func runQueueResume(args []string, stdout, stderr io.Writer) int {
	return queueToggle("resume", "Resumes a paused queue: its due executions are claimed at once.", args, stdout, stderr)
}

func queueToggle(verb, about string, args []string, stdout, stderr io.Writer) int {
	return runToggle(toggle{kind: "queue", verb: verb, about: about, example: "durable queues " + verb + " emails --db app.db",
		pause: (*durable.Executor).PauseQueue, resume: (*durable.Executor).ResumeQueue}, args, stdout, stderr)
}

func runQueueLimit(args []string, stdout, stderr io.Writer) int {
	c := newCLI("queues limit", "NAME --concurrency N", "Sets a queue's global concurrency limit in the store: from now on at most N of\n"+
		"its executions run at once, across every executor in every process; 0\n"+
		"removes the limit. Runs already started go on.", stdout, stderr)
	conn := c.connFlags()
	c.examples = []string{"durable queues limit emails --concurrency 50 --db app.db"}
	var limit string
	c.stringVar(&limit, "concurrency", "", "the most executions of the queue running at once, N (0: no limit); required")
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	switch {
	case len(pos) == 0:
		return c.failf("missing queue NAME")
	case len(pos) > 1:
		return c.failf("unexpected argument %q: limit takes one queue", pos[1])
	case limit == "":
		return c.failf("missing --concurrency N (0 removes the limit)")
	}
	concurrency, err := strconv.Atoi(limit)
	if err != nil {
		return c.failf("--concurrency %q: not a whole number", limit)
	}
	ex, ctx, done, code := c.opened(conn)
	if ex == nil {
		return code
	}
	defer done()
	changed, err := ex.SetQueueLimit(ctx, pos[0], durable.QueueLimit{Concurrency: concurrency})
	if err != nil {
		return c.failed(err)
	}
	what := fmt.Sprintf("a concurrency limit of %d", concurrency)
	if concurrency == 0 {
		what = "no concurrency limit"
	}
	if !changed {
		fmt.Fprintf(stdout, "queue %s already had %s\n", pos[0], what)
		return exitOK
	}
	fmt.Fprintf(stdout, "queue %s has %s\n", pos[0], what)
	return exitOK
}
