package durable

import "github.com/durable-go/durable/storage"

// Status is an execution's lifecycle status. See docs/semantics.md for the
// state machine.
type Status = storage.Status

// The statuses. Completed, failed, timed_out, children_failed,
// finalize_failed and cancelled are terminal: once there, an execution
// never changes again.
const (
	StatusReady              = storage.StatusReady
	StatusRunning            = storage.StatusRunning
	StatusWaitingForChildren = storage.StatusWaitingForChildren
	StatusWaitingForFinalize = storage.StatusWaitingForFinalize
	StatusCompleted          = storage.StatusCompleted
	StatusFailed             = storage.StatusFailed
	StatusTimedOut           = storage.StatusTimedOut
	StatusChildrenFailed     = storage.StatusChildrenFailed
	StatusFinalizeFailed     = storage.StatusFinalizeFailed
	StatusCancelled          = storage.StatusCancelled
)
