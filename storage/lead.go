package storage

import (
	"context"
	"time"
)

// LeadParams takes, extends or gives up a named lease.
type LeadParams struct {
	Now time.Time
	// Name names the lease ("retention", say); Owner the executor that
	// asks for it.
	Name, Owner string
	// TTL is how long the lease holds from now, when taken or extended.
	// Zero or less gives it up, if Owner holds it.
	TTL time.Duration
}

// Leader elects one holder of a named lease among all processes sharing
// a store, for the work that must run in one executor at a time (the
// retention cleaner). Store includes it.
type Leader interface {
	// Lead gives the lease p.Name to p.Owner until now + p.TTL when it
	// is free, lapsed, or already p.Owner's, and reports whether p.Owner
	// holds it after the call. With p.TTL <= 0 it frees the lease if
	// p.Owner holds it, and reports false.
	Lead(ctx context.Context, p LeadParams) (bool, error)
}
