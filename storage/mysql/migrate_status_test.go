package mysql

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// TestMigrationStatus reads the migrations of tables that do not exist
// (every one pending, and nothing is created), of a store's (every one
// applied), and of tables a newer durable migrated.
func TestMigrationStatus(t *testing.T) {
	ctx := context.Background()
	dsn, prefix := testDSN(t), testPrefix(t)
	st, err := MigrationStatus(ctx, dsn, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != SchemaVersion {
		t.Fatalf("%d migrations, want %d", len(st), SchemaVersion)
	}
	for i, m := range st {
		if m.Version != i+1 || m.Applied || !m.Known || m.Modified || !strings.HasPrefix(m.Name, "00") {
			t.Errorf("no tables, migration %d: %+v, want known and pending", i+1, m)
		}
	}
	requireNoTables(t, prefix)

	s := openOn(t, prefix, Config{})
	st, err = MigrationStatus(ctx, dsn, prefix)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range st {
		if !m.Applied || m.AppliedAt.IsZero() || !m.Known || m.Modified {
			t.Errorf("store's tables: %+v, want applied", m)
		}
	}
	table := s.q.data.Versions
	if _, err := s.db.Exec("INSERT INTO "+table+" (version, name, checksum, applied_at) VALUES (?, 'from_the_future', 'x', 0)", SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec("UPDATE " + table + " SET checksum = 'other' WHERE version = 1"); err != nil {
		t.Fatal(err)
	}
	st, err = MigrationStatus(ctx, dsn, prefix)
	if err != nil {
		t.Fatal(err)
	}
	n := SchemaVersion
	if len(st) != n+1 || st[n].Known || !st[n].Applied || st[n].Name != "from_the_future" || !st[0].Modified {
		t.Fatalf("newer tables: %+v", st)
	}
	if _, err := Open(ctx, dsn, Config{TablePrefix: prefix}); !errors.Is(err, ErrSchemaVersion) {
		t.Fatalf("Open of tables a newer durable migrated: %v, want ErrSchemaVersion", err)
	}
}

// TestMigrationSQL applies the script with the mysql client, as a DBA
// would, and a store opened with migrations off then finds its tables up to
// date; the script run again changes nothing.
func TestMigrationSQL(t *testing.T) {
	client, err := exec.LookPath("mysql")
	if err != nil {
		t.Skip("no mysql client on PATH")
	}
	cfg, err := mysql.ParseDSN(testDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	prefix := testPrefix(t)
	script, err := MigrationSQL(prefix, 0)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(cfg.Addr, ":")
	args := []string{"--host=" + host, "--user=" + cfg.User, cfg.DBName}
	if port != "" {
		args = append(args, "--port="+port)
	}
	if cfg.Passwd != "" {
		args = append(args, "--password="+cfg.Passwd)
	}
	for range 2 {
		cmd := exec.Command(client, args...)
		cmd.Stdin = strings.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mysql < script: %v\n%s", err, out)
		}
	}
	s := openOn(t, prefix, Config{DisableMigrations: true})
	if st, err := MigrationStatus(t.Context(), testDSN(t), prefix); err != nil || !st[len(st)-1].Applied || st[0].Modified {
		t.Fatalf("after the script: %+v, %v", st, err)
	}
	_ = s
}
