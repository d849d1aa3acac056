//go:build drivercompare

// Command drivercompare measures the two Go SQLite drivers on the workload of
// the durable SQLite store: batched multi-row inserts, then claims of 100 rows
// (one UPDATE ... RETURNING) each followed by a transaction of 100 fenced
// completions, all with journal_mode=WAL and synchronous=FULL.
//
// It needs cgo (for github.com/mattn/go-sqlite3), so it is behind a build tag:
//
//	go run -tags drivercompare ./storage/sqlite/internal/drivercompare
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	_ "github.com/mattn/go-sqlite3"
	_ "modernc.org/sqlite"
)

const schema = `
CREATE TABLE executions (
	seq INTEGER PRIMARY KEY,
	id TEXT NOT NULL UNIQUE,
	task_id TEXT NOT NULL,
	parent_id TEXT,
	sleep_key TEXT,
	status TEXT NOT NULL,
	input BLOB,
	output BLOB,
	error TEXT,
	attempt INTEGER NOT NULL DEFAULT 0,
	fence INTEGER NOT NULL DEFAULT 0,
	executor_id TEXT,
	due_at INTEGER,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	started_at INTEGER,
	finished_at INTEGER
);
CREATE UNIQUE INDEX executions_sleep_key ON executions(sleep_key) WHERE sleep_key IS NOT NULL;
CREATE INDEX executions_due ON executions(due_at, seq) WHERE due_at IS NOT NULL;
CREATE INDEX executions_parent ON executions(parent_id) WHERE parent_id IS NOT NULL;
`

const claimSQL = `UPDATE executions SET fence = fence + 1, executor_id = ?1, due_at = ?2 + 30000000,
	updated_at = ?2, status = 'running', started_at = ?2
WHERE seq IN (SELECT seq FROM executions WHERE due_at IS NOT NULL AND due_at <= ?2
	AND task_id IN ('noop') ORDER BY due_at, seq LIMIT 100)
RETURNING id, fence`

const completeSQL = `UPDATE executions SET status = 'completed', output = ?4, executor_id = NULL,
	due_at = NULL, updated_at = ?5, finished_at = ?5
WHERE id = ?1 AND fence = ?2 AND status = ?3 RETURNING parent_id`

func main() {
	n := flag.Int("n", 20000, "tasks")
	batch := flag.Int("batch", 100, "rows per insert statement and per claim")
	drivers := flag.String("drivers", "sqlite,sqlite3,sqlite,sqlite3", "database/sql driver names to run, in order")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	dir, err := os.MkdirTemp("", "drivercompare")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	for _, drv := range strings.Split(*drivers, ",") {
		ins, cc, err := run(filepath.Join(dir, fmt.Sprintf("%s-%d.db", drv, time.Now().UnixNano())), drv, *n, *batch)
		if err != nil {
			log.Fatalf("%s: %v", drv, err)
		}
		name := map[string]string{"sqlite": "modernc.org/sqlite", "sqlite3": "github.com/mattn/go-sqlite3"}[drv]
		fmt.Printf("%-28s insert %8.0f rows/s   claim+complete %8.0f tasks/s\n", name, ins, cc)
	}
}

func run(path, drv string, n, batch int) (insertRate, drainRate float64, err error) {
	ctx := context.Background()
	dsn := "file:" + path + "?_journal_mode=WAL&_synchronous=FULL&_busy_timeout=5000&_txlock=immediate"
	db, err := sql.Open(drv, dsn)
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return 0, 0, err
	}
	now := time.Now().UnixMicro()
	row := "(?,?,?,?,?,?,?)"
	stmt, err := db.PrepareContext(ctx, "INSERT INTO executions (id, task_id, status, input, due_at, created_at, updated_at) VALUES "+
		strings.TrimSuffix(strings.Repeat(row+",", batch), ","))
	if err != nil {
		return 0, 0, err
	}
	input := []byte(`{"n":1}`)
	start := time.Now()
	for i := 0; i < n; i += batch {
		args := make([]any, 0, 7*batch)
		for j := 0; j < batch; j++ {
			args = append(args, fmt.Sprintf("exec-%08d", i+j), "noop", "ready", input, now, now, now)
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return 0, 0, err
		}
		if _, err := tx.StmtContext(ctx, stmt).ExecContext(ctx, args...); err != nil {
			return 0, 0, err
		}
		if err := tx.Commit(); err != nil {
			return 0, 0, err
		}
	}
	insertRate = float64(n) / time.Since(start).Seconds()

	claim, err := db.PrepareContext(ctx, claimSQL)
	if err != nil {
		return 0, 0, err
	}
	complete, err := db.PrepareContext(ctx, completeSQL)
	if err != nil {
		return 0, 0, err
	}
	start = time.Now()
	done := 0
	for done < n {
		type lease struct {
			id    string
			fence int64
		}
		var leases []lease
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return 0, 0, err
		}
		rows, err := tx.StmtContext(ctx, claim).QueryContext(ctx, "worker", time.Now().UnixMicro())
		if err != nil {
			return 0, 0, err
		}
		for rows.Next() {
			var l lease
			if err := rows.Scan(&l.id, &l.fence); err != nil {
				return 0, 0, err
			}
			leases = append(leases, l)
		}
		if err := rows.Err(); err != nil {
			return 0, 0, err
		}
		if err := tx.Commit(); err != nil {
			return 0, 0, err
		}
		tx, err = db.BeginTx(ctx, nil)
		if err != nil {
			return 0, 0, err
		}
		cs := tx.StmtContext(ctx, complete)
		t := time.Now().UnixMicro()
		for _, l := range leases {
			var parent sql.NullString
			if err := cs.QueryRowContext(ctx, l.id, l.fence, "running", input, t).Scan(&parent); err != nil {
				return 0, 0, err
			}
		}
		if err := tx.Commit(); err != nil {
			return 0, 0, err
		}
		done += len(leases)
	}
	drainRate = float64(n) / time.Since(start).Seconds()
	return insertRate, drainRate, nil
}
