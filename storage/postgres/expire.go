package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/durable-go/durable/storage"
)

// DeleteExpired deletes up to p.Limit expired trees, oldest first, in one
// statement ("delete_expired" in queries.sql, one per set of statuses,
// prepared once per connection) whose plan is fixed by the
// settings sent before it in the same round trip: it walks the index of
// the roots' statuses in order from p.After and stops at the limit,
// whatever the table's statistics. It locks no row before deleting it,
// and deletes only terminal rows, which no executor writes: it can wait
// only for a concurrent Delete of the same trees.
func (s *Store) DeleteExpired(ctx context.Context, p storage.DeleteExpiredParams) (storage.DeleteExpiredResult, error) {
	var res storage.DeleteExpiredResult
	if err := s.check("delete expired"); err != nil {
		return res, err
	}
	if err := p.Validate(); err != nil {
		return res, fmt.Errorf("postgres: %w", err)
	}
	sh := shape{Expired: true, Statuses: setOf(p.Statuses...)}
	args := namedArgs{"before": ceilMicro(p.Before), "limit": p.Limit,
		"after_at": pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}, "after_id": ""}
	if p.After != nil {
		args["after_at"], args["after_id"] = p.After.CreatedAt, p.After.ID
		if c := ceilMicro(p.After.CreatedAt); !c.Equal(p.After.CreatedAt) {
			// No stored time lies between the key's and c: the rows after
			// the key are those from (c, "") on, and so after it (every
			// row has an ID).
			args["after_at"], args["after_id"] = c, ""
		}
	}
	sql, err := s.q.shapeSQL(sh)
	if err != nil {
		return res, fmt.Errorf("postgres: delete expired: %w", err)
	}
	var lastAt pgtype.Timestamptz
	var lastID pgtype.Text
	var roots, rows, untagged int64
	err = withRetry(ctx, func() error {
		batch := &pgx.Batch{}
		batch.Queue(s.q.deleteExpiredSettings)
		batch.Queue(sql, args).QueryRow(func(row pgx.Row) error {
			return row.Scan(&roots, &rows, &untagged, &lastAt, &lastID, &res.Kept)
		})
		return s.pool.SendBatch(ctx, batch).Close()
	})
	if err != nil {
		return storage.DeleteExpiredResult{}, wrapErr("delete expired", err)
	}
	res.Roots, res.Rows = int(roots), int(rows)
	if lastID.Valid {
		res.Last = storage.ListKey{CreatedAt: fromTS(lastAt), ID: lastID.String}
	}
	if len(res.Kept) == 0 {
		res.Kept = nil
	}
	return res, nil
}
