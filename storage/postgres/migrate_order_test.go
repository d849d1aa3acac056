package postgres

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/durable-go/durable/storage"
)

// TestMigrateColumnOrder: migration 011 creates an empty executions table
// again in its designed column order, and leaves one that holds rows as it
// is (rows kept, the order of migrations 001-010). Either way the table
// has the same columns, defaults, constraints, indexes and sequence, so
// the store works the same on both.
func TestMigrateColumnOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	fresh := openStore(t, Config{})

	kept, pool, tx := schemaAtVersion(t, 10)
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := tx.Exec(ctx, `INSERT INTO executions (id, task_id, status, input, created_at, updated_at, due_at)
		VALUES ('old', 'task', 'ready', '\x31', $1, $1, $1)`, created); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	s := openOn(t, kept, Config{})

	// The row from before is there and runs.
	rows, err := s.Claim(ctx, storage.ClaimParams{Now: created, ExecutorID: "x", TaskIDs: []string{"task"}, Limit: 10, Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].ID != "old" {
		t.Fatalf("Claim after migration 011 on a table with rows: got %v, want the row from before", rows)
	}

	freshCat, keptCat := catalogOf(t, pool, fresh.Schema()), catalogOf(t, pool, kept)
	if !slices.Equal(freshCat.defs, keptCat.defs) {
		t.Errorf("the table created again differs from the migrated one:\nnew:      %q\nmigrated: %q", freshCat.defs, keptCat.defs)
	}
	if keptCat.order[0] != "id" {
		t.Errorf("a table with rows was created again: its first column is %s, not 001's id", keptCat.order[0])
	}
	checkDesignedOrder(t, freshCat)
}

// catalog is what TestMigrateColumnOrder compares of an executions table:
// defs, sorted, describes every column (type, collation, NOT NULL,
// default), index, constraint and the sequence of seq, with the schema's
// name taken out; order lists the columns by position.
type catalog struct {
	defs  []string
	order []string
	// fixed: the fixed-width NOT NULL columns; indexed: the columns an
	// index names or its predicate reads.
	fixed, indexed map[string]bool
}

func catalogOf(t *testing.T, pool *pgxpool.Pool, schema string) catalog {
	t.Helper()
	ctx := context.Background()
	table := schema + ".executions"
	c := catalog{fixed: map[string]bool{}, indexed: map[string]bool{}}
	query := func(sql string, scan func(r pgx.Row) error) {
		t.Helper()
		rows, err := pool.Query(ctx, sql, table)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				t.Fatal(err)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	query(`SELECT a.attname, format_type(a.atttypid, a.atttypmod), coalesce(co.collname, ''), a.attnotnull,
			coalesce(pg_get_expr(d.adbin, d.adrelid), ''), a.attlen > 0
		FROM pg_attribute a
		LEFT JOIN pg_collation co ON co.oid = a.attcollation AND a.attcollation <> 0
		LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
		ORDER BY a.attnum`, func(r pgx.Row) error {
		var name, typ, coll, def string
		var notNull, fixedWidth bool
		if err := r.Scan(&name, &typ, &coll, &notNull, &def, &fixedWidth); err != nil {
			return err
		}
		c.order = append(c.order, name)
		c.fixed[name] = fixedWidth && notNull
		def = strings.ReplaceAll(def, schema+".", "")
		c.defs = append(c.defs, strings.Join([]string{"column", name, typ, coll, map[bool]string{true: "not null"}[notNull], def}, " "))
		return nil
	})
	query(`SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = $1::regclass`, func(r pgx.Row) error {
		var def string
		if err := r.Scan(&def); err != nil {
			return err
		}
		c.defs = append(c.defs, "index "+strings.ReplaceAll(def, schema+".", ""))
		for _, name := range c.order {
			if strings.Contains(def, "("+name) || strings.Contains(def, " "+name) {
				c.indexed[name] = true
			}
		}
		return nil
	})
	query(`SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = $1::regclass`, func(r pgx.Row) error {
		var name, def string
		if err := r.Scan(&name, &def); err != nil {
			return err
		}
		// 005 adds the check of priority NOT VALID, so as not to read a
		// big table; 011 creates it on an empty table, validated.
		c.defs = append(c.defs, "constraint "+name+" "+strings.TrimSuffix(def, " NOT VALID"))
		return nil
	})
	query(`SELECT coalesce(pg_get_serial_sequence($1, 'seq'), '')`, func(r pgx.Row) error {
		var seq string
		if err := r.Scan(&seq); err != nil {
			return err
		}
		c.defs = append(c.defs, "sequence "+strings.ReplaceAll(seq, schema+".", ""))
		return nil
	})
	slices.Sort(c.defs)
	return c
}

// checkDesignedOrder checks 011's order: the fixed-width NOT NULL columns
// first, then every column an index names or reads that is not one of
// them, then the others.
func checkDesignedOrder(t *testing.T, c catalog) {
	t.Helper()
	phase := 0 // 0: fixed-width NOT NULL, 1: indexed, 2: the rest
	for _, name := range c.order {
		want := 2
		switch {
		case c.fixed[name]:
			want = 0
		case c.indexed[name]:
			want = 1
		}
		if want < phase {
			t.Errorf("column %s (group %d) stands after a column of group %d: the order is %v", name, want, phase, c.order)
			return
		}
		phase = want
	}
}
