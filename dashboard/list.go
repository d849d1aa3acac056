package dashboard

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/durable-go/durable"
)

// listQuery is the list page's query string, parsed.
type listQuery struct {
	Statuses       []string
	Task           string // one task id, or several separated by commas
	Tag            string
	Key            string
	Parent         string // the children of this execution
	CreatedFrom    string // as typed: 2006-01-02T15:04 (UTC) or RFC 3339
	CreatedTo      string
	FinishedFrom   string
	FinishedTo     string
	TopLevel       bool
	OldestFirst    bool
	Limit          int
	Cursor         string
	FilterSetCount int // how many filters are set
}

// pageSizes are the page sizes the list offers.
var pageSizes = []int{20, 50, 100, 200}

func parseListQuery(q url.Values) (listQuery, durable.ListOptions, error) {
	lq := listQuery{Statuses: q["status"], Task: strings.TrimSpace(q.Get("task")), Tag: q.Get("tag"),
		Key: strings.TrimSpace(q.Get("key")), Parent: strings.TrimSpace(q.Get("parent")), CreatedFrom: q.Get("from"), CreatedTo: q.Get("to"),
		FinishedFrom: q.Get("finished_from"), FinishedTo: q.Get("finished_to"),
		TopLevel: q.Get("top") == "1", OldestFirst: q.Get("order") == "oldest", Limit: 50, Cursor: q.Get("cursor")}
	opts := durable.ListOptions{OldestFirst: lq.OldestFirst, Cursor: lq.Cursor}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || !slices.Contains(pageSizes, n) {
			return lq, opts, fmt.Errorf("page size %q: choose one of %v", v, pageSizes)
		}
		lq.Limit = n
	}
	opts.Limit = lq.Limit
	f := &opts.Filter
	for _, s := range lq.Statuses {
		if s == "" {
			continue
		}
		if !durable.Status(s).Valid() {
			return lq, opts, fmt.Errorf("unknown status %q", s)
		}
		f.Statuses = append(f.Statuses, durable.Status(s))
	}
	for t := range strings.SplitSeq(lq.Task, ",") {
		if t = strings.TrimSpace(t); t != "" {
			f.TaskIDs = append(f.TaskIDs, t)
		}
	}
	f.Tag, f.IdempotencyKey, f.TopLevel, f.ParentID = lq.Tag, lq.Key, lq.TopLevel, lq.Parent
	var err error
	for _, tf := range []struct {
		name, text string
		to         *time.Time
	}{{"from", lq.CreatedFrom, &f.CreatedFrom}, {"to", lq.CreatedTo, &f.CreatedTo},
		{"finished from", lq.FinishedFrom, &f.FinishedFrom}, {"finished to", lq.FinishedTo, &f.FinishedTo}} {
		if *tf.to, err = parseTime(tf.text); err != nil {
			return lq, opts, fmt.Errorf("%s: %w", tf.name, err)
		}
	}
	for _, set := range []bool{len(f.Statuses) > 0, len(f.TaskIDs) > 0, f.Tag != "", f.IdempotencyKey != "",
		!f.CreatedFrom.IsZero(), !f.CreatedTo.IsZero(), !f.FinishedFrom.IsZero(), !f.FinishedTo.IsZero(), f.TopLevel,
		f.ParentID != ""} {
		if set {
			lq.FilterSetCount++
		}
	}
	return lq, opts, nil
}

// parseTime reads a time as the form's datetime-local input sends it
// (taken as UTC) or as RFC 3339; "" is the zero time.
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time: want 2006-01-02T15:04 (UTC) or RFC 3339", s)
}

// rowView is one execution in a list.
type rowView struct {
	ID, TaskID string
	Status     durable.Status
	Tags       []string
	Created    moment
	Took       string // from start to finish, or so far
	Err        string // the first line of the error, cut
	ParentID   string
	ChildIndex int
	IsFinalize bool
}

