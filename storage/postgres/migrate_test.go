package postgres

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TestOpenRejectsBadConfig: a bad Config field fails Open before any
// connection, with an error naming the field and the bad value. It needs no
// server.
func TestOpenRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"Durable", "1abc", "a-b", "a b", `a"b`, "x;drop", strings.Repeat("a", 64)} {
		_, err := Open(t.Context(), "postgres://nobody@127.0.0.1:1/none", Config{Schema: name})
		if err == nil || !strings.Contains(err.Error(), "Config.Schema: invalid schema name") || !strings.Contains(err.Error(), strconv.Quote(name)) {
			t.Errorf("Open with schema %q: want an invalid Config.Schema error naming it, got %v", name, err)
		}
		// New checks the same Config (the pool is never used).
		if _, err := New(t.Context(), &pgxpool.Pool{}, Config{Schema: name}); err == nil || !strings.Contains(err.Error(), "Config.Schema") {
			t.Errorf("New with schema %q: want an invalid Config.Schema error, got %v", name, err)
		}
	}
	if _, err := New(t.Context(), nil, Config{}); err == nil {
		t.Error("New with a nil pool: want an error")
	}
	_, err := Open(t.Context(), "postgres://nobody@127.0.0.1:1/none", Config{Clock: Clock(7)})
	if err == nil || !strings.Contains(err.Error(), "Config.Clock") || !strings.Contains(err.Error(), "Clock(7)") {
		t.Errorf("Open with an unknown clock: want an error naming Config.Clock and Clock(7), got %v", err)
	}
	// The zero Config is valid and means the defaults.
	cfg := Config{}.withDefaults()
	if err := cfg.validate(); err != nil || cfg.Schema != DefaultSchema || cfg.Clock != ClockDatabase ||
		cfg.DisableNotifications || cfg.DisableMigrations || cfg.Logger == nil || cfg.pingEvery != defaultPingEvery {
		t.Errorf("Config{}.withDefaults() = %+v, validate: %v", cfg, err)
	}
}

// TestOpenRejectsSystemSchemas checks that Open and New refuse PostgreSQL's
// system schemas, before any connection, with an error naming the schema
// and why. It needs no server.
func TestOpenRejectsSystemSchemas(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"information_schema": "system schema",
		"pg_catalog":         "system schema",
		"pg_toast":           "system schema",
		"pg_temp_1":          `reserves the prefix "pg_"`,
		"pg_durable":         `reserves the prefix "pg_"`,
		"pg_":                `reserves the prefix "pg_"`,
	}
	for name, why := range cases {
		_, err := Open(t.Context(), "postgres://nobody@127.0.0.1:1/none", Config{Schema: name})
		if err == nil || !strings.Contains(err.Error(), "invalid schema name") ||
			!strings.Contains(err.Error(), `"`+name+`"`) || !strings.Contains(err.Error(), why) {
			t.Errorf("Open with schema %q: want an invalid schema name error naming it and saying %q, got %v", name, why, err)
		}
	}
	// Names that only look alike are the user's own.
	for _, name := range []string{"pgx", "pg", "my_pg_catalog", "information", "durable"} {
		if err := (Config{Schema: name}).withDefaults().validate(); err != nil {
			t.Errorf("schema %q: %v", name, err)
		}
	}
}

func TestSchemaNameEdges(t *testing.T) {
	t.Parallel()
	// The longest valid name works (its channel name is hashed).
	schema := "t_" + strings.Repeat("z", 61)
	testURL(t)
	t.Cleanup(func() { dropSchema(t, testURL(t), schema) })
	s := openOn(t, schema, Config{})
	if len(s.Channel()) > 63 {
		t.Fatalf("channel %q longer than 63 bytes", s.Channel())
	}
	if got := channelName("durable"); got != "durable_durable" {
		t.Fatalf("channelName(durable) = %q", got)
	}
}

func TestMigrateConcurrentOpens(t *testing.T) {
	t.Parallel()
	schema := testSchema(t)
	const n = 4
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			s, err := Open(t.Context(), testURL(t), Config{Schema: schema})
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
	}
	var count, maxVersion int
	pool := testPool(t)
	err := pool.QueryRow(t.Context(), "SELECT count(*), max(version) FROM "+
		pgx.Identifier{schema, "schema_version"}.Sanitize()).Scan(&count, &maxVersion)
	if err != nil {
		t.Fatal(err)
	}
	if count != len(embeddedMigrations) || maxVersion != SchemaVersion {
		t.Fatalf("schema_version: %d rows up to %d, want %d up to %d", count, maxVersion, len(embeddedMigrations), SchemaVersion)
	}
	// Opening again applies nothing and succeeds.
	openOn(t, schema, Config{})
}

func TestMigrateNewerSchema(t *testing.T) {
	t.Parallel()
	schema := testSchema(t)
	openOn(t, schema, Config{})
	pool := testPool(t)
	_, err := pool.Exec(t.Context(), "INSERT INTO "+pgx.Identifier{schema, "schema_version"}.Sanitize()+
		" (version, name, checksum) VALUES (999, '999_future', 'x')")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(t.Context(), testURL(t), Config{Schema: schema})
	if !errors.Is(err, ErrSchemaVersion) {
		t.Fatalf("Open on a newer schema: want ErrSchemaVersion, got %v", err)
	}
	for _, want := range []string{"999", strconv.Itoa(SchemaVersion), schema} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	t.Logf("newer schema error: %v", err)
}

func TestMigrateChecksumMismatch(t *testing.T) {
	t.Parallel()
	schema := testSchema(t)
	openOn(t, schema, Config{})
	pool := testPool(t)
	_, err := pool.Exec(t.Context(), "UPDATE "+pgx.Identifier{schema, "schema_version"}.Sanitize()+
		" SET checksum = 'edited' WHERE version = 1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(t.Context(), testURL(t), Config{Schema: schema})
	if !errors.Is(err, ErrSchemaVersion) || !strings.Contains(err.Error(), "001_init") {
		t.Fatalf("Open with an edited migration: want ErrSchemaVersion naming 001_init, got %v", err)
	}
}

func TestMigrationsOff(t *testing.T) {
	t.Parallel()
	schema := testSchema(t)
	if _, err := Open(t.Context(), testURL(t), Config{Schema: schema, DisableMigrations: true}); err == nil {
		t.Fatal("Open with migrations off on an empty schema: want an error")
	}
	openOn(t, schema, Config{})
	openOn(t, schema, Config{DisableMigrations: true}) // up to date: fine
}

func TestNewOnCallerPool(t *testing.T) {
	t.Parallel()
	schema := testSchema(t)
	pool := testPool(t)
	s, err := New(context.Background(), pool, Config{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The caller's pool stays open.
	if err := pool.Ping(t.Context()); err != nil {
		t.Fatalf("pool after Close: %v", err)
	}
}

func TestEmbeddedMigrations(t *testing.T) {
	t.Parallel()
	ms, err := loadMigrations(Migrations())
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].name != "001_init" {
		t.Fatalf("migrations: %+v", ms)
	}
}
