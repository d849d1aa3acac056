package durable

import (
	"context"
	"errors"
	"fmt"

	"github.com/durable-go/durable/storage"
)

// The untyped forms of Handle.Cancel and SleepingTask.Wake, for tools that
// operate a store without the tasks' types (the durable command): like the
// rest of operate.go, they work on an Executor that has not been started
// and on executions of tasks it has not registered.

// Cancel cancels the execution with that id, of any task, as Handle.Cancel
// does: if it has not finished, a ready one never runs, a running one has
// its context cancelled (in whichever executor runs it), and a parent's
// unfinished children are cancelled with it. Cancelling a finished
// execution does nothing; Get tells what it ended as. An unknown id is
// ErrNotFound.
func (e *Executor) Cancel(ctx context.Context, id string) error {
	if err := e.checkRead(); err != nil {
		return err
	}
	if err := e.checkOpen(); err != nil {
		return err
	}
	return e.cancel(ctx, id)
}

// Wake ends the sleeping execution waiting under key, of any sleeping task,
// and returns it, as SleepingTask.Wake does: with failure nil it completes
// with output, the output already encoded as the task's executors decode it
// (Config.Codec: JSON by default); with failure set it fails with that
// error's message and output is ignored. Waking is idempotent: an
// execution that has already finished is returned as it is. An unknown key
// is ErrNotFound; an output larger than Config.MaxPayloadBytes is
// ErrPayloadTooLarge.
func (e *Executor) Wake(ctx context.Context, key string, output []byte, failure error) (Record, error) {
	if err := e.checkRead(); err != nil {
		return Record{}, err
	}
	if err := e.checkOpen(); err != nil {
		return Record{}, err
	}
	if err := validSleepKey(key); err != nil {
		return Record{}, fmt.Errorf("wake: %w", err)
	}
	to, info := storage.StatusCompleted, (*storage.ErrorInfo)(nil)
	if failure != nil {
		to, output = storage.StatusFailed, nil
		info = &storage.ErrorInfo{Kind: storage.ErrorKindGeneric, Message: failure.Error()}
	} else if len(output) > e.cfg.MaxPayloadBytes {
		return Record{}, fmt.Errorf("%w: wake output of %d bytes, more than MaxPayloadBytes (%d)",
			ErrPayloadTooLarge, len(output), e.cfg.MaxPayloadBytes)
	}
	for range 5 {
		var row storage.Execution
		err := e.retryStorage(ctx, func() error {
			var err error
			row, err = e.store.GetBySleepKey(ctx, storage.GetBySleepKeyParams{SleepKey: key})
			return err
		})
		if errors.Is(err, storage.ErrNotFound) {
			return Record{}, fmt.Errorf("%w: no sleeping execution with key %q", ErrNotFound, key)
		}
		if err != nil {
			return Record{}, err
		}
		if row.Status.Terminal() {
			return recordOf(&row), nil
		}
		// Applied or not (it timed out or was cancelled meanwhile), the next
		// read reports what is stored.
		tr := terminal(row, to, output, info)
		err = e.retryStorage(ctx, func() error {
			_, err := e.store.Complete(ctx, storage.CompleteParams{Now: e.now(), Transitions: []storage.Transition{tr}})
			return err
		})
		if err != nil {
			return Record{}, fmt.Errorf("durable: wake %s %q: %w", row.TaskID, key, err)
		}
	}
	return Record{}, fmt.Errorf("%w: sleeping execution %q kept changing", ErrWakeRace, key)
}