func rowOf(r *durable.Record, now time.Time) rowView {
	v := rowView{ID: r.ID, TaskID: r.TaskID, Status: r.Status, Tags: r.Tags, Created: momentOf(r.CreatedAt, now),
		ParentID: r.ParentID, ChildIndex: r.ChildIndex, IsFinalize: r.IsFinalize}
	switch {
	case !r.FinishedAt.IsZero() && !r.StartedAt.IsZero():
		v.Took = span(r.StartedAt, r.FinishedAt)
	case !r.StartedAt.IsZero() && !r.Status.Terminal():
		v.Took = human(now.Sub(r.StartedAt)) + " so far"
	}
	if r.Err != nil {
		v.Err = firstLine(r.Err.Message, 140)
	}
	return v
}

func firstLine(s string, max int) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	if r := []rune(s); len(r) > max {
		s = string(r[:max]) + "…"
	}
	return s
}

type listData struct {
	base
	Q          listQuery
	AllStatus  []durable.Status
	Rows       []rowView
	Next       string // the next page's URL
	First      string // the first page's URL, when not on it
	Error      string
	Notice     string // the outcome of the action just done
	Sizes      []int
	LiveInsert bool // new executions are inserted at the top as they come
}

func (d *Dashboard) list(w http.ResponseWriter, r *http.Request, b base) {
	q := r.URL.Query()
	if s := strings.TrimSpace(q.Get("q")); s != "" {
		d.search(w, r, b, s)
		return
	}
	lq, opts, err := parseListQuery(q)
	data := listData{base: b, Q: lq, AllStatus: statusOrder, Sizes: pageSizes, Notice: noticeOf(q.Get("done"), q.Get("n"))}
	data.Title, data.Nav = "Executions", "executions"
	if err != nil {
		data.Error = err.Error()
		d.pages.render(w, http.StatusBadRequest, "list", data)
		return
	}
	page, err := d.ex.List(r.Context(), opts)
	if errors.Is(err, durable.ErrInvalidInput) || errors.Is(err, durable.ErrInvalidOption) {
		data.Error = err.Error()
		d.pages.render(w, http.StatusBadRequest, "list", data)
		return
	}
	if err != nil {
		d.fail(w, r, b, err)
		return
	}
	now := time.Now()
	data.Rows = make([]rowView, len(page.Records))
	for i := range page.Records {
		data.Rows[i] = rowOf(&page.Records[i], now)
	}
	if page.Next != "" {
		nq := cloneValues(q)
		nq.Set("cursor", page.Next)
		data.Next = d.cfg.Prefix + "/executions?" + nq.Encode()
	}
	if lq.Cursor != "" {
		fq := cloneValues(q)
		fq.Del("cursor")
		data.First = d.cfg.Prefix + "/executions?" + fq.Encode()
	}
	// New executions are inserted live on the first page of the newest,
	// when the page's filter is one the script can check: status, task,
	// tag and top-level.
	data.LiveInsert = b.Live && lq.Cursor == "" && !lq.OldestFirst && lq.Key == "" && lq.Parent == "" && lq.CreatedFrom == "" &&
		lq.CreatedTo == "" && lq.FinishedFrom == "" && lq.FinishedTo == ""
	d.pages.render(w, http.StatusOK, "list", data)
}

// search opens the execution whose id or idempotency key is s, or lists
// nothing with a message.
func (d *Dashboard) search(w http.ResponseWriter, r *http.Request, b base, s string) {
	ctx := r.Context()
	rec, err := d.ex.Get(ctx, s)
	if errors.Is(err, durable.ErrNotFound) {
		rec, err = d.ex.GetByKey(ctx, s)
	}
	if err == nil {
		http.Redirect(w, r, d.cfg.Prefix+"/executions/"+url.PathEscape(rec.ID), http.StatusSeeOther)
		return
	}
	if !errors.Is(err, durable.ErrNotFound) && !errors.Is(err, durable.ErrInvalidInput) {
		d.fail(w, r, b, err)
		return
	}
	data := listData{base: b, AllStatus: statusOrder, Sizes: pageSizes, Q: listQuery{Limit: 50},
		Error: fmt.Sprintf("No execution has the id or idempotency key %q.", s)}
	data.Title, data.Nav = "Executions", "executions"
	d.pages.render(w, http.StatusNotFound, "list", data)
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = slices.Clone(v)
	}
	return out
}
