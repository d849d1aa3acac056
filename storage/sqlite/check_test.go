package sqlite_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/sqlite"
)

// makeExecutions fills a new database file at path with n ready
// executions of the task "task", each with an input of 200 bytes, so that
// the executions table spans many pages, and closes it.
func makeExecutions(t *testing.T, path string, n int) {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path, sqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	rows := make([]storage.Execution, n)
	for i := range rows {
		rows[i] = ready(fmt.Sprintf("x%05d", i))
		rows[i].Input = []byte(strings.Repeat("i", 200))
	}
	insert(t, s, rows...)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// corruptExecutionsPage writes garbage over a leaf page of the executions
// table's b-tree, in the middle of the table, and returns its number. The
// file must be closed and checkpointed (a closed store leaves no WAL).
func corruptExecutionsPage(t *testing.T, path string) int {
	t.Helper()
	var root int
	db := rawDB(t, path)
	if err := db.QueryRow(`SELECT rootpage FROM sqlite_schema WHERE name = 'durable_executions'`).Scan(&root); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hdr := make([]byte, 100)
	if _, err := f.ReadAt(hdr, 0); err != nil {
		t.Fatal(err)
	}
	pageSize := int64(binary.BigEndian.Uint16(hdr[16:18]))
	if pageSize == 1 {
		pageSize = 65536
	}
	page := make([]byte, pageSize)
	pgno := root
	for depth := 0; ; depth++ {
		if _, err := f.ReadAt(page, int64(pgno-1)*pageSize); err != nil {
			t.Fatal(err)
		}
		switch page[0] {
		case 0x0d: // a leaf of a table b-tree
			if depth == 0 {
				t.Fatalf("the executions table is a single page: make more rows")
			}
			garbage := make([]byte, pageSize)
			rnd := rand.New(rand.NewPCG(1, 2))
			for i := range garbage {
				garbage[i] = byte(rnd.Uint32())
			}
			if _, err := f.WriteAt(garbage, int64(pgno-1)*pageSize); err != nil {
				t.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			return pgno
		case 0x05: // an interior page: follow its middle cell's child
			cells := int(binary.BigEndian.Uint16(page[3:5]))
			ptr := binary.BigEndian.Uint16(page[12+2*(cells/2):])
			pgno = int(binary.BigEndian.Uint32(page[ptr:]))
		default:
			t.Fatalf("page %d of the executions table has type %#x", pgno, page[0])
		}
	}
}

func TestOpenRefusesACorruptPage(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "durable.db")
	makeExecutions(t, path, 3000)
	pgno := corruptExecutionsPage(t, path)
	for _, c := range []sqlite.Check{sqlite.CheckQuick, sqlite.CheckFull} {
		s, err := sqlite.Open(context.Background(), path, sqlite.Config{Check: c})
		if err == nil {
			s.Close()
			t.Fatalf("Open with %v of a file whose page %d is garbage: no error", c, pgno)
		}
		if !errors.Is(err, sqlite.ErrCorrupt) {
			t.Errorf("Open with %v: want ErrCorrupt, got %v", c, err)
		}
		t.Logf("Open with %v: %q", c, err)
		for _, want := range []string{path, c.String(), fmt.Sprintf("age %d", pgno)} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Open with %v: error %q does not say %q", c, err, want)
			}
		}
	}
}

// With CheckNone, Open trusts the file; a call that meets the damaged page
// fails with ErrCorrupt, marked fatal.
func TestCorruptPageMetLaterIsFatal(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "durable.db")
	makeExecutions(t, path, 3000)
	corruptExecutionsPage(t, path)
	s := openAt(t, path, sqlite.Config{Check: sqlite.CheckNone})
	var err error
	for i := 0; i < 3000 && err == nil; i++ {
		_, err = s.Get(context.Background(), storage.GetParams{ID: fmt.Sprintf("x%05d", i)})
	}
	if !errors.Is(err, sqlite.ErrCorrupt) || !errors.Is(err, storage.ErrFatal) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Get of every row of a file with a damaged page: want an error wrapping ErrCorrupt and storage.ErrFatal, naming the file; got %v", err)
	}
	_, err = s.Claim(context.Background(), storage.ClaimParams{
		Now: now, ExecutorID: "ex", TaskIDs: []string{"task"}, Limit: 3000, Lease: time.Minute,
	})
	if !errors.Is(err, sqlite.ErrCorrupt) || !errors.Is(err, storage.ErrFatal) {
		t.Fatalf("Claim of every row: want ErrCorrupt and storage.ErrFatal, got %v", err)
	}
}

