package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/sqlite"
)

type demoFlags struct {
	db    string
	fresh bool
	plain bool
}

func runDemo(args []string, stdout, stderr io.Writer) int {
	var f demoFlags
	c := newCLI("demo", "[--db PATH] [--fresh] [--plain]", "Runs four workflows on an embedded SQLite file: a fan-out with a finalize, a\n"+
		"sequential pipeline, a looping poll and a task woken by a webhook. Interrupt it\n"+
		"(Ctrl-C or kill) and run it again: it resumes where it stopped. Then inspect\n"+
		"what it did: durable executions list --db durable-demo.db", stdout, stderr)
	c.stringVar(&f.db, "db", "durable-demo.db", "`PATH` of the SQLite database file")
	c.boolVar(&f.fresh, "fresh", false, "delete the database first and start the workflows over")
	c.boolVar(&f.plain, "plain", false, "print plain progress lines even on a terminal")
	pos, code, ok := c.parse(args)
	switch {
	case !ok:
		return code
	case len(pos) > 0:
		return c.failf("unexpected argument %q", pos[0])
	case f.db == "":
		return c.failf("--db must not be empty")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if f.fresh {
		if err := removeDB(f.db); err != nil {
			fmt.Fprintf(stderr, "durable demo: --fresh: %v\n", err)
			return exitError
		}
	}
	store, err := sqlite.Open(ctx, f.db, sqlite.Config{})
	if err != nil {
		fmt.Fprintf(stderr, "durable demo: cannot use database %s: %v\n", f.db, err)
		return exitError
	}
	defer store.Close()
	d, err := newDemo(store, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "durable demo: %v\n", err)
		return exitError
	}
	return d.run(ctx, stdout, stderr, !f.plain && isTerminal(stdout), f.db)
}

