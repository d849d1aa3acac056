package durable

import (
	"context"
	"log/slog"

	"github.com/durable-go/durable/storage"
)

// continueParent runs the continuation of a parent whose children are done
// (or one of which failed, for a parent that fails fast).
func (e *Executor) continueParent(h *held, d *taskDef, row storage.Execution) {
	tr, ok, err := e.continuation(d, row)
	if err != nil {
		e.log.Warn("parent continuation failed; releasing it to be retried", slog.String("execution", row.ID), slog.Any("error", err))
		e.releaseClaim(h)
		return
	}
	if !ok {
		// Nothing to do yet: the claim lapses and the row is looked at again.
		e.log.Error("parent claimed with unfinished children and no failure", slog.String("execution", row.ID))
		e.held.remove(h)
		return
	}
	e.comp.submit(h, tr)
}

func (e *Executor) releaseClaim(h *held) {
	e.held.remove(h)
	ctx, cancel := e.storageCtx()
	defer cancel()
	if err := e.store.Release(ctx, storage.ReleaseParams{Now: e.now(), Leases: []storage.Lease{h.lease}}); err != nil {
		e.log.Warn("release failed; the claim lapses with its lease", slog.Any("error", err))
	}
}

// continuation reads what the decision on a waiting parent needs (its last
// child, or all its children) and takes it. It reports false when there is
// nothing to do yet.
func (e *Executor) continuation(d *taskDef, row storage.Execution) (storage.Transition, bool, error) {
	ctx, cancel := e.storageCtx()
	defer cancel()
	dc := e.decider()
	if row.Status == storage.StatusWaitingForFinalize || d.kind == kindSequence {
		last, done, err := e.lastChild(ctx, row)
		if err != nil || !done {
			return storage.Transition{}, false, err
		}
		if row.Status == storage.StatusWaitingForFinalize {
			return dc.finalizeDone(d, row, last), true, nil
		}
		return dc.stepDone(d, row, last), true, nil
	}
	children, err := e.store.ListChildren(ctx, storage.ListChildrenParams{ParentID: row.ID})
	if err != nil {
		return storage.Transition{}, false, err
	}
	tr, ok := dc.childrenDone(d, row, children)
	return tr, ok, nil
}

// lastChild reads a waiting parent's last child (its finalize, or a
// sequence's current step) and reports whether it finished.
func (e *Executor) lastChild(ctx context.Context, row storage.Execution) (storage.Execution, bool, error) {
	rows, err := e.store.ListChildren(ctx, storage.ListChildrenParams{ParentID: row.ID, FromIndex: row.ChildrenTotal - 1, Limit: 1})
	if err != nil || len(rows) == 0 {
		return storage.Execution{}, false, err
	}
	return rows[0], rows[0].Status.Terminal(), nil
}
