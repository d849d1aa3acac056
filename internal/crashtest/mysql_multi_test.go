package crashtest

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/mysql"
)

func init() {
	workers["mysql-worker"] = func() error {
		return mysqlWorker(os.Getenv(envDSN), os.Getenv(envSchema), os.Getenv(envLedger), os.Getenv(envExecutor))
	}
}

// mysqlWorker runs an executor on the MySQL tables of prefix with the
// tasks of the multi-process test (pgTasks: they are not PostgreSQL's),
// until the process is killed. Its warnings (a write retried, leases
// lost) and the store's rolled-back transactions (Retries, when they
// change) go to stderr, into the test's output: they tell why an
// execution ran twice, if one does.
func mysqlWorker(dsn, prefix, ledgerPath, executor string) error {
	ctx := context.Background()
	ledger, err := os.OpenFile(ledgerPath, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	store, err := mysql.Open(ctx, dsn, mysql.Config{TablePrefix: prefix})
	if err != nil {
		return err
	}
	cfg := pgConfig(executor)
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("executor", executor)
	ex, err := durable.New(store, cfg)
	if err != nil {
		return err
	}
	pgTasks(ex, ledger)
	if err := ex.Start(ctx); err != nil {
		return err
	}
	reportRetries(store, cfg.Logger)
	return nil
}

// reportRetries logs the store's rolled-back transactions whenever their
// count changes, until the process is killed.
func reportRetries(store *mysql.Store, log *slog.Logger) {
	var last mysql.RetryStats
	for range time.Tick(time.Second) {
		if r := store.Retries(); r != last {
			log.Warn("transactions rolled back by InnoDB and retried", "deadlocks", r.Deadlocks, "lock_wait_timeouts", r.LockWaitTimeouts)
			last = r
		}
	}
}

// TestMySQLMultiProcess is TestPostgresMultiProcess on MySQL: three
// executor processes share one database; 10,300 executions (plain tasks
// and trees) are recorded in a ledger with their fencing tokens. With no
// faults no execution may run twice or overlap another run of itself;
// then one process is SIGKILLed mid-run and its work must be taken over
// within lease + 2s with nothing lost.
func TestMySQLMultiProcess(t *testing.T) {
	dsn := os.Getenv("DURABLE_TEST_MYSQL_DSN")
	if dsn == "" {
		t.Skip("set DURABLE_TEST_MYSQL_DSN (e.g. root@tcp(127.0.0.1:3306)/test) to run the MySQL multi-process test")
	}
	if testing.Short() {
		t.Skip("runs real processes")
	}
	prefix := "crash_" + strconv.FormatInt(time.Now().UnixNano(), 36) + "_"
	t.Cleanup(func() { dropMySQLTables(t, dsn, prefix) })
	dir := t.TempDir()

	my := multiStore{
		role: "mysql-worker", dsn: dsn, namespace: prefix,
		open: func(t *testing.T) storage.Store {
			store, err := mysql.Open(context.Background(), dsn, mysql.Config{TablePrefix: prefix})
			if err != nil {
				t.Fatal(err)
			}
			return store
		},
		workerID: func(i int) string { return fmt.Sprintf("mysql_worker_%d_%s", i, prefix) },
		awaitCompleted: func(t *testing.T, timeout time.Duration) int {
			return awaitMySQLCompleted(t, dsn, prefix, timeout)
		},
	}
	t.Run("NoFaults", func(t *testing.T) { my.noFaults(t, dir+"/ledger1.txt", "a") })
	t.Run("KillOneProcess", func(t *testing.T) { my.killOne(t, dir+"/ledger2.txt", "b") })
}

// mysqlDB opens a handle on the test server (the caller closes it).
func mysqlDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	store, err := mysql.Open(context.Background(), dsn, mysql.Config{TablePrefix: "crash_probe_", DisableEvents: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		dropMySQLTables(t, dsn, "crash_probe_")
		store.Close()
	})
	return store.DB()
}

// awaitMySQLCompleted waits until no execution of the tables is unfinished
// and returns how many are not completed then.
func awaitMySQLCompleted(t *testing.T, dsn, prefix string, timeout time.Duration) int {
	t.Helper()
	db := mysqlDB(t, dsn)
	deadline := time.Now().Add(timeout)
	for {
		var notDone int
		err := db.QueryRow("SELECT count(*) FROM " + prefix + "executions WHERE status <> 'completed'").Scan(&notDone)
		if err != nil {
			t.Fatal(err)
		}
		if notDone == 0 || time.Now().After(deadline) {
			return notDone
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func dropMySQLTables(t *testing.T, dsn, prefix string) {
	store, err := mysql.Open(context.Background(), dsn, mysql.Config{TablePrefix: prefix, DisableEvents: true, DisableMigrations: true})
	if err != nil {
		return
	}
	defer store.Close()
	for _, table := range mysql.TableNames(prefix) {
		if _, err := store.DB().Exec("DROP TABLE IF EXISTS " + table); err != nil {
			t.Errorf("drop %s: %v", table, err)
		}
	}
}
