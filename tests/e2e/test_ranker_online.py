"""The learned ranker inside the server: it learns online from impressions and clicks with
context, reports its progressive-validation AUC, and once ready re-scores lists so the same user
gets shorter items on a mobile phone in the evening than on a desktop in the morning, as the
simulated clicks taught it."""
import random
import time
import unittest

from harness import Server, main

N_ITEMS, N_USERS = 80, 60


def short(i):
    return i % 2 == 0  # even items are short


class RankerOnlineTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Server("--ranker-min-examples", "500", "--ranker-weight", "0.8",
                       "--ranker-negative-window", "0.005", "--retrain-events", "0").start()
        cls.addClassCleanup(cls.s.cleanup)
        items = [{"id": "i%d" % i, "title": "Item %d" % i, "categories": ["c%d" % (i % 4)],
                  "attributes": {"duration_min": 5 if short(i) else 90}} for i in range(N_ITEMS)]
        assert cls.s.post("/v1/items", items)[0] == 200
        rng = random.Random(11)
        # some history so every user and item is known to retrieval
        hist = [{"user": "u%d" % u, "item": "i%d" % rng.randrange(N_ITEMS), "type": "view"}
                for u in range(N_USERS) for _ in range(5)]
        assert cls.s.post("/v1/events", hist)[0] == 200
        assert cls.s.post("/v1/train?wait=1")[0] == 200
        # impressions with context; clicks: mobile evening likes short items, desktop morning long
        t0 = int(time.time()) - 3600
        batch = []
        for k in range(4000):
            u = "u%d" % rng.randrange(N_USERS)
            i = rng.randrange(N_ITEMS)
            mobile = rng.random() < 0.5
            ctx = {"device": "mobile", "hour": 20} if mobile else {"device": "desktop", "hour": 9}
            p = 0.5 if (short(i) == mobile) else 0.05
            ts = t0 + k
            batch.append({"user": u, "item": "i%d" % i, "type": "impression", "context": ctx, "ts": ts})
            if rng.random() < p:
                batch.append({"user": u, "item": "i%d" % i, "type": "click", "context": ctx, "ts": ts})
            if len(batch) >= 250:
                cls.settle(batch)
                batch = []
        cls.settle(batch)

    @classmethod
    def settle(cls, batch):
        """Posts a batch, waits out the negative window (0.3 s) and posts one more event, which
        makes the learner take the batch's unclicked impressions as negatives before the next
        batch: the order of learning then does not depend on how loaded the machine is."""
        if batch:
            assert cls.s.post("/v1/events", batch)[0] == 200
        time.sleep(0.4)
        assert cls.s.post("/v1/events", [{"user": "u0", "item": "i1", "type": "view"}])[0] == 200

    def ranker(self):
        st, r = self.s.get("/v1/status")
        self.assertEqual(st, 200)
        return next(m for m in r["models"] if m["name"] == "ranker")

    def test_learns_with_progressive_auc(self):
        rk = self.ranker()
        print("ranker:", rk)
        self.assertTrue(rk["ready"])
        self.assertGreater(rk["positives"], 300)
        self.assertGreater(rk["negatives"], 1000)
        # clicks depend on device x duration only (p 0.5 vs 0.05): the best possible AUC is about
        # 0.79; predictions are those made when each item was shown, before its outcome
        self.assertGreater(rk["auc"], 0.65)
        with __import__("urllib.request").request.urlopen(
                "http://127.0.0.1:%d/metrics" % self.s.port) as f:
            text = f.read().decode()
        self.assertIn('recd_ranker_auc{window="all"}', text)

    def test_context_changes_the_list(self):
        def short_share(ctx):
            total = 0
            for u in range(0, N_USERS, 3):
                st, r = self.s.request("POST", "/v1/recommend/u%d" % u,
                                       body={"n": 10, "debug": True, "track": False, "context": ctx})
                self.assertEqual(st, 200, r)
                self.assertTrue(r["debug"]["ranked"])
                total += sum(short(int(x["id"][1:])) for x in r["items"])
            return total / (10 * len(range(0, N_USERS, 3)))
        mobile = short_share({"device": "mobile", "hour": 20})
        desktop = short_share({"device": "desktop", "hour": 9})
        print("short items: mobile evening %.2f, desktop morning %.2f" % (mobile, desktop))
        self.assertGreater(mobile, desktop + 0.3)


if __name__ == "__main__":
    main()
