package postgres

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
)

// namedArgs are a statement's arguments by name, with the checks of
// pgx.StrictNamedArgs: every @name the statement uses must be given, and
// nothing else. pgx rewrites a statement with named arguments into one with
// positional ones by lexing its text at every call, which cost a limited
// queue's drain about a tenth of the executor's CPU (its claim is about
// 4 KB of text, sent with each batch of a few dozen rows). The store's
// statements are few, so namedArgs has each lexed once (by pgx's own
// rewrite) and keeps the result, for up to maxRewrites texts.
type namedArgs map[string]any

// positional is a statement rewritten for positional arguments, and the
// names of its arguments in their order.
type positional struct {
	sql   string
	names []string
}

// maxRewrites bounds how many statement texts rewrites keeps: List's
// shapes are many, the other statements a few dozen.
const maxRewrites = 1024

// rewrites holds the positional form of each statement text seen, up to
// maxRewrites of them; kept counts them.
var (
	rewrites sync.Map // string -> positional
	kept     atomic.Int32
)

// RewriteQuery implements pgx.QueryRewriter.
func (a namedArgs) RewriteQuery(ctx context.Context, conn *pgx.Conn, sql string, _ []any) (string, []any, error) {
	var p positional
	if v, ok := rewrites.Load(sql); ok {
		p = v.(positional)
	} else {
		var err error
		if p, err = rewrite(ctx, conn, sql, a); err != nil {
			return "", nil, err
		}
		if kept.Load() < maxRewrites {
			if _, loaded := rewrites.LoadOrStore(sql, p); !loaded {
				kept.Add(1)
			}
		}
	}
	args := make([]any, len(p.names))
	for i, name := range p.names {
		v, ok := a[name]
		if !ok {
			return "", nil, fmt.Errorf("postgres: argument %s found in the statement but not given", name)
		}
		args[i] = v
	}
	if len(a) != len(p.names) {
		for name := range a {
			if !slices.Contains(p.names, name) {
				return "", nil, fmt.Errorf("postgres: argument %s given but not found in the statement", name)
			}
		}
	}
	return p.sql, args, nil
}

// rewrite has pgx rewrite sql with a's names as the arguments' values, which
// come back in positional order.
func rewrite(ctx context.Context, conn *pgx.Conn, sql string, a namedArgs) (positional, error) {
	names := make(pgx.StrictNamedArgs, len(a))
	for name := range a {
		names[name] = name
	}
	out, args, err := names.RewriteQuery(ctx, conn, sql, nil)
	if err != nil {
		return positional{}, err
	}
	p := positional{sql: out, names: make([]string, len(args))}
	for i, v := range args {
		p.names[i] = v.(string)
	}
	return p, nil
}
