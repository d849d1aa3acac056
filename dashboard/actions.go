package dashboard

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/durable-go/durable"
)

// Actions are confirmed on a page of their own (GET .../{action}), whose
// form posts the action with the session's CSRF token.

type confirmData struct {
	base
	Action  action
	Rec     durable.Record
	Row     rowView
	Error   string
	Output  string // wake: the output typed
	Message string // wake: the failure message typed
	Fail    bool   // wake: fail instead of complete
}

var actionsByName = map[string]action{
	"cancel": {Name: "cancel", Label: "Cancel", Danger: true,
		Help: "A ready execution never runs; a running one has its context cancelled; its unfinished children are cancelled with it."},
	"retry": {Name: "retry", Label: "Retry",
		Help: "A new execution of the same task with the same input, tags, retry policy and timeout is enqueued; this one stays as it is."},
	"delete": {Name: "delete", Label: "Delete", Danger: true,
		Help: "The execution and its whole tree are deleted from the store. This cannot be undone."},
	"wake": {Name: "wake", Label: "Wake",
		Help: "The sleeping execution completes with the output (JSON, as the task's codec reads it) or fails with the message."},
}

// actionOf reads the action and the execution a request names; on a
// failure it has answered already and ok is false.
func (d *Dashboard) actionOf(w http.ResponseWriter, r *http.Request, b base) (a action, rec durable.Record, ok bool) {
	a, ok = actionsByName[r.PathValue("action")]
	switch {
	case !ok:
		d.notFound(w, b, "No such action.")
		return a, rec, false
	case b.ReadOnly:
		d.forbidden(w, b)
		return a, rec, false
	}
	rec, err := d.ex.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		d.actionError(w, r, b, a, durable.Record{}, err, confirmData{})
		return a, rec, false
	}
	return a, rec, true
}

func (d *Dashboard) confirm(w http.ResponseWriter, r *http.Request, b base) {
	a, rec, ok := d.actionOf(w, r, b)
	if !ok {
		return
	}
	data := confirmData{base: b, Action: a, Rec: rec, Row: rowOf(&rec, time.Now())}
	data.Title, data.Nav = a.Label+" "+rec.ID, "executions"
	d.pages.render(w, http.StatusOK, "confirm", data)
}

func (d *Dashboard) act(w http.ResponseWriter, r *http.Request, b base) {
	a, rec, ok := d.actionOf(w, r, b)
	if !ok {
		return
	}
	ctx, id := r.Context(), rec.ID
	var err error
	back := d.cfg.Prefix + "/executions/" + url.PathEscape(id)
	switch a.Name {
	case "cancel":
		err = d.ex.Cancel(ctx, id)
	case "retry":
		var retry durable.Record
		if retry, err = d.ex.Retry(ctx, id); err == nil {
			back = d.cfg.Prefix + "/executions/" + url.PathEscape(retry.ID)
		}
	case "delete":
		var n int
		if n, err = d.ex.Delete(ctx, id); err == nil {
			back = d.cfg.Prefix + "/executions?done=delete&n=" + strconv.Itoa(n)
		}
	case "wake":
		if typed, werr := d.wake(r, rec); werr != nil {
			d.actionError(w, r, b, a, rec, werr, typed)
			return
		}
	}
	if err != nil {
		d.actionError(w, r, b, a, rec, err, confirmData{})
		return
	}
	if !strings.Contains(back, "?") {
		back += "?done=" + a.Name
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// wake wakes rec with the form's output or failure; on an error it also
// returns what was typed, to show it again.
func (d *Dashboard) wake(r *http.Request, rec durable.Record) (confirmData, error) {
	typed := confirmData{Output: r.PostFormValue("output"), Message: r.PostFormValue("message"),
		Fail: r.PostFormValue("outcome") == "fail"}
	if rec.SleepKey == "" {
		return typed, formError("this execution is not a sleeping task's: only those can be woken")
	}
	var output []byte
	var failure error
	if typed.Fail {
		if strings.TrimSpace(typed.Message) == "" {
			return typed, formError("give the failure's message")
		}
		failure = errors.New(typed.Message)
	} else {
		output = []byte(strings.TrimSpace(typed.Output))
		if len(output) == 0 {
			output = []byte("null")
		}
		if !json.Valid(output) {
			return typed, formError("the output is not valid JSON")
		}
	}
	_, err := d.ex.Wake(r.Context(), rec.SleepKey, output, failure)
	return typed, err
}

// actionError shows the confirmation page again with why the action
// failed, with the status that fits the error.
func (d *Dashboard) actionError(w http.ResponseWriter, r *http.Request, b base, a action, rec durable.Record, err error, typed confirmData) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, durable.ErrNotFound):
		d.notFound(w, b, "No execution has the id "+r.PathValue("id")+".")
		return
	case errors.Is(err, durable.ErrInvalidInput), errors.Is(err, durable.ErrPayloadTooLarge), errors.As(err, new(formError)):
		status = http.StatusBadRequest
	case errors.Is(err, durable.ErrNotFinished), errors.Is(err, durable.ErrNotDeletable), errors.Is(err, durable.ErrWakeRace):
		status = http.StatusConflict
	}
	if status == http.StatusInternalServerError {
		d.log.Error("dashboard: action failed", "action", a.Name, "id", rec.ID, "error", err)
	}
	data := typed
	data.base, data.Action, data.Rec, data.Row, data.Error = b, a, rec, rowOf(&rec, time.Now()), err.Error()
	data.Title, data.Nav = a.Label+" "+rec.ID, "executions"
	d.pages.render(w, status, "confirm", data)
}

// formError is a mistake in what the form sent.
type formError string

func (e formError) Error() string { return string(e) }

// noticeOf is the message shown after an action (the redirect's done).
func noticeOf(done string, n string) string {
	switch done {
	case "cancel":
		return "Cancelled (a finished execution is left as it was)."
	case "retry":
		return "This is the retry just enqueued."
	case "wake":
		return "Woken."
	case "delete":
		return "Deleted " + n + " executions (the tree)."
	}
	return ""
}
