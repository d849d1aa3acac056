package memory

import (
	"context"
	"fmt"
	"time"

	"github.com/durable-go/durable/storage"
)

// Insert inserts executions all or nothing; see [storage.Store]. Besides a
// duplicate ID or SleepKey (an error wrapping [storage.ErrDuplicate]), a row
// with an empty ID or TaskID, an unknown status, invalid tags (see
// [storage.ValidateTags]), or a Delays slice whose length differs from
// Executions fails the call.
func (s *Store) Insert(ctx context.Context, p storage.InsertParams) error {
	if err := s.lock(ctx, "insert"); err != nil {
		return err
	}
	rows, err := s.prepareRows(p.Executions, p.Delays, dbTime(p.Now))
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("memory: insert: %w", err)
	}
	for _, r := range rows {
		s.insertRow(r)
	}
	s.mu.Unlock()
	s.publish(events{ready: storage.AnyReady(p.Executions)})
	return nil
}

// prepareRows validates new rows against the store and each other, and
// returns copies with the store-set fields filled in. It changes nothing.
func (s *Store) prepareRows(execs []storage.Execution, delays []time.Duration, now time.Time) ([]*row, error) {
	if delays != nil && len(delays) != len(execs) {
		return nil, fmt.Errorf("%d delays for %d executions", len(delays), len(execs))
	}
	defer clear(s.batchIDs)
	defer clear(s.batchKeys)
	defer clear(s.batchActive)
	rows := make([]*row, len(execs))
	for i := range execs {
		e := &execs[i]
		if err := s.checkNew(e); err != nil {
			return nil, err
		}
		var delay time.Duration
		if delays != nil {
			delay = delays[i]
		}
		rows[i] = newRow(e, delay, now)
	}
	return rows, nil
}

// checkNew validates one new row against the store and the rows before it
// in the batch, whose IDs and SleepKeys it records in s.batchIDs and
// s.batchKeys.
func (s *Store) checkNew(e *storage.Execution) error {
	_, idInBatch := s.batchIDs[e.ID]
	_, keyInBatch := s.batchKeys[e.SleepKey]
	if err := storage.ValidateExecution(e); err != nil {
		return err
	}
	switch {
	case s.rows[e.ID] != nil || idInBatch:
		return fmt.Errorf("execution id %q already exists: %w", e.ID, storage.ErrDuplicate)
	case e.SleepKey != "" && (s.bySleepKey[e.SleepKey] != nil || keyInBatch):
		return fmt.Errorf("sleep key %q of execution %q already exists: %w", e.SleepKey, e.ID, storage.ErrDuplicate)
	}
	if err := s.checkActiveKey(e); err != nil {
		return err
	}
	s.batchIDs[e.ID] = struct{}{}
	if e.SleepKey != "" {
		s.batchKeys[e.SleepKey] = struct{}{}
	}
	if e.ActiveKey != "" {
		s.batchActive[e.ActiveKey] = e
	}
	return nil
}

// checkActiveKey refuses e when its ActiveKey is held: by a stored row
// that is not terminal, or by a row before it in the batch.
func (s *Store) checkActiveKey(e *storage.Execution) error {
	if e.ActiveKey == "" {
		return nil
	}
	if h := s.batchActive[e.ActiveKey]; h != nil {
		return &storage.ActiveKeyError{Key: e.ActiveKey, ID: h.ID, TaskID: h.TaskID}
	}
	if h := s.byActiveKey[e.ActiveKey]; h != nil && !h.e.Status.Terminal() {
		return &storage.ActiveKeyError{Key: e.ActiveKey, ID: h.e.ID, TaskID: h.e.TaskID}
	}
	return nil
}

// newRow copies e into a new row with the fields Insert sets: CreatedAt,
// UpdatedAt, Fence and DueAt, plus StartedAt for a sleeping row.
func newRow(e *storage.Execution, delay time.Duration, now time.Time) *row {
	c := copyExecution(*e)
	c.Metadata = cloneMetadata(e.Metadata) // the caller's map may change after the insert
	normaliseTimes(&c)
	c.CreatedAt, c.UpdatedAt = now, now
	c.Fence = 0
	c.Queue, c.Priority = storage.NormalizeQueue(c.Queue), storage.NormalizePriority(c.Priority)
	switch {
	case c.Status == storage.StatusReady:
		c.DueAt = dbTime(now.Add(delay))
	case c.Status == storage.StatusRunning && c.SleepKey != "":
		c.StartedAt = now
		c.DueAt = dbTime(now.Add(c.Timeout))
	case c.Status == storage.StatusRunning && c.ExecutorID != "":
		c.StartedAt = now
		c.DueAt = dbTime(now.Add(delay))
	default:
		c.DueAt = time.Time{}
	}
	return &row{e: c, heapIdx: -1}
}

// insertRow adds a prepared row to the table and its indexes.
func (s *Store) insertRow(r *row) {
	s.seq++
	r.seq = s.seq
	s.rows[r.e.ID] = r
	if r.e.SleepKey != "" {
		s.bySleepKey[r.e.SleepKey] = r
	}
	if r.e.ActiveKey != "" {
		s.byActiveKey[r.e.ActiveKey] = r
	}
	s.addChild(r)
	if r.e.RootID != "" {
		s.byRoot[r.e.RootID] = append(s.byRoot[r.e.RootID], r)
	}
	s.addCreated(r)
	due := r.e.DueAt
	r.e.DueAt = time.Time{}
	s.setDue(r, due)
}
