// Package pgcluster runs a PostgreSQL cluster of a test's own: made with
// initdb in a temporary directory, on a free port, so that the test can
// crash the server (pg_ctl stop -m immediate) without disturbing anything
// else. Tests use it to check what survives a server crash.
package pgcluster

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Cluster is a running PostgreSQL cluster of the test's own.
type Cluster struct {
	bin, dir, port string
	// asPostgres runs the server's commands as the postgres user: initdb
	// refuses to run as root.
	asPostgres bool
}

// pgBinDir finds the directory of initdb and pg_ctl: $DURABLE_PG_BIN, then
// the newest /usr/lib/postgresql/*/bin (Debian's layout), then $PATH.
func pgBinDir() (string, error) {
	if dir := os.Getenv("DURABLE_PG_BIN"); dir != "" {
		return dir, nil
	}
	if dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin"); len(dirs) > 0 {
		return dirs[len(dirs)-1], nil
	}
	p, err := exec.LookPath("initdb")
	if err != nil {
		return "", fmt.Errorf("no initdb in /usr/lib/postgresql/*/bin or $PATH (set DURABLE_PG_BIN)")
	}
	return filepath.Dir(p), nil
}

// New makes and starts a cluster, with the given postgresql.conf lines
// added, or skips the test when the machine cannot run one (when $CI is set
// it fails instead: CI installs PostgreSQL, so the test must run there).
// The cluster is stopped and removed when the test ends.
func New(t testing.TB, settings ...string) *Cluster {
	t.Helper()
	unavailable := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if os.Getenv("CI") != "" {
			t.Fatalf("cannot run a private PostgreSQL cluster: %s", msg)
		}
		t.Skipf("cannot run a private PostgreSQL cluster (%s); install PostgreSQL's server binaries to run this test", msg)
	}
	bin, err := pgBinDir()
	if err != nil {
		unavailable("%v", err)
	}
	c := &Cluster{bin: bin, asPostgres: os.Geteuid() == 0}
	dir, err := os.MkdirTemp("", "durable-pgcluster-")
	if err != nil {
		t.Fatal(err)
	}
	c.dir = dir
	t.Cleanup(func() { os.RemoveAll(dir) })
	if c.asPostgres {
		u, err := user.Lookup("postgres")
		if err != nil {
			unavailable("running as root and there is no postgres user to run initdb as")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	c.port = freePort(t)
	if out, err := c.command("initdb", "-D", c.data(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		unavailable("initdb: %v: %s", err, out)
	}
	conf := append([]string{
		"port = " + c.port,
		"listen_addresses = '127.0.0.1'",
		"unix_socket_directories = '" + c.dir + "'",
		"fsync = on",
		"max_connections = 100",
	}, settings...)
	if err := os.WriteFile(filepath.Join(c.data(), "postgresql.auto.conf"), []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c.asPostgres {
		if out, err := exec.Command("chown", "postgres:", filepath.Join(c.data(), "postgresql.auto.conf")).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v: %s", err, out)
		}
	}
	c.Start(t)
	t.Cleanup(func() { _ = c.command("pg_ctl", "-D", c.data(), "stop", "-m", "immediate").Run() })
	return c
}

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

// DSN is the cluster's connection string.
func (c *Cluster) DSN() string {
	return "postgres://postgres@127.0.0.1:" + c.port + "/postgres?sslmode=disable"
}

func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	path := filepath.Join(c.bin, name)
	if c.asPostgres {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

// Start starts the server (again, after Crash) and waits until it accepts
// connections.
func (c *Cluster) Start(t testing.TB) {
	t.Helper()
	cmd := c.command("pg_ctl", "-D", c.data(), "-l", filepath.Join(c.dir, "server.log"), "-w", "-t", "60", "start")
	if out, err := cmd.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
		t.Fatalf("pg_ctl start: %v: %s\n%s", err, out, log)
	}
}

// Crash stops the server as a power cut or an OOM kill of the postmaster
// would: every process ends at once, and what the WAL buffers held is lost.
func (c *Cluster) Crash(t testing.TB) {
	t.Helper()
	if out, err := c.command("pg_ctl", "-D", c.data(), "-w", "stop", "-m", "immediate").CombinedOutput(); err != nil {
		t.Fatalf("pg_ctl stop -m immediate: %v: %s", err, out)
	}
}

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}
