package main

// This file holds a copy of GetWorkflowTask of go-workflows v1.2.0
// (backend/mysql/mysql.go, MIT License, Copyright (c) 2022 Christopher
// Schleiden) with one change, so that its MySQL backend runs on MariaDB. The
// claim `SELECT ... FROM instances i INNER JOIN pending_events pe ... LIMIT 1
// FOR UPDATE OF i SKIP LOCKED` is MySQL 8 syntax (MariaDB 10.11 answers error
// 1064 to `OF i`); here the join is an EXISTS subquery on pending_events and
// the clause `FOR UPDATE SKIP LOCKED`: the same instance is picked, and, as
// with `OF i`, only the instances row is locked (the rows a subquery of a
// locking read reads are not locked). The statement runs with MariaDB's
// exists_to_in off, so that the subquery is a lookup per candidate instance
// (of the pending_events index) and the scan stops at the first match, as the
// join's does; with it on, MariaDB materialized the whole pending_events
// index for every claim, and a backlog of 20,000 drained at about 10/s. A
// plain `FOR UPDATE SKIP LOCKED` on the join also locked pending_events rows
// and made completions deadlock. Everything else is the backend's own code.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/cschleiden/go-workflows/backend"
	"github.com/cschleiden/go-workflows/backend/history"
	"github.com/cschleiden/go-workflows/backend/metadata"
	"github.com/cschleiden/go-workflows/core"
	"github.com/cschleiden/go-workflows/workflow"
)

// mariaDBClaim is go-workflows' MySQL backend with the workflow task claim
// that MariaDB accepts. db is the backend's own pool and workerName the name
// it was given (the claim records it).
type mariaDBClaim struct {
	backend.Backend
	db         *sql.DB
	workerName string
}

