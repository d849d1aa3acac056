package durable

import (
	"errors"
	"time"
)

// RetryAfter marks err so that, if the attempt is retried (err is
// retryable and the task's RetryPolicy has retries left), the retry waits
// at least d: the policy's delay, or d if longer. It is how a task passes
// on a server's Retry-After. d is capped at 48 hours; d <= 0 changes
// nothing. errors.Is/As still see err through it; it does not make a
// non-retryable error retryable.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryAfter{err: err, d: min(d, maxRetryAfter)}
}

const maxRetryAfter = 48 * time.Hour

type retryAfter struct {
	err error
	d   time.Duration
}

func (r *retryAfter) Error() string { return r.err.Error() }
func (r *retryAfter) Unwrap() error { return r.err }

// RetryAfter is the least delay before a retry that the error asks for.
func (r *retryAfter) RetryAfter() time.Duration { return r.d }

// retryAfterOf is the least delay before a retry that err asks for
// (RetryAfter), or 0.
func retryAfterOf(err error) time.Duration {
	var r interface{ RetryAfter() time.Duration }
	if errors.As(err, &r) {
		return max(r.RetryAfter(), 0)
	}
	return 0
}
