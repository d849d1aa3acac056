#!/usr/bin/env bash
# bench/all.sh runs the standard workloads on every store for durable,
# River and DBOS, three runs each, and prints one table (workload x store x
# engine, medians). Results are kept in bench/results-<date>.jsonl.
#
# The engines take turns: each round runs every workload once on each
# engine, one after the other, so that the host's speed, which drifts on a
# shared machine, weighs alike on the engines a ratio compares.
#
#   bash bench/all.sh            # needs PostgreSQL at $DURABLE_TEST_POSTGRES_URL
#                                # (default postgres://postgres@127.0.0.1:5432/test)
#   RUNS=5 bash bench/all.sh     # more rounds
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dsn="${DURABLE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
runs="${RUNS:-3}"
out="bench/results-$(date +%Y%m%d-%H%M%S).jsonl"
bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT

go build -o "$bin/durable" ./cmd/durable
(cd bench/peers && go build -o "$bin/peers" .)

durable() { # store workload
	"$bin/durable" bench --store "$1" --dsn "$dsn" --workload "$2" --json >>"$out"
}
peer() { # engine store workload
	local dsnflag=()
	[ "$2" = postgres ] && dsnflag=(--dsn "$dsn")
	"$bin/peers" --engine "$1" --store "$2" "${dsnflag[@]}" --workload "$3" --json >>"$out"
}

for round in $(seq "$runs"); do
	echo "round $round of $runs: durable on memory..." >&2
	for w in throughput latency fanout; do
		durable memory "$w"
	done
	for store in sqlite postgres; do
		for w in throughput latency fanout recovery; do
			echo "round $round of $runs: $w on $store (durable, river, dbos)..." >&2
			durable "$store" "$w"
			peer river "$store" "$w"
			peer dbos "$store" "$w"
		done
	done
	# Only durable runs a task in another process.
	for store in sqlite postgres; do
		durable "$store" latency-remote
	done
done
echo "results: $out" >&2
"$bin/durable" bench-table <"$out"
