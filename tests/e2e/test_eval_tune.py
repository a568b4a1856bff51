"""`recd eval` protocols and reports, and `recd tune` end to end, on synthetic data from
`recd gen` (always available, so this runs in every CI)."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

from harness import SHARED, Server, main, run_recd


class EvalTuneTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="recd-et-")
        cls.data = os.path.join(cls.dir, "synth.jsonl")
        r = run_recd("gen", "--users", "400", "--items", "300", "--events", "30000", "--out", cls.data)
        assert r.returncode == 0, r.stderr

    def eval(self, *args):
        out = os.path.join(self.dir, "e.json")
        r = run_recd("eval", self.data, "--out", out, *args)
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        with open(out) as f:
            return json.load(f), r.stdout

    def test_protocols(self):
        rep, _ = self.eval("--protocol", "kfold", "--folds", "3", "--models", "pop,als", "--k", "5,10")
        als = rep["models"][1]
        self.assertEqual(len(als["folds"]), 3)
        self.assertIn("10", als["std"])
        self.assertGreater(als["metrics"]["10"]["ndcg"], rep["models"][0]["metrics"]["10"]["ndcg"])
        for proto in ("temporal", "leave-last"):
            rep, out = self.eval("--protocol", proto, "--models", "pop,ease", "--k", "10")
            self.assertIn("protocol " + proto, out)
            self.assertGreater(rep["models"][1]["metrics"]["10"]["users"], 0)

    def test_diversity_tradeoff(self):
        """The served pipeline at MMR diversities: served@0 is exactly the plain served list;
        more diversity raises intra-list diversity (by category) and does not raise NDCG."""
        rep, out = self.eval("--models", "served,served@0,served@0.5,served@0.9", "--k", "10")
        m = {x["name"]: x for x in rep["models"]}
        ndcg = {k: v["metrics"]["10"]["ndcg"] for k, v in m.items()}
        ild = {k: v["beyond"]["diversity"] for k, v in m.items()}
        self.assertAlmostEqual(ndcg["served@0"], ndcg["served"], places=9)
        self.assertLess(ild["served@0"], ild["served@0.5"])
        self.assertLess(ild["served@0.5"], ild["served@0.9"])
        self.assertLessEqual(ndcg["served@0.9"], ndcg["served@0"])
        self.assertIn("MMR diversity 0.90", out)

    def test_replay_agrees_with_evalkit(self):
        """Prequential replay of the served pipeline: every policy is reported, and evalkit's
        replay-score gives the same numbers from the lists (online vs static on real data:
        test_quality)."""
        recs = os.path.join(self.dir, "replay")
        rep, out = self.eval("--protocol", "replay", "--k", "5,10", "--retrain-every", "1500",
                             "--write-recs", recs)
        m = {x["name"]: x["metrics"] for x in rep["models"]}
        self.assertEqual(sorted(m), ["online", "retrain", "static", "user-only"])
        # streamed events with a positive weight on an item the user does not have yet
        self.assertGreater(m["static"]["10"]["users"], 1000)
        for policy in m:
            self.assertGreater(m[policy]["10"]["hr"], m[policy]["5"]["hr"])
        evalkit = os.path.join(SHARED, "..", "tools", "evalkit.py")
        if not os.path.exists(evalkit):
            return
        for policy in ("static", "online"):
            for k in ("5", "10"):
                ek = subprocess.run([sys.executable, "-B", evalkit, "replay-score", "--stream",
                                     recs + ".stream", "--recs", recs + "." + policy, "--k", k],
                                    check=True, capture_output=True, text=True)
                ref = json.loads(ek.stdout)
                self.assertEqual(ref["events"], m[policy][k]["users"])
                self.assertAlmostEqual(ref["hr@" + k], m[policy][k]["hr"], places=5)
                self.assertAlmostEqual(ref["ndcg@" + k], m[policy][k]["ndcg"], places=5)

    def test_html_report(self):
        html = os.path.join(self.dir, "r.html")
        self.eval("--models", "pop,itemknn,als", "--k", "5,10,20", "--html", html)
        with open(html) as f:
            page = f.read()
        self.assertIn("<svg", page)
        self.assertIn("itemknn", page)

    def test_bad_input(self):
        for args in (["--models", "als,nosuch"], ["--k", "0"], ["--protocol", "sideways"],
                     ["--models", "als", "--params-als", "factors=0"],
                     ["--models", "ease", "--params-ease", "lambda=x"],
                     ["--models", "ease", "--params-ease", "lambada=3"]):
            r = run_recd("eval", self.data, *args)
            self.assertEqual(r.returncode, 2, args)
            self.assertTrue(r.stderr.strip(), args)
            self.assertNotIn("Traceback", r.stderr)

    def test_tune_writes_a_config_the_server_reads(self):
        conf = os.path.join(self.dir, "tuned.conf")
        html = os.path.join(self.dir, "tune.html")
        r = run_recd("tune", self.data, "--models", "als,ease,itemknn", "--trials", "4",
                     "--out", conf, "--html", html)
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        self.assertIn("best validation NDCG@10", r.stdout)
        with open(conf) as f:
            text = f.read()
        for key in ("params-als =", "params-ease =", "params-itemknn =", "blend-weights =", "sources =",
                    "blend-knn =", "blend-popular =", "cold-weight ="):
            self.assertIn(key, text)
        # the served pipeline's weights were searched on the carves from every weight at 0; the
        # configured ones were scored for the report
        self.assertIn("served   validation NDCG@10", r.stdout)
        self.assertIn("blend-knn=0.1,blend-popular=0.01,cold-weight=1", r.stdout)
        self.assertIn("blend-knn=0,blend-popular=0,cold-weight=0", r.stdout)
        with open(html) as f:
            self.assertIn("trials", f.read().lower())
        rep, _ = self.eval("--config", conf, "--models", "pop,served", "--k", "10")
        served = rep["models"][1]["metrics"]["10"]["ndcg"]
        self.assertGreater(served, rep["models"][0]["metrics"]["10"]["ndcg"])

        # the server reads the same file: the blend is served and reported, before and after a
        # restart (sources are refitted from memory next to the iALS snapshot)
        data = os.path.join(self.dir, "served-data")
        r = run_recd("import", self.data, "--data", data)
        self.assertEqual(r.returncode, 0, r.stderr)
        for attempt in range(2):
            s = Server("--config", conf, "--sources", "ease,itemknn", "--blend-weights",
                       "als=1,ease=0.5,itemknn=0.3", "--retrain-events", "0",
                       data=data).start()
            try:
                if attempt == 0:
                    st, body = s.request("POST", "/v1/train?wait=1")
                    self.assertEqual(st, 200, body)
                st, status = s.get("/v1/status")
                names = {m["name"]: m for m in status["models"]}
                for name in ("ease", "itemknn"):
                    self.assertIn(name, names)
                    self.assertTrue(names[name]["ready"], status)
                self.assertIn("blend_weight", names["als"])
                st, rec = s.get("/v1/recommend/u1?n=5")
                self.assertEqual(st, 200)
                self.assertEqual(len(rec["items"]), 5)
            finally:
                s.stop()



if __name__ == "__main__":
    main()
