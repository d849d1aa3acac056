package sim

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/durable-go/durable"
)

// The workload: one task of every kind, registered with every executor
// (and with the client that enqueues, cancels, wakes and waits). Each
// function's outcome follows from its input and its attempt (or
// iteration), never from the time or the executor, and each run is
// recorded in the run ledger (sim.ran) before it does anything else.

// Job is the input of the plain task (and of the sequence, the loop).
type Job struct {
	Name string `json:"name"`
	// Fail: the first Fail attempts fail with a retryable error.
	Fail int `json:"fail,omitempty"`
	// Fatal: every attempt fails with an error that is never retried.
	Fatal bool `json:"fatal,omitempty"`
	// Panic: the failing attempts panic instead of returning an error.
	Panic bool `json:"panic,omitempty"`
	// Iterations: a loop is done after this many iterations.
	Iterations int `json:"iterations,omitempty"`
}

// Fan is the input of the parents.
type Fan struct {
	Name string `json:"name"`
	Jobs []Job  `json:"jobs,omitempty"`
	// Naps are the keys of sleeping children.
	Naps []string `json:"naps,omitempty"`
	// Depth > 0 adds a child of the same parent task with Depth-1
	// (recursion).
	Depth int `json:"depth,omitempty"`
	// Reuse gives that child the same sleeping children: their keys are
	// taken, and its spawn is refused.
	Reuse bool `json:"reuse,omitempty"`
	// FailFinalize makes the finalize fail (without retry).
	FailFinalize bool `json:"fail_finalize,omitempty"`
}

// The workload's limits, as the invariants check them.
const (
	jobRetries  = 2
	jobTimeout  = 100 * time.Millisecond
	napTimeout  = 400 * time.Millisecond
	loopMaxIter = 4
)

var jobRetry = durable.RetryPolicy{MaxRetries: jobRetries, BaseDelay: 5 * time.Millisecond, Multiplier: 2, Jitter: 0.5}

// tasks are the workload's tasks registered with one executor.
type tasks struct {
	job     *durable.Task[Job, string]
	shout   *durable.Task[string, string]
	fan     *durable.Task[Fan, durable.ParentOutput[string]]
	gather  *durable.Task[durable.FinalizeInput[string], string]
	fanFin  *durable.Task[Fan, string]
	seq     *durable.Task[Job, string]
	seqNap  *durable.Task[Job, string]
	loop    *durable.Task[Job, durable.LoopOutput[string]]
	nap     *durable.SleepingTask[string]
	ledgerF func(ctx context.Context)       // records a run
	work    func(ctx context.Context) error // takes the run's time
}

// failMark ends the run output of a parent whose finalize must fail.
const failMark = "!"

// errAttempt is the retryable error of a failing attempt.
var errAttempt = errors.New("attempt failed on purpose")

// register registers the workload's tasks with ex; record is called at
// the start of every run, then work, which takes the run's simulated time.
// The job task's executions go to jobQueue when it is not "", each with
// its concurrency key (jobKey).
func register(ex *durable.Executor, jobQueue string, record func(ctx context.Context), work func(ctx context.Context) error) (*tasks, error) {
	t := &tasks{ledgerF: record, work: work}
	var err error
	retry := durable.WithRetry(jobRetry)
	timeout := durable.WithTimeout(jobTimeout)
	jobOpts := []durable.TaskOption{retry, timeout}
	if jobQueue != "" {
		jobOpts = append(jobOpts, durable.WithQueue(jobQueue), durable.WithConcurrencyKeyFunc(func(j Job) string { return jobKey(j.Name) }))
	}
	if t.job, err = durable.NewTask(ex, "job", t.runJob, jobOpts...); err != nil {
		return nil, err
	}
	if t.shout, err = durable.NewTask(ex, "shout", t.runShout, retry, timeout); err != nil {
		return nil, err
	}
	if t.nap, err = durable.NewSleepingTask[string](ex, "nap", durable.WithTimeout(napTimeout)); err != nil {
		return nil, err
	}
	if t.fan, err = durable.NewParentTask(ex, "fan", t.runFan, retry, timeout); err != nil {
		return nil, err
	}
	if t.gather, err = durable.NewTask(ex, "gather", t.runGather, retry, timeout); err != nil {
		return nil, err
	}
	if t.fanFin, err = durable.NewParentTaskWithFinalize(ex, "fan_fin", t.runFan, t.gather, retry, timeout); err != nil {
		return nil, err
	}
	if t.seq, err = durable.NewSequence[Job, string](ex, "seq", t.job, t.shout); err != nil {
		return nil, err
	}
	if t.seqNap, err = durable.NewSequence[Job, string](ex, "seq_nap", t.job, t.nap); err != nil {
		return nil, err
	}
	if t.loop, err = durable.NewLoopTask(ex, "loop", t.runLoop, durable.LoopOptions{MaxIterations: loopMaxIter, Delay: 2 * time.Millisecond}, retry, timeout); err != nil {
		return nil, err
	}
	return t, nil
}

