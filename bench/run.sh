#!/bin/sh
# make bench: runs the benchmarks and appends their output, with the machine, commit and
# commands, to docs/BENCHMARKS.md. Data sets from ../shared/data are used when present.
set -eu
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${RECD_SHARED_DATA:-$ROOT/../shared/data}
OUT=$ROOT/docs/BENCHMARKS.md
TMP=$(mktemp)

run() {
    echo "\$ $*" | sed "s|$ROOT/||g; s|$SHARED|../shared/data|g" >>"$TMP"
    "$@" 2>&1 | sed "s|$SHARED|../shared/data|g" | tee -a "$TMP"
}

{
    echo
    echo "## $(date -u +%Y-%m-%d) commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo
    echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
    echo
    echo '```'
} >"$TMP"

MODELS=pop,itemknn,bpr,ease,als,blend,served
TUNED=$(mktemp -d)
trap 'rm -f "$TMP"; rm -rf "$TUNED"' EXIT
if [ -d "$SHARED/ml-100k" ]; then
    # protocol P1 (issue #3): per-user random 75/25 split, seed 42, top-10 unseen items.
    # popularity without decay (--half-life 1e9): the stronger baseline on these static data sets
    run "$BUILD/recd" eval "$SHARED/ml-100k" --ratio 0.75 --seed 42 --k 5,10,20 --half-life 1e9 \
        --models $MODELS --log-level warn
    # tuned on a validation carve of the training part only, then evaluated on the test part
    run "$BUILD/recd" tune "$SHARED/ml-100k" --ratio 0.75 --seed 42 --k 10 --models als,ease,itemknn,bpr \
        --trials 27 --out "$TUNED/ml-100k.conf" --log-level warn
    run cat "$TUNED/ml-100k.conf"
    run "$BUILD/recd" eval "$SHARED/ml-100k" --config "$TUNED/ml-100k.conf" --ratio 0.75 --seed 42 --k 10 \
        --half-life 1e9 --models $MODELS --log-level warn
    run "$BUILD/bench/bench_coldstart" "$SHARED/ml-100k"
    # prequential replay (issue #4): temporal 80/20, every streamed event scored
    run "$BUILD/recd" eval "$SHARED/ml-100k" --protocol replay --k 10 --log-level warn
    run "$BUILD/bench/bench_als" "$SHARED/ml-100k" 64 15
    run "$BUILD/bench/bench_als" "$SHARED/ml-100k" 128 50
fi
if [ -d "$SHARED/ml-1m" ]; then
    run "$BUILD/recd" eval "$SHARED/ml-1m" --ratio 0.75 --seed 42 --k 10 --half-life 1e9 --models $MODELS --log-level warn
    run "$BUILD/recd" tune "$SHARED/ml-1m" --ratio 0.75 --seed 42 --k 10 --models als,ease,itemknn,bpr \
        --trials 27 --out "$TUNED/ml-1m.conf" --log-level warn
    run cat "$TUNED/ml-1m.conf"
    run "$BUILD/recd" eval "$SHARED/ml-1m" --config "$TUNED/ml-1m.conf" --ratio 0.75 --seed 42 --k 10 \
        --half-life 1e9 --models $MODELS --log-level warn
    run "$BUILD/recd" eval "$SHARED/ml-1m" --protocol replay --k 10 --log-level warn
    run "$BUILD/recd" eval "$SHARED/ml-1m" --protocol replay --models online --k 10 \
        --session-boost 2 --user-half-life 2160 --log-level warn
    run "$BUILD/bench/bench_als" "$SHARED/ml-1m" 64 15
    # best of 3: the machine may be shared
    for _ in 1 2 3; do run "$BUILD/bench/bench_als" "$SHARED/ml-1m" 128 50; done
    run "$BUILD/bench/bench_recommend" "$SHARED/ml-1m" 10 3
    # issue #7: the approximate iALS index against the exact scan (docs/PIPELINE.md)
    run "$BUILD/bench/bench_ann" "$SHARED/ml-1m" 2999 1,2,4,8,16,32,64
else
    echo "bench: $SHARED is missing; MovieLens benchmarks skipped" | tee -a "$TMP"
fi
if [ -d "$SHARED/ml-100k" ]; then
    # issue #5: the diversity/accuracy trade-off of the pipeline, and the ranker's features
    run "$BUILD/recd" eval "$SHARED/ml-100k" --models served,served@0.3,served@0.6,served@0.9 \
        --k 10 --seed 42 --log-level warn
    run "$BUILD/recd" eval "$SHARED/ml-100k" --protocol ranker --log-level warn
fi
run "$BUILD/recd" gen --users 2000 --items 500 --events 40000 --sessions 30000 --seed 42 --out "$TUNED/ctx.jsonl"
run "$BUILD/recd" eval "$TUNED/ctx.jsonl" --protocol ranker --log-level warn
run "$BUILD/bench/bench_exploration"
run "$BUILD/bench/bench_als" synthetic:50000:20000:2000000 64 10
run "$BUILD/bench/bench_recommend" synthetic:20000:10000:500000 10 2
# issue #7: a million-item catalog: the approximate index (a few minutes, 0.7 GiB), then whole
# requests with it, 2,000 users spread over the 200,000
run "$BUILD/bench/bench_ann" synthetic:200000:1000000:10000000 2000 8,16,32,64,128,256
run "$BUILD/bench/bench_recommend" synthetic:200000:1000000:10000000 10 1 2000
run python3 "$ROOT/bench/bench_http_ingest.py" "$BUILD/recd" 3
# issue #7: closed-loop HTTP serving on the MovieLens-1M part (wrk; skips without it or the data)
run python3 "$ROOT/bench/bench_http_serve.py" "$BUILD/recd" 5
run "$BUILD/bench/bench_kafka" 200000 1

echo '```' >>"$TMP"
cat "$TMP" >>"$OUT"
echo "bench: results appended to $OUT"
