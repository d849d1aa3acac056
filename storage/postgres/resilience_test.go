package postgres

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/storagetest"
)

// terminate kills every backend of application name app and returns how
// many. Filtering on the name keeps parallel tests (and other packages'
// tests on the same database) out of it.
func terminate(t testing.TB, pool *pgxpool.Pool, app string) int {
	t.Helper()
	var n int
	err := pool.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = $1`, app).Scan(&n)
	if err != nil {
		t.Errorf("terminate backends: %v", err)
	}
	return n
}

// poolNamed returns a pool whose connections carry application name app.
func poolNamed(t testing.TB, app string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = app
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// TestResilienceTerminatedBackends (RELIABILITY.md R6, connection drops):
// backends are terminated again and again during a stream of inserts,
// claims and completions. Every acknowledged insert and every applied
// completion is in the database afterwards, the store works again, and
// its listener reconnects (publishing Ready) and delivers events again.
func TestResilienceTerminatedBackends(t *testing.T) {
	t.Parallel()
	schema := testSchema(t)
	app := "durable_test_" + schema
	a, err := New(t.Context(), poolNamed(t, app), Config{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	b := openOn(t, schema, Config{}) // an observer whose connections are spared
	aEvs := make(chan storage.Event, 4096)
	defer a.Subscribe(func(ev storage.Event) {
		select {
		case aEvs <- ev:
		default:
		}
	})()
	killPool := testPool(t)
	storm := storagetest.CheckConnectionStorm(t, a, b, func() int { return terminate(t, killPool, app) })
	t.Logf("terminations: %v; listener connects %d", storm, a.listener.connects.Load())

	// The listener reconnects and says Ready; events of other stores flow.
	drain(aEvs)
	terminate(t, killPool, app)
	waitEvent(t, aEvs, "Ready after the listener reconnected", func(ev storage.Event) bool { return ev.Ready })
	// A notification sent while the listener is between connections is
	// lost (the Ready above says so): a few attempts may be needed if the
	// listener's new connection was still being terminated.
	flowing := false
	for i := 0; i < 10 && !flowing; i++ {
		id := fmt.Sprintf("after-%d", i)
		insert(t, b, time.Time{}, storagetest.NewExecution(id, "after"))
		x := claim(t, b, time.Time{}, 1, "after")[0]
		complete(t, b, time.Time{}, done(x))
		timeout := time.After(time.Second)
	wait:
		for {
			select {
			case ev := <-aEvs:
				if slices.Contains(ev.Finished, id) {
					flowing = true
					break wait
				}
			case <-timeout:
				break wait
			}
		}
	}
	if !flowing {
		t.Fatal("no Finished event from the other store after the listener reconnected")
	}
	// And the store works again (its pool drops dead connections on use).
	storagetest.CheckInsertsAgain(t, a, "again")
}
