#!/usr/bin/env python3
"""bench_http_serve: closed-loop HTTP load on GET /v1/recommend against a real `recd serve`
(127.0.0.1, a free port, a temporary data directory) loaded with the MovieLens-1M part and its
trained model, driven by bench/http_load (built next to recd, in build/bench) or by wrk (Debian's
package) with bench/wrk_recommend.lua.

  bench_http_serve.py RECD_BIN [seconds-per-case] [synthetic:USERS:ITEMS:EVENTS]

With the third argument the server is loaded with `recd gen`'s catalog of that size instead
(users u0..u(USERS-1); 200000:1000000:10000000 is issue #7's million-item case: about 2 GB of
JSON lines in the temporary directory and several minutes of import and training).

Every request asks for a user drawn at random from the 2,999 users with ratings, so no two
consecutive requests are for the same user (recd has no response cache anyway). Each case
prints requests/s, p50/p99/p99.9 latency (in microseconds, from the request written to the
response read), the server's CPU in cores and the load generator's CPU per request. The
generator runs on the same 2 cores as the server: what it uses is not available to recd, as the
issue's "load generator included" asks.

RECD_LOAD=wrk drives the load with wrk instead of http_load. Both are closed loops over keep-alive
connections with the same choice of users and the same summary line. Their CPU per request
was alike in stop 18's runs (docs/BENCHMARKS.md), but their p99 was not on the million-item
catalog: compare both before reading much into a tail.
Skips (exit 0, with a message) when the generator or the data set is missing.

RECD_SERVE_ARGS="--threads 2 ..." adds options to `recd serve` (the default is its defaults).

RECD_BENCH_DATA=DIR keeps the loaded data directory in DIR instead of a temporary one; when DIR
already holds a store that `recd train` finished on, generation, import and training are
skipped, so a rerun on the million-item catalog costs only the server's start."""
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
os.environ["RECD_BIN"] = os.path.abspath(sys.argv[1])
from harness import SHARED, Server  # noqa: E402

SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
LUA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wrk_recommend.lua")
CASES = tuple(tuple(int(x) for x in c.split("x")) for c in os.environ.get("RECD_WRK_CASES", "1x8,2x32,2x128").split(","))  # (wrk threads, connections)
HTTP_LOAD = os.path.join(os.path.dirname(os.environ["RECD_BIN"]), "bench", "http_load")
USE_WRK = os.environ.get("RECD_LOAD", "http_load") == "wrk"


def server_cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def load(port, threads, conns, seconds):
    """One closed-loop run: wrk's summary fields, and "gen_cpu", the generator's CPU seconds.
    http_load is one thread: it ignores threads."""
    if USE_WRK:
        cmd = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%gs" % seconds, "-s", LUA,
               "http://127.0.0.1:%d" % port]
    else:
        cmd = [HTTP_LOAD, str(port), str(conns), str(max(1, round(seconds)))]
    c0 = children_cpu()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    m = re.search(r"^WRK (.*)$", out.stdout, re.M)
    if not m:
        raise RuntimeError("%s printed no summary:\n%s%s" % (cmd[0], out.stdout, out.stderr))
    r = {k: float(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
    r["gen_cpu"] = children_cpu() - c0
    return r


def wait_for_index(s, name):
    """Waits until the loaded model answers and, on a catalog that large, its approximate index
    is built (the debug output names the search), so the cases measure the served state."""
    t0 = time.time()
    while time.time() - t0 < 1800:
        status, body = s.get("/v1/recommend/u0?n=10&debug=1")
        search = body.get("debug", {}).get("als_search") if status == 200 else None
        if search == "ann":
            print("http serve: %s: model and index ready %.0f s after start" % (name, time.time() - t0))
            return
        time.sleep(1)
    raise RuntimeError("the approximate index was not used within 30 minutes")


def main():
    synthetic = sys.argv[3] if len(sys.argv) > 3 else None
    data_set, name = os.path.join(SHARED, "ml-1m"), "ml-1m"
    if USE_WRK and not shutil.which("wrk"):
        print("bench_http_serve: skipped: wrk is not installed (Debian package wrk)")
        return
    if not USE_WRK and not os.access(HTTP_LOAD, os.X_OK):
        print("bench_http_serve: skipped: %s is not built" % HTTP_LOAD)
        return
    if not synthetic and not os.path.isdir(data_set):
        print("bench_http_serve: skipped: %s is missing" % data_set)
        return
    kept = os.environ.get("RECD_BENCH_DATA")
    data = kept or tempfile.mkdtemp(prefix="recd-bench-serve-")
    ready = os.path.join(data, "bench-trained")
    reuse = bool(kept) and os.path.exists(ready)
    recd = os.environ["RECD_BIN"]
    try:
        if synthetic:
            _, users, _, _ = synthetic.split(":")
            name = synthetic
            os.environ.update(RECD_USERS=users, RECD_USER_FIRST="0", RECD_USER_PREFIX="u")
        if reuse:
            print("http serve: %s: reusing the trained store in %s" % (name, data))
        elif synthetic:
            os.makedirs(data, exist_ok=True)
            _, users, items, events = synthetic.split(":")
            data_set = os.path.join(data, "gen.jsonl")
            subprocess.run([recd, "gen", "--users", users, "--items", items, "--events", events,
                            "--out", data_set, "--log-level", "warn"], check=True,
                           stdout=subprocess.DEVNULL)
        for cmd in (["import", data_set], ["train"]) if not reuse else ():
            t0 = time.time()
            subprocess.run([recd] + cmd + ["--data", data, "--log-level", "warn"], check=True,
                           stdout=subprocess.DEVNULL)
            if synthetic:
                print("http serve: %s: %s took %.0f s" % (name, cmd[0], time.time() - t0))
        if synthetic and not reuse:
            os.remove(data_set)  # imported: the store has it
        if kept and not reuse:
            open(ready, "w").close()
        serve_args = os.environ.get("RECD_SERVE_ARGS", "").split()
        if serve_args:
            print("http serve: recd serve %s" % " ".join(serve_args))
        s = Server("--log-level", "warn", *serve_args, data=data).start(timeout=1800)
        try:
            if synthetic:
                wait_for_index(s, name)
            load(s.port, 1, 4, 1)  # warm-up: page cache, allocator, branch predictors
            print("http serve: load generator: %s" % ("wrk" if USE_WRK else "http_load"))
            for threads, conns in CASES:
                c0 = server_cpu(s.proc.pid)
                r = load(s.port, threads, conns, SECONDS)
                cpu = (server_cpu(s.proc.pid) - c0) / r["seconds"]
                n = max(r["requests"], 1)
                print("http serve: %s, %3d connections: %7.0f requests/s, p50 %6.0f us, p99 %6.0f us, "
                      "p99.9 %6.0f us (%d requests, %d errors, %d non-2xx; server CPU %.2f cores, "
                      "%.0f us/request; generator %.0f us/request)"
                      % (name, conns, r["requests"] / r["seconds"], r["p50"], r["p99"], r["p999"],
                         r["requests"], r["errors"], r["non2xx"], cpu, cpu * r["seconds"] / n * 1e6,
                         r["gen_cpu"] / n * 1e6))
        finally:
            s.stop()
    finally:
        if not kept:
            shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
