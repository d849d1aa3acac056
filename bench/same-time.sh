#!/usr/bin/env bash
# same-time.sh ROUNDS A B [durable bench flags...]
#
# Compares two builds of durable by draining with both at the same time,
# each on its own fresh store, ROUNDS times (the build started first
# alternates). On a shared host whose speed moves from one run to the next,
# two runs side by side share whatever it gives, so their ratio varies far
# less than that of runs in turn. It measures the CPU each build needs per
# task, which is what bounds an unlimited drain; a drain bound by latency
# (a queue limit) must be compared in turn instead, and so must drains too
# short to overlap (a few seconds each at least: --n 60000). Prints one
# JSON line a round (the two drain rates and A's over B's), then the
# median ratio, its range, and a 95 % bootstrap interval of the median.
#
#   bash bench/same-time.sh 8 ./durable-new ./durable-old --store postgres --n 60000
set -euo pipefail
if [ $# -lt 3 ]; then
	echo "usage: $0 ROUNDS A B [durable bench flags...]" >&2
	exit 2
fi
rounds=$1 a=$2 b=$3
shift 3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
run() { "$1" bench --workload throughput --json "${@:3}" >"$dir/$2.json"; }
for r in $(seq 1 "$rounds"); do
	if [ $((r % 2)) -eq 1 ]; then
		run "$a" a "$@" & pa=$!
		run "$b" b "$@" & pb=$!
	else
		run "$b" b "$@" & pb=$!
		run "$a" a "$@" & pa=$!
	fi
	wait "$pa" "$pb"
	python3 - "$dir" "$r" <<'PY'
import json, sys
d, r = sys.argv[1], int(sys.argv[2])
a = json.loads(open(d + "/a.json").readline())["drain_rate"]
b = json.loads(open(d + "/b.json").readline())["drain_rate"]
print(json.dumps({"round": r, "a": round(a), "b": round(b), "ratio": round(a / b, 4)}))
PY
done | tee "$dir/rounds.jsonl"
python3 - "$dir/rounds.jsonl" <<'PY'
import json, random, statistics, sys
rs = sorted(json.loads(l)["ratio"] for l in open(sys.argv[1]))
# A 95 % bootstrap interval of the median: how far another set of as
# many rounds could move it.
rng = random.Random(1)
meds = sorted(statistics.median(rng.choices(rs, k=len(rs))) for _ in range(5000))
print(f"A/B median {statistics.median(rs):.3f} over {len(rs)} rounds, range {rs[0]:.3f}-{rs[-1]:.3f},"
      f" 95 % interval of the median {meds[124]:.3f}-{meds[-125]:.3f}")
PY
