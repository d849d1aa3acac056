package postgres

import (
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/durable-go/durable/storage"
)

// ErrSchemaVersion is wrapped by the error Open and New return when the
// database's schema is newer than this code knows, or when an applied
// migration differs from the one embedded in this code.
var ErrSchemaVersion = errors.New("schema version mismatch")

// PostgreSQL error codes the store branches on.
const (
	codeUniqueViolation      = "23505"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
)

// maxAttempts bounds the retries of a transaction aborted by a deadlock or
// a serialization failure.
const maxAttempts = 5

func retryDelay(attempt int) time.Duration {
	return time.Duration(attempt+1) * 5 * time.Millisecond
}

// retryable reports whether err proves that nothing was applied and the
// operation may simply run again: PostgreSQL aborted the transaction for a
// deadlock or serialization failure, or the request never reached it.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == codeDeadlockDetected || pgErr.Code == codeSerializationFailure
	}
	return pgconn.SafeToRetry(err)
}

// isUniqueViolation reports whether err is a unique constraint violation.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == codeUniqueViolation
}

// wrapErr wraps err for op, adding storage.ErrDuplicate to unique
// violations so callers can use errors.Is.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if isUniqueViolation(err) {
		var pgErr *pgconn.PgError
		errors.As(err, &pgErr)
		return fmt.Errorf("postgres: %s: %w: %s (%w)", op, storage.ErrDuplicate, pgErr.Detail, err)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}
