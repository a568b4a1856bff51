"""The learned ranker survives restarts (DATA/models/ranker.bin): after a clean stop, and after a
kill -9 that follows a save, the restarted server's ranker is ready at once with the same
examples, labels and progressive AUC, gives every (user, context, item) the same probability
(debug ranker_p), and re-scores lists by context as before. A kill -9 loses what was learned
since the last save, and nothing else. A damaged file is logged and ignored: the ranker starts
fresh and does not re-score lists. An erasure makes the saver write the file again."""
import os
import random
import re
import time
import unittest

from harness import Server, main

N_ITEMS, N_USERS = 60, 40
FLAGS = ["--ranker-min-examples", "300", "--ranker-weight", "0.8",
         "--ranker-negative-window", "0.005", "--retrain-events", "0", "--fresh-boost", "0"]
RANKER_FIELDS = ("ready", "examples", "positives", "negatives", "auc", "auc_recent")


def short(i):
    return i % 2 == 0  # even items are short


class RankerPersistTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Server(*FLAGS, "--ranker-save-seconds", "0").start()
        cls.addClassCleanup(cls.s.cleanup)
        cls.rng = random.Random(5)
        items = [{"id": "i%d" % i, "title": "Item %d" % i, "categories": ["c%d" % (i % 4)],
                  "attributes": {"duration_min": 5 if short(i) else 90}} for i in range(N_ITEMS)]
        assert cls.s.post("/v1/items", items)[0] == 200
        hist = [{"user": "u%d" % u, "item": "i%d" % cls.rng.randrange(N_ITEMS), "type": "view"}
                for u in range(N_USERS) for _ in range(5)]
        assert cls.s.post("/v1/events", hist)[0] == 200
        assert cls.s.post("/v1/train?wait=1")[0] == 200
        cls.teach(2000)

    @classmethod
    def teach(cls, n):
        """n impressions with context; mobile in the evening clicks short items, desktop in the
        morning long ones. Each batch's unclicked impressions become negatives before the next."""
        t0 = int(time.time()) - 3600
        batch = []
        for k in range(n):
            u = "u%d" % cls.rng.randrange(N_USERS)
            i = cls.rng.randrange(N_ITEMS)
            mobile = cls.rng.random() < 0.5
            ctx = {"device": "mobile", "hour": 20} if mobile else {"device": "desktop", "hour": 9}
            ev = {"user": u, "item": "i%d" % i, "context": ctx, "ts": t0 + k}
            batch.append(dict(ev, type="impression"))
            if cls.rng.random() < (0.5 if short(i) == mobile else 0.05):
                batch.append(dict(ev, type="click"))
            if len(batch) >= 250 or k == n - 1:
                assert cls.s.post("/v1/events", batch)[0] == 200
                batch = []
                time.sleep(0.4)
                # one more event makes the learner take the due impressions as negatives
                assert cls.s.post("/v1/events", [{"user": "u0", "item": "i1", "type": "view"}])[0] == 200

    def ranker(self):
        st, r = self.s.get("/v1/status")
        self.assertEqual(st, 200)
        rk = next(m for m in r["models"] if m["name"] == "ranker")
        return {f: rk[f] for f in RANKER_FIELDS}

    def short_share(self, ctx):
        """Share of short items in the lists of every third user in context ctx, and whether
        the ranker re-scored them."""
        total, ranked = 0, []
        for u in range(0, N_USERS, 3):
            st, r = self.s.request("POST", "/v1/recommend/u%d" % u,
                                   body={"n": 10, "debug": True, "track": False, "context": ctx})
            self.assertEqual(st, 200, r)
            ranked.append(r["debug"]["ranked"])
            total += sum(short(int(x["id"][1:])) for x in r["items"])
        return total / (10 * len(range(0, N_USERS, 3))), all(ranked)

    def ranker_ps(self):
        """(user, device, item) -> the ranker's probability (debug ranker_p) in the lists of
        every user on a phone in the evening and on a desktop in the morning."""
        ps = {}
        for u in range(N_USERS):
            # weekday given: a run across midnight must not change the weekend feature
            for ctx in ({"device": "mobile", "hour": 20, "weekday": 3},
                        {"device": "desktop", "hour": 9, "weekday": 3}):
                st, r = self.s.request("POST", "/v1/recommend/u%d" % u,
                                       body={"n": 20, "debug": True, "track": False, "context": ctx})
                self.assertEqual(st, 200, r)
                for x in r["items"]:
                    if "ranker_p" in x:
                        ps[(u, ctx["device"], x["id"])] = x["ranker_p"]
        return ps

    def assert_same_predictions(self, before):
        """The same probability for every (user, context, item) listed before and now. The
        lists themselves may differ: retrieval folds users in again after a restart."""
        after = self.ranker_ps()
        common = set(before) & set(after)
        print("ranker_p compared on %d (user, context, item)" % len(common))
        self.assertGreater(len(common), N_USERS * 2 * 5)
        self.assertEqual({k: after[k] for k in common}, {k: before[k] for k in common})

    def assert_ranks_by_context(self):
        mobile, ranked_m = self.short_share({"device": "mobile", "hour": 20})
        desktop, ranked_d = self.short_share({"device": "desktop", "hour": 9})
        print("short items: mobile evening %.2f, desktop morning %.2f" % (mobile, desktop))
        self.assertTrue(ranked_m and ranked_d)
        self.assertGreater(mobile, desktop + 0.3)

    def log(self):
        with open(self.s.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def restart(self, how, *flags):
        self.s.extra = FLAGS + list(flags)
        if how == "kill":
            self.s.kill9()
        else:
            self.assertEqual(self.s.stop(), 0)
        self.s.start()

    def path(self):
        return os.path.join(self.s.data, "models", "ranker.bin")

    def test_1_clean_restart(self):
        before = self.ranker()
        print("before:", before)
        self.assertTrue(before["ready"])
        self.assertGreater(before["auc"], 0.65)
        self.assert_ranks_by_context()
        ps = self.ranker_ps()
        self.restart("term", "--ranker-save-seconds", "0")
        self.assertEqual(self.ranker(), before)  # ready at once, nothing re-learned
        self.assert_same_predictions(ps)
        self.assert_ranks_by_context()
        log = self.log()
        self.assertRegex(log, r"ranker: saved .*ranker\.bin \(%d examples, 18\.9 MB\)" % before["examples"])
        self.assertRegex(log, r"ranker: loaded .*ranker\.bin: %d examples \(%d positive\), ready"
                         % (before["examples"], before["positives"]))
        self.assertEqual(os.listdir(os.path.dirname(self.path())).count("ranker.bin.tmp"), 0)

    def test_2_kill_after_save(self):
        # the timer saves within a second of learning; kill -9 once the last learning is saved
        self.restart("term", "--ranker-save-seconds", "1")
        start = len(self.log())
        self.teach(500)
        learned = self.ranker()
        self.assertGreater(learned["examples"], 0)
        deadline = time.time() + 20
        while time.time() < deadline:
            saved = [int(n) for n in re.findall(r"ranker: saved \S+ \((\d+) examples",
                                                self.log()[start:])]
            if saved and saved[-1] == learned["examples"]:
                break
            time.sleep(0.2)
        else:
            self.fail("no save of %d examples: %s" % (learned["examples"], self.log()[start:]))
        ps = self.ranker_ps()
        self.restart("kill", "--ranker-save-seconds", "0")
        self.assertEqual(self.ranker(), learned)
        self.assert_same_predictions(ps)
        self.assert_ranks_by_context()

    def test_3_kill_loses_what_was_not_saved(self):
        saved, ps = self.ranker(), self.ranker_ps()  # on disk: what the last kill found saved
        self.teach(250)
        self.assertGreater(self.ranker()["examples"], saved["examples"])
        self.assertNotEqual(self.ranker_ps(), ps)
        self.restart("kill", "--ranker-save-seconds", "0")  # no timer: nothing saved since
        self.assertEqual(self.ranker(), saved)
        self.assert_same_predictions(ps)

    def test_4_damaged_file_is_ignored(self):
        self.assertEqual(self.s.stop(), 0)
        with open(self.path(), "r+b") as f:
            f.seek(os.path.getsize(self.path()) // 2)
            b = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([b[0] ^ 0x40]))
        start = len(self.log())
        self.s.start()
        rk = self.ranker()
        self.assertEqual((rk["ready"], rk["examples"]), (False, 0))
        _, ranked = self.short_share({"device": "mobile", "hour": 20})
        self.assertFalse(ranked)
        self.assertRegex(self.log()[start:], r"warn +ranker: ignoring \S+ranker\.bin: model: .*; "
                                             r"the ranker starts fresh")
        self.assertNotIn("ranker: loaded", self.log()[start:])
        # truncated: the same
        self.assertEqual(self.s.stop(), 0)
        with open(self.path(), "r+b") as f:
            f.truncate(1000)
        start = len(self.log())
        self.s.start()
        self.assertEqual(self.ranker()["examples"], 0)
        self.assertRegex(self.log()[start:], r"ranker: ignoring \S+ranker\.bin: truncated or "
                                             r"damaged header; the ranker starts fresh")

    def test_5_erasure_rewrites_the_file(self):
        # the file test 4 left is cut; an erasure makes the saver write it again within a
        # second, though the timer is off (the user's id slot is reset in memory and on disk)
        self.assertLess(os.path.getsize(self.path()), 2000)
        start = len(self.log())
        self.assertEqual(self.s.delete("/v1/users/u3")[0], 200)
        deadline = time.time() + 10
        while time.time() < deadline and "ranker: saved" not in self.log()[start:]:
            time.sleep(0.1)
        self.assertIn("ranker: saved", self.log()[start:])
        self.assertEqual(os.path.getsize(self.path()), 18906564)  # format 2: 8 bytes of side scale more
        self.restart("term", "--ranker-save-seconds", "0")
        self.assertRegex(self.log()[start:], r"ranker: loaded \S+ranker\.bin: 0 examples")


if __name__ == "__main__":
    main()
