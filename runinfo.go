package durable

import (
	"context"
	"time"

	"github.com/durable-go/durable/storage"
)

// RunInfo describes the run a task function is executing. Read it with
// Info(ctx).
type RunInfo struct {
	TaskID      string
	ExecutionID string
	// Attempt counts retries before this run: 0 on the first run.
	Attempt int
	// Iteration is the loop iteration (looping tasks), from 0.
	Iteration int
	// PrevError is the error of the previous attempt, if any (also set when
	// the previous executor died: ErrLeaseLost).
	PrevError *ExecutionError
	// Crashes counts previous runs whose executor died.
	Crashes int

	// Root and Parent name the top-most ancestor and the direct parent;
	// empty for a top-level execution.
	RootID, RootTaskID     string
	ParentID, ParentTaskID string
	// ChildIndex is the position among the parent's children.
	ChildIndex int
	// IsFinalize is true for a parent's finalize.
	IsFinalize bool

	// ExecutorID is the executor running this run.
	ExecutorID string
	// Fence is this run's fencing token: it grows with every claim of the
	// execution and is never handed out twice for it, not even across a
	// crash of the database server (see docs/semantics.md, Fencing), so an
	// external system can reject writes from a stale run (one whose claim
	// was taken over) by keeping the highest fence seen.
	Fence int64

	// Metadata is the execution's metadata (WithMetadata, enqueue
	// middleware); nil when it has none. It is the stored map: read it,
	// do not change it.
	Metadata map[string]string
	// CreatedAt is when the execution was enqueued; StartedAt when this
	// run's claim took it (the engine's clock). For a first attempt
	// StartedAt - CreatedAt is the time it waited to start, its delay
	// (WithDelay) included.
	CreatedAt, StartedAt time.Time
}

type runInfoKey struct{}

// Info returns the run's information; ok is false outside a task run.
func Info(ctx context.Context) (RunInfo, bool) {
	r, ok := ctx.Value(runInfoKey{}).(*activeRun)
	if !ok {
		return RunInfo{}, false
	}
	return r.e.runInfo(*r.row), true
}

func (e *Executor) runInfo(row storage.Execution) RunInfo {
	return RunInfo{
		TaskID: row.TaskID, ExecutionID: row.ID, Attempt: row.Attempt, Iteration: row.Iteration,
		PrevError: execErrorFromInfo(row.Error), Crashes: row.Crashes,
		RootID: row.RootID, RootTaskID: row.RootTaskID, ParentID: row.ParentID, ParentTaskID: row.ParentTaskID,
		ChildIndex: row.ChildIndex, IsFinalize: row.IsFinalize, ExecutorID: e.id, Fence: row.Fence,
		Metadata: row.Metadata, CreatedAt: row.CreatedAt, StartedAt: row.StartedAt,
	}
}

// ShuttingDown returns a channel closed when the executor running this run
// begins a graceful shutdown: a long run should save what it can and return
// (an error wrapping ErrCancelled ends it cancelled; any other error is
// retried per its policy). The run's context itself is cancelled only when
// the shutdown deadline passes. Outside a run it returns nil.
func ShuttingDown(ctx context.Context) <-chan struct{} {
	r, ok := ctx.Value(runInfoKey{}).(*activeRun)
	if !ok {
		return nil
	}
	return r.e.shutdownCh
}
