package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// workerCommand is the hidden first argument that turns this binary into a
// recovery worker process.
const workerCommand = "__recovery-worker"

// Recovery workload parameters.
const (
	recoveryKillFraction = 0.4                   // SIGKILL once this share of the jobs ended
	recoveryPollInterval = 10 * time.Millisecond // log and store polling
	workerReadyTimeout   = 60 * time.Second      // bound on a worker's start
	workerStopTimeout    = 15 * time.Second      // graceful stop before SIGKILL
	workerReadyLine      = "ready"               // what a worker prints once started
	cleanupTimeout       = 30 * time.Second      // bound on counting after a timeout
)

// runRecovery runs the recovery workload with n jobs on the prepared st:
// start a worker process, enqueue, SIGKILL the worker once 40% of the jobs
// ended, start a new worker and time until all n are completed in the store.
// The returned note explains a partial result.
func runRecovery(ctx context.Context, o options, eng engine, st *runStore, n int) (Metrics, string, error) {
	dir, err := os.MkdirTemp("", "peers-recovery-")
	if err != nil {
		return Metrics{}, "", fmt.Errorf("recovery: temp dir: %w", err)
	}
	defer os.RemoveAll(dir)
	logPath := filepath.Join(dir, "jobs.log")
	if err := os.WriteFile(logPath, nil, 0o644); err != nil {
		return Metrics{}, "", fmt.Errorf("recovery: create log: %w", err)
	}

	client, err := eng.recoveryClient(ctx, st)
	if err != nil {
		return Metrics{}, "", err
	}
	defer client.close()

	first, err := startWorker(ctx, o, st, logPath)
	if err != nil {
		return Metrics{}, "", err
	}
	defer first.stop()
	if err := first.awaitReady(ctx); err != nil {
		return Metrics{}, "", err
	}
	if err := client.enqueue(ctx, n); err != nil {
		return Metrics{}, "", err
	}
	if err := awaitEnded(ctx, logPath, int(math.Ceil(recoveryKillFraction*float64(n)))); err != nil {
		return Metrics{}, "", err
	}
	killedAt := time.Now()
	if err := first.kill(); err != nil {
		return Metrics{}, "", err
	}

	second, err := startWorker(ctx, o, st, logPath)
	if err != nil {
		return Metrics{}, "", err
	}
	defer second.stop()
	done, waitErr := awaitAllCompleted(ctx, client, n)
	recovered := time.Since(killedAt)
	second.stop()
	return recoveryMetrics(ctx, client, logPath, n, done, recovered, waitErr)
}

// recoveryMetrics counts what the store and the log say after the second
// worker stopped. A wait that ended early (waitErr) yields no recovery_ms
// but still the lost and doubly executed jobs, with a note.
func recoveryMetrics(ctx context.Context, client recoveryClient, logPath string, n int, done bool, recovered time.Duration, waitErr error) (Metrics, string, error) {
	countCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	completed, err := client.completed(countCtx)
	if err != nil {
		return Metrics{}, "", err
	}
	counts, err := readLogCounts(logPath)
	if err != nil {
		return Metrics{}, "", err
	}
	m := Metrics{JobsLost: ptr(n - completed), JobsExecutedTwice: ptr(counts.executedTwice())}
	if !done {
		return m, fmt.Sprintf("not all jobs completed: %v", waitErr), nil
	}
	m.RecoveryMs = ptr(ms(recovered))
	return m, "", nil
}

// awaitEnded polls the log until at least want jobs logged their end.
func awaitEnded(ctx context.Context, logPath string, want int) error {
	for {
		c, err := readLogCounts(logPath)
		if err != nil {
			return err
		}
		if c.totalEnded >= want {
			return nil
		}
		if err := sleepCtx(ctx, recoveryPollInterval); err != nil {
			return fmt.Errorf("recovery: %d of %d jobs ended before the kill: %w", c.totalEnded, want, err)
		}
	}
}

// awaitAllCompleted polls the store until n recovery jobs are completed. It
// returns false with the reason when ctx ends first.
func awaitAllCompleted(ctx context.Context, client recoveryClient, n int) (bool, error) {
	for {
		got, err := client.completed(ctx)
		if err == nil && got >= n {
			return true, nil
		}
		if err != nil && ctx.Err() == nil {
			return false, err
		}
		if err := sleepCtx(ctx, recoveryPollInterval); err != nil {
			return false, fmt.Errorf("%d of %d completed: %w", got, n, err)
		}
	}
}

