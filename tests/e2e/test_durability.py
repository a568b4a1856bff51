"""Nothing acknowledged is lost: events acknowledged with 2xx survive kill -9, restart restores
catalog, users, histories and the trained model, and retried events are counted once."""
import os
import shutil
import threading
import time
import unittest

from harness import Server, main

N_THREADS = 6
BATCHES = 400
PER_BATCH = 5


class DurabilityTest(unittest.TestCase):
    def setUp(self):
        self.s = Server("--retrain-events", "0", "--factors", "8", "--threads", "8").start()

    def tearDown(self):
        self.s.cleanup()

    def events_for(self, t, b):
        return [{"user": "w%d" % t, "item": "it-%d" % ((b * PER_BATCH + k) % 97), "type": "click",
                 "id": "t%d-b%d-k%d" % (t, b, k), "ts": 1700000000 + b} for k in range(PER_BATCH)]

    def test_kill9_loses_nothing_acknowledged(self):
        self.s.post("/v1/items", [{"id": "it-%d" % i, "title": "Item %d" % i} for i in range(97)])
        self.s.post("/v1/items", [{"id": "it-6", "title": 'Say "six" \\ caf\u00e9'}])
        self.s.post("/v1/users", [{"id": "w0", "attributes": {"country": "FR"}}])
        # a first model, so that restart has a snapshot to restore
        self.s.post("/v1/events", self.events_for(99, 0))
        st, r = self.s.post("/v1/train?wait=1")
        self.assertEqual(st, 200)
        version = r["version"]
        self.assertGreaterEqual(version, 1)

        acked = {t: 0 for t in range(N_THREADS)}
        stop = threading.Event()

        def writer(t):
            for b in range(BATCHES):
                if stop.is_set():
                    return
                try:
                    st, r = self.s.post("/v1/events", self.events_for(t, b))
                except OSError:
                    return  # the server died under us: this batch was not acknowledged
                if st == 200:
                    acked[t] += r["accepted"]

        threads = [threading.Thread(target=writer, args=(t,)) for t in range(N_THREADS)]
        for th in threads:
            th.start()
        time.sleep(1.0)
        self.s.kill9()
        stop.set()
        for th in threads:
            th.join()
        total_acked = sum(acked.values())
        self.assertGreater(total_acked, 0, "no batch was acknowledged before the kill")
        print("\nacknowledged before kill -9: %d events" % total_acked)

        self.s.start()
        st, status = self.s.get("/v1/status")
        als = [m for m in status["models"] if m["name"] == "als"][0]
        self.assertTrue(als["ready"], "the snapshot must be served right after restart")
        self.assertGreaterEqual(als["version"], version)
        for t in range(N_THREADS):
            st, u = self.s.get("/v1/users/w%d" % t)
            got = u["events"] if st == 200 else 0
            self.assertGreaterEqual(got, acked[t], "user w%d lost acknowledged events" % t)
        st, u = self.s.get("/v1/users/w0")
        self.assertEqual(u["attributes"], {"country": "FR"})
        st, item = self.s.get("/v1/items/it-5")
        self.assertEqual(item["title"], "Item 5")
        # titles come back exactly (quotes, backslashes, UTF-8) in the reasons after a restart
        st, sim = self.s.get("/v1/items/it-6/similar?n=1")
        self.assertEqual(sim["items"][0]["reason"],
                         {"kind": "often_together_with", "item": "it-6",
                          "text": 'often together with Say "six" \\ caf\u00e9'})

        # the client retries everything: ids make it exactly-once
        for t in range(N_THREADS):
            for b in range(BATCHES):
                st, r = self.s.post("/v1/events", self.events_for(t, b))
                self.assertEqual(st, 200)
        for t in range(N_THREADS):
            st, u = self.s.get("/v1/users/w%d" % t)
            self.assertEqual(u["events"], BATCHES * PER_BATCH)
        st, status = self.s.get("/v1/status")
        self.assertEqual(status["events"], (N_THREADS * BATCHES + 1) * PER_BATCH)

        # memory after a clean restart equals memory after the crash + retries
        _, rec_before = self.s.get("/v1/recommend/w1?n=5")
        self.assertEqual(self.s.stop(), 0, "SIGTERM must shut down cleanly")
        self.s.start()
        _, status2 = self.s.get("/v1/status")
        self.assertEqual(status2["events"], status["events"])
        self.assertEqual(status2["events_in_memory"], status["events_in_memory"])
        _, rec_after = self.s.get("/v1/recommend/w1?n=5")
        self.assertEqual(len(rec_after["items"]), len(rec_before["items"]))


