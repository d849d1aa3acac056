package durable

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/durable-go/durable/storage"
)

// Filter selects executions for List and Count. Every field set must
// match; a list field matches any of its values. The zero Filter selects
// every execution.
type Filter struct {
	// Statuses: executions in one of these statuses.
	Statuses []Status
	// TaskIDs: executions of one of these tasks.
	TaskIDs []string
	// IDs: these executions.
	IDs []string
	// IdempotencyKey: the execution enqueued with this key.
	IdempotencyKey string
	// RootID: the descendants of this top-level execution (not the root).
	RootID string
	// ParentID: the children of this execution.
	ParentID string
	// TopLevel: only executions without a parent.
	TopLevel bool
	// Tag: executions carrying this tag (WithTags).
	Tag string
	// CreatedFrom (inclusive) and CreatedTo (exclusive) bound the creation
	// time; FinishedFrom and FinishedTo the finish time (either set leaves
	// out unfinished executions).
	CreatedFrom, CreatedTo   time.Time
	FinishedFrom, FinishedTo time.Time
}

// stored is the filter as the store takes it, or why it is invalid.
func (f Filter) stored() (storage.ListFilter, error) {
	sf := storage.ListFilter{Statuses: f.Statuses, TaskIDs: f.TaskIDs, IDs: f.IDs, RootID: f.RootID,
		ParentID: f.ParentID, TopLevel: f.TopLevel, Tag: f.Tag, CreatedFrom: f.CreatedFrom, CreatedTo: f.CreatedTo,
		FinishedFrom: f.FinishedFrom, FinishedTo: f.FinishedTo}
	if f.IdempotencyKey != "" {
		if len(f.IdempotencyKey) > 200 || !validID(f.IdempotencyKey) {
			return sf, fmt.Errorf("%w: idempotency key %q must be 1..200 characters of [A-Za-z0-9_.:-]", ErrInvalidInput, f.IdempotencyKey)
		}
		sf.IDs = []string{keyedID(f.IdempotencyKey)}
		if len(f.IDs) > 0 { // both must match
			sf.IDs = intersect(f.IDs, keyedID(f.IdempotencyKey))
		}
	}
	if err := sf.Validate(); err != nil {
		return sf, fmt.Errorf("%w: filter: %w", ErrInvalidInput, err)
	}
	return sf, nil
}

// intersect returns []string{id} if ids holds it, else a list no id
// matches.
func intersect(ids []string, id string) []string {
	for _, x := range ids {
		if x == id {
			return []string{id}
		}
	}
	return []string{""} // no execution has an empty id
}

// ListOptions says which page of which executions List returns.
type ListOptions struct {
	Filter
	// OldestFirst lists by creation time ascending; the default is newest
	// first. Ties are broken by id.
	OldestFirst bool
	// Limit is the page size. Default: 50. Range: 1..1000.
	Limit int
	// Cursor continues a listing: the Next of the previous page, listed
	// with the same Filter and order.
	Cursor string
}

// Page is one page of a listing.
type Page struct {
	// Records come without Input, Output and Attempts: Get reads them.
	Records []Record
	// Next is the cursor of the next page; empty on the last page.
	Next string
}

// List returns a page of executions matching opts.Filter. Paging is by
// keyset (creation time and id), so it stays correct while executions are
// inserted and deleted: no execution is listed twice, and none that
// matched during the whole listing is skipped.
func (e *Executor) List(ctx context.Context, opts ListOptions) (Page, error) {
	if err := e.checkRead(); err != nil {
		return Page{}, err
	}
	p, err := listParams(opts)
	if err != nil {
		return Page{}, err
	}
	var rows []storage.Execution
	err = e.retryStorage(ctx, func() error {
		var err error
		rows, err = e.store.List(ctx, p)
		return err
	})
	if err != nil {
		return Page{}, err
	}
	page := Page{Records: make([]Record, len(rows))}
	for i := range rows {
		page.Records[i] = recordOf(&rows[i])
	}
	if len(rows) == p.Limit {
		page.Next = encodeCursor(p, storage.KeyOf(&rows[len(rows)-1]))
	}
	return page, nil
}

