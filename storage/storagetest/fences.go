package storagetest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/faulty"
)

// scenarioFencesUniqueUnderFaults runs two executors on the store behind a
// fault decorator that fails claims, heartbeats, completions and releases
// before or after they take effect, with a lease short enough that runs are
// taken over. Every run records its execution id and fencing token: no
// (execution, fence) pair may start twice, and every execution must
// complete.
func scenarioFencesUniqueUnderFaults(t *testing.T, store storage.Store) {
	fs, err := faulty.New(store, faulty.Options{
		Seed: time.Now().UnixNano(), Rate: 0.2,
		Methods: []string{faulty.MethodClaim, faulty.MethodHeartbeat, faulty.MethodComplete, faulty.MethodRelease},
	})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	started := map[string]int{}
	var reclaimed int // runs with a fence above 1: their execution was claimed again
	var first *durable.Task[int, int]
	var ctx context.Context
	for i := range 2 {
		ex, err := durable.New(fs, durable.Config{
			ExecutorID:    fmt.Sprintf("fences-%d", i),
			Concurrency:   8,
			LeaseDuration: 150 * time.Millisecond,
			PollInterval:  20 * time.Millisecond,
			CrashBudget:   1000,
			Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			fs.Disable()
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = ex.Shutdown(sctx)
		})
		task := durable.Must(durable.NewTask(ex, "fenced", func(ctx context.Context, in int) (int, error) {
			info, _ := durable.Info(ctx)
			mu.Lock()
			started[fmt.Sprintf("%s/%d", info.ExecutionID, info.Fence)]++
			if info.Fence > 1 {
				reclaimed++
			}
			mu.Unlock()
			// Some runs outlast a lease whose heartbeat failed.
			select {
			case <-time.After(time.Duration(in%7) * 40 * time.Millisecond):
			case <-ctx.Done():
				return 0, ctx.Err()
			}
			return in, nil
		}, durable.WithRetry(durable.RetryPolicy{MaxRetries: 50, BaseDelay: time.Millisecond})))
		if first == nil {
			first = task
		}
		ctx = start(t, ex)
	}
	ins := make([]int, 150)
	for i := range ins {
		ins[i] = i
	}
	hs, err := first.EnqueueMany(ctx, ins) // no fault is injected into Insert
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hs {
		x, err := h.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if x.Status != durable.StatusCompleted {
			t.Fatalf("execution %s ended %s: %v", h.ID(), x.Status, x.Err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	st := fs.Stats()
	t.Logf("executions=%d runs=%d runs_after_a_reclaim=%d injected_faults=%v", len(hs), len(started), reclaimed, st.Injected)
	for run, n := range started {
		if n > 1 {
			t.Errorf("execution/fence %s started %d times", run, n)
		}
	}
}