// An executor on a file with a damaged page stops with the error instead of
// retrying claims forever.
func TestExecutorStopsOnACorruptFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "durable.db")
	const n = 3000
	enqueue := func() {
		s := openAt(t, path, sqlite.Config{})
		ex, err := durable.New(s, durable.Config{})
		if err != nil {
			t.Fatal(err)
		}
		task := durable.Must(durable.NewTask(ex, "work", func(ctx context.Context, in string) (string, error) { return in, nil }))
		ins := make([]string, n)
		for i := range ins {
			ins[i] = strings.Repeat("i", 200)
		}
		if _, err := task.EnqueueMany(ctx, ins); err != nil {
			t.Fatal(err)
		}
		if err := ex.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	enqueue()
	corruptExecutionsPage(t, path)

	s := openAt(t, path, sqlite.Config{Check: sqlite.CheckNone})
	ex, err := durable.New(s, durable.Config{PollInterval: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var ran atomic.Int64
	task := durable.Must(durable.NewTask(ex, "work", func(ctx context.Context, in string) (string, error) {
		ran.Add(1)
		return in, nil
	}))
	if err := ex.Start(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ex.Done():
	case <-time.After(30 * time.Second):
		ex.Shutdown(ctx)
		t.Fatalf("the executor did not stop on a corrupt file (ran %d of %d)", ran.Load(), n)
	}
	err = ex.Err()
	if !errors.Is(err, sqlite.ErrCorrupt) || !errors.Is(err, durable.ErrStoreFailed) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Err: want ErrCorrupt and ErrStoreFailed naming the file, got %v", err)
	}
	if ran.Load() >= n {
		t.Errorf("every execution ran: the damaged page was never read")
	}
	if err := ex.Shutdown(ctx); !errors.Is(err, sqlite.ErrCorrupt) {
		t.Errorf("Shutdown after the stop: want the store error, got %v", err)
	}
	if _, err := task.Enqueue(ctx, "x"); !errors.Is(err, durable.ErrShutdown) || !errors.Is(err, sqlite.ErrCorrupt) {
		t.Errorf("Enqueue after the stop: want ErrShutdown wrapping ErrCorrupt, got %v", err)
	}
}

func TestNewFilesAreOwnerOnly(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t)
	insert(t, s, ready("a"))
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s: mode %v, want 0600", filepath.Base(name), m)
		}
	}
}

// readOnlyEnv names the case that TestOpenRefusesAReadOnlyFile runs in a
// child process without the capabilities that let root write anywhere.
const readOnlyEnv = "DURABLE_TEST_READONLY_CASE"

// readOnlyCases make a database that this process may not write: each
// returns the path to open.
var readOnlyCases = map[string]func(t *testing.T, dir string) string{
	"file 0444": func(t *testing.T, dir string) string {
		path := filepath.Join(dir, "durable.db")
		makeExecutions(t, path, 10)
		chmod(t, path, 0o444)
		return path
	},
	"directory 0555": func(t *testing.T, dir string) string {
		path := filepath.Join(dir, "durable.db")
		makeExecutions(t, path, 10)
		chmod(t, dir, 0o555)
		return path
	},
	"new file in directory 0555": func(t *testing.T, dir string) string {
		chmod(t, dir, 0o555)
		return filepath.Join(dir, "durable.db")
	},
}

func chmod(t *testing.T, path string, mode fs.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(path, 0o700) })
}

// The files are made here; Open runs where the file permissions apply: in
// this process when it is not root, otherwise in a copy of the test binary
// run by setpriv without any capability (root with no capability is held
// to the permission bits like any user).
func TestOpenRefusesAReadOnlyFile(t *testing.T) {
	if name := os.Getenv(readOnlyEnv); name != "" {
		openReadOnly(t, os.Getenv(readOnlyEnv+"_PATH"))
		return
	}
	t.Parallel()
	for name, make := range readOnlyCases {
		t.Run(name, func(t *testing.T) {
			path := make(t, t.TempDir())
			if os.Geteuid() != 0 {
				openReadOnly(t, path)
				return
			}
			setpriv, err := exec.LookPath("setpriv")
			if err != nil {
				t.Skip("running as root without setpriv: cannot make a file this process may not write")
			}
			noCaps := []string{"--bounding-set=-all", "--inh-caps=-all", "--ambient-caps=-all", "--"}
			if out, err := exec.Command(setpriv, append(noCaps, "true")...).CombinedOutput(); err != nil {
				t.Skipf("setpriv cannot drop this process's capabilities here: %v %s", err, out)
			}
			cmd := exec.Command(setpriv, append(noCaps, os.Args[0], "-test.run=^TestOpenRefusesAReadOnlyFile$", "-test.v")...)
			cmd.Env = append(os.Environ(), readOnlyEnv+"="+name, readOnlyEnv+"_PATH="+path)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("Open without capabilities: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "--- PASS: TestOpenRefusesAReadOnlyFile") {
				t.Fatalf("the child ran no test:\n%s", out)
			}
			t.Logf("%s", out)
		})
	}
}

func openReadOnly(t *testing.T, path string) {
	s, err := sqlite.Open(context.Background(), path, sqlite.Config{})
	if err == nil {
		s.Close()
		t.Fatalf("Open of %s, which this process may not write: no error", path)
	}
	if !errors.Is(err, sqlite.ErrReadOnly) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open: want ErrReadOnly naming %s, got %v", path, err)
	}
	t.Logf("Open: %v", err)
}