// listParams turns options into the store's params, checking them.
func listParams(opts ListOptions) (storage.ListParams, error) {
	f, err := opts.Filter.stored()
	if err != nil {
		return storage.ListParams{}, err
	}
	p := storage.ListParams{Filter: f, Limit: opts.Limit}
	if opts.OldestFirst {
		p.Order = storage.OldestFirst
	}
	if p.Limit == 0 {
		p.Limit = 50
	}
	if p.Limit < 1 || p.Limit > storage.MaxListLimit {
		return p, fmt.Errorf("%w: list limit %d out of range 1..%d", ErrInvalidOption, opts.Limit, storage.MaxListLimit)
	}
	if opts.Cursor != "" {
		key, err := decodeCursor(p, opts.Cursor)
		if err != nil {
			return p, err
		}
		p.After = &key
	}
	return p, nil
}

// A cursor is "c1.<order>.<created, unix ns>.<id, base64>.<hash of the
// filter and order>", base64url-encoded: opaque to callers, and checked so
// that a cursor of another listing is refused instead of skipping rows.
const cursorVersion = "c1"

func encodeCursor(p storage.ListParams, k storage.ListKey) string {
	raw := strings.Join([]string{cursorVersion, strconv.Itoa(int(p.Order)),
		strconv.FormatInt(k.CreatedAt.UnixNano(), 10),
		base64.RawURLEncoding.EncodeToString([]byte(k.ID)), listingHash(p)}, ".")
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func decodeCursor(p storage.ListParams, cursor string) (storage.ListKey, error) {
	bad := func(why string) (storage.ListKey, error) {
		return storage.ListKey{}, fmt.Errorf("%w: cursor %q: %s", ErrInvalidInput, cursor, why)
	}
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return bad("not a cursor of durable's")
	}
	parts := strings.Split(string(raw), ".")
	if len(parts) != 5 || parts[0] != cursorVersion {
		return bad("not a cursor of durable's")
	}
	ns, err1 := strconv.ParseInt(parts[2], 10, 64)
	id, err2 := base64.RawURLEncoding.DecodeString(parts[3])
	if err1 != nil || err2 != nil || len(id) == 0 {
		return bad("damaged")
	}
	if parts[1] != strconv.Itoa(int(p.Order)) || parts[4] != listingHash(p) {
		return bad("made for another filter or order; list again from the first page")
	}
	return storage.ListKey{CreatedAt: time.Unix(0, ns).UTC(), ID: string(id)}, nil
}

// listingHash identifies a listing's filter and order.
func listingHash(p storage.ListParams) string {
	b, _ := json.Marshal(struct {
		F storage.ListFilter
		O storage.Order
	}{p.Filter, p.Order}) // cannot fail: strings, bools and times
	h := fnv.New64a()
	h.Write(b)
	return strconv.FormatUint(h.Sum64(), 36)
}

// Count is the number of executions of one task in one status.
type Count struct {
	TaskID string
	Status Status
	N      int64
	// OldestDue is when the longest-waiting due execution of the group
	// became due (zero when none is due): how far behind the executors
	// are.
	OldestDue time.Time
}

// Count counts the executions matching f by task and status, ordered by
// task then status.
func (e *Executor) Count(ctx context.Context, f Filter) ([]Count, error) {
	if err := e.checkRead(); err != nil {
		return nil, err
	}
	sf, err := f.stored()
	if err != nil {
		return nil, err
	}
	var counts []storage.Count
	err = e.retryStorage(ctx, func() error {
		var err error
		counts, err = e.store.Count(ctx, storage.CountParams{Now: e.now(), Filter: sf})
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]Count, len(counts))
	for i, c := range counts {
		out[i] = Count{TaskID: c.TaskID, Status: c.Status, N: c.N, OldestDue: c.OldestDueAt}
	}
	return out, nil
}
