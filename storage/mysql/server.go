package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
)

// serverInfo is what the store reads of the server at Open.
type serverInfo struct {
	version          string // VERSION()
	mariaDB          bool
	major, minor     int
	database         string
	charset          string // the database's default character set
	connCharset      string // the connection's
	maxPacket        int64
	flushLogAtCommit int
}

// isolationVar is the session variable of the isolation level: MariaDB
// 10.x knows only tx_isolation, MySQL 8.0 only transaction_isolation.
func (i serverInfo) isolationVar() string {
	if i.mariaDB && i.major < 11 {
		return "tx_isolation"
	}
	return "transaction_isolation"
}

// minPacket is the least max_allowed_packet the store accepts: a
// statement carrying one execution's payloads (an input, or an output
// and a run output, of up to 1 MiB each; bytes are escaped, which may
// double them) must fit, and the store splits its batches to stay under
// half of the server's limit.
const minPacket = 8 << 20

var versionPattern = regexp.MustCompile(`^(\d+)\.(\d+)`)

// checkServer connects through db and checks that the server can run the
// store: reachable, new enough (FOR UPDATE SKIP LOCKED: MySQL 8.0.1,
// MariaDB 10.6), a database selected, utf8mb4 for the database and the
// connection, and a max_allowed_packet of at least 8 MiB. Each failure
// says what to change. addr, when known, names the server in errors.
func checkServer(ctx context.Context, db *sql.DB, addr string) (serverInfo, error) {
	where := "the server"
	if addr != "" {
		where = addr
	}
	var i serverInfo
	var database sql.NullString
	err := db.QueryRowContext(ctx, `SELECT VERSION(), DATABASE(), @@character_set_database, @@character_set_connection,
    @@max_allowed_packet, @@innodb_flush_log_at_trx_commit`).
		Scan(&i.version, &database, &i.charset, &i.connCharset, &i.maxPacket, &i.flushLogAtCommit)
	if err != nil {
		return i, connectError(where, err)
	}
	i.database = database.String
	i.parseVersion()
	if !database.Valid {
		return i, errors.New("mysql: no database selected: name one in the DSN, as in user@tcp(127.0.0.1:3306)/dbname")
	}
	return i, i.check(where)
}

// check says what to change on a server the store cannot run on, nil if
// it can.
func (i serverInfo) check(where string) error {
	switch {
	case i.tooOld():
		return fmt.Errorf("mysql: server %s at %s is too old: durable needs MySQL 8.0.1 or later, or MariaDB 10.6 or later "+
			"(FOR UPDATE SKIP LOCKED)", i.version, where)
	case i.charset != "utf8mb4":
		return fmt.Errorf("mysql: database %s has the character set %s, durable needs utf8mb4: "+
			"ALTER DATABASE `%s` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin (or name another database in the DSN)",
			i.database, i.charset, i.database)
	case i.connCharset != "utf8mb4":
		return fmt.Errorf("mysql: the connection's character set is %s, durable needs utf8mb4: add charset=utf8mb4 to the DSN",
			i.connCharset)
	case i.maxPacket < minPacket:
		return fmt.Errorf("mysql: the server's max_allowed_packet is %d bytes, durable needs at least %d (8 MiB) to store "+
			"payloads of up to 1 MiB: SET GLOBAL max_allowed_packet = 67108864, and set max_allowed_packet in the server's configuration",
			i.maxPacket, minPacket)
	}
	return nil
}

// parseVersion sets the flavor and version numbers from i.version.
func (i *serverInfo) parseVersion() {
	i.mariaDB = strings.Contains(strings.ToLower(i.version), "mariadb")
	if m := versionPattern.FindStringSubmatch(i.version); m != nil {
		i.major, _ = strconv.Atoi(m[1])
		i.minor, _ = strconv.Atoi(m[2])
	}
}

func (i serverInfo) tooOld() bool {
	if i.mariaDB {
		return i.major < 10 || (i.major == 10 && i.minor < 6)
	}
	return i.major < 8
}

// connectError explains a failure to reach or use the server.
func connectError(where string, err error) error {
	var ne net.Error
	var oe *net.OpError
	switch {
	case errors.As(err, &oe), errors.As(err, &ne):
		return fmt.Errorf("mysql: cannot reach %s (is the server running, and the DSN's address right?): %w", where, err)
	case errNumber(err) == 1045:
		return fmt.Errorf("mysql: %s refused the DSN's user and password: %w", where, err)
	case errNumber(err) == 1049:
		return fmt.Errorf("mysql: the DSN's database does not exist on %s: create it (CREATE DATABASE name CHARACTER SET utf8mb4): %w", where, err)
	case errNumber(err) == errDBAccess:
		return fmt.Errorf("mysql: the DSN's user may not use its database on %s: GRANT the rights durable needs (see docs/mysql.md): %w", where, err)
	}
	return fmt.Errorf("mysql: check %s: %w", where, err)
}
