package storage

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// This file holds the operator's part of the contract: attempt history and
// tags on a row, and listing, counting and deleting rows.

// MaxAttempts bounds an execution's attempt history: the engine keeps the
// first attempt and the latest MaxAttempts-1 ones. Attempt (the counter)
// still counts every retry.
const MaxAttempts = 20

// MaxTags, MaxTagLen bound the tags of one execution.
const (
	MaxTags   = 16
	MaxTagLen = 100
)

// MaxListLimit is the largest page List returns; MaxDeleteIDs the most
// trees one Delete takes.
const (
	MaxListLimit = 1000
	MaxDeleteIDs = 10000
)

// ErrNotDeletable is wrapped by Delete's error when an ID names an
// execution that cannot be deleted: one that is not terminal, or a child
// (delete its root: trees are deleted whole).
var ErrNotDeletable = errors.New("not deletable")

// Attempt is one past run of an execution that did not complete it: a
// failed or timed-out attempt followed by a retry, or the run that ended
// the execution failed. The engine appends one to Execution.Attempts
// through Transition.Attempts; stores persist the list as given.
type Attempt struct {
	// Attempt is the execution's Attempt counter during the run (0 first).
	Attempt int `json:"attempt"`
	// Iteration is the loop iteration the run belonged to (looping tasks).
	Iteration int `json:"iteration,omitempty"`
	// ExecutorID is the executor that ran it.
	ExecutorID string `json:"executor,omitempty"`
	// StartedAt, FinishedAt bound the run (the engine's clock).
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	// Outcome is the status the execution moved to after the run: ready
	// (retried) or a terminal status.
	Outcome Status `json:"outcome"`
	// Error is why the run did not complete.
	Error *ErrorInfo `json:"error,omitempty"`
}

// ValidateTags rejects tags no store can keep: more than MaxTags, an
// empty tag, one longer than MaxTagLen bytes, one that is not valid UTF-8
// (PostgreSQL's text refuses it), one with a control character or a
// comma, or a duplicate.
func ValidateTags(tags []string) error {
	if len(tags) > MaxTags {
		return fmt.Errorf("%d tags: at most %d allowed", len(tags), MaxTags)
	}
	for i, tag := range tags {
		if tag == "" || len(tag) > MaxTagLen {
			return fmt.Errorf("tag %q: must be 1..%d bytes", tag, MaxTagLen)
		}
		if !utf8.ValidString(tag) {
			return fmt.Errorf("tag %q: not valid UTF-8", tag)
		}
		for _, r := range tag {
			if r < 0x20 || r == 0x7f || r == ',' {
				return fmt.Errorf("tag %q: control characters and commas are not allowed", tag)
			}
		}
		for _, prev := range tags[:i] {
			if prev == tag {
				return fmt.Errorf("tag %q given twice", tag)
			}
		}
	}
	return nil
}

// ListFilter selects executions. Every non-zero field must match (AND); a
// list field matches any of its values (OR), and one with no values (nil
// or empty) does not restrict. The zero filter selects every row.
type ListFilter struct {
	// IDs restricts to these executions.
	IDs []string
	// Statuses restricts to these statuses.
	Statuses []Status
	// TaskIDs restricts to executions of these tasks.
	TaskIDs []string
	// RootID selects the descendants of this top-level execution (rows
	// whose RootID is it; the root itself is not included).
	RootID string
	// ParentID selects the direct children of this execution.
	ParentID string
	// TopLevel selects only executions without a parent.
	TopLevel bool
	// Tag selects executions carrying this tag (equal as bytes: not a
	// pattern, not a substring, case counts).
	Tag string
	// CreatedFrom (inclusive) and CreatedTo (exclusive) bound CreatedAt.
	CreatedFrom, CreatedTo time.Time
	// FinishedFrom (inclusive) and FinishedTo (exclusive) bound FinishedAt;
	// either set excludes unfinished rows.
	FinishedFrom, FinishedTo time.Time
}

// Validate rejects a filter no store can apply: an unknown status.
func (f *ListFilter) Validate() error {
	for _, s := range f.Statuses {
		if !s.Valid() {
			return fmt.Errorf("unknown status %q", s)
		}
	}
	return nil
}

// Order is the order of a list: by CreatedAt, ties broken by ID (compared
// as bytes). NewestFirst is the exact reverse of OldestFirst: ties in
// CreatedAt come by ID descending.
type Order int

const (
	// NewestFirst (the zero value) lists the latest created first.
	NewestFirst Order = iota
	// OldestFirst lists the earliest created first.
	OldestFirst
)

// ListKey is the position of a row in a list: the keyset cursor. A page
// after a key holds the rows strictly after it in the list's order, so
// paging stays correct while rows are inserted and deleted: no row is
// returned twice, and no row that existed during the whole paging and
// matched the filter is skipped.
type ListKey struct {
	CreatedAt time.Time
	ID        string
}

// KeyOf returns the list key of a row.
func KeyOf(e *Execution) ListKey { return ListKey{CreatedAt: e.CreatedAt, ID: e.ID} }

// ListParams lists executions, one page at a time.
type ListParams struct {
	Filter ListFilter
	Order  Order
	// After, when set, starts the page after this key.
	After *ListKey
	// Limit is the page size: 1..MaxListLimit.
	Limit int
}

