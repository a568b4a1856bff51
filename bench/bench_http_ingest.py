#!/usr/bin/env python3
"""bench_http_ingest: durable event ingestion over HTTP against a real `recd serve` (127.0.0.1,
a free port, a temporary data directory), closed loop, keep-alive connections.

  bench_http_ingest.py RECD_BIN [seconds-per-case] [CLIENTSxBATCH,...]

The optional third argument picks the cases (e.g. 8x1000); by default all six run.

Each case runs for the given time (default 3 s) and prints events/s, requests/s and the
server's CPU time per event (from /proc, so the clients' share of the cores is visible); every
counted event was acknowledged with 200 (committed with group commit and applied to the live
models, fold-in included). The Python clients share the machine's 2 cores with the server, so
these are lower bounds for the server."""
import http.client
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
os.environ["RECD_BIN"] = os.path.abspath(sys.argv[1])
from harness import Server  # noqa: E402

SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
CASES = ((1, 1), (8, 1), (8, 100), (2, 1000), (4, 1000), (8, 1000))
if len(sys.argv) > 3:
    CASES = tuple(tuple(int(v) for v in c.split("x")) for c in sys.argv[3].split(","))


def client(port, case, t, batch, stop, out):
    c = http.client.HTTPConnection("127.0.0.1", port)
    acked = reqs = n = 0
    while time.time() < stop:
        # formatted by hand (json.dumps of 1,000 dicts costs the client as much as the server);
        # distinct timestamps, within a case and across cases, so no event is a duplicate of
        # another (a case used to resend the previous case's events, which were not counted)
        base = 1600000000 + case * 50000000 + (t * 1000003 + n * batch) % 40000000
        body = "[" + ",".join('{"user":"u%d","item":"i%d","type":"click","ts":%d}' % (
            (t * 7919 + n * batch + k) % 20000, (n * 31 + k) % 5000, base + k)
            for k in range(batch)) + "]"
        n += 1
        c.request("POST", "/v1/events", body, {"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        if r.status == 200:
            acked += json.loads(data)["accepted"]
            reqs += 1
    out[t] = (acked, reqs)


def server_cpu(pid):
    """CPU seconds (user + system) the process has used so far, from /proc."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_written(pid):
    """Bytes the process has passed to write calls so far (wchar in /proc/PID/io)."""
    with open("/proc/%d/io" % pid) as f:
        for line in f:
            if line.startswith("wchar:"):
                return int(line.split()[1])
    return 0


def main():
    s = Server("--retrain-events", "0", "--threads", "8").start()
    try:
        # a trained model first, so every event also pays for its user's fold-in
        s.post("/v1/events", [{"user": "u%d" % k, "item": "i%d" % (k % 5000), "type": "view"}
                              for k in range(5000)])
        s.post("/v1/train?wait=1")
        for case, (clients, batch) in enumerate(CASES):
            out = {}
            stop = time.time() + SECONDS
            threads = [threading.Thread(target=client, args=(s.port, case, t, batch, stop, out))
                       for t in range(clients)]
            c0 = server_cpu(s.proc.pid)
            w0 = server_written(s.proc.pid)
            t0 = time.time()
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            dt = time.time() - t0
            cpu = server_cpu(s.proc.pid) - c0
            written = server_written(s.proc.pid) - w0
            events = sum(a for a, _ in out.values())
            reqs = sum(r for _, r in out.values())
            print("http ingest: %d clients, %4d events/request: %8.0f events/s, %6.0f requests/s "
                  "(%d events acknowledged in %.1f s; server CPU %.2f cores, %.1f us/event; "
                  "%.0f bytes written/event)"
                  % (clients, batch, events / dt, reqs / dt, events, dt, cpu / dt,
                     1e6 * cpu / max(events, 1), written / max(events, 1)))
    finally:
        s.cleanup()


if __name__ == "__main__":
    main()
