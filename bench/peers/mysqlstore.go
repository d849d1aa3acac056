package main

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"strconv"

	gomysql "github.com/go-sql-driver/mysql"
)

// mysqlTarget is what a MySQL DSN names: the server and the user. Its
// database is only where the benchmark connects to create a run's own.
type mysqlTarget struct {
	host     string
	port     int
	user     string
	password string
	database string
}

func (t mysqlTarget) addr() string { return net.JoinHostPort(t.host, strconv.Itoa(t.port)) }

// parseMySQLDSN parses a go-sql-driver/mysql DSN over TCP (go-workflows'
// backend connects to a host and port).
func parseMySQLDSN(dsn string) (mysqlTarget, error) {
	const want = "want user[:password]@tcp(host:port)/dbname"
	cfg, err := gomysql.ParseDSN(dsn)
	if err != nil {
		return mysqlTarget{}, fmt.Errorf("--dsn: %v (%s)", err, want)
	}
	if cfg.Net != "tcp" {
		return mysqlTarget{}, fmt.Errorf("--dsn: network %q: %s", cfg.Net, want)
	}
	host, portText, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return mysqlTarget{}, fmt.Errorf("--dsn: address %q: %v (%s)", cfg.Addr, err, want)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return mysqlTarget{}, fmt.Errorf("--dsn: port %q is not a number (%s)", portText, want)
	}
	if cfg.DBName == "" {
		return mysqlTarget{}, fmt.Errorf("--dsn: no database (%s)", want)
	}
	return mysqlTarget{host: host, port: port, user: cfg.User, password: cfg.Passwd, database: cfg.DBName}, nil
}

// openMySQL opens a connection to this run's MySQL database and checks that
// the server answers.
func (s *runStore) openMySQL(ctx context.Context) (*sql.DB, error) {
	return openMySQLDatabase(ctx, s.dsn, s.schema)
}

// openMySQLDatabase connects to database (the DSN's own when empty) on the
// server named by dsn.
func openMySQLDatabase(ctx context.Context, dsn, database string) (*sql.DB, error) {
	cfg, err := gomysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("--dsn: %w", err)
	}
	if database != "" {
		cfg.DBName = database
	}
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return nil, fmt.Errorf("open MySQL %s/%s: %w", cfg.Addr, cfg.DBName, err)
	}
	db.SetMaxOpenConns(2)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("connect to MySQL %s/%s (is the server running, and the DSN right?): %w", cfg.Addr, cfg.DBName, err)
	}
	return db, nil
}

// createMySQLDatabase creates this run's MySQL database.
func (s *runStore) createMySQLDatabase(ctx context.Context) error {
	return s.mysqlAdmin(ctx, "CREATE DATABASE `"+s.schema+"` CHARACTER SET utf8mb4")
}

// dropMySQLDatabase drops this run's MySQL database if it exists.
func (s *runStore) dropMySQLDatabase(ctx context.Context) error {
	return s.mysqlAdmin(ctx, "DROP DATABASE IF EXISTS `"+s.schema+"`")
}

// mysqlAdmin runs one statement on the DSN's own database.
func (s *runStore) mysqlAdmin(ctx context.Context, stmt string) error {
	db, err := openMySQLDatabase(ctx, s.dsn, "")
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("%s: %w", stmt, err)
	}
	return nil
}
