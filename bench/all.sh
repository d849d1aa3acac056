#!/usr/bin/env bash
# bench/all.sh runs the four standard workloads on every store for durable,
# River and DBOS, three runs each, and prints one table (workload x store x
# engine, medians). Results are kept in bench/results-<date>.jsonl.
#
#   bash bench/all.sh            # needs PostgreSQL at $DURABLE_TEST_POSTGRES_URL
#                                # (default postgres://postgres@127.0.0.1:5432/test)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dsn="${DURABLE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
runs="${RUNS:-3}"
out="bench/results-$(date +%Y%m%d-%H%M%S).jsonl"
bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT

go build -o "$bin/durable" ./cmd/durable
(cd bench/peers && go build -o "$bin/peers" .)

for store in memory sqlite postgres; do
	echo "durable on $store..." >&2
	"$bin/durable" bench --store "$store" --dsn "$dsn" --runs "$runs" --json >>"$out"
done
for engine in river dbos; do
	for store in sqlite postgres; do
		echo "$engine on $store..." >&2
		dsnflag=()
		[ "$store" = postgres ] && dsnflag=(--dsn "$dsn")
		"$bin/peers" --engine "$engine" --store "$store" "${dsnflag[@]}" --runs "$runs" --json >>"$out"
	done
done
echo "results: $out" >&2
"$bin/durable" bench-table <"$out"
