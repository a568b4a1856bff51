"""The command line: help for every subcommand, and gen -> import -> train -> recommend -> serve
on one data directory."""
import os
import shutil
import tempfile
import unittest

from harness import SHARED, Server, main, run_recd

COMMANDS = ["serve", "import", "train", "recommend", "eval", "gen", "version"]


class CliTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="recd-cli-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_help_for_every_command(self):
        r = run_recd("--help")
        self.assertEqual(r.returncode, 0)
        for c in COMMANDS:
            self.assertIn(c, r.stdout)
        for c in COMMANDS:
            r = run_recd(c, "--help")
            self.assertEqual(r.returncode, 0, c)
            self.assertIn("usage: recd " + c, r.stdout)
        r = run_recd("serve", "--help")
        self.assertIn("--port", r.stdout)
        self.assertIn("RECD_PORT", r.stdout)
        self.assertIn("--weight-purchase", r.stdout)
        r = run_recd("frobnicate")
        self.assertEqual(r.returncode, 2)
        r = run_recd("serve", "--port", "http")
        self.assertEqual(r.returncode, 2)
        self.assertIn("port", r.stderr)
        self.assertRegex(run_recd("version").stdout, r"^recd \d+\.\d+\.\d+")

    def test_gen_import_train_recommend_serve(self):
        data = os.path.join(self.dir, "data")
        gen = os.path.join(self.dir, "synth.jsonl")
        r = run_recd("gen", "--users", "300", "--items", "200", "--events", "20000", "--out", gen)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = run_recd("import", gen, "--data", data)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("events 20000", r.stdout)
        r = run_recd("import", gen, "--data", data)  # importing twice stores nothing new
        self.assertEqual(r.returncode, 0, r.stderr)
        r = run_recd("train", "--data", data, "--factors", "16")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("trained iALS v1", r.stdout)
        r = run_recd("recommend", "--data", data, "--user", "u1", "-n", "5")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = [l for l in r.stdout.splitlines() if l.strip()[:2].rstrip(".").isdigit()]
        self.assertEqual(len(lines), 5, r.stdout)
        self.assertIn("because you", r.stdout)
        bad = os.path.join(self.dir, "bad.csv")
        with open(bad, "w") as f:
            f.write("user,item,type\nu1,i1,view\nu2,,view\nu3,i3,teleport\n")
        r = run_recd("import", bad, "--data", data)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("rejected lines 2", r.stdout)
        self.assertIn("bad.csv:3", r.stdout)

        s = Server("--retrain-events", "0", data=data).start()
        try:
            st, status = s.get("/v1/status")
            self.assertEqual(status["events"], 20001)
            als = [m for m in status["models"] if m["name"] == "als"][0]
            self.assertTrue(als["ready"])
            st, rec = s.get("/v1/recommend/u1?n=5")
            self.assertEqual(rec["model"], "hybrid")
        finally:
            s.stop()

    def test_import_movielens_1m_part(self):
        ml1m = os.path.join(SHARED, "ml-1m")
        if not os.path.isdir(ml1m):
            self.skipTest("shared ml-1m data is absent")
        data = os.path.join(self.dir, "ml1m")
        r = run_recd("import", ml1m, "--data", data)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("events 487650", r.stdout)
        self.assertIn("rejected lines 0", r.stdout)


if __name__ == "__main__":
    main()
