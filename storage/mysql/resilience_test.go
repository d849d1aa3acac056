package mysql

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/storagetest"
)

// testUser creates a user of the test server with every right on the test
// database, dropped when the test ends, and returns the DSN that logs in
// as it: KILLing the connections of that user reaches one store's alone.
func testUser(t *testing.T, name string) string {
	t.Helper()
	dsn := testDSN(t)
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db := testDB(t, dsn)
	t.Cleanup(func() {
		_, _ = db.Exec("DROP USER IF EXISTS '" + name + "'@'%'")
		db.Close()
	})
	for _, stmt := range []string{
		"CREATE USER IF NOT EXISTS '" + name + "'@'%' IDENTIFIED BY 'pw'",
		"GRANT ALL ON `" + cfg.DBName + "`.* TO '" + name + "'@'%'",
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	cfg.User, cfg.Passwd = name, "pw"
	return cfg.FormatDSN()
}

// killUser KILLs every connection of user and returns how many.
func killUser(t *testing.T, user string) int {
	t.Helper()
	db := testDB(t, testDSN(t))
	defer db.Close()
	rows, err := db.Query("SELECT id FROM information_schema.processlist WHERE user = ?", user)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := scanInt64s(rows)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, id := range ids {
		if _, err := db.Exec(fmt.Sprintf("KILL %d", id)); err == nil {
			n++
		}
	}
	return n
}

// TestResilienceKilledConnections: the store's connections are KILLed
// again and again during a stream of inserts, claims and completions.
// Every acknowledged insert and every applied completion is in the
// database afterwards, the store works again, and its event reader reads
// again.
func TestResilienceKilledConnections(t *testing.T) {
	t.Parallel()
	prefix := testPrefix(t)
	user := "dk_" + strings.TrimSuffix(prefix, "_")
	a, err := Open(t.Context(), testUser(t, user), Config{TablePrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	b := openOn(t, prefix, Config{}) // an observer whose connections are spared
	aEvs := make(chan storage.Event, 4096)
	defer a.Subscribe(func(ev storage.Event) {
		select {
		case aEvs <- ev:
		default:
		}
	})()
	storm := storagetest.CheckConnectionStorm(t, a, b, func() int { return killUser(t, user) })
	t.Logf("KILLs: %v", storm)
	if storm.Killed == 0 {
		t.Fatal("no connection was killed during the run")
	}

	// The event reader reads again: events of the other store reach a.
	drain(aEvs)
	killUser(t, user)
	flowing := false
	for i := 0; i < 10 && !flowing; i++ {
		id := fmt.Sprintf("after-%d", i)
		if err := b.Insert(t.Context(), storage.InsertParams{Executions: []storage.Execution{storagetest.NewExecution(id, "after")}}); err != nil {
			t.Fatal(err)
		}
		timeout := time.After(time.Second)
	wait:
		for {
			select {
			case ev := <-aEvs:
				if ev.Ready {
					flowing = true
					break wait
				}
			case <-timeout:
				break wait
			}
		}
	}
	if !flowing {
		t.Fatal("no event from the other store after the connections were killed")
	}
	// And the store works again (the pool drops dead connections on use).
	storagetest.CheckInsertsAgain(t, a, "again")
}

func ids(rows []storage.Execution) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.ID
	}
	return out
}

func drain(ch chan storage.Event) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// missing counts the ids that are absent from s (or, when status is set,
// not in that status).
func missing(t testing.TB, s *Store, want []string, status storage.Status) int {
	t.Helper()
	n := 0
	for chunk := range slices.Chunk(want, 1000) {
		q := "SELECT count(*) FROM " + s.q.data.T + " WHERE id IN " + placeholders(len(chunk))
		args := stringArgs(chunk)
		if status != "" {
			q += " AND status = ?"
			args = append(args, string(status))
		}
		var found int
		if err := s.db.QueryRowContext(context.Background(), q, args...).Scan(&found); err != nil {
			t.Fatal(err)
		}
		n += len(chunk) - found
	}
	return n
}
