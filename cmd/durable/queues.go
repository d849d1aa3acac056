package main

import (
	"fmt"
	"io"
	"time"

	"github.com/durable-go/durable"
)

func queuesCommands() []subcommand {
	return []subcommand{
		{"list", "[flags]", "list the queues known to the store, paused or not", runQueuesList},
		{"pause", "NAME", "pause a queue: no executor claims its executions until it is resumed", runQueuePause},
		{"resume", "NAME", "resume a paused queue: its due executions are claimed at once", runQueueResume},
	}
}

func runQueues(args []string, stdout, stderr io.Writer) int {
	return runGroup("queues", "List, pause and resume the queues of a store.", queuesCommands(), args, stdout, stderr)
}

func runQueuesList(args []string, stdout, stderr io.Writer) int {
	c := newCLI("queues list", "[flags]", "Lists the queues known to the store: the default queue, those that started\n"+
		"executors serve (Config.Queues) and those their tasks name (WithQueue).", stdout, stderr)
	conn := c.connFlags()
	var asJSON bool
	c.boolVar(&asJSON, "json", false, `print one JSON document: {"queues": [{"name", "paused", "updated_at"}...]}`)
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
			Name      string    `json:"name"`
			Paused    bool      `json:"paused"`
			UpdatedAt time.Time `json:"updated_at"`
		}
		doc := struct {
			Queues []queueJSON `json:"queues"`
		}{Queues: []queueJSON{}}
		for _, q := range qs {
			doc.Queues = append(doc.Queues, queueJSON{q.Name, q.Paused, q.UpdatedAt})
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
	fmt.Fprintln(tw, "QUEUE\tSTATE\tSINCE")
	for _, q := range qs {
		state := "running"
		if q.Paused {
			state = "paused"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s ago\n", q.Name, state, age(now, q.UpdatedAt))
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
