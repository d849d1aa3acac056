package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/durable-go/durable"
)

func queuesCommands() []subcommand {
	return []subcommand{
		{"list", "[flags]", "list the queues known to the store, paused or not", runQueuesList},
		{"pause", "NAME", "pause a queue: no executor claims its executions until it is resumed", runQueuePause},
		{"resume", "NAME", "resume a paused queue: its due executions are claimed at once", runQueueResume},
		{"limit", "NAME [--concurrency N] [--per-key N] [--rate N/PERIOD]", "set a queue's limits: global, per key, rate (0: none)", runQueueLimit},
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
	c.boolVar(&asJSON, "json", false, `print one JSON document: {"queues": [{"name", "paused", "concurrency", "per_key", "rate", "rate_per", "updated_at"}...]}`)
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
			PerKey      int       `json:"per_key"`
			Rate        int       `json:"rate"`
			RatePer     string    `json:"rate_per,omitempty"`
			UpdatedAt   time.Time `json:"updated_at"`
		}
		doc := struct {
			Queues []queueJSON `json:"queues"`
		}{Queues: []queueJSON{}}
		for _, q := range qs {
			per := ""
			if q.Rate > 0 {
				per = q.Per.String()
			}
			doc.Queues = append(doc.Queues, queueJSON{q.Name, q.Paused, q.Concurrency, q.PerKey, q.Rate, per, q.UpdatedAt})
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
	fmt.Fprintln(tw, "QUEUE\tSTATE\tLIMIT\tPER KEY\tRATE\tSINCE")
	for _, q := range qs {
		state := "running"
		if q.Paused {
			state = "paused"
		}
		limit, perKey, rate := limitsColumns(q)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s ago\n", q.Name, state, limit, perKey, rate, age(now, q.UpdatedAt))
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
	c := newCLI("queues limit", "NAME [--concurrency N] [--per-key N] [--rate N/PERIOD]",
		"Sets a queue's limits in the store, for every executor in every process: at\n"+
			"most N of its executions running at once (--concurrency), at most N with one\n"+
			"concurrency key (--per-key), at most N started per PERIOD (--rate, a fixed\n"+
			"window). A limit not given keeps its value; 0 removes it. Runs already\n"+
			"started go on.", stdout, stderr)
	conn := c.connFlags()
	c.examples = []string{
		"durable queues limit emails --concurrency 50 --db app.db",
		"durable queues limit billing --per-key 1 --rate 100/1m --db app.db",
	}
	var concurrency, perKey, rate string
	c.stringVar(&concurrency, "concurrency", "", "the most executions of the queue running at once, N (0: no limit)")
	c.stringVar(&perKey, "per-key", "", "the most executions with one concurrency key running at once, N (0: no limit)")
	c.stringVar(&rate, "rate", "", "the most executions started per period, N/PERIOD: 10/1s, 100/m, 5000/1h (0: no limit)")
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	switch {
	case len(pos) == 0:
		return c.failf("missing queue NAME")
	case len(pos) > 1:
		return c.failf("unexpected argument %q: limit takes one queue", pos[1])
	case concurrency == "" && perKey == "" && rate == "":
		return c.failf("missing --concurrency N, --per-key N or --rate N/PERIOD (0 removes a limit)")
	}
	set, err := parseLimitFlags(concurrency, perKey, rate)
	if err != nil {
		return c.failf("%v", err)
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
	var limit durable.QueueLimit
	for _, q := range qs {
		if q.Name == pos[0] {
			limit = durable.QueueLimit{Concurrency: q.Concurrency, PerKey: q.PerKey, Rate: q.Rate, Per: q.Per}
		}
	}
	set(&limit)
	changed, err := ex.SetQueueLimit(ctx, pos[0], limit)
	if err != nil {
		return c.failed(err)
	}
	if !changed {
		fmt.Fprintf(stdout, "queue %s already had %s\n", pos[0], describeLimits(limit))
		return exitOK
	}
	fmt.Fprintf(stdout, "queue %s has %s\n", pos[0], describeLimits(limit))
	return exitOK
}

// parseLimitFlags parses the flags of queues limit given (not ""), and
// returns what sets them on a queue's limits.
func parseLimitFlags(concurrency, perKey, rate string) (func(*durable.QueueLimit), error) {
	var sets []func(*durable.QueueLimit)
	for _, f := range []struct {
		name, value string
		field       func(*durable.QueueLimit) *int
	}{
		{"concurrency", concurrency, func(l *durable.QueueLimit) *int { return &l.Concurrency }},
		{"per-key", perKey, func(l *durable.QueueLimit) *int { return &l.PerKey }},
	} {
		if f.value == "" {
			continue
		}
		n, err := strconv.Atoi(f.value)
		if err != nil {
			return nil, fmt.Errorf("--%s %q: not a whole number", f.name, f.value)
		}
		sets = append(sets, func(l *durable.QueueLimit) { *f.field(l) = n })
	}
	if rate != "" {
		n, per, err := parseRate(rate)
		if err != nil {
			return nil, err
		}
		sets = append(sets, func(l *durable.QueueLimit) { l.Rate, l.Per = n, per })
	}
	return func(l *durable.QueueLimit) {
		for _, set := range sets {
			set(l)
		}
	}, nil
}

// parseRate parses --rate: N/PERIOD, PERIOD a Go duration (1s, 90s, 1m)
// or a unit alone (s, m, h: one of it); "0" is no rate limit.
func parseRate(v string) (int, time.Duration, error) {
	if v == "0" {
		return 0, 0, nil
	}
	num, period, ok := strings.Cut(v, "/")
	if !ok {
		return 0, 0, fmt.Errorf("--rate %q: want N/PERIOD, as 10/1s or 100/m (0: no limit)", v)
	}
	n, err := strconv.Atoi(num)
	if err != nil {
		return 0, 0, fmt.Errorf("--rate %q: %q is not a whole number", v, num)
	}
	if period != "" && (period[0] < '0' || period[0] > '9') {
		period = "1" + period
	}
	per, err := time.ParseDuration(period)
	if err != nil {
		return 0, 0, fmt.Errorf("--rate %q: period %q: want a duration such as 1s, 1m, 1h or s, m, h", v, period)
	}
	return n, per, nil
}

// describeLimits says what limits l sets.
func describeLimits(l durable.QueueLimit) string {
	var parts []string
	if l.Concurrency > 0 {
		parts = append(parts, fmt.Sprintf("a concurrency limit of %d", l.Concurrency))
	}
	if l.PerKey > 0 {
		parts = append(parts, fmt.Sprintf("a limit of %d per key", l.PerKey))
	}
	if l.Rate > 0 {
		parts = append(parts, fmt.Sprintf("a rate limit of %d per %v", l.Rate, l.Per))
	}
	if len(parts) == 0 {
		return "no limits"
	}
	return strings.Join(parts, ", ")
}

// limitsColumns are the LIMIT, PER KEY and RATE columns of queues list.
func limitsColumns(q durable.QueueInfo) (string, string, string) {
	limit, perKey, rate := "-", "-", "-"
	if q.Concurrency > 0 {
		limit = fmt.Sprint(q.Concurrency)
	}
	if q.PerKey > 0 {
		perKey = fmt.Sprint(q.PerKey)
	}
	if q.Rate > 0 {
		rate = fmt.Sprintf("%d/%v", q.Rate, q.Per)
	}
	return limit, perKey, rate
}
