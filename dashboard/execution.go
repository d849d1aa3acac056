package dashboard

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage"
)

// execData is an execution's page.
type execData struct {
	base
	Rec          durable.Record
	Status       durable.Status
	Input        payload
	Output       payload
	Err          *errView
	Attempts     []attemptView
	Times        []timeRow
	Ancestors    []rowView // root first, the parent last
	AncestorsCut bool
	Children     childrenView
	Actions      []action
	Notice       string // the outcome of the action just done
}

type errView struct {
	Kind, Message, Stack string
	Retryable            bool
}

func errViewOf(e *durable.ExecutionError) *errView {
	if e == nil {
		return nil
	}
	return &errView{Kind: string(e.Kind), Message: e.Message, Stack: e.Stack, Retryable: e.Retryable}
}

type attemptView struct {
	Attempt, Iteration int
	ExecutorID         string
	Started            moment
	Took               string
	Outcome            durable.Status
	Err                *errView
}

type timeRow struct {
	Label string
	At    moment
	After string // since the previous row's time
}

// childrenView draws a parent's children: counts by status, a strip of
// one cell per child (readable at 1,000), and a table whose rows past
// childRowsOpen are folded.
type childrenView struct {
	N       int
	Counts  []statusCount
	Cells   []rowView
	Open    []childRow
	Folded  []childRow
	Pending int
}

type childRow struct {
	rowView
	Label    string // "#3", "finalize"
	Children int    // its own children
	Iter     int
}

const childRowsOpen = 50

// maxAncestors bounds the walk up the tree (a tree deeper than this shows
// its root and the nearest ancestors).
const maxAncestors = 32

type action struct {
	Name, Label, Help string
	Danger            bool
}

func (d *Dashboard) execution(w http.ResponseWriter, r *http.Request, b base) {
	ctx := r.Context()
	id := r.PathValue("id")
	rec, err := d.ex.Get(ctx, id)
	if errors.Is(err, durable.ErrNotFound) || errors.Is(err, durable.ErrInvalidInput) {
		d.notFound(w, b, "No execution has the id "+id+".")
		return
	}
	if err != nil {
		d.fail(w, r, b, err)
		return
	}
	data, err := d.execData(ctx, rec, b)
	if err != nil {
		d.fail(w, r, b, err)
		return
	}
	data.Notice = noticeOf(r.URL.Query().Get("done"), "")
	d.pages.render(w, http.StatusOK, "execution", data)
}

func (d *Dashboard) execData(ctx context.Context, rec durable.Record, b base) (execData, error) {
	now := time.Now()
	data := execData{base: b, Rec: rec, Status: rec.Status, Input: payloadOf(rec.Input), Output: payloadOf(rec.Output),
		Err: errViewOf(rec.Err), Times: timesOf(&rec, now)}
	data.Title, data.Nav = rec.TaskID+" "+rec.ID, "executions"
	for _, a := range rec.Attempts {
		data.Attempts = append(data.Attempts, attemptView{Attempt: a.Attempt, Iteration: a.Iteration,
			ExecutorID: a.ExecutorID, Started: momentOf(a.StartedAt, now), Took: span(a.StartedAt, a.FinishedAt),
			Outcome: a.Outcome, Err: errViewOf(a.Err)})
	}
	var err error
	if data.Ancestors, data.AncestorsCut, err = d.ancestors(ctx, &rec, now); err != nil {
		return data, err
	}
	if rec.ChildrenTotal > 0 {
		children, err := d.children(ctx, rec.ID)
		if err != nil {
			return data, err
		}
		data.Children = childrenOf(children, now)
	}
	if !b.ReadOnly {
		data.Actions = actionsFor(&rec)
	}
	return data, nil
}

