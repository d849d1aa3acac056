package mysql

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/durable-go/durable/storage"
)

// ErrSchemaVersion is wrapped by the error Open and New return when the
// database's tables are newer than this code knows, or when an applied
// migration differs from the one embedded in this code.
var ErrSchemaVersion = errors.New("schema version mismatch")

// MySQL error numbers the store branches on.
const (
	errDupEntry        = 1062
	errLockWaitTimeout = 1205
	errLockDeadlock    = 1213
	errPacketTooLarge  = 1153
	errTableAccess     = 1142 // a command denied on a table (CREATE, INSERT, ...)
	errDBAccess        = 1044 // access denied to the database
)

// maxAttempts bounds the runs of a transaction rolled back by a deadlock or
// a lock wait timeout.
const maxAttempts = 8

// retryDelay is the pause before the next run: 2, 4, 8, ... ms, at most
// 100 ms.
func retryDelay(attempt int) time.Duration {
	return min(time.Duration(2<<attempt)*time.Millisecond, 100*time.Millisecond)
}

// errNumber is the MySQL error number of err, 0 when it has none.
func errNumber(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

// RetryStats counts the transactions InnoDB rolled back and the store ran
// again.
type RetryStats struct {
	// Deadlocks counts rollbacks for a deadlock (error 1213).
	Deadlocks int64
	// LockWaitTimeouts counts statements that waited longer than
	// innodb_lock_wait_timeout for a row lock (error 1205).
	LockWaitTimeouts int64
}

type retryCounters struct {
	deadlocks, lockWaits atomic.Int64
}

// count reports whether err is worth running the operation again for
// (InnoDB rolled back a deadlock, or a lock wait timed out: nothing of
// the transaction was applied), and counts it.
func (c *retryCounters) count(err error) bool {
	switch errNumber(err) {
	case errLockDeadlock:
		c.deadlocks.Add(1)
		return true
	case errLockWaitTimeout:
		c.lockWaits.Add(1)
		return true
	}
	return false
}

// Retries returns how many times the store's operations were rolled back
// by InnoDB and run again since Open.
func (s *Store) Retries() RetryStats {
	return RetryStats{Deadlocks: s.retries.deadlocks.Load(), LockWaitTimeouts: s.retries.lockWaits.Load()}
}

// isDuplicate reports whether err is a duplicate key error.
func isDuplicate(err error) bool { return errNumber(err) == errDupEntry }

// wrapErr wraps err for op: storage.ErrDuplicate is added to duplicate
// keys so callers can use errors.Is, and a packet over max_allowed_packet
// says what to change.
func (s *Store) wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	switch {
	case isDuplicate(err):
		return fmt.Errorf("mysql: %s: %w (%w)", op, storage.ErrDuplicate, err)
	case errNumber(err) == errPacketTooLarge || errors.Is(err, mysql.ErrPktTooLarge):
		return fmt.Errorf("mysql: %s: a statement is larger than the server's max_allowed_packet (%d bytes): "+
			"raise it (SET GLOBAL max_allowed_packet = 67108864, and max_allowed_packet in the server's configuration): %w",
			op, s.server.maxPacket, err)
	}
	return fmt.Errorf("mysql: %s: %w", op, err)
}