func removeDB(path string) error {
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// demo holds the demo's executor and workflows.
type demo struct {
	store storage.Store
	ex    *durable.Executor

	order   *durable.Task[Order, string]
	etl     *durable.Task[string, string]
	poll    *durable.Task[string, durable.LoopOutput[string]]
	payment *durable.Task[string, durable.ParentOutput[string]]
	webhook *durable.SleepingTask[string]
}

// Order is the input of the fan-out workflow.
type Order struct {
	ID    string   `json:"id"`
	Items []string `json:"items"`
}

// work simulates a task doing something for d, stopping if cancelled.
func work(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func newDemo(store storage.Store, stderr io.Writer) (*demo, error) {
	ex, err := durable.New(store, durable.Config{
		ExecutorID:   "demo", // stable: a rerun takes back the work of an interrupted run at once
		Concurrency:  16,
		PollInterval: 200 * time.Millisecond,
		Logger:       slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	if err != nil {
		return nil, err
	}
	d := &demo{store: store, ex: ex}
	if err := d.register(); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *demo) register() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("registering tasks: %v", r)
		}
	}()
	ex := d.ex
	reserve := durable.Must(durable.NewTask(ex, "reserve_stock", func(ctx context.Context, item string) (string, error) {
		return "reserved " + item, work(ctx, 600*time.Millisecond+time.Duration(len(item))*40*time.Millisecond)
	}))
	charge := durable.Must(durable.NewTask(ex, "charge_card", func(ctx context.Context, o Order) (string, error) {
		if err := work(ctx, 500*time.Millisecond); err != nil {
			return "", err
		}
		if info, _ := durable.Info(ctx); info.Attempt == 0 {
			return "", errors.New("card network timeout (simulated; retried)")
		}
		return fmt.Sprintf("charged order %s", o.ID), nil
	}, durable.WithRetry(durable.RetryPolicy{MaxRetries: 3, BaseDelay: 300 * time.Millisecond, Multiplier: 2})))
	summarize := durable.Must(durable.NewTask(ex, "summarize_order", func(ctx context.Context, in durable.FinalizeInput[string]) (string, error) {
		parts := []string{in.Output}
		for _, c := range in.Children {
			s, err := durable.ChildOutput[string](c)
			if err != nil {
				return "", durable.NonRetryable(err)
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, "; "), work(ctx, 200*time.Millisecond)
	}))
	d.order = durable.Must(durable.NewParentTaskWithFinalize(ex, "process_order", func(ctx context.Context, o Order) (durable.Spawn[string], error) {
		children := []durable.Child{durable.ChildOf(charge, o)}
		for _, it := range o.Items {
			children = append(children, durable.ChildOf(reserve, it))
		}
		return durable.Spawn[string]{Output: "order " + o.ID, Children: children}, work(ctx, 200*time.Millisecond)
	}, summarize))

	extract := durable.Must(durable.NewTask(ex, "extract", func(ctx context.Context, src string) ([]int, error) {
		return []int{3, 1, 4, 1, 5, 9, 2, 6}, work(ctx, 700*time.Millisecond)
	}))
	transform := durable.Must(durable.NewTask(ex, "transform", func(ctx context.Context, in []int) ([]int, error) {
		out := make([]int, len(in))
		for i, v := range in {
			out[i] = v * v
		}
		return out, work(ctx, 600*time.Millisecond)
	}))
	load := durable.Must(durable.NewTask(ex, "load", func(ctx context.Context, in []int) (string, error) {
		sum := 0
		for _, v := range in {
			sum += v
		}
		return fmt.Sprintf("loaded %d rows (sum of squares %d)", len(in), sum), work(ctx, 500*time.Millisecond)
	}))
	d.etl = durable.Must(durable.NewSequence[string, string](ex, "etl_pipeline", extract, transform, load))

	d.poll = durable.Must(durable.NewLoopTask(ex, "poll_shipment", func(ctx context.Context, parcel string) (durable.LoopResult[string], error) {
		info, _ := durable.Info(ctx)
		if err := work(ctx, 150*time.Millisecond); err != nil {
			return durable.LoopResult[string]{}, err
		}
		if info.Iteration < 4 {
			return durable.Continue[string](), nil
		}
		return durable.Done(parcel + " delivered"), nil
	}, durable.LoopOptions{MaxIterations: 20, Delay: 400 * time.Millisecond}))

	d.webhook = durable.Must(durable.NewSleepingTask[string](ex, "payment_webhook", durable.WithTimeout(10*time.Minute)))
	d.payment = durable.Must(durable.NewParentTask(ex, "await_payment", func(ctx context.Context, invoice string) (durable.Spawn[string], error) {
		return durable.Spawn[string]{Output: "invoice " + invoice + " sent",
			Children: []durable.Child{d.webhook.Child("payment-" + invoice)}}, work(ctx, 300*time.Millisecond)
	}))
	return nil
}

// workflow is one enqueued root and how to print its result.
type workflow struct {
	name   string
	id     string
	result func(ctx context.Context) (string, error)
}

func (d *demo) enqueue(ctx context.Context) ([]workflow, error) {
	key := durable.WithIdempotencyKey
	order, err := d.order.Enqueue(ctx, Order{ID: "A-1001", Items: []string{"lamp", "desk", "chair"}}, key("demo_order"))
	if err != nil {
		return nil, err
	}
	etl, err := d.etl.Enqueue(ctx, "s3://bucket/day.csv", key("demo_etl"))
	if err != nil {
		return nil, err
	}
	poll, err := d.poll.Enqueue(ctx, "parcel 7731", key("demo_poll"))
	if err != nil {
		return nil, err
	}
	pay, err := d.payment.Enqueue(ctx, "42", key("demo_payment"))
	if err != nil {
		return nil, err
	}
	return []workflow{
		{"fan-out + finalize", order.ID(), resultOf(order, func(s string) string { return s })},
		{"sequence", etl.ID(), resultOf(etl, func(s string) string { return s })},
		{"loop", poll.ID(), resultOf(poll, func(o durable.LoopOutput[string]) string {
			return fmt.Sprintf("%s after %d iterations", o.Output, o.Iterations)
		})},
		{"sleep + webhook", pay.ID(), resultOf(pay, func(o durable.ParentOutput[string]) string {
			w, _ := durable.ChildOutput[string](o.Children[0])
			return o.Output + ", webhook said: " + w
		})},
	}, nil
}

func resultOf[O any](h *durable.Handle[O], format func(O) string) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		x, err := h.Wait(ctx)
		if err != nil {
			return "", err
		}
		out, err := x.Result()
		if err != nil {
			return "", fmt.Errorf("%s: %w", x.Status, err)
		}
		return format(out), nil
	}
}

