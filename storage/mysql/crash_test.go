package mysql

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/storagetest"
)

// server is a MariaDB server of the test's own, in a temporary data
// directory, on a free port.
type server struct {
	dir, port string
	cmd       *exec.Cmd
}

// newServer installs and starts a private MariaDB server (mariadb-install-db
// and mariadbd), stopped when the test ends. It skips, saying so, where
// the binaries are missing, and fails under CI.
func newServer(t *testing.T) *server {
	t.Helper()
	install, err1 := exec.LookPath("mariadb-install-db")
	_, err2 := os.Stat("/usr/sbin/mariadbd")
	if err1 != nil || err2 != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI needs mariadb-install-db and /usr/sbin/mariadbd for the server crash test")
		}
		t.Skip("no mariadb-install-db or /usr/sbin/mariadbd: cannot run a private server to crash")
	}
	s := &server{dir: t.TempDir(), port: freePort(t)}
	out, err := exec.Command(install, "--no-defaults", "--datadir="+filepath.Join(s.dir, "data"), "--user=root",
		"--auth-root-authentication-method=normal", "--skip-test-db").CombinedOutput()
	if err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	s.start(t)
	t.Cleanup(func() { s.kill() })
	db := testDB(t, s.dsn(""))
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE crash CHARACTER SET utf8mb4"); err != nil {
		t.Fatal(err)
	}
	return s
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

func (s *server) dsn(db string) string { return "root@tcp(127.0.0.1:" + s.port + ")/" + db }

// start runs mariadbd (innodb_flush_log_at_trx_commit at its default, 1)
// and waits until it accepts connections; InnoDB recovers a crashed data
// directory first.
func (s *server) start(t *testing.T) {
	t.Helper()
	s.cmd = exec.Command("/usr/sbin/mariadbd", "--no-defaults", "--datadir="+filepath.Join(s.dir, "data"), "--user=root",
		"--port="+s.port, "--bind-address=127.0.0.1", "--socket="+filepath.Join(s.dir, "sock"),
		"--innodb-buffer-pool-size=32M", "--innodb-log-file-size=16M", "--skip-name-resolve")
	log, err := os.OpenFile(filepath.Join(s.dir, "server.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	s.cmd.Stdout, s.cmd.Stderr = log, log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		db := testDB(t, s.dsn(""))
		err := db.Ping()
		db.Close()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
			t.Fatalf("mariadbd did not accept connections within 60 s: %v\n%s", err, lastLines(string(b), 20))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill SIGKILLs the server: what it had not written to the operating
// system is lost, as in a crash of the process.
func (s *server) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	_ = s.cmd.Wait()
	s.cmd = nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestConformanceCrash runs the crash checks of the conformance suite on a
// MariaDB server of the test's own, which it SIGKILLs right after a claim
// and starts again (InnoDB recovers from its redo log): no fencing token
// is handed out twice, and acknowledged writes are there.
func TestConformanceCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("runs its own MariaDB server")
	}
	srv := newServer(t)
	storagetest.RunCrash(t, storagetest.CrashHarness{
		Open: func(t *testing.T) storage.Store {
			s, err := Open(context.Background(), srv.dsn("crash"), Config{TablePrefix: "crash_"})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			t.Cleanup(func() { _ = s.Close() })
			return s
		},
		Crash: func(t *testing.T) {
			srv.kill()
			srv.start(t)
		},
	})
}
