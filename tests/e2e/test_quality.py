"""Accuracy on MovieLens 100K (protocol P1: all ratings as implicit positives, per-user random
75/25 split, seed 42, top-10 unseen items): every model type against popularity, on one split,
through `recd eval`. Skipped when ../shared/data is absent."""
import json
import os
import sys
import tempfile
import unittest

from harness import SHARED, main, run_recd

ML100K = os.path.join(SHARED, "ml-100k")


class QualityTest(unittest.TestCase):
    def test_ml100k_models_well_above_popularity(self):
        out = os.path.join(tempfile.mkdtemp(prefix="recd-q-"), "eval.json")
        r = run_recd("eval", ML100K, "--ratio", "0.75", "--seed", "42", "--k", "5,10",
                     "--models", "pop,itemknn,als,ease,bpr,content,blend,served",
                     "--half-life", "1e9", "--out", out)
        print(r.stdout)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out) as f:
            report = json.load(f)
        self.assertEqual(report["ks"], [5, 10])
        m = {x["name"]: x["metrics"]["10"] for x in report["models"]}
        for name, x in m.items():
            self.assertEqual(x["users"], 943, name)
        pop = m["pop"]["ndcg"]
        # evalkit's popularity on this split is 0.2512; published tuned models ~0.47-0.49 (issue #3)
        self.assertAlmostEqual(pop, 0.2512, delta=0.002)
        self.assertGreater(m["als"]["ndcg"], 0.48)
        self.assertGreater(m["ease"]["ndcg"], 0.47)
        self.assertGreater(m["itemknn"]["ndcg"], 0.42)
        self.assertGreater(m["bpr"]["ndcg"], 0.40)
        self.assertGreater(m["blend"]["ndcg"], m["als"]["ndcg"] - 0.005)
        self.assertGreater(m["served"]["ndcg"], 0.47)
        # content alone is weak on MovieLens (genres and titles only), but it is not random
        self.assertGreater(m["content"]["ndcg"], 0.05)
        for name in ("als", "ease", "itemknn", "bpr"):
            self.assertGreater(m[name]["auc"], m["pop"]["auc"], name)
            self.assertGreater(m[name]["ndcg"], pop * 1.6, name)
        beyond = {x["name"]: x["beyond"] for x in report["models"]}
        self.assertGreater(beyond["als"]["coverage"], beyond["pop"]["coverage"] * 3)

    def test_ml100k_replay_online_beats_static(self):
        """Protocol replay (prequential): the first 80% of events by time train, the rest are
        streamed; updating the model with every event must pay clearly."""
        out = os.path.join(tempfile.mkdtemp(prefix="recd-q-"), "replay.json")
        r = run_recd("eval", ML100K, "--protocol", "replay", "--k", "10", "--out", out)
        print(r.stdout)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out) as f:
            m = {x["name"]: x["metrics"]["10"] for x in json.load(f)["models"]}
        self.assertEqual(m["static"]["users"], 20000)  # MovieLens has no repeated pairs
        self.assertGreater(m["online"]["hr"], m["static"]["hr"] * 1.25)
        self.assertGreater(m["user-only"]["hr"], m["static"]["hr"] * 1.25)


if __name__ == "__main__":
    if not os.path.exists(os.path.join(ML100K, "u.data.zst")) and \
            not os.path.exists(os.path.join(ML100K, "u.data")):
        print("SKIP: MovieLens 100K not found in %s (the shared data folder is absent)" % ML100K)
        sys.exit(77)
    main()
