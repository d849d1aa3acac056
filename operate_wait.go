package durable

import "context"

// Wait blocks until the execution with that id, of any task, has finished
// and returns it, as Handle.Wait does: woken by the completion itself in
// this process, by the store's notifications for executions finished
// elsewhere, or by re-reading every PollInterval. It returns early only
// with ctx's error (wrapped) or ErrNotFound if the execution is gone.
func (e *Executor) Wait(ctx context.Context, id string) (Record, error) {
	if err := e.checkRead(); err != nil {
		return Record{}, err
	}
	row, err := e.wait(ctx, id)
	if err != nil {
		return Record{}, err
	}
	return recordOf(&row), nil
}
