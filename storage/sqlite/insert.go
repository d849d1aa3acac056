package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/durable-go/durable/storage"
)

// maxInsertRows is the largest number of rows one INSERT statement carries
// (at most 41 parameters a row, well under SQLite's limit of 32,766).
// Batches are cut into statements of power-of-two sizes, so that at most
// eight insert statements are prepared for each set of columns.
const maxInsertRows = 128

// Insert inserts executions all or nothing. A duplicate ID or SleepKey (in
// the store or within p.Executions) fails the call with an error wrapping
// storage.ErrDuplicate.
func (s *Store) Insert(ctx context.Context, p storage.InsertParams) error {
	const op = "insert"
	// Each priority's rows on pages of their own (storage.ClaimOrdered).
	execs, delays := storage.ClaimOrdered(p.Executions, p.Delays)
	rows, err := prepareRows(p.Now, execs, delays)
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	if len(rows) == 0 {
		if s.isClosed() {
			return errClosed(op)
		}
		return nil
	}
	// The column values are made here, on the caller's goroutine: the
	// writer is the store's bottleneck, and only binds them.
	vals, err := valuesOf(rows)
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	fn := func(tx *writeTx) error {
		if err := tx.insertValues(rows, vals); err != nil {
			return fmt.Errorf("sqlite: %s: %w", op, err)
		}
		if storage.AnyReady(rows) {
			tx.ready()
		}
		return nil
	}
	return s.submitReq(ctx, op, &writeReq{op: op, fn: fn, rows: rows, vals: vals, done: make(chan error, 1)})
}

// prepareRows validates executions and returns copies with the fields the
// store sets on insert: CreatedAt = UpdatedAt = now, Fence = 0, and DueAt:
// now + delay for a ready row, now + Timeout for a sleeping row (which also
// gets StartedAt = now), unset for any other.
func prepareRows(now time.Time, execs []storage.Execution, delays []time.Duration) ([]storage.Execution, error) {
	if len(delays) != 0 && len(delays) != len(execs) {
		return nil, fmt.Errorf("%d delays for %d executions (want none or one each)", len(delays), len(execs))
	}
	rows := make([]storage.Execution, len(execs))
	for i, e := range execs {
		if err := storage.ValidateExecution(&e); err != nil {
			return nil, err
		}
		e.CreatedAt, e.UpdatedAt, e.Fence = now, now, 0
		var d time.Duration
		if len(delays) != 0 {
			d = delays[i]
		}
		switch {
		case e.Status == storage.StatusReady:
			e.DueAt = now.Add(d)
		case e.Status == storage.StatusRunning && e.SleepKey != "":
			e.StartedAt, e.DueAt = now, now.Add(e.Timeout)
		case e.Status == storage.StatusRunning && e.ExecutorID != "":
			e.StartedAt, e.DueAt = now, now.Add(d) // claimed at insert: d is the lease
		default:
			e.DueAt = time.Time{}
		}
		rows[i] = e
	}
	return rows, nil
}

// insert inserts rows in multi-row INSERT statements that list only the
// columns some row sets (binding parameters is a large part of the cost of
// an insert). A duplicate key gives an error wrapping storage.ErrDuplicate
// that names it.
func (tx *writeTx) insert(rows []storage.Execution) error {
	vals, err := valuesOf(rows)
	if err != nil {
		return err
	}
	return tx.insertValues(rows, vals)
}

// insertValues is insert of rows whose column values were made already.
func (tx *writeTx) insertValues(rows []storage.Execution, vals rowValues) error {
	err := tx.insertRows(rows, vals)
	if isUniqueViolation(err) {
		return tx.duplicateError(rows, err)
	}
	return err
}

// rowValues are the column values of rows to insert, in the order of
// insertColumns, and the mask of the columns some row sets (the others
// are left to their defaults).
type rowValues struct {
	vals [][insertWidth]any
	mask uint64
}

// valuesOf returns the column values of rows.
func valuesOf(rows []storage.Execution) (rowValues, error) {
	rv := rowValues{vals: make([][insertWidth]any, len(rows))}
	for i := range rows {
		v, err := insertValues(&rows[i])
		if err != nil {
			return rowValues{}, err
		}
		for c := range v {
			if !isDefault(c, v[c]) {
				rv.mask |= 1 << c
			}
		}
		rv.vals[i] = v
	}
	return rv, nil
}

// insertRows is insertValues without naming the key of a duplicate: its
// error is the statement's.
func (tx *writeTx) insertRows(rows []storage.Execution, rv rowValues) error {
	cols := maskColumns(rv.mask)
	args := make([]any, 0, min(len(rows), maxInsertRows)*len(cols))
	for start := 0; start < len(rows); {
		n := chunkSize(len(rows)-start, maxInsertRows)
		st, err := tx.insertStmt(rv.mask, cols, n)
		if err != nil {
			return err
		}
		args = args[:0]
		for _, v := range rv.vals[start : start+n] {
			for _, c := range cols {
				args = append(args, v[c])
			}
		}
		if _, err := st.Exec(args...); err != nil {
			return err
		}
		start += n
	}
	return tx.insertTags(rows)
}

