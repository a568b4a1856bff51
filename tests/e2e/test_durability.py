"""Nothing acknowledged is lost: events acknowledged with 2xx survive kill -9, restart restores
catalog, users, histories and the trained model, and retried events are counted once."""
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
        self.assertEqual(sim["items"][0]["reason"], 'often together with Say "six" \\ caf\u00e9')

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


if __name__ == "__main__":
    main()