// sleepCtx sleeps for d or until ctx ends, returning ctx's error then.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// workerProcess is a running recovery worker process.
type workerProcess struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser // closing it asks the worker to stop
	ready   chan struct{}  // closed when the worker printed its ready line
	exited  chan struct{}  // closed when the process has been waited for
	waitErr error
}

// startWorker starts this binary as a recovery worker on st.
func startWorker(ctx context.Context, o options, st *runStore, logPath string) (*workerProcess, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("recovery: find own executable: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe, workerCommand,
		"--engine", o.engine, "--store", st.kind, "--path", st.path, "--dsn", st.dsn,
		"--schema", st.schema, "--log", logPath, "--concurrency", strconv.Itoa(o.concurrency))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("recovery: worker stdin: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("recovery: worker stdout: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("recovery: start worker: %w", err)
	}
	w := &workerProcess{cmd: cmd, stdin: stdin, ready: make(chan struct{}), exited: make(chan struct{})}
	go w.watchStdout(stdout)
	return w, nil
}

// watchStdout closes w.ready on the worker's ready line, then reaps the
// process once its output ends.
func (w *workerProcess) watchStdout(stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	announced := false
	for sc.Scan() {
		if sc.Text() == workerReadyLine && !announced {
			announced = true
			close(w.ready)
		}
	}
	w.waitErr = w.cmd.Wait()
	close(w.exited)
}

// awaitReady waits until the worker is started or has failed.
func (w *workerProcess) awaitReady(ctx context.Context) error {
	t := time.NewTimer(workerReadyTimeout)
	defer t.Stop()
	select {
	case <-w.ready:
		return nil
	case <-w.exited:
		return fmt.Errorf("recovery: worker exited before it was ready: %v", w.waitErr)
	case <-t.C:
		return fmt.Errorf("recovery: worker not ready after %s", workerReadyTimeout)
	case <-ctx.Done():
		return fmt.Errorf("recovery: waiting for worker: %w", ctx.Err())
	}
}

// kill SIGKILLs the worker and reaps it.
func (w *workerProcess) kill() error {
	if err := w.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("recovery: kill worker: %w", err)
	}
	<-w.exited
	return nil
}

// stop asks the worker to stop by closing its stdin, and SIGKILLs it if it
// has not exited after workerStopTimeout. It may be called more than once.
func (w *workerProcess) stop() {
	_ = w.stdin.Close()
	t := time.NewTimer(workerStopTimeout)
	defer t.Stop()
	select {
	case <-w.exited:
	case <-t.C:
		_ = w.kill()
	}
}

// runWorkerCommand is the recovery worker process: it works recovery jobs
// until its stdin closes or it receives SIGINT/SIGTERM, printing
// workerReadyLine on stdout once started. It returns the exit code.
func runWorkerCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(workerCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var engineName, logPath string
	var concurrency int
	st := &runStore{}
	fs.StringVar(&engineName, "engine", "", "engine")
	fs.StringVar(&st.kind, "store", "", "store kind")
	fs.StringVar(&st.path, "path", "", "SQLite file")
	fs.StringVar(&st.dsn, "dsn", "", "PostgreSQL URL")
	fs.StringVar(&st.schema, "schema", "", "PostgreSQL schema")
	fs.StringVar(&logPath, "log", "", "recovery log")
	fs.IntVar(&concurrency, "concurrency", 100, "worker concurrency")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	eng, err := newEngine(engineName)
	if err != nil {
		fmt.Fprintln(stderr, "recovery worker:", err)
		return 2
	}
	log, err := openAppendLog(logPath)
	if err != nil {
		fmt.Fprintln(stderr, "recovery worker:", err)
		return 1
	}
	defer log.close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // the orchestrator closes our stdin (or dies) to stop us
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	ready := func() { fmt.Fprintln(stdout, workerReadyLine) }
	if err := eng.recoveryWorker(ctx, st, concurrency, log, ready); err != nil {
		fmt.Fprintln(stderr, "recovery worker:", err)
		return 1
	}
	return 0
}
