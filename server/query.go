package server

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/api"
)

// The query parameters of a filter (GET /v1/executions and /v1/stats).
var filterParams = []string{"status", "task", "id", "tag", "idempotency_key", "parent_id", "root_id", "top_level",
	"created_from", "created_to", "finished_from", "finished_to"}

// listParams adds those of a listing.
var listParams = append([]string{"order", "limit", "cursor"}, filterParams...)

// checkParams refuses a parameter that is not in known.
func checkParams(q url.Values, known []string) error {
	for k := range q {
		if !contains(known, k) {
			return &api.FieldError{Field: k, Err: fmt.Errorf("%w: unknown query parameter %q (known: %s)",
				api.ErrInvalidRequest, k, strings.Join(known, ", "))}
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func queryError(field, format string, args ...any) error {
	return &api.FieldError{Field: field, Err: fmt.Errorf("%w: "+format, append([]any{api.ErrInvalidRequest}, args...)...)}
}

// values are the values of a parameter, repeated or comma-separated.
func values(q url.Values, k string) []string {
	var out []string
	for _, v := range q[k] {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

func statsFilter(q url.Values) (durable.Filter, error) {
	if err := checkParams(q, filterParams); err != nil {
		return durable.Filter{}, err
	}
	return filter(q)
}

func filter(q url.Values) (durable.Filter, error) {
	f := durable.Filter{TaskIDs: values(q, "task"), IDs: values(q, "id"), Tag: q.Get("tag"),
		IdempotencyKey: q.Get("idempotency_key"), ParentID: q.Get("parent_id"), RootID: q.Get("root_id")}
	for _, s := range values(q, "status") {
		st := durable.Status(s)
		if !st.Valid() {
			return f, queryError("status", "unknown status %q", s)
		}
		f.Statuses = append(f.Statuses, st)
	}
	if v := q.Get("top_level"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return f, queryError("top_level", "%q is not true or false", v)
		}
		f.TopLevel = b
	}
	for _, t := range []struct {
		name string
		p    *time.Time
	}{{"created_from", &f.CreatedFrom}, {"created_to", &f.CreatedTo}, {"finished_from", &f.FinishedFrom}, {"finished_to", &f.FinishedTo}} {
		if v := q.Get(t.name); v != "" {
			tm, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return f, queryError(t.name, "%q is not an RFC 3339 time", v)
			}
			*t.p = tm
		}
	}
	return f, nil
}

func listOptions(q url.Values) (durable.ListOptions, error) {
	if err := checkParams(q, listParams); err != nil {
		return durable.ListOptions{}, err
	}
	f, err := filter(q)
	if err != nil {
		return durable.ListOptions{}, err
	}
	opts := durable.ListOptions{Filter: f, Cursor: q.Get("cursor")}
	switch q.Get("order") {
	case "", "newest":
	case "oldest":
		opts.OldestFirst = true
	default:
		return opts, queryError("order", "%q is not newest or oldest", q.Get("order"))
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return opts, queryError("limit", "%q is not an integer in 1..1000", v)
		}
		opts.Limit = n
	}
	return opts, nil
}

// waitBound is how long a long poll may wait: timeout_ms, capped at
// MaxWait, or DefaultWait.
func (h *Handler) waitBound(r *http.Request) (time.Duration, error) {
	q := r.URL.Query()
	if err := checkParams(q, []string{"timeout_ms"}); err != nil {
		return 0, err
	}
	v := q.Get("timeout_ms")
	if v == "" {
		return h.cfg.DefaultWait, nil
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms < 0 {
		return 0, queryError("timeout_ms", "%q is not a number of milliseconds >= 0", v)
	}
	if ms > h.cfg.MaxWait.Milliseconds() {
		return h.cfg.MaxWait, nil
	}
	return time.Duration(ms) * time.Millisecond, nil
}
