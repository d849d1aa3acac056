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
# short to overlap (a few seconds each at least: --n 60000). It compares
# each drain's rate over the span both were draining (from the timelines
# of durable bench --timeline): the faster drain ends first and the slower
# one then has the host to itself, so the rates of whole drains would
# understate a difference. A build without --timeline is compared by its
# whole drain. Prints one JSON line a round (the two rates, A's over B's,
# the overlap in seconds, and the ratio of the whole drains), then the
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
# run BUILD NAME FLAGS...: one drain, with its timeline when BUILD has --timeline.
run() {
	local timeline=
	if "$1" bench --help 2>&1 | grep -- --timeline >/dev/null; then timeline=--timeline; fi
	"$1" bench --workload throughput --json $timeline "${@:3}" >"$dir/$2.json"
}
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
ja = json.loads(open(d + "/a.json").readline())
jb = json.loads(open(d + "/b.json").readline())

def count_at(tl, t):
    # The tasks finished by time t, interpolated between samples.
    for (t0, c0), (t1, c1) in zip(tl, tl[1:]):
        if t0 <= t <= t1:
            return c0 + (c1 - c0) * (t - t0) / max(t1 - t0, 1)
    return tl[-1][1] if t > tl[-1][0] else tl[0][1]

out = {"round": r}
ta, tb = ja.get("drain_timeline"), jb.get("drain_timeline")
if ta and tb:
    # Each drain's rate over the span both were draining: the faster one
    # ends first, and the slower one then has the host to itself.
    lo, hi = max(ta[0][0], tb[0][0]), min(ta[-1][0], tb[-1][0])
    span = (hi - lo) / 1e6
    a = (count_at(ta, hi) - count_at(ta, lo)) / span
    b = (count_at(tb, hi) - count_at(tb, lo)) / span
    out.update(a=round(a), b=round(b), ratio=round(a / b, 4), overlap_s=round(span, 2),
               ratio_whole=round(ja["drain_rate"] / jb["drain_rate"], 4))
else:
    # A build older than --timeline: the whole drains' rates.
    a, b = ja["drain_rate"], jb["drain_rate"]
    out.update(a=round(a), b=round(b), ratio=round(a / b, 4), whole=True)
print(json.dumps(out))
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
