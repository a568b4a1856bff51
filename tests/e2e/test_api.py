"""HTTP API end to end: catalog, events, real-time recommendations, deletions, and bad input of
every kind, against a real `recd serve`."""
import json
import socket
import unittest

from harness import Server, main

CATALOG = (
    [{"id": "space-%d" % i, "categories": ["scifi"], "tags": ["space"], "title": "Space Film %d" % i,
      "published_at": 1600000000 + i} for i in range(8)] +
    [{"id": "love-%d" % i, "categories": ["romance"], "title": "Love Story %d" % i} for i in range(8)])


def taste_events():
    """20 users: even ones watch space films, odd ones love stories."""
    events = []
    ts = 1700000000
    for u in range(20):
        kind = "space" if u % 2 == 0 else "love"
        for i in range(8):
            if (i + u) % 3 == 0:
                continue
            ts += 1
            events.append({"user": "u%d" % u, "item": "%s-%d" % (kind, i), "type": "view", "ts": ts,
                           "id": "e-%d-%d" % (u, i)})
    return events


class ApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Server("--retrain-events", "0", "--max-batch", "1000", "--max-body", "200000",
                       "--factors", "8").start()
        st, r = cls.s.post("/v1/items", CATALOG)
        assert st == 200 and r["upserted"] == len(CATALOG), r
        st, r = cls.s.post("/v1/events", taste_events())
        assert st == 200, r
        st, r = cls.s.post("/v1/train?wait=1")
        assert st == 200 and r["ready"], r

    @classmethod
    def tearDownClass(cls):
        cls.s.cleanup()

    def assertError(self, resp, status, fragment=None):
        st, body = resp
        self.assertEqual(st, status, body)
        self.assertIn("error", body)
        self.assertIn("code", body["error"])
        self.assertIn("message", body["error"])
        if fragment:
            self.assertIn(fragment, body["error"]["message"])

    def test_recommendations_follow_taste_with_reasons(self):
        st, r = self.s.get("/v1/recommend/u0?n=3")
        self.assertEqual(st, 200)
        self.assertEqual(r["model"], "hybrid")
        ids = [x["id"] for x in r["items"]]
        self.assertEqual(len(ids), 3)
        self.assertTrue(all(i.startswith("space-") for i in ids), ids)
        _, user = self.s.get("/v1/users/u0")
        seen = {h["item"] for h in user["history"]}
        self.assertFalse(seen & set(ids), "seen items must not be recommended")
        for x in r["items"]:
            why = x["reason"]
            self.assertEqual(why["kind"], "because_you", x)
            self.assertTrue(why["text"].startswith("because you viewed Space Film"), x)
            self.assertIn(why["item"], seen)  # the evidence is in the user's history
            self.assertIsInstance(x["score"], float)

    def test_new_event_changes_next_recommendation(self):
        st, r = self.s.get("/v1/recommend/newcomer?n=5")
        self.assertEqual(st, 200)
        self.assertEqual(r["model"], "popular")
        self.assertTrue(all(x["reason"]["kind"] == "trending_in" and "item" not in x["reason"]
                            for x in r["items"]), r)
        st, r = self.s.post("/v1/events", [{"user": "newcomer", "item": "love-2", "type": "like"}])
        self.assertEqual((st, r["accepted"]), (200, 1))
        st, r = self.s.get("/v1/recommend/newcomer?n=5")
        self.assertEqual(r["model"], "hybrid")
        ids = [x["id"] for x in r["items"]]
        self.assertNotIn("love-2", ids)
        self.assertGreaterEqual(sum(i.startswith("love-") for i in ids), 4, r)

    def test_similar_and_popular(self):
        st, r = self.s.get("/v1/items/space-1/similar?n=4")
        self.assertEqual(st, 200)
        self.assertEqual(len(r["items"]), 4)
        self.assertGreaterEqual(sum(x["id"].startswith("space-") for x in r["items"]), 3, r)
        # reasons in /v1/recommend's form: kind, the query item as the evidence, text
        self.assertEqual([x["position"] for x in r["items"]], [1, 2, 3, 4])
        for x in r["items"]:
            self.assertNotIn("because", x)  # the evidence is reason.item now
            if x["source"] == "knn":
                self.assertEqual(x["reason"], {"kind": "often_together_with", "item": "space-1",
                                               "text": "often together with Space Film 1"}, x)
            else:
                self.assertEqual((x["reason"]["kind"], x["reason"]["item"]), ("similar_to", "space-1"), x)
        self.assertTrue(any(x["source"] == "knn" for x in r["items"]), r)
        st, r = self.s.get("/v1/popular?n=5")
        self.assertEqual(st, 200)
        self.assertEqual(len(r["items"]), 5)
        for x in r["items"]:
            _, item = self.s.get("/v1/items/%s" % x["id"])
            cats = item.get("categories") or []
            self.assertEqual(x["reason"], {"kind": "trending_in", "text": "trending in %s" % cats[0]
                                           if cats else "trending now"}, x)
        self.assertError(self.s.get("/v1/items/nope/similar"), 404)

    def test_items_and_users_roundtrip(self):
        st, item = self.s.get("/v1/items/space-3")
        self.assertEqual(st, 200)
        self.assertEqual(item["title"], "Space Film 3")
        self.assertEqual(item["categories"], ["scifi"])
        st, r = self.s.post("/v1/users", [{"id": "alice", "attributes": {"age": 31, "country": "DE"}}])
        self.assertEqual((st, r["upserted"]), (200, 1))
        st, u = self.s.get("/v1/users/alice")
        self.assertEqual(st, 200)
        self.assertEqual(u["attributes"], {"age": 31, "country": "DE"})
        self.assertEqual(u["events"], 0)
        st, u = self.s.get("/v1/users/u1")
        self.assertGreater(u["events"], 0)
        self.assertTrue(u["history"][0]["item"].startswith("love-"))
        self.assertError(self.s.get("/v1/users/nobody"), 404)
        self.assertError(self.s.get("/v1/items/nothing"), 404)

    def test_delete_item_hides_it_at_once(self):
        self.s.post("/v1/items", [{"id": "doomed", "title": "Doomed"}])
        evs = [{"user": "fan-%d" % k, "item": "doomed", "type": "purchase"} for k in range(30)]
        self.assertEqual(self.s.post("/v1/events", evs)[0], 200)
        _, r = self.s.get("/v1/popular?n=3")
        self.assertIn("doomed", [x["id"] for x in r["items"]])
        st, r = self.s.delete("/v1/items/doomed")
        self.assertEqual(st, 200)
        _, r = self.s.get("/v1/popular?n=50")
        self.assertNotIn("doomed", [x["id"] for x in r["items"]])
        _, r = self.s.get("/v1/recommend/newbie?n=50")
        self.assertNotIn("doomed", [x["id"] for x in r["items"]])
        self.assertError(self.s.get("/v1/items/doomed"), 404)
        self.assertError(self.s.delete("/v1/items/doomed"), 404)

    def test_delete_user_erases_history(self):
        self.s.post("/v1/events", [{"user": "temp", "item": "space-1", "type": "click"},
                                   {"user": "temp", "item": "space-2", "type": "click"}])
        _, before = self.s.get("/v1/status")
        st, _ = self.s.delete("/v1/users/temp")
        self.assertEqual(st, 200)
        self.assertError(self.s.get("/v1/users/temp"), 404)
        _, after = self.s.get("/v1/status")
        self.assertEqual(after["events"], before["events"] - 2)
        self.assertEqual(after["users"], before["users"] - 1)
        self.assertError(self.s.delete("/v1/users/temp"), 404)
        st, r = self.s.get("/v1/recommend/temp")
        self.assertEqual(r["model"], "popular")

    def test_duplicate_event_ids_count_once(self):
        ev = {"user": "dup", "item": "love-1", "type": "view", "id": "same-id"}
        st, r = self.s.post("/v1/events", [ev, ev])
        self.assertEqual((st, r["accepted"], r["duplicates"]), (200, 1, 1))
        st, r = self.s.post("/v1/events", [ev])
        self.assertEqual((r["accepted"], r["duplicates"]), (0, 1))
        _, u = self.s.get("/v1/users/dup")
        self.assertEqual(u["events"], 1)

    def test_bad_events_never_drop_good_ones(self):
        batch = [
            {"user": "mix", "item": "love-3", "type": "view"},
            {"user": "mix", "item": "love-4", "type": "teleport"},
            {"user": "mix", "type": "view"},
            "not an object",
            {"user": "mix", "item": "love-5", "type": "rating", "value": 4},
            {"user": "mix", "item": "love-6", "type": "view", "ts": "noon"},
            {"user": "x" * 300, "item": "love-6", "type": "view"},
        ]
        st, r = self.s.post("/v1/events", batch)
        self.assertEqual(st, 200)
        self.assertEqual(r["accepted"], 2)
        self.assertEqual([x["index"] for x in r["rejected"]], [1, 2, 3, 5, 6])
        self.assertIn("type", r["rejected"][0]["reason"])
        self.assertIn("item", r["rejected"][1]["reason"])
        _, u = self.s.get("/v1/users/mix")
        self.assertEqual(u["events"], 2)
        st, r = self.s.post("/v1/events", [{"user": "mix"}])
        self.assertEqual(st, 400)
        self.assertEqual(len(r["rejected"]), 1)

    def test_long_utf8_text_is_cut_cleanly(self):
        # a title longer than the reason buffer, made of two-byte characters
        self.s.post("/v1/items", [{"id": "long-title", "title": "\u00e9" * 200}])
        self.s.post("/v1/events", [{"user": "lt-%d" % k, "item": it, "type": "like"}
                                   for k in range(3) for it in ("long-title", "space-6")])
        st, r = self.s.post("/v1/events", [{"user": "lt-new", "item": "long-title", "type": "like"}])
        st, r = self.s.get("/v1/items/long-title/similar?n=3")
        self.assertEqual(st, 200)
        self.assertIn("space-6", [x["id"] for x in r["items"]])
        self.assertTrue(r["items"][0]["reason"]["text"].startswith("often together with \u00e9\u00e9"))
        # an unknown field with a long non-ASCII name still gets its rejection listed
        st, r = self.s.post("/v1/events", [{"user": "u", "item": "i", "type": "view", "x" + "\u00e9" * 100: 1},
                                           {"user": "u", "item": "i", "type": "view"}])
        self.assertEqual((st, r["accepted"]), (200, 1))
        self.assertEqual(len(r["rejected"]), 1)
        self.assertIn("unknown field", r["rejected"][0]["reason"])

    def test_ndjson_events(self):
        nd = "\n".join(json.dumps({"user": "nd-%d" % k, "item": "space-%d" % (k % 3), "type": "click"})
                       for k in range(5))
        body = (nd + "\n\n" + json.dumps({"user": "nd-x", "item": "space-1", "type": "teleport"}) + "\n").encode()
        st, r = self.s.request("POST", "/v1/events", raw=body,
                               headers={"Content-Type": "application/x-ndjson"})
        self.assertEqual(st, 200, r)
        self.assertEqual(r["accepted"], 5)
        self.assertEqual(r["rejected"][0]["index"], 5)
        _, u = self.s.get("/v1/users/nd-3")
        self.assertEqual(u["events"], 1)
        st, r = self.s.request("POST", "/v1/events", raw=b'{"user":"a","item":"b","type":"view"}\n{"user":',
                               headers={"Content-Type": "application/x-ndjson"})
        self.assertEqual(st, 400)
        self.assertIn("line 2", r["error"]["message"])

    def test_malformed_bodies(self):
        self.assertError(self.s.post("/v1/events", raw=b"[{\"user\": "), 400, "malformed JSON")
        self.assertError(self.s.post("/v1/events", raw=b""), 400)
        self.assertError(self.s.post("/v1/events", raw=b"42"), 400, "array")
        self.assertError(self.s.post("/v1/events", raw=b'[{"user":"\xff\xfe","item":"i","type":"view"}]'), 400)
        self.assertError(self.s.post("/v1/items", raw=b'{"id": "a", "id": "b"}'), 400)
        st, r = self.s.post("/v1/items", [{"id": "ok"}, {"title": "no id"}, {"id": "t", "tags": "x"},
                                          {"id": "c", "categories": [1]}, {"id": "w", "weird": 1}])
        self.assertEqual((st, r["upserted"]), (200, 1))
        self.assertEqual([x["index"] for x in r["rejected"]], [1, 2, 3, 4])
        self.assertError(self.s.post("/v1/users", [{"id": "u", "attributes": 5}]), 400)

    def test_limits(self):
        big = [{"user": "b", "item": "i%d" % k, "type": "view"} for k in range(1001)]
        self.assertError(self.s.post("/v1/events", raw=b"[" + b" " * 300000 + b"]"), 413)
        st, r = self.s.post("/v1/events", big[:1001])
        self.assertIn(st, (413,), r)
        self.assertError(self.s.get("/v1/recommend/u0?n=0"), 400, "n must be")
        self.assertError(self.s.get("/v1/recommend/u0?n=abc"), 400)
        self.assertError(self.s.get("/v1/recommend/u0?n=100000"), 400)
        self.assertError(self.s.get("/v1/nothing-here"), 404)
        self.assertError(self.s.request("PUT", "/v1/events", body=[]), 405)
        self.assertError(self.s.get("/v1/recommend/%ZZ"), 400)
        # ids in the path are checked like ids in bodies
        self.assertError(self.s.get("/v1/recommend/%FF"), 400, "UTF-8")
        self.assertError(self.s.get("/v1/items/%01x"), 400, "control character")
        self.assertError(self.s.get("/v1/items/%FF/similar"), 400, "UTF-8")
        self.assertError(self.s.delete("/v1/users/%FF"), 400, "UTF-8")
        self.assertError(self.s.get("/v1/recommend/" + "x" * 300), 400, "limit is 256")
        self.assertEqual(self.s.get("/v1/recommend/caf%C3%A9")[0], 200)

    def test_garbage_connection_does_not_hurt(self):
        with socket.create_connection(("127.0.0.1", self.s.port), timeout=5) as c:
            c.sendall(b"\x00\x01\x02 garbage \r\n\r\n")
            try:
                c.recv(1000)
            except OSError:
                pass
        self.assertEqual(self.s.get("/health")[0], 200)

    def test_status(self):
        st, r = self.s.get("/v1/status")
        self.assertEqual(st, 200)
        for k in ("items", "users", "events", "models"):
            self.assertIn(k, r)
        als = [m for m in r["models"] if m["name"] == "als"][0]
        self.assertGreaterEqual(als["version"], 1)
        self.assertGreater(als["trained_events"], 0)
        self.assertIn("training", als)
        self.assertIsNotNone(als["last_train"])
        self.assertIsNotNone(als["last_train_duration_s"])


if __name__ == "__main__":
    main()
