package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/durable-go/durable"
)

// ContentTypeProblem is the media type of an error's body.
const ContentTypeProblem = "application/problem+json"

// Problem is the body of every error answer: RFC 9457 problem details.
// Type is one of the Type constants, stable across versions; Status the
// HTTP status; Detail says what exactly went wrong; Field names the
// request field at fault, for a 400, when one is.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Field  string `json:"field,omitempty"`
}

// The problem types. Each is a URN, "urn:durable:problem:" and a kind.
const (
	TypeInvalidRequest   = "urn:durable:problem:invalid_request"    // 400: the request is malformed (JSON, types, unknown fields, query)
	TypeInvalidInput     = "urn:durable:problem:invalid_input"      // 400: durable.ErrInvalidInput (the task's input, a key)
	TypeInvalidOption    = "urn:durable:problem:invalid_option"     // 400: durable.ErrInvalidOption (an option out of range)
	TypeUnauthorized     = "urn:durable:problem:unauthorized"       // 401: no credentials, or wrong ones
	TypeForbidden        = "urn:durable:problem:forbidden"          // 403: credentials that may not do this
	TypeNotFound         = "urn:durable:problem:not_found"          // 404: durable.ErrNotFound (execution, sleeping key)
	TypeUnknownTask      = "urn:durable:problem:unknown_task"       // 404: durable.ErrUnknownTask (not registered with the server's executor)
	TypeNoRoute          = "urn:durable:problem:no_route"           // 404: no such route
	TypeMethodNotAllowed = "urn:durable:problem:method_not_allowed" // 405
	TypeDuplicate        = "urn:durable:problem:duplicate"          // 409: durable.ErrDuplicate (a key taken)
	TypeNotFinished      = "urn:durable:problem:not_finished"       // 409: durable.ErrNotFinished (retry of an unfinished execution)
	TypeFinished         = "urn:durable:problem:finished"           // 409: ErrFinished (cancel of a finished execution)
	TypeNotSleeping      = "urn:durable:problem:not_sleeping"       // 409: ErrNotSleeping (wake of an execution that is not a sleeping task's)
	TypeWakeRace         = "urn:durable:problem:wake_race"          // 409: durable.ErrWakeRace
	TypeNotDeletable     = "urn:durable:problem:not_deletable"      // 409: durable.ErrNotDeletable
	TypePayloadTooLarge  = "urn:durable:problem:payload_too_large"  // 413: durable.ErrPayloadTooLarge (an encoded input or output over the executor's limit)
	TypeBodyTooLarge     = "urn:durable:problem:body_too_large"     // 413: ErrBodyTooLarge (a request body over the server's limit)
	TypeUnsupportedMedia = "urn:durable:problem:unsupported_media"  // 415: a body that is not application/json
	TypeShutdown         = "urn:durable:problem:shutdown"           // 503: durable.ErrShutdown
	TypeStoreFailed      = "urn:durable:problem:store_failed"       // 503: durable.ErrStoreFailed
	TypeInternal         = "urn:durable:problem:internal"           // 500: anything else (the server logs it)
)

// Errors of the API that are not the engine's.
var (
	// ErrInvalidRequest: a request that is not well formed.
	ErrInvalidRequest = errors.New("durable api: invalid request")
	// ErrUnauthorized: missing or wrong credentials.
	ErrUnauthorized = errors.New("durable api: unauthorized")
	// ErrForbidden: credentials that may not do this; an Authorize
	// function of the server's configuration returns it (wrapped) to
	// answer 403.
	ErrForbidden = errors.New("durable api: forbidden")
	// ErrFinished: cancel of an execution that has finished already.
	ErrFinished = errors.New("durable api: execution finished")
	// ErrNotSleeping: wake of a task or execution that is not a sleeping
	// task's.
	ErrNotSleeping = errors.New("durable api: not a sleeping task")
	// ErrBodyTooLarge: a request body over the server's limit.
	ErrBodyTooLarge = errors.New("durable api: request body too large")
	// ErrNoRoute, ErrMethodNotAllowed, ErrUnsupportedMedia: the request
	// names no route, uses another method, or sends a body that is not
	// JSON.
	ErrNoRoute          = errors.New("durable api: no such route")
	ErrMethodNotAllowed = errors.New("durable api: method not allowed")
	ErrUnsupportedMedia = errors.New("durable api: unsupported media type")
	// ErrInternal: the server failed; its log says why.
	ErrInternal = errors.New("durable api: internal server error")
)

