"""A/B experiments end to end: simulated users with known tastes see lists from two variants, one
of which (personalized) is better by construction; the report must say so, with the exact counts
the client saw, and keep saying so across a restart. Also /metrics, JSON logs, request ids and a
bad experiments file."""
import json
import os
import random
import sqlite3
import tempfile
import time
import unittest
import urllib.request

from harness import Server, main, run_recd

N_CATS, ITEMS_PER_CAT, N_USERS = 5, 20, 300
P_CLICK_LIKED, P_CLICK_OTHER = 0.30, 0.02
EXPERIMENTS = {"experiments": [{
    "name": "personalization",
    "holdout": 0.1,
    "variants": [{"name": "popular", "weight": 50, "settings": {"mode": "popular"}},
                 {"name": "personal", "weight": 50, "settings": {}}],
    "overrides": {"qa-user": "personal"}}]}


def category(item):
    return int(item[1:]) // ITEMS_PER_CAT


class ExperimentTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="recd-exp-")
        cls.path = os.path.join(cls.tmp, "experiments.json")
        with open(cls.path, "w") as f:
            json.dump(EXPERIMENTS, f)
        cls.s = Server("--experiments", cls.path, "--log-format", "json",
                       "--retrain-events", "0", "--metrics-interval", "0.5").start()
        cls.addClassCleanup(cls.s.cleanup)
        rng = random.Random(7)
        cls.taste = {"u%d" % u: rng.randrange(N_CATS) for u in range(N_USERS)}
        items = [{"id": "i%d" % i, "title": "Item %d" % i, "categories": ["c%d" % (i // ITEMS_PER_CAT)]}
                 for i in range(N_CATS * ITEMS_PER_CAT)]
        assert cls.s.post("/v1/items", items)[0] == 200
        events = []
        for u, c in cls.taste.items():  # a history inside the favourite category only
            for i in rng.sample(range(c * ITEMS_PER_CAT, (c + 1) * ITEMS_PER_CAT), 6):
                events.append({"user": u, "item": "i%d" % i, "type": "click"})
        st, r = cls.s.post("/v1/events", events)
        assert st == 200 and r["accepted"] == len(events), r
        assert cls.s.post("/v1/train?wait=1")[0] == 200
        cls.sim = cls.simulate(rng)

    @classmethod
    def simulate(cls, rng):
        """Two rounds of every user: get a list, click by taste. Half of the clicks carry the
        recommendation_id, half rely on attribution by user and item. Returns the client's own
        bookkeeping per variant."""
        seen = {}
        clicks = []
        variant_of = {}
        for rnd in range(2):
            start = len(clicks)
            for u in sorted(cls.taste):
                st, r = cls.s.get("/v1/recommend/%s?n=10" % u)
                assert st == 200 and r["recommendation_id"] and r["experiment"] == "personalization", r
                v = r["variant"]
                variant_of.setdefault(u, v)
                assert variant_of[u] == v, "assignment must be sticky"
                b = seen.setdefault(v, {"requests": 0, "impressions": 0, "clicks": 0, "users": set()})
                b["requests"] += 1
                b["impressions"] += len(r["items"])
                b["users"].add(u)
                for it in r["items"]:
                    liked = category(it["id"]) == cls.taste[u]
                    if rng.random() < (P_CLICK_LIKED if liked else P_CLICK_OTHER):
                        ev = {"user": u, "item": it["id"], "type": "click"}
                        if len(clicks) % 2 == 0:
                            ev["recommendation_id"] = r["recommendation_id"]
                        clicks.append(ev)
                        b["clicks"] += 1
            # a round's clicks arrive before the next round's lists, as in a session
            st, res = cls.s.post("/v1/events", clicks[start:])
            assert st == 200 and res["accepted"] == len(clicks) - start, res
        return {"seen": seen, "variant_of": variant_of}

    def report(self):
        st, r = self.s.get("/v1/experiments/personalization?series=1")
        self.assertEqual(st, 200, r)
        return {v["name"]: v for v in r["variants"]}, r

    def test_better_variant_is_reported_significant_with_exact_counts(self):
        time.sleep(0.5)  # the tracker's attribution is synchronous; give the sampler a point
        rep, raw = self.report()
        self.assertEqual(sorted(rep), ["holdout", "personal", "popular"])
        for name, b in self.sim["seen"].items():
            v = rep[name]
            self.assertEqual(v["requests"], b["requests"], name)
            self.assertEqual(v["impressions"], b["impressions"], name)
            self.assertEqual(v["users"], len(b["users"]), name)
            # a list position is clicked at most once per list here, so clicks match exactly
            self.assertEqual(v["clicks"], b["clicks"], name)
        pop, per = rep["popular"], rep["personal"]
        print("popular CTR %.4f %s, personal CTR %.4f %s, lift %.2f, p %.2e, p_seq %.2e" % (
            pop["ctr"], pop["ctr_ci"], per["ctr"], per["ctr_ci"], per["vs_control"]["lift"],
            per["vs_control"]["p_value"], per["vs_control"]["p_sequential"]))
        self.assertGreater(per["ctr"], pop["ctr"])
        self.assertGreater(per["ctr_ci"][0], pop["ctr_ci"][1])  # intervals apart
        self.assertTrue(per["vs_control"]["significant"])
        self.assertLess(per["vs_control"]["p_sequential"], 0.05)
        self.assertGreater(per["vs_control"]["diff_ci"][0], 0)
        self.assertIsNone(pop["vs_control"])
        self.assertIn("p_sequential", raw["warning"])
        series = {s["variant"]: s["points"] for s in raw["series"]}
        self.assertTrue(series["personal"], "the sampler took no point")
        self.assertEqual(series["personal"][-1]["clicks"], per["clicks"])

    def test_online_hit_rate_and_metrics(self):
        st, status = self.s.get("/v1/status")
        self.assertEqual(st, 200)
        clicks = sum(b["clicks"] for b in self.sim["seen"].values())
        self.assertEqual(status["online"]["positives"], clicks)  # every click had a list
        self.assertEqual(status["online"]["hits"], clicks)       # and was on it
        self.assertEqual(status["experiments"], ["personalization"])
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.s.port) as r:
            self.assertTrue(r.headers["Content-Type"].startswith("text/plain; version=0.0.4"))
            text = r.read().decode()
        for family in ("recd_http_requests_total", "recd_http_request_duration_seconds_bucket",
                       "recd_events_applied_total", "recd_events_received_total",
                       "recd_recommendations_total", "recd_model_version", "recd_drift_kl",
                       "recd_online_hit_rate", "recd_training_duration_seconds"):
            self.assertIn(family, text)
        for name, b in self.sim["seen"].items():
            line = 'recd_recommendations_total{variant="%s"} %d' % (name, b["requests"])
            self.assertIn(line, text)

    def test_request_id_and_json_logs(self):
        req = urllib.request.Request("http://127.0.0.1:%d/v1/users/nobody" % self.s.port,
                                     headers={"X-Request-Id": "trace-42"})
        try:
            urllib.request.urlopen(req)
        except urllib.error.HTTPError as e:
            self.assertEqual(e.code, 404)
            self.assertEqual(e.headers["X-Request-Id"], "trace-42")
        with open(self.s.log_path) as f:
            lines = [json.loads(x) for x in f if x.startswith("{")]
        self.assertTrue(lines)
        self.assertTrue(all({"ts", "level", "msg"} <= set(x) for x in lines))

    def test_track_zero_is_not_counted(self):
        before, _ = self.report()
        st, r = self.s.get("/v1/recommend/u1?track=0")
        self.assertEqual(st, 200)
        self.assertIsNone(r["recommendation_id"])
        after, _ = self.report()
        self.assertEqual(before[r["variant"]]["requests"], after[r["variant"]]["requests"])

    def test_override_and_unknown_experiment(self):
        st, r = self.s.get("/v1/recommend/qa-user")
        self.assertEqual((st, r["variant"]), (200, "personal"))
        st, r = self.s.get("/v1/experiments/nope")
        self.assertEqual(st, 404)
        self.assertEqual(r["error"]["code"], "not_found")
        st, r = self.s.get("/v1/experiments")
        self.assertEqual(r["experiments"][0]["variants"], ["popular", "personal"])

    def test_z_restart_keeps_report_and_assignment(self):
        # named _z_ to run last: it restarts the shared server
        self.s.get("/v1/recommend/qa-user")  # one more list, logged before the stop
        before, _ = self.report()
        self.s.stop()
        self.s.start()
        after, _ = self.report()
        for name in before:
            for key in ("users", "requests", "impressions", "clicks", "conversions"):
                self.assertEqual(before[name][key], after[name][key], (name, key))
        for u in ("u0", "u1", "u2", "u3"):
            st, r = self.s.get("/v1/recommend/%s?track=0" % u)
            self.assertEqual(r["variant"], self.sim["variant_of"][u])
        # erasure: the user's lists leave the database
        st, _ = self.s.delete("/v1/users/u5")
        self.assertEqual(st, 200)
        time.sleep(0.5)
        db = sqlite3.connect(os.path.join(self.s.data, "recd.db"))
        n = db.execute("SELECT count(*) FROM served WHERE user = 'u5'").fetchone()[0]
        self.assertEqual(n, 0)
        self.assertGreater(db.execute("SELECT count(*) FROM served").fetchone()[0], 0)
        db.close()


class BadExperimentsFileTest(unittest.TestCase):
    def test_bad_file_stops_the_server_with_a_clear_message(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "exp.json")
            with open(path, "w") as f:
                json.dump({"experiments": [{"name": "x", "variants": [
                    {"name": "a", "weight": 1, "settings": {"blend_knn": -1}}]}]}, f)
            r = run_recd("serve", "--port", "0", "--data", d, "--experiments", path, timeout=60)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(path, r.stderr)
            self.assertIn("experiments[0].variants[0].settings", r.stderr)
            self.assertIn("blend_knn", r.stderr)


if __name__ == "__main__":
    main()