// insertTags writes the rows of durable_execution_tags of the tagged rows
// among rows, just inserted.
func (tx *writeTx) insertTags(rows []storage.Execution) error {
	var ids []string
	for i := range rows {
		if len(rows[i].Tags) > 0 {
			ids = append(ids, rows[i].ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	_, err := tx.exec("insert_tags", jsonStrings(ids))
	return err
}

// maskColumns returns the indexes (into insertColumns) of mask's bits.
func maskColumns(mask uint64) []int {
	cols := make([]int, 0, bits.OnesCount64(mask))
	for c := range insertWidth {
		if mask&(1<<c) != 0 {
			cols = append(cols, c)
		}
	}
	return cols
}

// insertStmt returns the insert statement of n rows setting cols.
func (tx *writeTx) insertStmt(mask uint64, cols []int, n int) (*sql.Stmt, error) {
	key := "insert/" + strconv.FormatUint(mask, 16) + "/" + strconv.Itoa(n)
	return tx.w.stmt(key, func() string {
		names := make([]string, len(cols))
		for i, c := range cols {
			names[i] = insertColumns[c]
		}
		q := strings.Replace(query("insert"), "{{insert_columns}}", strings.Join(names, ", "), 1)
		return withRows(q, n, len(cols))
	})
}

// chunkSize returns the largest power of two <= min(n, limit).
func chunkSize(n, limit int) int {
	c := 1
	for c*2 <= n && c*2 <= limit {
		c *= 2
	}
	return c
}

// duplicateError names the ID, sleep key or active key that made an
// insert fail.
func (tx *writeTx) duplicateError(rows []storage.Execution, cause error) error {
	if err := distinctKeys(rows); err != nil {
		return err
	}
	if err := tx.heldActiveKey(rows); err != nil {
		return err
	}
	ids := make([]string, 0, len(rows))
	var keys []string
	for _, r := range rows {
		ids = append(ids, r.ID)
		if r.SleepKey != "" {
			keys = append(keys, r.SleepKey)
		}
	}
	if id := tx.firstExisting("find_ids", ids); id != "" {
		return fmt.Errorf("execution id %q already exists: %w", id, storage.ErrDuplicate)
	}
	if key := tx.firstExisting("find_sleep_keys", keys); key != "" {
		return fmt.Errorf("sleep key %q already exists: %w", key, storage.ErrDuplicate)
	}
	return fmt.Errorf("duplicate execution id or sleep key: %w (%v)", storage.ErrDuplicate, cause)
}

// distinctKeys reports a duplicate ID or SleepKey among rows as an error
// wrapping storage.ErrDuplicate, and an ActiveKey twice as an
// *storage.ActiveKeyError naming the first row that has it.
func distinctKeys(rows []storage.Execution) error {
	ids := make(map[string]bool, len(rows))
	keys := map[string]bool{}
	var active map[string]*storage.Execution
	for i := range rows {
		r := &rows[i]
		if ids[r.ID] {
			return fmt.Errorf("execution id %q appears twice: %w", r.ID, storage.ErrDuplicate)
		}
		if r.SleepKey != "" && keys[r.SleepKey] {
			return fmt.Errorf("sleep key %q appears twice: %w", r.SleepKey, storage.ErrDuplicate)
		}
		ids[r.ID], keys[r.SleepKey] = true, true
		if r.ActiveKey == "" {
			continue
		}
		if h := active[r.ActiveKey]; h != nil {
			return &storage.ActiveKeyError{Key: r.ActiveKey, ID: h.ID, TaskID: h.TaskID}
		}
		if active == nil {
			active = map[string]*storage.Execution{}
		}
		active[r.ActiveKey] = r
	}
	return nil
}

// heldActiveKey returns an *storage.ActiveKeyError for the first row of
// rows whose ActiveKey an active row stored before the insert holds,
// naming that row; nil when there is none. It runs in the insert's
// transaction (the store's only writer), so the holder is the one that
// refused the insert; the rows of the batch inserted before the statement
// that failed hold their own keys, and are skipped.
func (tx *writeTx) heldActiveKey(rows []storage.Execution) error {
	for i := range rows {
		key := rows[i].ActiveKey
		if key == "" {
			continue
		}
		var id, task string
		err := tx.queryRow("find_active_key", key).Scan(&id, &task)
		if err == nil && id != rows[i].ID {
			return &storage.ActiveKeyError{Key: key, ID: id, TaskID: task}
		}
	}
	return nil
}

// firstExisting returns one of keys that the named lookup finds, or "".
func (tx *writeTx) firstExisting(name string, keys []string) string {
	if len(keys) == 0 {
		return ""
	}
	rows, err := tx.query(name, jsonStrings(keys))
	if err != nil {
		return ""
	}
	defer rows.Close()
	var found string
	if rows.Next() && rows.Scan(&found) != nil {
		return ""
	}
	return found
}

// jsonStrings returns ss as a JSON array, the form json_each reads. The
// bytes of each string are written as they are but for '"', '\\' and
// control characters, which are escaped: encoding/json would replace bytes
// that are not UTF-8, and ids and task ids may be any bytes (SQLite's JSON
// functions pass such bytes through).
func jsonStrings(ss []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, s := range ss {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		for j := 0; j < len(s); j++ {
			switch c := s[j]; {
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c < 0x20:
				fmt.Fprintf(&b, `\u%04x`, c)
			default:
				b.WriteByte(c)
			}
		}
		b.WriteByte('"')
	}
	b.WriteByte(']')
	return b.String()
}
