package durable

import (
	"context"
	"log/slog"

	"github.com/durable-go/durable/internal/completer"
	"github.com/durable-go/durable/storage"
)

// Logs of what happened to executions, through Config.Logger (every record
// also has the logger's "component" and "executor" attributes). Their
// messages, levels and attribute keys are stable, listed in
// docs/semantics.md ("Logs"):
//
//   - a failed attempt that will be retried (Warn), and an execution that
//     ends failed, timed_out, children_failed or finalize_failed (Error),
//     logged once the store applied the transition (completed, below);
//     an outcome the store did not apply (the claim was lost) is logged
//     at Debug only, as discarded;
//   - a claim that took over a running row whose lease lapsed (Warn),
//     logged as the claim returns it (dispatch).
//
// Successful runs log nothing: the checks on their path are a nil test of
// the transition's error, and a few comparisons per claimed row.
const (
	msgAttemptFailed   = "attempt failed; retrying"
	msgExecutionFailed = "execution failed"
	msgDiscarded       = "outcome discarded: the claim was lost"
	msgTakeover        = "lease lapsed; execution taken over"
)

// The attribute keys.
const (
	keyTask        = "task"         // the task id
	keyExecution   = "execution"    // the execution id
	keyRoot        = "root"         // the root execution's id; only in a tree
	keyParent      = "parent"       // the parent execution's id; only for a child
	keyAttempt     = "attempt"      // the attempt, from 1 (Info(ctx).Attempt + 1)
	keyMaxAttempts = "max_attempts" // RetryPolicy.MaxRetries + 1
	keyStatus      = "status"       // the status the execution ends in (or would have)
	keyErrorKind   = "error_kind"   // the error's kind (storage.ErrorKind)
	keyError       = "error"        // the error's message
	keyRetryAt     = "retry_at"     // when the retry is due
	keyRetryIn     = "retry_in"     // the retry delay
	keyCrash       = "crash"        // the lapses counted so far (Crashes), this one included
	keyCrashBudget = "crash_budget" // Config.CrashBudget: the lapses an execution survives
)

// logOutcome logs the outcome of one written transition, if it is a
// failure (completed calls it for the transitions the store answered that
// carry an error).
func (e *Executor) logOutcome(r *completer.Result[*held]) {
	tr := &r.Transition
	if tr.Error == nil || tr.To == storage.StatusCancelled {
		return // a success, a loop step, a spawn, a cancellation
	}
	var level slog.Level
	var msg string
	switch {
	case !r.Applied:
		level, msg = slog.LevelDebug, msgDiscarded
	case tr.To == storage.StatusReady:
		level, msg = slog.LevelWarn, msgAttemptFailed
	case tr.To.Terminal():
		level, msg = slog.LevelError, msgExecutionFailed
	default:
		return
	}
	ctx := context.Background()
	if !e.log.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 12)
	attrs = executionAttrs(attrs, r.Handle.row, tr.ID)
	if msg != msgAttemptFailed {
		attrs = append(attrs, slog.String(keyStatus, string(tr.To)))
	}
	attrs = append(attrs, slog.String(keyErrorKind, string(tr.Error.Kind)), slog.String(keyError, tr.Error.Message))
	if msg == msgAttemptFailed {
		attrs = append(attrs, slog.Time(keyRetryAt, r.Now.Add(tr.Delay)), slog.Duration(keyRetryIn, tr.Delay))
		if row := r.Handle.row; row != nil {
			attrs = append(attrs, slog.Int(keyMaxAttempts, row.Retry.MaxRetries+1))
		}
	}
	e.log.LogAttrs(ctx, level, msg, attrs...)
}

// executionAttrs appends the attributes naming a claimed execution: its
// task, id, root and parent (when it has them), and its attempt. row is
// the claimed row; id names the execution should row be missing.
func executionAttrs(attrs []slog.Attr, row *storage.Execution, id string) []slog.Attr {
	if row == nil {
		return append(attrs, slog.String(keyExecution, id))
	}
	attrs = append(attrs, slog.String(keyTask, row.TaskID), slog.String(keyExecution, row.ID))
	if row.RootID != "" {
		attrs = append(attrs, slog.String(keyRoot, row.RootID))
	}
	if row.ParentID != "" {
		attrs = append(attrs, slog.String(keyParent, row.ParentID))
	}
	return append(attrs, slog.Int(keyAttempt, row.Attempt+1))
}

// logTakeovers logs the claimed rows that a claim took over from an
// executor whose lease lapsed.
func (e *Executor) logTakeovers(rows []storage.Execution) {
	for i := range rows {
		if takenOver(&rows[i]) {
			e.logTakeover(&rows[i])
			callAll(e.hooks.takenOver, Takeover{TaskID: rows[i].TaskID, ExecutionID: rows[i].ID, Crashes: rows[i].Crashes})
		}
	}
}

// takenOver reports whether a row as Claim returned it was running with a
// lease that lapsed (the claim counted a crash and recorded lease_expired)
// rather than ready: a claim sets a ready row's StartedAt to its UpdatedAt
// (both the claim's time), and keeps a running row's, set by an earlier
// claim (storage.Store.Claim; storagetest checks both, in ClaimReadyRow and
// ClaimLapsedLease). A ready row may carry a lease_expired error and
// crashes from an earlier takeover (released at a shutdown since).
func takenOver(row *storage.Execution) bool {
	return row.Crashes > 0 && row.Error != nil && row.Error.Kind == storage.ErrorKindLeaseExpired &&
		row.Status == storage.StatusRunning && row.SleepKey == "" && !row.StartedAt.Equal(row.UpdatedAt)
}

func (e *Executor) logTakeover(row *storage.Execution) {
	ctx := context.Background()
	if !e.log.Enabled(ctx, slog.LevelWarn) {
		return
	}
	attrs := make([]slog.Attr, 0, 9)
	attrs = executionAttrs(attrs, row, row.ID)
	attrs = append(attrs, slog.Int(keyCrash, row.Crashes), slog.Int(keyCrashBudget, e.cfg.CrashBudget),
		slog.String(keyError, row.Error.Message))
	e.log.LogAttrs(ctx, slog.LevelWarn, msgTakeover, attrs...)
}
