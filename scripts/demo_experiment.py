#!/usr/bin/env python3
"""A simulated A/B experiment against a real `recd serve`, for the docs and for trying the
dashboard: users with a favourite category get lists from two variants (popular-only vs
personalized) and click by taste; halfway through, tastes shift (what users click moves to other
categories), which the drift check should notice. Prints the experiment report; with
--screenshots DIR, also takes the dashboard screenshots (needs node, playwright-core as installed
by tests/e2e/test_dashboard.py, and chromium).

    python3 scripts/demo_experiment.py --recd build/recd --seconds 60 [--screenshots docs]
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
import harness  # noqa: E402

N_CATS, PER_CAT, N_USERS = 8, 40, 600
EXPERIMENTS = {"experiments": [{
    "name": "personalization", "holdout": 0.1,
    "variants": [{"name": "popular", "weight": 50, "settings": {"mode": "popular"}},
                 {"name": "personal", "weight": 50, "settings": {}}]}]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--recd", default="build/recd")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--screenshots")
    a = ap.parse_args()
    harness.RECD = os.path.abspath(a.recd)
    tmp = tempfile.mkdtemp(prefix="recd-demo-")
    path = os.path.join(tmp, "experiments.json")
    with open(path, "w") as f:
        json.dump(EXPERIMENTS, f)
    window = a.seconds / 4 / 60  # minutes: four drift windows over the run
    s = harness.Server("--experiments", path, "--metrics-interval", "1", "--drift-window",
                       "%.4f" % window, "--drift-min-events", "100", "--retrain-events", "2000",
                       data=tempfile.mkdtemp(prefix="recd-demo-data-")).start()
    try:
        run(s, a.seconds)
        st, rep = s.get("/v1/experiments/personalization")
        print(json.dumps(rep, indent=1))
        st, status = s.get("/v1/status")
        print(json.dumps({"drift": status["drift"], "online": status["online"]}, indent=1))
        with open(s.log_path, errors="replace") as f:
            for line in f:
                if "drift" in line and ("warn" in line or "bins" in line):
                    print(line.rstrip())
        if a.screenshots:
            shoot(s, a.screenshots)
    finally:
        s.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def run(s, seconds):
    rng = random.Random(3)
    taste = {"u%d" % u: rng.randrange(N_CATS) for u in range(N_USERS)}
    s.post("/v1/items", [{"id": "i%d" % i, "title": "Item %d" % i, "categories": ["c%d" % (i // PER_CAT)]}
                         for i in range(N_CATS * PER_CAT)])
    s.post("/v1/events", [{"user": u, "item": "i%d" % rng.randrange(c * PER_CAT, (c + 1) * PER_CAT),
                           "type": "click"} for u, c in taste.items() for _ in range(5)])
    s.post("/v1/train?wait=1")
    t0 = time.time()
    shifted = False
    while time.time() - t0 < seconds:
        if not shifted and time.time() - t0 > seconds / 2:
            shifted = True  # tastes move: what is popular changes
            taste = {u: (c + 3) % N_CATS for u, c in taste.items()}
        events = []
        for u in rng.sample(sorted(taste), 60):
            st, r = s.get("/v1/recommend/%s?n=10" % u)
            for it in r["items"]:
                liked = int(it["id"][1:]) // PER_CAT == taste[u]
                events.append({"user": u, "item": it["id"], "type": "impression",
                               "recommendation_id": r["recommendation_id"]})
                if rng.random() < (0.25 if liked else 0.02):
                    events.append({"user": u, "item": it["id"], "type": "click",
                                   "recommendation_id": r["recommendation_id"]})
                    events.append({"user": u, "item": it["id"], "type": "dwell",
                                   "value": rng.expovariate(1 / 40)})
            # users also find things on their own, in their (current) favourite category
            c = taste[u]
            events.append({"user": u, "item": "i%d" % rng.randrange(c * PER_CAT, (c + 1) * PER_CAT),
                           "type": "view"})
        s.post("/v1/events", events)
        time.sleep(0.2)


def shoot(s, out):
    d = os.path.join(os.path.dirname(os.path.abspath(harness.RECD)), "browser")
    os.makedirs(out, exist_ok=True)
    subprocess.run(["node", "dashboard_check.mjs", "--url",
                    "http://127.0.0.1:%d/dashboard" % s.port, "--user", "u1", "--screenshots",
                    os.path.abspath(out)], cwd=d, check=True)


if __name__ == "__main__":
    main()
