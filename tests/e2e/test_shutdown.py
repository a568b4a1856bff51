"""SIGTERM while a long computation runs: the server gives it up and exits at once, cleanly,
instead of holding the shutdown until it ends (core/halt.h). Nothing is lost: every event is
in the store, and the run that was given up saved no snapshot.

The training run is made long on purpose (1024 factors, 1000 sweeps: many minutes on 2 cores),
on `recd gen`'s small synthetic catalog, so the test needs no data set."""
import os
import signal
import subprocess
import tempfile
import time
import unittest

from harness import Server, main, run_recd

N_EVENTS = 50000


def snapshots(data):
    models = os.path.join(data, "models")
    return sorted(f for f in os.listdir(models) if f.startswith("als-")) if os.path.isdir(models) else []


class ShutdownDuringTrainingTest(unittest.TestCase):
    def setUp(self):
        self.data = tempfile.mkdtemp(prefix="recd-e2e-shutdown-")
        gen = os.path.join(self.data, "gen.jsonl")
        r = run_recd("gen", "--users", "1000", "--items", "500", "--events", str(N_EVENTS),
                     "--out", gen, "--log-level", "warn")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = run_recd("import", gen, "--data", self.data, "--log-level", "warn")
        self.assertEqual(r.returncode, 0, r.stderr)
        os.remove(gen)

    def tearDown(self):
        Server(data=self.data).cleanup()

    def test_sigterm_gives_up_a_training_run(self):
        s = Server("--factors", "1024", "--iters", "1000", "--train-threads", "2",
                   "--log-level", "info", data=self.data).start(timeout=120)
        deadline = time.time() + 60
        training = False
        while time.time() < deadline and not training:
            _, st = s.get("/v1/status")
            training = any(m["name"] == "als" and m["training"] for m in st["models"])
            time.sleep(0.1)
        self.assertTrue(training, "the training run at start did not begin:\n" + s.tail())
        time.sleep(1.0)  # well into the first sweeps
        t0 = time.time()
        s.proc.send_signal(signal.SIGTERM)
        try:
            rc = s.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            s.proc.kill()
            s.proc.wait()
            self.fail("SIGTERM during training: still running after 60 s")
        took = time.time() - t0
        s.log.close()
        self.assertEqual(rc, 0, s.tail())
        self.assertLess(took, 15.0, "shutdown waited for the training run")
        self.assertIn("given up: shutting down", s.tail())
        self.assertEqual(snapshots(self.data), [], "a run given up saved a snapshot")

        # every event is still there, and a normal run trains on them
        s2 = Server("--factors", "8", data=self.data).start(timeout=120)
        try:
            st, r = s2.post("/v1/train?wait=1")
            self.assertEqual(st, 200, r)
            _, status = s2.get("/v1/status")
            self.assertEqual(status["events"], N_EVENTS)
            self.assertTrue(snapshots(self.data), "no snapshot after a normal run")
        finally:
            self.assertEqual(s2.stop(), 0)


if __name__ == "__main__":
    main()
