#!/usr/bin/env python3
"""bench_http_serve: closed-loop HTTP load on GET /v1/recommend against a real `recd serve`
(127.0.0.1, a free port, a temporary data directory) loaded with the MovieLens-1M part and its
trained model, driven by wrk (Debian's package) with bench/wrk_recommend.lua.

  bench_http_serve.py RECD_BIN [seconds-per-case]

Every request asks for a user drawn at random from the 2,999 users with ratings, so no two
consecutive requests are for the same user (recd has no response cache anyway). Each case
prints requests/s, p50/p99/p99.9 latency (wrk's, in microseconds, from the request written to
the response read) and the server's CPU in cores. wrk runs on the same 2 cores as the server:
what it uses is not available to recd, as the issue's "load generator included" asks.
Skips (exit 0, with a message) when wrk or the data set is missing."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
os.environ["RECD_BIN"] = os.path.abspath(sys.argv[1])
from harness import SHARED, Server  # noqa: E402

SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
LUA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wrk_recommend.lua")
CASES = tuple(tuple(int(x) for x in c.split("x")) for c in os.environ.get("RECD_WRK_CASES", "1x8,2x32,2x128").split(","))  # (wrk threads, connections)


def server_cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(port, threads, conns, seconds):
    out = subprocess.run(["wrk", "-t%d" % threads, "-c%d" % conns, "-d%gs" % seconds, "-s", LUA,
                          "http://127.0.0.1:%d" % port], capture_output=True, text=True, check=True)
    m = re.search(r"^WRK (.*)$", out.stdout, re.M)
    if not m:
        raise RuntimeError("wrk printed no summary:\n" + out.stdout + out.stderr)
    return {k: float(v) for k, v in (kv.split("=") for kv in m.group(1).split())}


def main():
    data_set = os.path.join(SHARED, "ml-1m")
    if not shutil.which("wrk"):
        print("bench_http_serve: skipped: wrk is not installed (Debian package wrk)")
        return
    if not os.path.isdir(data_set):
        print("bench_http_serve: skipped: %s is missing" % data_set)
        return
    data = tempfile.mkdtemp(prefix="recd-bench-serve-")
    recd = os.environ["RECD_BIN"]
    try:
        for cmd in (["import", data_set], ["train"]):
            subprocess.run([recd] + cmd + ["--data", data, "--log-level", "warn"], check=True,
                           stdout=subprocess.DEVNULL)
        s = Server("--log-level", "warn", data=data).start()
        try:
            wrk(s.port, 1, 4, 1)  # warm-up: page cache, allocator, branch predictors
            for threads, conns in CASES:
                c0 = server_cpu(s.proc.pid)
                r = wrk(s.port, threads, conns, SECONDS)
                cpu = (server_cpu(s.proc.pid) - c0) / r["seconds"]
                print("http serve: ml-1m, %3d connections: %7.0f requests/s, p50 %6.0f us, p99 %6.0f us, "
                      "p99.9 %6.0f us (%d requests, %d errors, %d non-2xx; server CPU %.2f cores)"
                      % (conns, r["requests"] / r["seconds"], r["p50"], r["p99"], r["p999"],
                         r["requests"], r["errors"], r["non2xx"], cpu))
        finally:
            s.stop()
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
