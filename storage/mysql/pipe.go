package mysql

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
)

// pipe is a transaction whose statements travel together. On the store's
// own pool (Open turns on the driver's multiStatements), START TRANSACTION
// goes with the first statement, the statements given to Defer wait for
// the next one, and COMMIT goes with the last: an Insert is one round
// trip, a Complete of plain completions two. On a pool the caller made
// (New), it is a plain database/sql transaction, one round trip per
// statement.
type pipe struct {
	s    *Store
	conn *sql.Conn // multi-statement mode
	tx   *sql.Tx   // a plain transaction

	started bool // START TRANSACTION was sent (multi-statement mode)
	pending []string
	args    []any
	size    int // of pending and args, estimated
}

// begin starts a transaction on a connection of the store's pool.
func (s *Store) begin(ctx context.Context) (*pipe, error) {
	if !s.multi {
		tx, err := s.db.BeginTx(ctx, s.txOpts)
		if err != nil {
			return nil, err
		}
		return &pipe{s: s, tx: tx}, nil
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	return &pipe{s: s, conn: conn}, nil
}

// batch returns q preceded by what must go before it (START TRANSACTION,
// the deferred statements), and its arguments.
func (p *pipe) batch(q string, args []any) (string, []any) {
	if p.started && len(p.pending) == 0 {
		return q, args
	}
	var b strings.Builder
	if !p.started {
		b.WriteString("START TRANSACTION;\n")
		p.started = true
	}
	for _, st := range p.pending {
		b.WriteString(st)
		b.WriteString(";\n")
	}
	b.WriteString(q)
	all := append(p.args, args...)
	p.pending, p.args, p.size = nil, nil, 0
	return b.String(), all
}

// Defer queues a statement whose result nobody reads: it is sent with the
// next statement (or COMMIT), and its error is that statement's.
func (p *pipe) Defer(ctx context.Context, q string, args ...any) error {
	if p.tx != nil {
		_, err := p.tx.ExecContext(ctx, q, args...)
		return err
	}
	size := statementSize(q, args)
	if len(p.pending) > 0 && p.size+size > maxBatch {
		// Large statements go one at a time (MariaDB runs a batch of
		// large ones several times slower), and a batch must fit in a
		// packet: send what waits first.
		q0, a0 := p.batch("DO 0", nil)
		if _, err := p.conn.ExecContext(ctx, q0, a0...); err != nil {
			return err
		}
	}
	p.pending = append(p.pending, q)
	p.args = append(p.args, args...)
	p.size += size
	return nil
}

// maxBatch bounds the statements deferred together, in bytes.
const maxBatch = 64 << 10

// statementSize estimates the bytes of a statement once its arguments
// are interpolated (escaping may double a string).
func statementSize(q string, args []any) int {
	n := len(q)
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			n += 2*len(v) + 10
		case string:
			n += 2*len(v) + 2
		default:
			n += 24
		}
	}
	return n
}

func (p *pipe) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if p.tx != nil {
		return p.tx.ExecContext(ctx, q, args...)
	}
	q, args = p.batch(q, args)
	return p.conn.ExecContext(ctx, q, args...)
}

func (p *pipe) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if p.tx != nil {
		return p.tx.QueryContext(ctx, q, args...)
	}
	q, args = p.batch(q, args)
	return p.conn.QueryContext(ctx, q, args...)
}

func (p *pipe) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if p.tx != nil {
		return p.tx.QueryRowContext(ctx, q, args...)
	}
	q, args = p.batch(q, args)
	return p.conn.QueryRowContext(ctx, q, args...)
}

// commit sends the deferred statements and COMMIT.
func (p *pipe) commit(ctx context.Context) error {
	if p.tx != nil {
		return p.tx.Commit()
	}
	if !p.started && len(p.pending) == 0 {
		return nil // nothing was sent
	}
	_, err := p.ExecContext(ctx, "COMMIT")
	return err
}

// rollback ends a transaction that failed (a no-op after commit) and
// gives the connection back.
func (p *pipe) rollback() {
	if p.tx != nil {
		_ = p.tx.Rollback()
		return
	}
	if p.started {
		_, _ = p.conn.ExecContext(context.Background(), "ROLLBACK")
	}
	_ = p.conn.Close()
}

// done gives the connection of a committed transaction back.
func (p *pipe) done() {
	if p.conn != nil {
		_ = p.conn.Close()
	}
}

// query runs a query and hands its rows to scan.
func (p *pipe) query(ctx context.Context, q string, args []any, scan func(*sql.Rows) error) error {
	rows, err := p.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if err := scan(rows); err != nil {
		return err
	}
	return rows.Close()
}

// queryTwo runs two queries, in order, and hands the rows of each to its
// scan: in one round trip on the store's own pool (two result sets), in
// two on a caller's.
func (p *pipe) queryTwo(ctx context.Context, q1 string, args1 []any, scan1 func(*sql.Rows) error,
	q2 string, args2 []any, scan2 func(*sql.Rows) error) error {
	if p.tx != nil {
		if err := p.query(ctx, q1, args1, scan1); err != nil {
			return err
		}
		return p.query(ctx, q2, args2, scan2)
	}
	rows, err := p.QueryContext(ctx, q1+";\n"+q2, append(slices.Clip(args1), args2...)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if err := scan1(rows); err != nil {
		return err
	}
	if !rows.NextResultSet() {
		if err := rows.Err(); err != nil {
			return err
		}
		return errors.New("the second statement of a batch returned no result set")
	}
	if err := scan2(rows); err != nil {
		return err
	}
	return rows.Close()
}
