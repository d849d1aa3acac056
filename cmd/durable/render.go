package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/durable-go/durable"
)

// recordJSON is an execution in the commands' JSON output. A payload that
// is valid UTF-8 JSON (what the default codec writes) is embedded as is;
// any other is given in base64 under the _base64 key.
type recordJSON struct {
	ID              string            `json:"id"`
	TaskID          string            `json:"task_id"`
	Status          durable.Status    `json:"status"`
	Attempt         int               `json:"attempt"`
	Iteration       int               `json:"iteration,omitzero"`
	Crashes         int               `json:"crashes,omitzero"`
	Input           json.RawMessage   `json:"input,omitempty"`
	InputBase64     string            `json:"input_base64,omitempty"`
	Output          json.RawMessage   `json:"output,omitempty"`
	OutputBase64    string            `json:"output_base64,omitempty"`
	Error           *errorJSON        `json:"error,omitempty"`
	Attempts        []attemptJSON     `json:"attempts,omitempty"`
	Tags            []string          `json:"tags,omitempty"`
	RetryOf         string            `json:"retry_of,omitempty"`
	ActiveKey       string            `json:"active_key,omitempty"`
	ConcurrencyKey  string            `json:"concurrency_key,omitempty"`
	Metadata        map[string]string `json:"metadata,omitempty"`
	SleepKey        string            `json:"sleep_key,omitempty"`
	ExecutorID      string            `json:"executor_id,omitempty"`
	RootID          string            `json:"root_id,omitempty"`
	RootTaskID      string            `json:"root_task_id,omitempty"`
	ParentID        string            `json:"parent_id,omitempty"`
	ParentTaskID    string            `json:"parent_task_id,omitempty"`
	ChildIndex      *int              `json:"child_index,omitempty"`
	IsFinalize      bool              `json:"is_finalize,omitzero"`
	ChildrenTotal   int               `json:"children_total,omitzero"`
	ChildrenPending int               `json:"children_pending,omitzero"`
	DueAt           time.Time         `json:"due_at,omitzero"`
	CreatedAt       time.Time         `json:"created_at"`
	UpdatedAt       time.Time         `json:"updated_at,omitzero"`
	StartedAt       time.Time         `json:"started_at,omitzero"`
	FinishedAt      time.Time         `json:"finished_at,omitzero"`
	WaitingChildren time.Time         `json:"waiting_for_children_at,omitzero"`
	WaitingFinalize time.Time         `json:"waiting_for_finalize_at,omitzero"`
	// Children: show lists the children (briefly); tree nests them.
	Children []recordJSON `json:"children,omitempty"`
}

type errorJSON struct {
	Kind      string `json:"kind"`
	Message   string `json:"message"`
	Retryable bool   `json:"retryable,omitzero"`
	Stack     string `json:"stack,omitempty"`
}

type attemptJSON struct {
	Attempt    int            `json:"attempt"`
	Iteration  int            `json:"iteration,omitzero"`
	ExecutorID string         `json:"executor_id,omitempty"`
	StartedAt  time.Time      `json:"started_at,omitzero"`
	FinishedAt time.Time      `json:"finished_at,omitzero"`
	Outcome    durable.Status `json:"outcome"`
	Error      *errorJSON     `json:"error,omitempty"`
}

func errorOf(e *durable.ExecutionError) *errorJSON {
	if e == nil {
		return nil
	}
	return &errorJSON{Kind: string(e.Kind), Message: e.Message, Retryable: e.Retryable, Stack: e.Stack}
}

