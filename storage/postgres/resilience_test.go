package postgres

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
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

	var (
		acked, appliedIDs   []string
		mu                  sync.Mutex
		insertErrs, runErrs atomic.Int64
		stop                = make(chan struct{})
		wg                  sync.WaitGroup
	)
	wg.Go(func() { // inserts
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			var rows []storage.Execution
			for j := range 5 {
				rows = append(rows, storagetest.NewExecution(fmt.Sprintf("i%05d-%d", i, j), "task"))
			}
			if err := a.Insert(t.Context(), storage.InsertParams{Executions: rows}); err != nil {
				insertErrs.Add(1)
				continue
			}
			mu.Lock()
			acked = append(acked, ids(rows)...)
			mu.Unlock()
		}
	})
	wg.Go(func() { // claims and completions
		for {
			select {
			case <-stop:
				return
			default:
			}
			rows, err := a.Claim(t.Context(), storage.ClaimParams{ExecutorID: "e", TaskIDs: []string{"task"}, Limit: 20, Lease: time.Hour})
			if err != nil {
				runErrs.Add(1)
				continue
			}
			var trs []storage.Transition
			for _, r := range rows {
				trs = append(trs, done(r))
			}
			res, err := a.Complete(t.Context(), storage.CompleteParams{Transitions: trs})
			if err != nil {
				runErrs.Add(1)
				continue
			}
			mu.Lock()
			for i, r := range res {
				if r.Applied {
					appliedIDs = append(appliedIDs, trs[i].ID)
				}
			}
			mu.Unlock()
		}
	})
	killPool := testPool(t)
	kills, killed := 0, 0
	for range 8 {
		time.Sleep(150 * time.Millisecond)
		killed += terminate(t, killPool, app)
		kills++
	}
	time.Sleep(150 * time.Millisecond)
	close(stop)
	wg.Wait()

	lost := missing(t, b, acked, "")
	notApplied := missing(t, b, appliedIDs, storage.StatusCompleted)
	t.Logf("terminations: %d rounds, %d backends; inserts acknowledged %d (errors %d), completions applied %d (errors %d); lost %d, applied-but-not-completed %d; listener connects %d",
		kills, killed, len(acked), insertErrs.Load(), len(appliedIDs), runErrs.Load(), lost, notApplied, a.listener.connects.Load())
	if lost != 0 || notApplied != 0 {
		t.Fatalf("lost %d acknowledged inserts, %d applied completions", lost, notApplied)
	}
	if len(acked) == 0 || len(appliedIDs) == 0 {
		t.Fatal("no operation succeeded during the run")
	}

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
	var err2 error
	for range 10 {
		if err2 = a.Insert(t.Context(), storage.InsertParams{Executions: []storage.Execution{
			storagetest.NewExecution("again", "task")}}); err2 == nil {
			break
		}
	}
	if err2 != nil {
		t.Fatalf("Insert after the terminations: %v", err2)
	}
}

func ids(rows []storage.Execution) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.ID
	}
	return out
}

// missing counts the ids that are absent from s (or, when status is set,
// not in that status).
func missing(t testing.TB, s *Store, want []string, status storage.Status) int {
	t.Helper()
	var n int
	err := s.Pool().QueryRow(t.Context(), "SELECT count(*) FROM unnest($1::text[]) AS w(id) WHERE NOT EXISTS ("+
		"SELECT 1 FROM "+s.q.table+" AS e WHERE e.id = w.id AND ($2 = '' OR e.status = $2))", want, string(status)).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
