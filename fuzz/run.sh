#!/bin/sh
# Runs libFuzzer targets built by `make fuzz` (see README.md).
#   fuzz/run.sh BUILD_DIR SECONDS TARGET...
# Each target runs for SECONDS with two corpus directories: BUILD_DIR/fuzz-out/TARGET first, where
# libFuzzer writes the new inputs it finds, and the seed corpus fuzz/corpus/TARGET, only read.
# Crashes, leaks and timeouts are written to BUILD_DIR/fuzz-artifacts/TARGET/ and the run goes on
# with the next target; the exit status is 1 when any target found something. FUZZ_FLAGS adds
# libFuzzer flags (e.g. FUZZ_FLAGS=-max_len=65536, or "-fork=1 -ignore_crashes=1" to go on past
# a known crash). The log of each run is BUILD_DIR/fuzz-logs/TARGET.log; a summary line per
# target goes to stdout.
set -u
build=$1
seconds=$2
shift 2
src=$(cd "$(dirname "$0")" && pwd)
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
failed=""
for t in "$@"; do
    bin="$build/fuzz/fuzz_$t"
    if [ ! -x "$bin" ]; then
        echo "fuzz: no $bin (configure with -DRECD_FUZZ=ON)" >&2
        exit 2
    fi
    out="$build/fuzz-out/$t"
    art="$build/fuzz-artifacts/$t"
    log="$build/fuzz-logs/$t.log"
    mkdir -p "$out" "$art" "$(dirname "$log")"
    # shellcheck disable=SC2086
    "$bin" -max_total_time="$seconds" -timeout=25 -print_final_stats=1 \
        -artifact_prefix="$art/" ${FUZZ_FLAGS:-} "$out" "$src/corpus/$t" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    [ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9]*\): cov.*/\1/p' "$log" | tail -n 1) # -fork
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
    if [ "$rc" -eq 0 ]; then
        echo "fuzz/$t: ${seconds}s, ${execs:-?} runs, $cov, nothing found"
    else
        echo "fuzz/$t: FOUND SOMETHING (exit $rc), ${execs:-?} runs; see $log and $art/"
        failed="$failed $t"
    fi
done
if [ -n "$failed" ]; then
    echo "fuzz: findings in:$failed" >&2
    exit 1
fi
