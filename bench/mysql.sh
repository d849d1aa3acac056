#!/usr/bin/env bash
# bench/mysql.sh runs the standard workloads on durable's MySQL store,
# durable's PostgreSQL store and go-workflows' MySQL backend (bench/peers),
# RUNS rounds, and prints the MySQL table of `durable bench-table` (medians,
# MySQL over PostgreSQL, durable against go-workflows). Results are kept in
# bench/results-<date>-mysql-peer.jsonl (or $OUT).
#
# The engines take turns: each round runs every workload once on each of the
# three, one after the other, so that the host's speed, which drifts on a
# shared machine, weighs alike on the figures a ratio compares.
#
#   bash bench/mysql.sh          # needs MariaDB/MySQL at $DURABLE_TEST_MYSQL_DSN
#                                # (default root@tcp(127.0.0.1:3306)/test) and
#                                # PostgreSQL at $DURABLE_TEST_POSTGRES_URL
#   RUNS=2 bash bench/mysql.sh   # fewer rounds
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
pg="${DURABLE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
my="${DURABLE_TEST_MYSQL_DSN:-root@tcp(127.0.0.1:3306)/test}"
runs="${RUNS:-3}"
out="${OUT:-bench/results-$(date +%Y%m%d-%H%M%S)-mysql-peer.jsonl}"
bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT

go build -o "$bin/durable" ./cmd/durable
(cd bench/peers && go build -o "$bin/peers" .)

durable() { # store workload
	"$bin/durable" bench --store "$1" --dsn "$pg" --mysql-dsn "$my" --workload "$2" --json >>"$out"
}
gowf() { # workload
	"$bin/peers" --engine goworkflows --store mysql --dsn "$my" --workload "$1" --json >>"$out"
}

for round in $(seq "$runs"); do
	for w in throughput latency fanout recovery; do
		echo "round $round of $runs: $w (durable mysql, durable postgres, go-workflows mysql)..." >&2
		durable mysql "$w"
		durable postgres "$w"
		gowf "$w"
	done
	# Only durable runs a task in another process.
	for store in mysql postgres; do
		durable "$store" latency-remote
	done
done
echo "results: $out" >&2
"$bin/durable" bench-table <"$out"