// simulateWebhook wakes the payment after a while, as an outside service
// calling back would. Waking is idempotent, so a resumed demo may do it again.
func (d *demo) simulateWebhook(ctx context.Context) {
	if err := work(ctx, 2500*time.Millisecond); err != nil {
		return
	}
	for ctx.Err() == nil {
		_, err := d.webhook.Wake(ctx, "payment-42", durable.Completed("paid $42.00"))
		if err == nil || !errors.Is(err, durable.ErrNotFound) {
			return
		}
		_ = work(ctx, 100*time.Millisecond) // the parent has not spawned it yet
	}
}

func (d *demo) run(ctx context.Context, stdout, stderr io.Writer, live bool, path string) int {
	started := time.Now()
	if err := d.ex.Start(ctx); err != nil {
		fmt.Fprintf(stderr, "durable demo: %v\n", err)
		return exitError
	}
	flows, err := d.enqueue(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "durable demo: enqueue: %v\n", err)
		d.shutdown()
		return exitError
	}
	fmt.Fprintf(stdout, "durable demo on %s (interrupt and run again to resume; --fresh starts over)\n", path)
	if d.allFinished(ctx, flows) {
		fmt.Fprintln(stdout, "every workflow in this database has already finished; showing the results")
	}
	fmt.Fprintln(stdout)
	go d.simulateWebhook(ctx)
	view := newTreeView(d.store, flows, stdout, live)
	viewDone := make(chan struct{})
	go func() { view.follow(ctx); close(viewDone) }()

	results := make([]string, len(flows))
	for i, fl := range flows {
		res, err := fl.result(ctx)
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			res = "FAILED: " + err.Error()
		}
		results[i] = res
	}
	view.stop()
	<-viewDone
	if ctx.Err() != nil {
		fmt.Fprintln(stdout, "\ninterrupted: run `durable demo` again to resume where it stopped")
		d.shutdown()
		return exitInterrupted
	}
	view.render(ctx) // final state
	fmt.Fprintln(stdout, "\nresults:")
	for i, fl := range flows {
		fmt.Fprintf(stdout, "  %-20s %-16s %s\n", fl.name, fl.id, results[i])
	}
	fails := failures(view.last)
	if len(fails) > 0 {
		fmt.Fprintln(stdout, "\nfailed attempts (retried):")
		for _, f := range fails {
			fmt.Fprintf(stdout, "  %s %s attempt %d: %s\n", f.taskID, f.id, f.attempt.Attempt+1, f.attempt.Error.Message)
		}
	}
	fmt.Fprintf(stdout, "\ndone in %s\n", time.Since(started).Round(10*time.Millisecond))
	d.shutdown()
	printInspectHints(stdout, path, flows, fails)
	return exitOK
}

// printInspectHints says how to look at what the demo did with the
// commands that operate a store.
func printInspectHints(w io.Writer, path string, flows []workflow, fails []failure) {
	db := "--db " + path
	fmt.Fprintf(w, "\ninspect what it did (from a checkout, `go run ./cmd/durable` in place of `durable`):\n")
	t := newTable(w)
	fmt.Fprintf(t, "  durable executions list %s\tevery execution, newest first\n", db)
	fmt.Fprintf(t, "  durable executions tree %s %s\tthe order's tree of executions\n", flows[0].id, db)
	if len(fails) > 0 {
		fmt.Fprintf(t, "  durable executions show %s %s\tinput, output, failed attempts\n", fails[0].id, db)
	}
	fmt.Fprintf(t, "  durable stats %s\tcounts by task and status\n", db)
	t.Flush()
}

func (d *demo) allFinished(ctx context.Context, flows []workflow) bool {
	for _, fl := range flows {
		row, err := d.store.Get(ctx, storage.GetParams{ID: fl.id})
		if err != nil || !row.Status.Terminal() {
			return false
		}
	}
	return true
}

func (d *demo) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = d.ex.Shutdown(ctx)
}
