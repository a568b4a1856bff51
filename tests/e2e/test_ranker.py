"""`recd gen --sessions` (impressions and clicks under a context-dependent click model) and
`recd eval --protocol ranker` (progressive validation of the learned ranker per feature set),
end to end. The synthetic test always runs; the MovieLens 100K test needs ../shared/data and
the file exits 77 (skipped) when that is missing, after the synthetic test passed.
docs/RANKING.md has the model, the protocol and the numbers these thresholds come from."""
import collections
import json
import os
import sys
import tempfile
import unittest

from harness import SHARED, main, run_recd

ML100K = os.path.join(SHARED, "ml-100k")
HAVE_ML = any(os.path.exists(os.path.join(ML100K, f)) for f in ("u.data", "u.data.zst"))
SETS = ("ids", "ids+attrs", "ids+attrs+context")


def ranker_eval(path, out, *args):
    r = run_recd("eval", path, "--protocol", "ranker", "--out", out, *args)
    assert r.returncode == 0, r.stderr + r.stdout
    with open(out) as f:
        rep = json.load(f)
    return rep, {m["name"]: m for m in rep["models"]}, r.stdout


class RankerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="recd-ranker-")
        cls.data = os.path.join(cls.dir, "sessions.jsonl")
        r = run_recd("gen", "--users", "500", "--items", "200", "--events", "10000",
                     "--sessions", "6000", "--seed", "42", "--out", cls.data)
        assert r.returncode == 0, r.stderr

    def check_ranges(self, rep, m):
        st = rep["stream"]
        self.assertGreater(st["scored"], 0)
        self.assertGreater(st["ndcg_lists"], 0)
        self.assertLessEqual(st["positives"], st["scored"])
        self.assertLessEqual(st["ndcg_lists"], st["lists"])
        self.assertEqual([x["name"] for x in rep["models"]], ["popularity"] + list(SETS))
        for name, x in m.items():
            for key in ("auc", "auc_exact", "ndcg@10"):
                self.assertTrue(0 <= x[key] <= 1, (name, key, x[key]))
            self.assertEqual(x["ndcg_lists"], st["ndcg_lists"])
            # the binned streaming AUC agrees with the exact one
            self.assertAlmostEqual(x["auc"], x["auc_exact"], delta=0.01)
        for name in SETS:
            self.assertGreater(m[name]["us_per_example"], 0)

    def test_generated_sessions(self):
        """The stream is what docs/RANKING.md says: durations, 10 impressions per session with a
        context, clicks a few seconds after their impression, times in order, and the click rate
        moves with the context as the model says."""
        dur, imp, clicks, last_ts = {}, {}, set(), 0
        with open(self.data) as f:
            for line in f:
                o = json.loads(line)
                if isinstance(o.get("item"), dict):
                    d = o["item"]["attributes"]["duration_min"]
                    self.assertTrue(2 <= d <= 10 or 20 <= d <= 120, d)
                    dur[o["item"]["id"]] = d
                    continue
                if isinstance(o.get("user"), dict):
                    continue
                self.assertGreaterEqual(o["ts"], last_ts)
                last_ts = o["ts"]
                c = o.get("context")
                if c is None:
                    self.assertNotEqual(o["type"], "impression")
                    continue
                self.assertIn(c["device"], ("mobile", "desktop", "tv"))
                key = (o["user"], o["item"], c["session"])
                if o["type"] == "impression":  # (a click may fall into the next hour)
                    self.assertEqual(c["hour"], o["ts"] % 86400 // 3600)
                    imp[key] = (c, o["ts"])
                else:
                    self.assertEqual(o["type"], "click")
                    self.assertIn(key, imp)
                    self.assertEqual(imp[key][0], c)
                    self.assertTrue(0 < o["ts"] - imp[key][1] <= 3 * 10 + 2)
                    clicks.add(key)
        self.assertEqual(len(imp), 6000 * 10)
        short = sum(1 for d in dur.values() if d <= 10) / len(dur)
        self.assertTrue(0.25 < short < 0.55, short)
        per_session = collections.Counter(k[2] for k in imp)
        self.assertEqual(set(per_session.values()), {10})
        rate = collections.defaultdict(lambda: [0, 0])
        for key, (c, _) in imp.items():
            g = ("mobile-evening" if c["device"] == "mobile" and 17 <= c["hour"] <= 22
                 else "tv" if c["device"] == "tv" else "other", dur[key[1]] <= 10)
            rate[g][0] += 1
            rate[g][1] += key in clicks
        ctr = {g: n_click / n for g, (n, n_click) in rate.items()}
        self.assertTrue(0.025 < len(clicks) / len(imp) < 0.07)
        self.assertGreater(ctr[("mobile-evening", True)], 3 * ctr[("mobile-evening", False)])
        self.assertGreater(ctr[("tv", False)], 2 * ctr[("tv", True)])
        # the same seed gives the same bytes
        again = os.path.join(self.dir, "again.jsonl")
        run_recd("gen", "--users", "500", "--items", "200", "--events", "10000",
                 "--sessions", "6000", "--seed", "42", "--out", again)
        with open(self.data, "rb") as a, open(again, "rb") as b:
            self.assertTrue(a.read() == b.read())

    def test_context_helps_on_synthetic(self):
        """The click model depends on device x daypart x item length, which only the context
        set sees: it must win on both metrics. Observed at these sizes (seeds 1-5, 42): AUC
        +0.08..+0.09, NDCG@10 +0.03..+0.04 over ids+attrs; the margins below are half of that."""
        rep, m, out = ranker_eval(self.data, os.path.join(self.dir, "r.json"))
        print(out)
        st = rep["stream"]
        self.assertEqual(st["kind"], "impressions")
        self.assertEqual(st["scored"], 60000)
        self.assertEqual(st["lists"], 6000)
        self.assertEqual(st["examples"] - st["scored"], 10000)  # the taste history, learned only
        self.check_ranges(rep, m)
        ctx, attrs = m["ids+attrs+context"], m["ids+attrs"]
        self.assertGreater(ctx["auc"], attrs["auc"] + 0.04)
        self.assertGreater(ctx["ndcg@10"], attrs["ndcg@10"] + 0.015)
        self.assertGreater(ctx["auc"], m["popularity"]["auc"] + 0.05)
        # deterministic: the same run gives the same numbers
        rep2, m2, _ = ranker_eval(self.data, os.path.join(self.dir, "r2.json"))
        for name in m:
            self.assertEqual(m[name]["auc"], m2[name]["auc"])
            self.assertEqual(m[name]["ndcg@10"], m2[name]["ndcg@10"])

    @unittest.skipUnless(HAVE_ML, "MovieLens 100K not found in %s" % ML100K)
    def test_movielens(self):
        """Ratings >= 4 are positives, a user's ratings of one day form a list. Observed (k 8,
        bits 20, seed 42): AUC ids 0.688, ids+attrs 0.678, ids+attrs+context 0.671; attributes
        cost about 0.01 AUC here (the user-attribute x genre crosses, docs/RANKING.md) and the
        context (time of the rating) does not help."""
        rep, m, out = ranker_eval(ML100K, os.path.join(self.dir, "ml.json"))
        print(out)
        st = rep["stream"]
        self.assertEqual(st["kind"], "events")
        self.assertEqual(st["scored"], 100000)
        self.check_ranges(rep, m)
        for name in SETS:
            self.assertGreater(m[name]["auc"], 0.65, name)
        self.assertGreaterEqual(m["ids+attrs"]["auc"], m["ids"]["auc"] - 0.02)
        self.assertGreater(m["ids"]["auc"], m["popularity"]["auc"])


if __name__ == "__main__":
    if not HAVE_ML:
        suite = unittest.defaultTestLoader.loadTestsFromTestCase(RankerTest)
        if not unittest.TextTestRunner(verbosity=2).run(suite).wasSuccessful():
            sys.exit(1)
        print("SKIP: MovieLens 100K not found in %s (the shared data folder is absent); "
              "the synthetic tests passed" % ML100K)
        sys.exit(77)
    main()
