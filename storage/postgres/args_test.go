package postgres

import (
	"context"
	"slices"
	"strings"
	"testing"
)

func TestNamedArgsRewrite(t *testing.T) {
	const sql = "SELECT @b::int, @a::text, '@not_an_arg', @b::int + 1 -- @neither\nFROM t WHERE x = @a"
	for range 2 { // the second call reads the cached rewrite
		out, args, err := namedArgs{"a": "x", "b": 7}.RewriteQuery(context.Background(), nil, sql, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := "SELECT $1::int, $2::text, '@not_an_arg', $1::int + 1 -- @neither\nFROM t WHERE x = $2"
		if out != want {
			t.Fatalf("rewritten to %q, want %q", out, want)
		}
		if !slices.Equal(args, []any{7, "x"}) {
			t.Fatalf("args %v, want [7 x]", args)
		}
	}
}

func TestNamedArgsStrict(t *testing.T) {
	const sql = "SELECT @a::int, @b::int"
	for _, tc := range []struct {
		name string
		args namedArgs
		want string
	}{
		{"missing", namedArgs{"a": 1}, "b"},
		{"extra", namedArgs{"a": 1, "b": 2, "c": 3}, "c"},
		{"other name", namedArgs{"a": 1, "c": 3}, "b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 { // uncached, then cached by an earlier call
				_, _, err := tc.args.RewriteQuery(context.Background(), nil, sql, nil)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want one naming %q", err, tc.want)
				}
				if _, _, err := (namedArgs{"a": 1, "b": 2}).RewriteQuery(context.Background(), nil, sql, nil); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
