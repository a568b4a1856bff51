"""The saved cold set across restarts (src/serve/cold_file.c, trainer.c): a training run saves
its cold-start factors next to its snapshot (models/cold-NNNNNN.bin), and a restart publishes
them instead of searching every cold item's content neighbours again. Lists of cold items are
the same, scores included, before and after a restart; the log says the saved set was used; a
damaged file is refused with a warning, the full refit gives the same lists and saves a sound
file the next start reuses; a re-described
item is searched anew; the file names items only, and goes with its snapshot."""
import os
import time
import unittest

from harness import Server, main

N = 10  # items with history per genre
COLD = 4  # cold items per genre
USERS = 36

GENRES = {
    "space": {"categories": ["scifi"], "tags": ["space", "aliens"], "title": "Space Film %s"},
    "love": {"categories": ["romance"], "tags": ["love", "paris"], "title": "Love Story %s"},
}


def doc(genre, suffix):
    g = GENRES[genre]
    return {"id": "%s-%s" % (genre, suffix), "categories": g["categories"], "tags": g["tags"],
            "title": g["title"] % suffix}


def user_id(u):
    return "fan-%02d" % u


def events():
    """12 space fans, 24 romance fans, each with most of their genre's items."""
    out, ts = [], 1700000000
    for u in range(USERS):
        genre = "space" if u < 12 else "love"
        for i in range(N):
            if (i + u) % 4 == 0:
                continue
            ts += 1
            out.append({"user": user_id(u), "item": "%s-%d" % (genre, i), "type": "view",
                        "ts": ts, "id": "e-%d-%d" % (u, i)})
    return out


COLD_ITEMS = ["%s-c%d" % (g, j) for g in GENRES for j in range(COLD)]


class ColdRestartTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # no retrain but the ones asked for, no time-dependent boost, no learned ranker: lists
        # depend on the models alone
        cls.s = Server("--retrain-events", "0", "--retrain-seconds", "0", "--no-ranker",
                       "--fresh-boost", "0", "--factors", "8").start()
        # an item sharing no term with any item with history: decided "no factors", saved too
        catalog = [{"id": "odd-one", "categories": ["opera"], "title": "Aria"}]
        catalog += [doc(g, i) for g in GENRES for i in range(N)]
        catalog += [doc(g, "c%d" % j) for g in GENRES for j in range(COLD)]
        st, r = cls.s.post("/v1/items", catalog)
        assert st == 200 and r["upserted"] == len(catalog), r
        st, r = cls.s.post("/v1/events", events())
        assert st == 200, r
        st, r = cls.s.post("/v1/train?wait=1")
        assert st == 200 and r["ready"], r
        cls.models = os.path.join(cls.s.data, "models")

    @classmethod
    def tearDownClass(cls):
        cls.s.cleanup()

    def similar(self, item, n=8):
        st, r = self.s.get("/v1/items/%s/similar?n=%d" % (item, n))
        self.assertEqual(st, 200, r)
        return [(x["id"], x["score"]) for x in r["items"]]

    def state(self):
        """Every cold item's similar list and every user's list, ids and scores."""
        lists = {item: self.similar(item) for item in COLD_ITEMS + ["space-0", "love-0"]}
        for u in range(USERS):
            st, r = self.s.get("/v1/recommend/%s?n=12&debug=1" % user_id(u))
            self.assertEqual(st, 200, r)
            lists[user_id(u)] = [(x["id"], x["score"], x["source"]) for x in r["items"]]
        return lists

    def restart(self):
        """Restarts the server; returns what this life logged."""
        self.s.stop()
        start = os.path.getsize(self.s.log_path)
        self.s.start()
        with open(self.s.log_path, "rb") as f:
            f.seek(start)
            return f.read().decode("utf-8", "replace")

    def cold_file(self, version):
        return os.path.join(self.models, "cold-%06d.bin" % version)

    def assert_cold_items_served(self, lists):
        """Cold items have factors: their lists are their genre's (not empty, not mixed)."""
        for item in COLD_ITEMS:
            genre = item.split("-")[0]
            ids = [i for i, _ in lists[item]][:5]
            self.assertEqual(len(ids), 5, (item, lists[item]))
            self.assertTrue(all(i.startswith(genre + "-") for i in ids), (item, ids))

    def test_1_restart_reuses_the_saved_cold_set(self):
        path = self.cold_file(1)
        self.assertTrue(os.path.exists(path), os.listdir(self.models))
        with open(path, "rb") as f:
            data = f.read()
        # items only: every cold item (and the odd one) is named, no user is
        for item in COLD_ITEMS + ["odd-one"]:
            self.assertIn(item.encode(), data)
        for u in range(USERS):
            self.assertNotIn(user_id(u).encode(), data)
        before = self.state()
        self.assertEqual(before, self.state(), "lists must be stable without a restart")
        self.assert_cold_items_served(before)
        log = self.restart()
        self.assertIn("saved cold set of snapshot v1 used: %d cold items reused, 0 searched"
                      % (len(COLD_ITEMS) + 1), log)
        self.assertNotIn("not used", log)
        self.assertEqual(self.state(), before)

    def test_2_damaged_cold_set_falls_back_to_the_refit(self):
        before = self.state()
        path = self.cold_file(1)
        with open(path, "rb") as f:
            data = bytearray(f.read())
        # the sign and exponent byte of the last factor of the last entry (love-c3, which has
        # factors): read without the checksum, its lists would change
        data[-9] ^= 0x40
        with open(path, "wb") as f:
            f.write(bytes(data))
        log = self.restart()
        # nothing changed since the training: the refit computes the very same factors
        self.assertEqual(self.state(), before)
        self.assertIn("saved cold set %s not used (damaged)" % path, log)
        self.assertNotIn("saved cold set of snapshot", log)
        # the refit saved what it searched in the damaged file's place: the next start reuses it
        log = self.restart()
        self.assertIn("saved cold set of snapshot v1 used: %d cold items reused, 0 searched"
                      % (len(COLD_ITEMS) + 1), log)
        self.assertNotIn("not used", log)
        self.assertEqual(self.state(), before)

    def test_3_redescribed_item_is_searched_again(self):
        st, r = self.s.post("/v1/train?wait=1")  # a sound cold set again (v2)
        self.assertEqual(st, 200, r)
        self.assertTrue(os.path.exists(self.cold_file(2)))
        # space-c1 becomes a love story: live, its factors come from its new doc at once
        st, _ = self.s.post("/v1/items", [dict(doc("love", "x"), id="space-c1")])
        self.assertEqual(st, 200)
        ids = [i for i, _ in self.similar("space-c1")][:5]
        self.assertTrue(all(i.startswith("love-") for i in ids), ids)
        log = self.restart()
        ids = [i for i, _ in self.similar("space-c1")][:5]
        self.assertTrue(all(i.startswith("love-") for i in ids), ids)
        # the saved factors came from the old doc: that item alone is searched
        self.assertIn("saved cold set of snapshot v2 used: %d cold items reused, 1 searched"
                      % len(COLD_ITEMS), log)

    def test_4_cold_set_goes_with_its_snapshot(self):
        # an erasure retrains; the snapshot without the user removes the others, cold sets too
        st, _ = self.s.delete("/v1/users/%s" % user_id(20))
        self.assertEqual(st, 200)
        deadline = time.time() + 60
        want = sorted(["als-000003.bin", "cold-000003.bin"])
        while time.time() < deadline and sorted(os.listdir(self.models)) != want:
            time.sleep(0.1)
        self.assertEqual(sorted(os.listdir(self.models)), want)


if __name__ == "__main__":
    main()