// begin records the run and takes its time; it returns the error the run
// must end with when its context was done first (a cancel, a lost lease,
// its timeout).
func (t *tasks) begin(ctx context.Context) error {
	t.ledgerF(ctx)
	return t.work(ctx)
}

func attempt(ctx context.Context) int {
	info, _ := durable.Info(ctx)
	return info.Attempt
}

func (t *tasks) runJob(ctx context.Context, j Job) (string, error) {
	if err := t.begin(ctx); err != nil {
		return "", err
	}
	switch a := attempt(ctx); {
	case j.Fatal:
		return "", durable.NonRetryable(fmt.Errorf("job %s: %w", j.Name, errAttempt))
	case a < j.Fail && j.Panic:
		panic(fmt.Sprintf("job %s attempt %d panics on purpose", j.Name, a))
	case a < j.Fail:
		return "", fmt.Errorf("job %s attempt %d: %w", j.Name, a, errAttempt)
	}
	return doneKey(j.Name), nil
}

// jobKey is a job's concurrency key: the name of its top-level execution
// (a fan's jobs are named after it, "r3.0"), so that the jobs of one tree
// share it.
func jobKey(name string) string {
	root, _, _ := strings.Cut(name, ".")
	return root
}

// doneKey is a job's output: the key of the sleeping step that follows it
// in seq_nap.
func doneKey(name string) string { return "done:" + name }

func (t *tasks) runShout(ctx context.Context, s string) (string, error) {
	if err := t.begin(ctx); err != nil {
		return "", err
	}
	return strings.ToUpper(s), nil
}

func (t *tasks) runFan(ctx context.Context, f Fan) (durable.Spawn[string], error) {
	if err := t.begin(ctx); err != nil {
		return durable.Spawn[string]{}, err
	}
	sp := durable.Spawn[string]{Output: "fan:" + f.Name}
	if f.FailFinalize {
		sp.Output += failMark
	}
	for _, j := range f.Jobs {
		sp.Children = append(sp.Children, durable.ChildOf(t.job, j))
	}
	for _, k := range f.Naps {
		sp.Children = append(sp.Children, t.nap.Child(k))
	}
	if f.Depth > 0 {
		r := Fan{Name: f.Name + "/r", Jobs: f.Jobs[:min(1, len(f.Jobs))], Depth: f.Depth - 1}
		if f.Reuse {
			r.Naps = f.Naps
		}
		sp.Children = append(sp.Children, durable.ChildOf(t.fan, r))
	}
	return sp, nil
}

func (t *tasks) runGather(ctx context.Context, in durable.FinalizeInput[string]) (string, error) {
	if err := t.begin(ctx); err != nil {
		return "", err
	}
	if strings.HasSuffix(in.Output, failMark) {
		return "", durable.NonRetryable(fmt.Errorf("finalize of %s: %w", in.Output, errAttempt))
	}
	parts := []string{in.Output}
	for _, c := range in.Children {
		parts = append(parts, string(c.Status))
	}
	return strings.Join(parts, ","), nil
}

func (t *tasks) runLoop(ctx context.Context, j Job) (durable.LoopResult[string], error) {
	if err := t.begin(ctx); err != nil {
		return durable.LoopResult[string]{}, err
	}
	info, _ := durable.Info(ctx)
	if info.Iteration+1 >= j.Iterations {
		return durable.Done(fmt.Sprintf("loop:%s:%d", j.Name, info.Iteration)), nil
	}
	return durable.Continue[string](), nil
}