// Validate rejects params no store can apply, with an error naming the
// bad value.
func (p *ListParams) Validate() error {
	if p.Limit < 1 || p.Limit > MaxListLimit {
		return fmt.Errorf("list limit %d: must be 1..%d", p.Limit, MaxListLimit)
	}
	if p.Order != NewestFirst && p.Order != OldestFirst {
		return fmt.Errorf("unknown list order %d", p.Order)
	}
	return p.Filter.Validate()
}

// CountParams counts executions.
type CountParams struct {
	// Now judges which rows are due (OldestDueAt).
	Now    time.Time
	Filter ListFilter
}

// Count is the number of executions of one task in one status.
type Count struct {
	TaskID string
	Status Status
	N      int64
	// OldestDueAt is the earliest DueAt among the group's rows that are
	// due (DueAt <= now): how long the oldest waiting work has waited. Zero
	// when none is due.
	OldestDueAt time.Time
}

// DeleteParams deletes whole trees of finished executions.
type DeleteParams struct {
	// IDs names top-level, terminal executions (1..MaxDeleteIDs of them).
	IDs []string
}

// Validate rejects params no store can apply.
func (p *DeleteParams) Validate() error {
	if len(p.IDs) == 0 || len(p.IDs) > MaxDeleteIDs {
		return fmt.Errorf("delete of %d executions: must be 1..%d", len(p.IDs), MaxDeleteIDs)
	}
	return nil
}

// DeleteExpiredParams selects the trees DeleteExpired deletes: those
// whose root is top-level, in one of Statuses, and was created and
// finished before Before, oldest first (in list order, OldestFirst),
// after After when set.
type DeleteExpiredParams struct {
	// Statuses are the statuses a root may be in: 1 or more, all
	// terminal.
	Statuses []Status
	// Before bounds the roots' CreatedAt and FinishedAt (both exclusive).
	// A root finished before it but created at or after it (the clocks of
	// the processes that inserted and finished it disagree) is deleted
	// later, once it was created before Before too.
	Before time.Time
	// After, when set, takes only roots after this key.
	After *ListKey
	// Limit is the most roots one call takes: 1..MaxDeleteIDs.
	Limit int
}

// Validate rejects params no store can apply, with an error naming the
// bad value.
func (p *DeleteExpiredParams) Validate() error {
	if p.Limit < 1 || p.Limit > MaxDeleteIDs {
		return fmt.Errorf("delete of expired trees: limit %d: must be 1..%d", p.Limit, MaxDeleteIDs)
	}
	if len(p.Statuses) == 0 {
		return errors.New("delete of expired trees: no status given")
	}
	for _, s := range p.Statuses {
		if !s.Terminal() {
			return fmt.Errorf("delete of expired trees: status %q: must be a terminal status", s)
		}
	}
	if p.Before.IsZero() {
		return errors.New("delete of expired trees: no Before time given")
	}
	return nil
}

// DeleteExpiredResult is what one DeleteExpired did.
type DeleteExpiredResult struct {
	// Roots is how many roots the call took, deleted or kept: at most
	// the Limit, and fewer only when no other matching root was there to
	// take.
	Roots int
	// Rows is the number of rows deleted (roots and descendants).
	Rows int
	// Last is the key of the last root taken; zero when Roots is 0. The
	// next call starts after it.
	Last ListKey
	// Kept names the roots taken but not deleted, because their tree
	// holds a row that is not terminal (which the engine never leaves:
	// a parent finishes after its children).
	Kept []string
}

// Lister is the operator's part of the contract: listing, counting and
// deleting executions. Store includes it.
type Lister interface {
	// List returns a page of executions matching p.Filter in p.Order,
	// after p.After when set (see ListKey). Rows come without Input,
	// Output, RunOutput and Attempts (Get returns them). Invalid params
	// (see ListParams.Validate): an error, nothing read.
	List(ctx context.Context, p ListParams) ([]Execution, error)

	// Count counts the executions matching p.Filter by task and status,
	// ordered by TaskID then Status (both compared as bytes); groups with
	// no row are omitted. Invalid filter (see ListFilter.Validate): an
	// error.
	Count(ctx context.Context, p CountParams) ([]Count, error)

	// Delete deletes each named top-level terminal execution with its
	// whole tree (every row whose RootID is it), all or nothing, and
	// returns the number of rows deleted. An unknown ID fails the call
	// with ErrNotFound; an ID of a child, or of a row that is not
	// terminal, or of a tree with a row that is not terminal, fails it
	// with ErrNotDeletable; either way nothing is deleted (and 0 is
	// returned). An ID given twice is deleted once.
	Delete(ctx context.Context, p DeleteParams) (int, error)

	// DeleteExpired is retention's delete: in one call, it takes up to
	// p.Limit roots that p selects (see DeleteExpiredParams), oldest
	// first, and deletes each with its whole tree (every row whose RootID
	// is it) and its tags. A tree with a row that is not terminal is kept
	// and named in Kept, not an error; a root that a concurrent call
	// deletes or holds is not taken. Stores read the roots in order from
	// an index of (CreatedAt, ID), from After on, and stop at the Limit
	// or at the rows created at Before, whatever the database's
	// statistics say; the rows passed on the way that do not match
	// (children, other statuses, roots finished later) cost a read each.
	// A store may commit it without waiting for the disk: after a crash of
	// the machine, the trees its last calls deleted may be there again
	// (and expired: the next call deletes them). Invalid params (see
	// DeleteExpiredParams.Validate): an error, nothing deleted.
	DeleteExpired(ctx context.Context, p DeleteExpiredParams) (DeleteExpiredResult, error)
}
