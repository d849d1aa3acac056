package mysql

import (
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
)

// insertDefault is what a column of the executions table holds when an
// insert leaves it out.
type insertDefault int

const (
	always insertDefault = iota // no default: always written
	null                        // NULL
	zero                        // 0, FALSE or ''
)

// insertColumns are the columns of the insert of executions, in the order
// of insertRow's values, with their defaults (migrations 001-006).
var insertColumns = [...]struct {
	name string
	def  insertDefault
}{
	{"id", always}, {"task_id", always}, {"root_id", zero}, {"root_task_id", zero},
	{"parent_id", null}, {"parent_task_id", zero}, {"child_index", zero}, {"is_finalize", zero},
	{"sleep_key", null}, {"status", always}, {"input", null}, {"output", null}, {"run_output", null}, {"error", null},
	{"retry_max_retries", zero}, {"retry_base_delay_ns", zero}, {"retry_multiplier", zero},
	{"retry_max_delay_ns", zero}, {"retry_jitter", zero},
	{"timeout_ns", zero}, {"attempt", zero}, {"iteration", zero}, {"crashes", zero}, {"fence", zero},
	{"executor_id", zero}, {"fail_fast", zero},
	{"children_total", zero}, {"children_pending", zero}, {"due_at", null}, {"created_at", always}, {"updated_at", always},
	{"started_at", null}, {"finished_at", null}, {"waiting_for_children_at", null}, {"waiting_for_finalize_at", null},
	{"attempts", null}, {"tags", null}, {"retry_of", null}, {"metadata", null},
	{"queue", always}, {"priority", always}, {"active_key", null}, {"concurrency_key", null},
}

// insertWidth is the number of values of one row (insertRow).
const insertWidth = len(insertColumns)

// isDefault reports whether v, a value of insertRow, is what the column's
// default would store.
func isDefault(v any, def insertDefault) bool {
	switch def {
	case null:
		b, isBytes := v.([]byte)
		return v == nil || isBytes && b == nil
	case zero:
		switch v := v.(type) {
		case string:
			return v == ""
		case bool:
			return !v
		case int:
			return v == 0
		case int64:
			return v == 0
		case float64:
			return v == 0
		}
	}
	return false
}

// usedColumns reports which columns rows (insertWidth values each) write:
// those where some row's value differs from the default.
func usedColumns(rows []any) [insertWidth]bool {
	var used [insertWidth]bool
	for i, v := range rows {
		c := i % insertWidth
		if !used[c] && !isDefault(v, insertColumns[c].def) {
			used[c] = true
		}
	}
	return used
}

// insertClock is the now of an insert's instants (sinceNow): at when it
// is known, else the SQL expression expr, the server's clock (nowSQL) or
// a variable a statement before the insert set to it (nowVar).
type insertClock struct {
	at   *int64
	expr string
}

// nowVar is the session variable an insert on the store's pool sets to the
// server's clock before its statements (setNowSQL), so that its rows read
// a variable instead of calling the clock's functions: a few microseconds
// of MariaDB's CPU per row (three instants each), and one now for every
// statement of the insert.
const (
	nowVar    = "@durable_now"
	setNowSQL = "SET " + nowVar + " = " + nowSQL
)

// insertSQL is the INSERT of rows (insertWidth values each, from
// insertRow) into table, with the values written as literals (no
// placeholders: the statement is sent as it is, with nothing for the
// driver to interpolate) and only the columns some row sets to other than
// their default. Strings and bytes are hexadecimal literals (X'...'),
// which mean the same bytes whatever the session's character set and SQL
// mode. The sinceNow values are resolved to now.at plus the offset, or,
// when now.at is nil, to the offset added in SQL to now.expr.
func insertSQL(table string, rows []any, now insertClock, sizeHint int) (string, error) {
	used := usedColumns(rows)
	b := make([]byte, 0, sizeHint+512)
	b = append(b, "INSERT INTO "...)
	b = append(b, table...)
	b = append(b, " ("...)
	first := true
	for c, col := range insertColumns {
		if used[c] {
			if !first {
				b = append(b, ", "...)
			}
			b, first = append(b, col.name...), false
		}
	}
	b = append(b, ") VALUES "...)
	for i, v := range rows {
		c := i % insertWidth
		if c == 0 {
			if i > 0 {
				b = append(b, "), "...)
			}
			b = append(b, '(')
			first = true
		}
		if !used[c] {
			continue
		}
		if !first {
			b = append(b, ", "...)
		}
		first = false
		var err error
		if b, err = appendLiteral(b, v, now); err != nil {
			return "", &literalError{row: i / insertWidth, column: insertColumns[c].name, err: err}
		}
	}
	b = append(b, ')')
	return string(b), nil
}

// literalError says which value of an insert has no literal.
type literalError struct {
	row    int
	column string
	err    error
}

func (e *literalError) Error() string { return fmt.Sprintf("column %s: %v", e.column, e.err) }

// appendLiteral appends the SQL literal of v, a value of insertRow.
func appendLiteral(b []byte, v any, now insertClock) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, "NULL"...), nil
	case []byte:
		if v == nil {
			return append(b, "NULL"...), nil
		}
		return appendHex(b, v), nil
	case string:
		return appendHex(b, []byte(v)), nil
	case bool:
		if v {
			return append(b, '1'), nil
		}
		return append(b, '0'), nil
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%v cannot be stored", v)
		}
		return strconv.AppendFloat(b, v, 'g', -1, 64), nil
	case sinceNow:
		if now.at != nil {
			return strconv.AppendInt(b, *now.at+int64(v), 10), nil
		}
		b = append(b, now.expr...)
		if v == 0 {
			return b, nil
		}
		b = append(b, " + "...)
		return strconv.AppendInt(b, int64(v), 10), nil
	}
	return nil, fmt.Errorf("no literal for a value of type %T", v)
}

// appendHex appends p as a hexadecimal literal, X'...' (” when empty:
// X” is the empty string too, but reads less plainly).
func appendHex(b, p []byte) []byte {
	if len(p) == 0 {
		return append(b, "''"...)
	}
	b = append(b, "X'"...)
	b = hex.AppendEncode(b, p)
	return append(b, '\'')
}