// GetWorkflowTask is the backend's, with the claim MariaDB accepts.
func (b *mariaDBClaim) GetWorkflowTask(ctx context.Context, queues []workflow.Queue) (*backend.WorkflowTask, error) {
	tx, err := b.db.BeginTx(ctx, &sql.TxOptions{
		Isolation: sql.LevelReadCommitted,
	})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	now := time.Now()
	args := []any{
		core.WorkflowInstanceStateActive, // state
		now,                              // event.visible_at
		now,                              // locked_until
		now,                              // sticky_until
		b.workerName,                     // worker
	}

	queuePlaceholders := strings.Repeat(",?", len(queues)-1)
	for _, q := range queues {
		args = append(args, string(q))
	}

	// Lock next workflow task by finding an unlocked instance with new events to process.
	row := tx.QueryRowContext(
		ctx,
		fmt.Sprintf(`SET STATEMENT optimizer_switch='exists_to_in=off' FOR SELECT i.id, i.queue, i.instance_id, i.execution_id, i.parent_instance_id, i.parent_execution_id, i.parent_schedule_event_id, i.metadata, i.sticky_until
			FROM instances i
			WHERE
				state = ? AND i.completed_at IS NULL
				AND EXISTS (SELECT 1 FROM pending_events pe WHERE i.instance_id = pe.instance_id AND i.execution_id = pe.execution_id
					AND (pe.visible_at IS NULL OR pe.visible_at <= ?))
				AND (i.locked_until IS NULL OR i.locked_until < ?)
				AND (i.sticky_until IS NULL OR i.sticky_until < ? OR i.worker = ?)
				AND (i.queue in (?%s))
			LIMIT 1
			FOR UPDATE SKIP LOCKED`, queuePlaceholders),
		args...,
	)

	var id int
	var queue, instanceID, executionID string
	var parentInstanceID, parentExecutionID *string
	var parentEventID *int64
	var metadataJSON sql.NullString
	var stickyUntil *time.Time
	if err := row.Scan(&id, &queue, &instanceID, &executionID, &parentInstanceID, &parentExecutionID, &parentEventID, &metadataJSON, &stickyUntil); err != nil {
		if err == sql.ErrNoRows {
			return nil, nil
		}

		return nil, fmt.Errorf("scanning workflow instance: %w", err)
	}

	res, err := tx.ExecContext(
		ctx,
		`UPDATE instances i
			SET locked_until = ?, worker = ?
			WHERE id = ?`,
		now.Add(b.Options().WorkflowLockTimeout),
		b.workerName,
		id,
	)
	if err != nil {
		return nil, fmt.Errorf("locking workflow instance: %w", err)
	}

	if affectedRows, err := res.RowsAffected(); err != nil {
		return nil, fmt.Errorf("locking workflow instance: %w", err)
	} else if affectedRows == 0 {
		// No instance locked?
		return nil, nil
	}

	var wfi *workflow.Instance
	if parentInstanceID != nil {
		wfi = core.NewSubWorkflowInstance(instanceID, executionID, core.NewWorkflowInstance(*parentInstanceID, *parentExecutionID), *parentEventID)
	} else {
		wfi = core.NewWorkflowInstance(instanceID, executionID)
	}

	var metadata *metadata.WorkflowMetadata
	if metadataJSON.Valid {
		if err := json.Unmarshal([]byte(metadataJSON.String), &metadata); err != nil {
			return nil, fmt.Errorf("parsing workflow metadata: %w", err)
		}
	}

	t := &backend.WorkflowTask{
		ID:                    wfi.InstanceID,
		WorkflowInstance:      wfi,
		WorkflowInstanceState: core.WorkflowInstanceStateActive,
		Metadata:              metadata,
		NewEvents:             []*history.Event{},
		Queue:                 workflow.Queue(queue),
	}

	// Get new events
	events, err := tx.QueryContext(
		ctx,
		"SELECT pe.event_id, pe.sequence_id, pe.event_type, pe.timestamp, pe.schedule_event_id, a.data, pe.visible_at FROM `pending_events` pe LEFT JOIN `attributes` a ON pe.instance_id = a.instance_id AND pe.execution_id = a.execution_id AND pe.event_id = a.event_id WHERE pe.instance_id = ? AND pe.execution_id = ? AND (pe.visible_at IS NULL OR pe.visible_at <= ?) ORDER BY pe.id",
		instanceID,
		executionID,
		now,
	)
	if err != nil {
		return nil, fmt.Errorf("getting new events: %w", err)
	}

	defer events.Close()

	for events.Next() {
		var attributes []byte

		historyEvent := &history.Event{}

		if err := events.Scan(
			&historyEvent.ID,
			&historyEvent.SequenceID,
			&historyEvent.Type,
			&historyEvent.Timestamp,
			&historyEvent.ScheduleEventID,
			&attributes,
			&historyEvent.VisibleAt,
		); err != nil {
			return nil, fmt.Errorf("scanning event: %w", err)
		}

		a, err := history.DeserializeAttributes(historyEvent.Type, attributes)
		if err != nil {
			return nil, fmt.Errorf("deserializing attributes: %w", err)
		}

		historyEvent.Attributes = a

		t.NewEvents = append(t.NewEvents, historyEvent)
	}

	// Return if there aren't any new events
	if len(t.NewEvents) == 0 {
		return nil, nil
	}

	// Get most recent sequence id
	var lastSequenceID sql.NullInt64
	row = tx.QueryRowContext(ctx, "SELECT MAX(sequence_id) FROM `history` WHERE instance_id = ? AND execution_id = ?", instanceID, executionID)
	if err := row.Scan(
		&lastSequenceID,
	); err != nil {
		if err != sql.ErrNoRows {
			return nil, fmt.Errorf("getting most recent sequence id: %w", err)
		}
	}

	if lastSequenceID.Valid {
		t.LastSequenceID = lastSequenceID.Int64
	}

	if err := tx.Commit(); err != nil {
		return nil, err
	}

	return t, nil
}