SMALL_MODEL = ("--retrain-events", "0", "--factors", "8")


def train_small(test, s, prefix):
    """60 likes of 7 users (prefix0..6) over 11 items, and one training run; its version."""
    s.post("/v1/events", [{"user": "%s%d" % (prefix, k % 7), "item": "x%d" % (k % 11), "type": "like"}
                          for k in range(60)])
    st, r = s.post("/v1/train?wait=1")
    test.assertEqual(st, 200)
    return r["version"]


class DamagedSnapshotTest(unittest.TestCase):
    """A truncated model snapshot is detected, never served, and rebuilt from the events."""

    def test_truncated_snapshot_is_rebuilt(self):
        s = Server(*SMALL_MODEL).start()
        try:
            version = train_small(self, s, "d")
            s.stop()
            models = os.path.join(s.data, "models")
            snap = sorted(f for f in os.listdir(models) if f.startswith("als-"))[-1]  # not ranker.bin
            path = os.path.join(models, snap)
            size = os.path.getsize(path)
            with open(path, "r+b") as f:
                f.truncate(size // 2)
            s.start()
            st, rec = s.get("/v1/recommend/d1?n=3")
            self.assertEqual(st, 200)  # served (popular or retrained), never an error
            deadline = time.time() + 30
            while time.time() < deadline:
                _, status = s.get("/v1/status")
                als = [m for m in status["models"] if m["name"] == "als"][0]
                if als["ready"]:
                    break
                time.sleep(0.1)
            self.assertTrue(als["ready"], "no model rebuilt after a damaged snapshot")
            self.assertEqual(als["version"], version + 1)
            self.assertIn("damaged", s.tail())
        finally:
            s.cleanup()


class MovedDataDirectoryTest(unittest.TestCase):
    """A data directory copied elsewhere (a backup restored, a volume moved) serves its own
    snapshot: the store records the snapshot's path, which then names the old directory."""

    def test_copy_serves_its_own_snapshot(self):
        s = Server(*SMALL_MODEL).start()
        try:
            version = train_small(self, s, "m")
            _, before = s.get("/v1/recommend/m1?n=5")
            self.assertEqual(s.stop(), 0)
            moved = s.data + "-moved"
            shutil.copytree(s.data, moved)
            old = os.path.join(s.data, "models")
            shutil.rmtree(old)  # the old directory's files are gone
            s2 = Server(*SMALL_MODEL, data=moved).start()
            try:
                _, status = s2.get("/v1/status")
                als = [m for m in status["models"] if m["name"] == "als"][0]
                self.assertTrue(als["ready"], "the copy did not load its snapshot:\n" + s2.tail())
                self.assertEqual(als["version"], version)  # loaded, not retrained
                _, after = s2.get("/v1/recommend/m1?n=5")
                self.assertEqual([i["id"] for i in after["items"]], [i["id"] for i in before["items"]])
                self.assertNotIn("missing", s2.tail())
            finally:
                s2.cleanup()
        finally:
            s.cleanup()


class DeleteRaceTest(unittest.TestCase):
    """Deletions racing event posts for the same user: memory and store must agree afterwards
    (a restart rebuilds memory from the store, so the two answers must be the same)."""

    def test_delete_while_posting(self):
        s = Server("--retrain-events", "0", "--threads", "8").start()
        try:
            users = ["racer%d" % k for k in range(4)]
            stop = time.time() + 2.0

            def poster(t):
                n = 0
                while time.time() < stop:
                    u = users[n % len(users)]
                    s.post("/v1/events", [{"user": u, "item": "it%d" % (n % 5), "type": "click",
                                           "id": "p%d-%d" % (t, n)}])
                    n += 1

            def deleter():
                n = 0
                while time.time() < stop:
                    s.delete("/v1/users/" + users[n % len(users)])
                    n += 1

            threads = [threading.Thread(target=poster, args=(t,)) for t in range(3)]
            threads.append(threading.Thread(target=deleter))
            for th in threads:
                th.start()
            for th in threads:
                th.join()

            def snapshot():
                out = {}
                for u in users:
                    st, body = s.get("/v1/users/" + u)
                    out[u] = body["events"] if st == 200 else None
                st, status = s.get("/v1/status")
                out["events"] = status["events"]
                out["events_in_memory"] = status["events_in_memory"]
                return out

            live = snapshot()
            self.assertEqual(live["events"], live["events_in_memory"], live)
            s.stop()
            s.start()
            self.assertEqual(snapshot(), live)
        finally:
            s.cleanup()


if __name__ == "__main__":
    main()