func jsonOf(r durable.Record) recordJSON {
	j := recordJSON{ID: r.ID, TaskID: r.TaskID, Status: r.Status, Attempt: r.Attempt, Iteration: r.Iteration,
		Crashes: r.Crashes, Error: errorOf(r.Err), Tags: r.Tags, RetryOf: r.RetryOf, ActiveKey: r.ActiveKey, ConcurrencyKey: r.ConcurrencyKey, Metadata: r.Metadata, SleepKey: r.SleepKey,
		ExecutorID: r.ExecutorID, RootID: r.RootID, RootTaskID: r.RootTaskID, ParentID: r.ParentID,
		ParentTaskID: r.ParentTaskID, IsFinalize: r.IsFinalize, ChildrenTotal: r.ChildrenTotal,
		ChildrenPending: r.ChildrenPending, DueAt: r.DueAt, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
		StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, WaitingChildren: r.WaitingForChildrenAt,
		WaitingFinalize: r.WaitingForFinalizeAt}
	j.Input, j.InputBase64 = payloadJSON(r.Input)
	j.Output, j.OutputBase64 = payloadJSON(r.Output)
	if r.ParentID != "" {
		i := r.ChildIndex
		j.ChildIndex = &i
	}
	for _, a := range r.Attempts {
		j.Attempts = append(j.Attempts, attemptJSON{Attempt: a.Attempt, Iteration: a.Iteration, ExecutorID: a.ExecutorID,
			StartedAt: a.StartedAt, FinishedAt: a.FinishedAt, Outcome: a.Outcome, Error: errorOf(a.Err)})
	}
	return j
}

// payloadJSON embeds a payload that is valid UTF-8 JSON, or gives it in
// base64.
func payloadJSON(p []byte) (json.RawMessage, string) {
	switch {
	case p == nil:
		return nil, ""
	case utf8.Valid(p) && json.Valid(p):
		return json.RawMessage(p), ""
	}
	return nil, base64.StdEncoding.EncodeToString(p)
}

// payloadText is a payload for people: its text if it is valid UTF-8 JSON,
// else its base64 (said so).
func payloadText(p []byte) string {
	if utf8.Valid(p) && json.Valid(p) {
		return string(p)
	}
	return "(not JSON; base64) " + base64.StdEncoding.EncodeToString(p)
}

// writeJSON writes v as one line of JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// when formats a time for people: UTC, to the second; "-" for none.
func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

// whenExact formats a time for people to the millisecond.
func whenExact(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// age is how long ago t was, rounded for people.
func age(now, t time.Time) string {
	return roundDuration(now.Sub(t))
}

func roundDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	case d < 48*time.Hour:
		return d.Round(time.Second).String()
	}
	days := d / (24 * time.Hour)
	return fmt.Sprintf("%dd%s", days, (d % (24 * time.Hour)).Round(time.Hour))
}

// oneLine is the first line of s, cut to n runes with an ellipsis.
func oneLine(s string, n int) string {
	cut := false
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s, cut = s[:i], true
	}
	if utf8.RuneCountInString(s) > n {
		r := []rune(s)
		s, cut = string(r[:n-1]), true
	}
	if cut {
		s += "…"
	}
	return s
}

// errText is an execution error on one line: "kind: message".
func errText(e *durable.ExecutionError) string {
	if e == nil {
		return ""
	}
	return string(e.Kind) + ": " + e.Message
}

// attemptNumber is the attempt an execution is on or ended on, counting
// from 1 (Record.Attempt counts retries from 0).
func attemptNumber(r durable.Record) int { return r.Attempt + 1 }

// table aligns tab-separated cells in columns, as tabwriter does, without
// the spaces it leaves at the end of a line whose last cells are empty.
type table struct {
	*tabwriter.Writer
	buf *bytes.Buffer
	out io.Writer
}

func newTable(out io.Writer) *table {
	buf := &bytes.Buffer{}
	return &table{Writer: tabwriter.NewWriter(buf, 0, 0, 2, ' ', 0), buf: buf, out: out}
}

// Flush writes the rows written so far.
func (t *table) Flush() error {
	if err := t.Writer.Flush(); err != nil {
		return err
	}
	var b bytes.Buffer
	for _, line := range strings.SplitAfter(t.buf.String(), "\n") {
		text, nl := strings.CutSuffix(line, "\n")
		b.WriteString(strings.TrimRight(text, " "))
		if nl {
			b.WriteByte('\n')
		}
	}
	t.buf.Reset()
	_, err := t.out.Write(b.Bytes())
	return err
}
