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
SETS = ("ids", "ids+attrs", "ids+attrs+context", "ids+attrs+context+session")


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
        self.assertLessEqual(st["with_session_categories"], st["scored"])
        self.assertLessEqual(st["in_session"], st["scored"])

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

    def test_session_rule(self):
        """Session context comes from the same user's earlier events (ties are not earlier),
        gaps under 30 minutes chain a session, and a click counts as engagement only when its
        list was learned before: a list never sees its own labels. Ratings count as engaged
        whatever their stars (the stars are the label)."""
        items = [{"item": {"id": i, "categories": [c]}} for i, c in (("i1", "A"), ("i2", "B"), ("i3", "C"))]

        def ev(item, typ, ts, sess=None, **kw):
            o = {"user": "u", "item": item, "type": typ, "ts": ts, **kw}
            if sess:
                o["context"] = {"session": sess}
            return o

        imp = items + [
            ev("i1", "impression", 1000, "s1"), ev("i2", "impression", 1000, "s1"),
            ev("i1", "click", 1001, "s1"),
            # 5 min later: continues the session and sees the click of s1, an earlier list
            ev("i3", "impression", 1300, "s2"), ev("i2", "impression", 1300, "s2"),
            # over 30 min later: a new session
            ev("i1", "impression", 9000, "s3"),
            # s4 continues s3; the click on i2 is a label of s4 itself: i3 must not see it
            ev("i2", "impression", 9100, "s4"), ev("i2", "click", 9101, "s4"),
            ev("i3", "impression", 9200, "s4")]
        rating = items + [
            ev("i1", "rating", 864000, value=2), ev("i2", "rating", 864000, value=1),  # a tie
            ev("i3", "rating", 864060, value=5), ev("i1", "rating", 869060, value=4)]
        expect = {"impressions": (7, 4, 2), "ratings": (4, 1, 1)}  # scored, in_session, with categories
        for name, rows in (("impressions", imp), ("ratings", rating)):
            path = os.path.join(self.dir, name + ".jsonl")
            with open(path, "w") as f:
                f.write("".join(json.dumps(o) + "\n" for o in rows))
            rep, _, _ = ranker_eval(path, os.path.join(self.dir, name + ".json"))
            st = rep["stream"]
            self.assertEqual((st["scored"], st["in_session"], st["with_session_categories"]),
                             expect[name], name)

    def test_context_helps_on_synthetic(self):
        """The click model depends on device x daypart x item length, which only the context
        set sees: it must win on both metrics. Observed at these sizes with the session
        features (seeds 1-5, 42): AUC +0.077..+0.090, NDCG@10 +0.026..+0.047 over ids+attrs;
        the margins below are about half of the smallest. The generator has no session effect
        (a click depends on taste and context only), so sessions add nothing here: 3,960 of the
        60,000 impressions continue a session, 2,100 see earlier clicks' categories."""
        rep, m, out = ranker_eval(self.data, os.path.join(self.dir, "r.json"))
        print(out)
        st = rep["stream"]
        self.assertEqual(st["kind"], "impressions")
        self.assertEqual(st["scored"], 60000)
        self.assertEqual(st["lists"], 6000)
        self.assertEqual(st["examples"] - st["scored"], 10000)  # the taste history, learned only
        self.check_ranges(rep, m)
        # a user's sessions rarely come within 30 minutes of each other; a list never sees its
        # own clicks, so fewer impressions have session categories than continue a session
        self.assertTrue(0 < st["with_session_categories"] < st["in_session"] < st["scored"] // 5, st)
        ctx, attrs = m["ids+attrs+context"], m["ids+attrs"]
        self.assertGreater(ctx["auc"], attrs["auc"] + 0.04)
        self.assertGreater(ctx["ndcg@10"], attrs["ndcg@10"] + 0.015)
        self.assertGreater(ctx["auc"], m["popularity"]["auc"] + 0.05)
        # the context carries the signal here: values 1 for the side features win the first half
        side = rep["fm"]["side_scale"]
        self.assertFalse(side["fixed"])
        self.assertEqual(side["chosen"], 0)
        self.assertEqual(len(side["candidates"]), 5)
        self.assertGreater(ctx["auc_second_half"], m["ids"]["auc_second_half"] + 0.04)
        # deterministic: the same run gives the same numbers
        rep2, m2, _ = ranker_eval(self.data, os.path.join(self.dir, "r2.json"))
        for name in m:
            self.assertEqual(m[name]["auc"], m2[name]["auc"])
            self.assertEqual(m[name]["ndcg@10"], m2[name]["ndcg@10"])

    @unittest.skipUnless(HAVE_ML, "MovieLens 100K not found in %s" % ML100K)
    def test_movielens(self):
        """Ratings >= 4 are positives, a user's ratings of one day form a list. With the side
        features at values 1 the ids carry this data and the attribute and context features only
        add noise; the side-feature scale chosen on the first half of the stream (0.3 at seed 42:
        first-half AUC of the served set 0.6732 at values 1, 0.6881 at 0.3) turns that around.
        Observed (k 8, bits 20, seed 42), AUC over the second half / NDCG@10: ids 0.7024 / 0.8032,
        ids+attrs+context 0.7124 / 0.8049; over seeds 1-5 the served set won by 0.007-0.012 AUC
        and 0.0014-0.0031 NDCG@10. The run is deterministic, so the strict comparisons below are
        what this seed gives, not a chance."""
        rep, m, out = ranker_eval(ML100K, os.path.join(self.dir, "ml.json"))
        print(out)
        st = rep["stream"]
        self.assertEqual(st["kind"], "events")
        self.assertEqual(st["scored"], 100000)
        self.check_ranges(rep, m)
        for name in ("ids", "ids+attrs"):
            self.assertGreater(m[name]["auc"], 0.65, name)
        self.assertGreater(m["ids+attrs+context"]["auc"], 0.65)
        self.assertGreater(m["ids+attrs+context+session"]["auc"], 0.64)
        self.assertGreaterEqual(m["ids+attrs"]["auc"], m["ids"]["auc"] - 0.02)
        self.assertGreaterEqual(m["ids+attrs+context"]["auc"], m["ids+attrs"]["auc"] - 0.02)
        self.assertGreaterEqual(m["ids+attrs+context+session"]["auc"],
                                m["ids+attrs+context"]["auc"] - 0.035)
        side = rep["fm"]["side_scale"]
        self.assertGreater(side["chosen"], 0)
        ctx, ids = m["ids+attrs+context"], m["ids"]
        self.assertGreater(ctx["auc_second_half"], ids["auc_second_half"] + 0.005)
        self.assertGreater(ctx["ndcg@10"], ids["ndcg@10"])
        # every rating after the first of a session sees the session's genres (any stars)
        self.assertEqual(st["with_session_categories"], st["in_session"])
        self.assertGreater(st["in_session"], 90000)
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