// children lists an execution's children in order, without their payloads
// (Executor.Children reads those too: for 1,000 children, most of the
// page's time).
func (d *Dashboard) children(ctx context.Context, id string) ([]durable.Record, error) {
	var out []durable.Record
	opts := durable.ListOptions{Filter: durable.Filter{ParentID: id}, OldestFirst: true, Limit: storage.MaxListLimit}
	for {
		page, err := d.ex.List(ctx, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Records...)
		if page.Next == "" {
			break
		}
		opts.Cursor = page.Next
	}
	slices.SortStableFunc(out, func(a, b durable.Record) int {
		if a.IsFinalize != b.IsFinalize { // the finalize comes last
			if a.IsFinalize {
				return 1
			}
			return -1
		}
		return a.ChildIndex - b.ChildIndex
	})
	return out, nil
}

// ancestors reads the chain of parents up to the root, root first.
func (d *Dashboard) ancestors(ctx context.Context, rec *durable.Record, now time.Time) ([]rowView, bool, error) {
	var chain []rowView
	parent := rec.ParentID
	for parent != "" && len(chain) < maxAncestors {
		p, err := d.ex.Get(ctx, parent)
		if errors.Is(err, durable.ErrNotFound) { // deleted meanwhile
			break
		}
		if err != nil {
			return nil, false, err
		}
		chain = append(chain, rowOf(&p, now))
		parent = p.ParentID
	}
	cut := parent != ""
	for i, j := 0, len(chain)-1; i < j; i, j = i+1, j-1 {
		chain[i], chain[j] = chain[j], chain[i]
	}
	return chain, cut, nil
}

func childrenOf(children []durable.Record, now time.Time) childrenView {
	v := childrenView{N: len(children)}
	byStatus := map[durable.Status]int64{}
	for i := range children {
		c := &children[i]
		byStatus[c.Status]++
		row := childRow{rowView: rowOf(c, now), Label: "#" + strconv.Itoa(c.ChildIndex), Children: c.ChildrenTotal, Iter: c.Iteration}
		if c.IsFinalize {
			row.Label = "finalize"
		}
		if !c.Status.Terminal() {
			v.Pending++
		}
		v.Cells = append(v.Cells, row.rowView)
		if i < childRowsOpen {
			v.Open = append(v.Open, row)
		} else {
			v.Folded = append(v.Folded, row)
		}
	}
	for _, s := range statusOrder {
		if byStatus[s] > 0 {
			v.Counts = append(v.Counts, statusCount{s, byStatus[s]})
		}
	}
	return v
}

// timesOf is the execution's timeline, in order, each step with the time
// since the previous one.
func timesOf(r *durable.Record, now time.Time) []timeRow {
	var rows []timeRow
	var prev time.Time
	add := func(label string, t time.Time) {
		if t.IsZero() {
			return
		}
		row := timeRow{Label: label, At: momentOf(t, now)}
		if !prev.IsZero() {
			row.After = "+" + human(t.Sub(prev))
		}
		rows = append(rows, row)
		prev = t
	}
	add("created", r.CreatedAt)
	add("started", r.StartedAt)
	add("waiting for children", r.WaitingForChildrenAt)
	add("waiting for finalize", r.WaitingForFinalizeAt)
	add("finished", r.FinishedAt)
	if !r.Status.Terminal() && !r.DueAt.IsZero() {
		label := "due"
		if r.Status == durable.StatusRunning {
			label = "lease until"
			if r.SleepKey != "" {
				label = "times out"
			}
		}
		rows = append(rows, timeRow{Label: label, At: momentOf(r.DueAt, now)})
	}
	return rows
}

// actionsFor lists the actions the execution admits.
func actionsFor(r *durable.Record) []action {
	var out []action
	terminal := r.Status.Terminal()
	if r.SleepKey != "" && !terminal {
		out = append(out, action{Name: "wake", Label: "Wake…", Help: "complete or fail this sleeping execution"})
	}
	if !terminal {
		out = append(out, action{Name: "cancel", Label: "Cancel…", Help: "cancel it and its unfinished children", Danger: true})
	}
	if terminal && r.ParentID == "" && r.SleepKey == "" {
		out = append(out, action{Name: "retry", Label: "Retry…", Help: "enqueue a new execution with the same input"})
	}
	if terminal && r.ParentID == "" {
		out = append(out, action{Name: "delete", Label: "Delete…", Help: "delete it and its whole tree", Danger: true})
	}
	return out
}