// kind ties a problem type to its status, title and sentinel.
type kind struct {
	typ      string
	status   int
	title    string
	sentinel error
}

// kinds is the one table of problem types, in the order FromError tries
// their sentinels (the more specific first).
var kinds = []kind{
	{TypeInvalidRequest, http.StatusBadRequest, "Invalid request", ErrInvalidRequest},
	{TypeUnknownTask, http.StatusNotFound, "Unknown task", durable.ErrUnknownTask},
	{TypeNotSleeping, http.StatusConflict, "Not a sleeping task", ErrNotSleeping},
	{TypeInvalidInput, http.StatusBadRequest, "Invalid input", durable.ErrInvalidInput},
	{TypeInvalidOption, http.StatusBadRequest, "Invalid option", durable.ErrInvalidOption},
	{TypeUnauthorized, http.StatusUnauthorized, "Unauthorized", ErrUnauthorized},
	{TypeForbidden, http.StatusForbidden, "Forbidden", ErrForbidden},
	{TypeNotFound, http.StatusNotFound, "Not found", durable.ErrNotFound},
	{TypeNoRoute, http.StatusNotFound, "No such route", ErrNoRoute},
	{TypeMethodNotAllowed, http.StatusMethodNotAllowed, "Method not allowed", ErrMethodNotAllowed},
	{TypeDuplicate, http.StatusConflict, "Duplicate", durable.ErrDuplicate},
	{TypeNotFinished, http.StatusConflict, "Not finished", durable.ErrNotFinished},
	{TypeFinished, http.StatusConflict, "Finished", ErrFinished},
	{TypeWakeRace, http.StatusConflict, "Wake lost a race", durable.ErrWakeRace},
	{TypeNotDeletable, http.StatusConflict, "Not deletable", durable.ErrNotDeletable},
	{TypePayloadTooLarge, http.StatusRequestEntityTooLarge, "Payload too large", durable.ErrPayloadTooLarge},
	{TypeBodyTooLarge, http.StatusRequestEntityTooLarge, "Request body too large", ErrBodyTooLarge},
	{TypeUnsupportedMedia, http.StatusUnsupportedMediaType, "Unsupported media type", ErrUnsupportedMedia},
	{TypeShutdown, http.StatusServiceUnavailable, "Shutting down", durable.ErrShutdown},
	{TypeStoreFailed, http.StatusServiceUnavailable, "Store failed", durable.ErrStoreFailed},
	{TypeInternal, http.StatusInternalServerError, "Internal server error", ErrInternal},
}

// Types lists every problem type.
func Types() []string {
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = k.typ
	}
	return out
}

// FromError is the problem that answers err: the first kind whose
// sentinel err wraps, or internal. The detail is err's message, but for
// internal problems, whose detail is generic (the caller logs err).
func FromError(err error) Problem {
	for _, k := range kinds {
		if errors.Is(err, k.sentinel) {
			if k.typ == TypeInternal {
				break
			}
			p := Problem{Type: k.typ, Title: k.title, Status: k.status, Detail: err.Error()}
			var fe *FieldError
			if errors.As(err, &fe) {
				p.Field = fe.Field
			}
			var ie *durable.InputError
			if errors.As(err, &ie) && p.Field == "" {
				p.Field = "input"
				if ie.Path != "" {
					p.Field = "input." + ie.Path
				}
			}
			return p
		}
	}
	return Problem{Type: TypeInternal, Title: "Internal server error", Status: http.StatusInternalServerError,
		Detail: "the server failed; its log has the error"}
}

// FieldError is an error about one field of a request. It wraps Err.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// Err is the problem as a Go error, for a client: errors.Is matches it
// against the sentinel of its type (durable.ErrNotFound for not_found,
// and so on), and errors.As against *Problem.
func (p *Problem) Err() error { return p }

func (p *Problem) Error() string {
	msg := fmt.Sprintf("durable api: %d %s", p.Status, p.Title)
	if p.Detail != "" {
		msg += ": " + p.Detail
	}
	return msg
}

// Is reports whether target is the sentinel of p's type.
func (p *Problem) Is(target error) bool {
	for _, k := range kinds {
		if k.typ == p.Type {
			return k.sentinel == target
		}
	}
	return false
}
