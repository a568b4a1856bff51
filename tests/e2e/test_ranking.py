"""The ranking pipeline end to end (retrieve, filter_score, diversify, explore, pin, explain):
the request interface (GET and POST), explanations, user preferences, negative feedback,
business rules (with reload and SIGHUP), diversity, freshness, new arrivals and exploration,
against a real `recd serve` and a small synthetic catalog with known tastes."""
import json
import os
import random
import shutil
import signal
import tempfile
import time
import unittest
import urllib.parse

from harness import Server, main, run_recd

NOW = int(time.time())
DAY = 86400
CATS = ["scifi", "romance", "news", "sports"]
TAGS = {"scifi": ["space", "robots"], "romance": ["love", "paris"],
        "news": ["politics", "economy"], "sports": ["football", "tennis"]}
COUNTRY = {"scifi": "SE", "romance": "FR", "news": "DE", "sports": "BR"}
PER_CAT, N_USERS, SEEN = 15, 40, 7
KINDS = {"because_you", "trending_in", "popular_with_similar_users", "new_in",
         "matches_your_interest", "exploration", "promoted"}
STAGES = ["retrieve", "filter_score", "diversify", "explore", "pin", "explain"]


def catalog():
    """60 items, 15 per category. Every third item is short (5 min), every fifth unavailable;
    all published long ago (400+ days: no freshness effect), the low numbers most recently."""
    items = []
    for c in CATS:
        for i in range(PER_CAT):
            items.append({"id": "%s-%d" % (c, i), "title": "%s Title %d" % (c.title(), i),
                          "categories": [c], "tags": TAGS[c],
                          "published_at": NOW - (400 + i) * DAY,
                          "attributes": {"duration_min": 5 if i % 3 == 0 else 45,
                                         "available": i % 5 != 4}})
    return items


ITEMS = catalog()
CAT_OF = {it["id"]: it["categories"][0] for it in ITEMS}
SHORT = {it["id"] for it in ITEMS if it["attributes"]["duration_min"] < 10}
UNAVAILABLE = {it["id"] for it in ITEMS if not it["attributes"]["available"]}
PUBLISHED = {it["id"]: it["published_at"] for it in ITEMS}
TITLE = {it["id"]: it["title"] for it in ITEMS}


def taste(u):
    return CATS[u % 4]


def users_and_events():
    """40 users, 10 per category: each has seen 7 of their category's 15 items (and liked one),
    nothing else."""
    rng = random.Random(11)
    users, events, hist = [], [], {}
    ts = NOW - 7200
    for u in range(N_USERS):
        uid, c = "u%d" % u, taste(u)
        users.append({"id": uid, "attributes": {"country": COUNTRY[c], "age": 20 + 10 * (u % 4)}})
        seen = rng.sample(range(PER_CAT), SEEN)
        hist[uid] = {"%s-%d" % (c, i) for i in seen}
        for k, i in enumerate(seen):
            ts += 1
            events.append({"user": uid, "item": "%s-%d" % (c, i), "type": "like" if k == 0 else "view",
                           "ts": ts, "id": "e-%d-%d" % (u, i)})
    return users, events, hist


USERS, EVENTS, HIST = users_and_events()


def start_server(*extra):
    """A server with the catalog, the users and their events, trained."""
    s = Server("--retrain-events", "0", "--factors", "8", "--max-body", "2000000",
               "--max-batch", "5000", *extra).start()
    try:
        st, r = s.post("/v1/items", ITEMS)
        assert st == 200 and r["upserted"] == len(ITEMS), r
        st, r = s.post("/v1/users", USERS)
        assert st == 200 and r["upserted"] == len(USERS), r
        st, r = s.post("/v1/events", EVENTS)
        assert st == 200 and r["accepted"] == len(EVENTS), r
        st, r = s.post("/v1/train?wait=1")
        assert st == 200, r
    except BaseException:
        s.cleanup()
        raise
    return s


def qs(**params):
    return urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})


class RankingCase(unittest.TestCase):
    s = None

    def rec(self, user, server=None, **params):
        server = server or self.s
        st, r = server.get("/v1/recommend/%s?%s" % (user, qs(**params)))
        self.assertEqual(st, 200, r)
        ids = [x["id"] for x in r["items"]]
        self.assertEqual(len(ids), len(set(ids)), "duplicate items in a list: %s" % ids)
        return r

    def ids(self, user, server=None, **params):
        return [x["id"] for x in self.rec(user, server, **params)["items"]]

    def assertError(self, resp, status, *fragments):
        st, body = resp
        self.assertEqual(st, status, body)
        self.assertIn("error", body, body)
        self.assertIn("code", body["error"])
        for f in fragments:
            self.assertIn(f, body["error"]["message"])

    def history(self, user, server=None):
        st, r = (server or self.s).get("/v1/users/%s" % user)
        self.assertEqual(st, 200, r)
        return {h["item"] for h in r["history"]}


# ---------------------------------------------------------------------------------------------
# The main server: request interface, explanations, preferences, feedback, diversity, freshness

# items posted after training, no events, no term shared with the catalog: only the pipeline's
# fresh source (new arrivals) can bring them. "brief" has a 1-hour freshness half-life.
FRESH = [
    {"id": "brief-old", "title": "Quokka", "categories": ["brief"], "tags": ["zebu"],
     "published_at": NOW - 30 * DAY},
    {"id": "brief-day", "title": "Wombat", "categories": ["brief"], "tags": ["zebu"],
     "published_at": NOW - DAY},
    {"id": "digest-day", "title": "Numbat", "categories": ["digest"], "tags": ["yak"],
     "published_at": NOW - DAY},
    {"id": "brief-now", "title": "Dingo", "categories": ["brief"], "tags": ["zebu"],
     "published_at": NOW},
]


class PipelineTest(RankingCase):
    @classmethod
    def setUpClass(cls):
        cls.s = start_server("--fresh-half-lives", "brief=1,other=100", "--fresh-half-life", "168",
                             "--fresh-candidates", "10")
        cls.addClassCleanup(cls.s.cleanup)
        st, r = cls.s.post("/v1/items", FRESH)
        assert st == 200 and r["upserted"] == len(FRESH), r

    # ---- 1. request interface

    def test_get_and_post_give_the_same_list(self):
        params = dict(n=7, exclude="scifi-0,scifi-1", diversity=0.3, device="mobile", region="FR",
                      hour=10, weekday=2, tz="+02:00", track=0)
        got = self.rec("u0", **params)
        st, posted = self.s.post("/v1/recommend/u0", {
            "n": 7, "exclude": ["scifi-0", "scifi-1"], "diversity": 0.3, "track": False,
            "context": {"device": "mobile", "region": "FR", "hour": 10, "weekday": 2, "tz": "+02:00"}})
        self.assertEqual(st, 200, posted)
        self.assertEqual(len(got["items"]), 7)
        self.assertEqual([(x["id"], x["reason"]) for x in got["items"]],
                         [(x["id"], x["reason"]) for x in posted["items"]])
        self.assertEqual(got["model"], posted["model"])
        # the numbers given as strings in the query are typed the same as in the body
        g = self.rec("u0", debug=1, **params)["debug"]["context"]
        st, p = self.s.post("/v1/recommend/u0", {"n": 7, "debug": True, "track": False, "context": {
            "device": "mobile", "region": "FR", "hour": 10, "weekday": 2, "tz": "+02:00"}})
        self.assertEqual(g, p["debug"]["context"])
        self.assertEqual((g["hour"], g["weekday"], g["device"]), (10, 2, "mobile"))

    def test_n_exclude_category_min_published(self):
        for n in (1, 3, 12, 25):
            self.assertEqual(len(self.rec("u4", n=n)["items"]), n)
        self.assertEqual(len(self.rec("u4")["items"]), 10)  # default n
        top = self.ids("u4", n=6)
        self.assertTrue(all(CAT_OF.get(i) == "scifi" for i in top[:3]), top)
        excl = top[:2] + ["no-such-item"]
        after = self.ids("u4", n=6, exclude=",".join(excl))
        self.assertEqual(len(after), 6)
        self.assertFalse(set(excl) & set(after), after)
        self.assertIn(top[2], after[:2])  # the rest moves up
        st, body = self.s.post("/v1/recommend/u4", {"n": 6, "exclude": top[:2]})
        self.assertFalse(set(top[:2]) & {x["id"] for x in body["items"]})
        for c in CATS:
            got = self.ids("u4", n=10, category=c)
            self.assertTrue(got, c)
            self.assertTrue(all(CAT_OF.get(i) == c for i in got), (c, got))
        self.assertEqual(self.ids("u4", n=10, category="no-such-category"), [])
        # min_published: only items published at or after it (low numbers are the newest)
        cut = NOW - 404 * DAY - 100
        whole = self.ids("u4", n=40)
        self.assertTrue(any(PUBLISHED.get(i, NOW) < cut for i in whole))
        got = self.ids("u4", n=40, min_published=cut)
        self.assertTrue(got)
        self.assertTrue(all(PUBLISHED.get(i, NOW) >= cut for i in got), got)
        self.assertTrue(all(PUBLISHED.get(i, NOW) >= cut
                            for i in self.ids("u4", n=40, min_published=cut * 1000)))  # ms

    def test_explain_zero_and_debug_stages(self):
        r = self.rec("u0", n=5, explain=0)
        self.assertEqual(len(r["items"]), 5)
        self.assertTrue(all("reason" not in x for x in r["items"]), r)
        self.assertTrue(all("reason" in x for x in self.rec("u0", n=5)["items"]))
        self.assertNotIn("debug", self.rec("u0", n=5))
        r = self.rec("u0", n=5, debug=1)
        stages = r["debug"]["stages"]
        self.assertEqual([x["stage"] for x in stages], STAGES)
        for x in stages:
            self.assertIsInstance(x["ms"], float)
            self.assertGreaterEqual(x["ms"], 0)
            self.assertIsInstance(x["in"], int)
            self.assertIsInstance(x["out"], int)
        self.assertEqual(stages[0]["in"], 0)
        self.assertGreaterEqual(stages[0]["out"], 40)  # 53 unseen catalog items + new arrivals
        for a, b in zip(stages, stages[1:]):
            self.assertEqual(b["in"], a["out"], (a, b))
        self.assertEqual(stages[2]["out"], 5)  # diversify cuts to n
        self.assertEqual(stages[-1]["out"], 5)
        # 60 items, below --ann-min-items: iALS scored every item
        self.assertEqual(r["debug"]["als_search"], "exact")
        self.assertEqual(r["debug"]["ann_scanned"], 0)
        # a category filter shows in filter_score's counts
        st = self.rec("u0", n=5, debug=1, category="news")["debug"]["stages"]
        self.assertLessEqual(st[1]["out"], PER_CAT)
        self.assertLess(st[1]["out"], st[1]["in"])

    def test_bad_inputs(self):
        bad = {"n=0": "n must", "n=2.5": "n must", "n=abc": "n must", "diversity=2": "diversity",
               "diversity=-0.1": "diversity", "hour=25": "hour", "weekday=7": "weekday",
               "tz=bogus": "tz", "min_published=-5": "min_published", "category=": "category"}
        for q, frag in bad.items():
            self.assertError(self.s.get("/v1/recommend/u0?" + q), 400, frag)
        self.assertError(self.s.post("/v1/recommend/u0", {"n": 3, "colour": "red"}), 400, "colour")
        self.assertError(self.s.post("/v1/recommend/u0", raw=b'{"n": 3,'), 400, "malformed JSON")
        self.assertError(self.s.post("/v1/recommend/u0", raw=b'[1, 2]'), 400, "object")
        self.assertError(self.s.post("/v1/recommend/u0", {"n": 0}), 400, "n must")
        self.assertError(self.s.post("/v1/recommend/u0", {"exclude": [1]}), 400, "exclude[0]")
        self.assertError(self.s.post("/v1/recommend/u0", {"context": 5}), 400, "context")
        self.assertError(self.s.post("/v1/recommend/u0", {"context": {"hour": 24}}), 400, "hour")
        self.assertError(self.s.post("/v1/recommend/u0", {"context": {"tz": "Mars/Olympus"}}), 400, "tz")
        self.assertError(self.s.post("/v1/recommend/u0", {"context": {"device": ["a"]}}), 400,
                         "context.device")

    # ---- 2. explanations

    def test_because_you_evidence_is_history_of_the_same_category(self):
        n_because = 0
        implausible = []
        for u in (8, 9, 10, 11):
            uid = "u%d" % u
            r = self.rec(uid, n=10)
            self.assertEqual(r["model"], "hybrid")
            hist = self.history(uid)
            self.assertEqual(hist, HIST[uid])
            for x in r["items"]:
                why = x["reason"]
                self.assertIn(why["kind"], KINDS, x)
                self.assertIsInstance(why["text"], str)
                self.assertTrue(why["text"], x)
                self.assertNotIn(x["id"], hist)
                if why["kind"] == "because_you":
                    n_because += 1
                    self.assertIn(why["item"], hist, x)
                    self.assertIn(why["text"], ("because you viewed " + TITLE[why["item"]],
                                                "because you liked " + TITLE[why["item"]]), x)
                    if CAT_OF[why["item"]] != CAT_OF[x["id"]]:
                        implausible.append((uid, x["id"], why))
                else:
                    self.assertNotIn("item", why, x)
            # the top of a taste-driven list is the user's category (8 unseen items of it)
            self.assertTrue(all(CAT_OF.get(x["id"]) == taste(u) for x in r["items"][:8]), r)
        self.assertGreaterEqual(n_because, 32)
        # items past the user's own category (positions 9-10 here: no one ever consumed them
        # together with anything the user has) must not be explained by an item of another
        # category: a because_you needs a kNN neighbour or a factor cosine above 0.3
        self.maxDiff = None
        self.assertEqual(implausible, [])

    def test_user_without_history_gets_trending(self):
        r = self.rec("stranger-1", n=10)
        self.assertEqual(r["model"], "popular")
        self.assertEqual(len(r["items"]), 10)
        for x in r["items"]:
            self.assertEqual(x["reason"]["kind"], "trending_in", x)
            self.assertNotIn("item", x["reason"])
            self.assertEqual(x["reason"]["text"], "trending in %s" % CAT_OF[x["id"]])

    def test_user_with_attributes_gets_popular_with_similar_users(self):
        st, r = self.s.post("/v1/users", [{"id": "newbie-br", "attributes": {"country": "BR", "age": 50}}])
        self.assertEqual(st, 200, r)
        r = self.rec("newbie-br", n=10)
        self.assertEqual(r["model"], "attributes", r)
        self.assertTrue(all(x["reason"]["kind"] == "popular_with_similar_users" for x in r["items"]), r)
        self.assertGreaterEqual(sum(CAT_OF.get(x["id"]) == "sports" for x in r["items"]), 8, r)

    # ---- 3. preferences

    def check_prefs_u12(self):
        uid = "u12"
        got = self.ids(uid, n=30)
        self.assertEqual(len(got), 30)
        # romance items carry the tag "paris"
        self.assertFalse([i for i in got if CAT_OF.get(i) in ("scifi", "romance")], got)
        st, r = self.s.get("/v1/users/%s/preferences" % uid)
        self.assertEqual(st, 200, r)
        self.assertEqual(r, {"user": uid, "preferences": {
            "exclude_categories": ["scifi"], "exclude_tags": ["paris"], "prefer_categories": []}})

    def test_prefs_exclude(self):
        uid = "u12"  # a scifi fan
        before = self.ids(uid, n=10)
        self.assertTrue(any(CAT_OF.get(i) == "scifi" for i in before), before)
        st, r = self.s.request("PUT", "/v1/users/%s/preferences" % uid,
                               body={"exclude_categories": ["scifi"], "exclude_tags": ["paris"]})
        self.assertEqual(st, 200, r)
        self.assertEqual(r["preferences"], {"exclude_categories": ["scifi"], "exclude_tags": ["paris"],
                                            "prefer_categories": []})
        self.check_prefs_u12()
        st, r = self.s.get("/v1/users/nobody-yet/preferences")
        self.assertEqual(st, 200, r)
        self.assertEqual(r["preferences"], {"exclude_categories": [], "exclude_tags": [],
                                            "prefer_categories": []})
        # an upsert of the user keeps them
        st, r = self.s.post("/v1/users", [{"id": uid, "attributes": {"country": "SE", "age": 99}}])
        self.assertEqual(st, 200, r)
        self.check_prefs_u12()
        self.assertEqual(self.history(uid), HIST[uid])

    def test_z_prefs_survive_restart(self):
        # named _z_ to run last: it restarts the shared server
        st, r = self.s.request("PUT", "/v1/users/u12/preferences",
                               body={"exclude_categories": ["scifi"], "exclude_tags": ["paris"]})
        self.assertEqual(st, 200, r)
        self.check_prefs_u12()
        self.s.stop()
        try:
            self.s.start(timeout=10)
        except RuntimeError as e:
            self.s.kill9()
            # (once a deadlock: loading preferences re-took the engine's write lock)
            self.fail("the server did not come back after a restart with preferences: %s"
                      % str(e)[-300:])
        self.check_prefs_u12()
        st, r = self.s.post("/v1/users", [{"id": "u12", "attributes": {"country": "SE", "age": 98}}])
        self.assertEqual(st, 200, r)
        self.check_prefs_u12()
        self.assertEqual(self.history("u12"), HIST["u12"])

    def test_prefs_prefer_category_moves_it_up(self):
        uid = "u13"  # a romance fan
        before = sum(CAT_OF.get(i) == "news" for i in self.ids(uid, n=12))
        st, r = self.s.request("PUT", "/v1/users/%s/preferences" % uid,
                               body={"prefer_categories": ["news"]})
        self.assertEqual(st, 200, r)
        self.assertEqual(r["preferences"]["prefer_categories"], ["news"])
        self.assertEqual(r["preferences"]["exclude_categories"], [])
        after = sum(CAT_OF.get(i) == "news" for i in self.ids(uid, n=12))
        self.assertGreater(after, before)
        # replacing the preferences drops the old ones
        st, r = self.s.request("PUT", "/v1/users/%s/preferences" % uid, body={})
        self.assertEqual(st, 200, r)
        self.assertEqual(sum(CAT_OF.get(i) == "news" for i in self.ids(uid, n=12)), before)

    def test_prefs_bad_bodies(self):
        path = "/v1/users/u13/preferences"
        for body, frag in (({"exclude_categories": ["a"], "colour": []}, "colour"),
                           ({"exclude_categories": "scifi"}, "exclude_categories"),
                           ({"prefer_categories": [1]}, "prefer_categories"),
                           ({"exclude_tags": [""]}, "exclude_tags"),
                           ([], None)):
            resp = self.s.request("PUT", path, body=body)
            if frag:
                self.assertError(resp, 400, frag)
            else:
                self.assertError(resp, 400)
        self.assertError(self.s.request("PUT", path, raw=b'{"exclude_categories": ['), 400,
                         "malformed JSON")
        # nothing of that was stored
        st, r = self.s.get(path)
        self.assertNotIn("colour", r["preferences"])
        self.assertNotEqual(r["preferences"]["exclude_categories"], "scifi")

    # ---- 4. negative and positive feedback

    def neighbour_rank_after(self, uid, event_type):
        before = self.ids(uid, n=30)
        x = before[0]
        self.assertEqual(CAT_OF[x], taste(int(uid[1:])))
        st, sim = self.s.get("/v1/items/%s/similar?n=20" % x)
        self.assertEqual(st, 200, sim)
        near = [s["id"] for s in sim["items"] if s["id"] in before and s["id"] != x]
        self.assertTrue(near, sim)
        y = near[0]
        self.assertEqual(CAT_OF[y], CAT_OF[x])  # co-consumed: the same category
        st, r = self.s.post("/v1/events", [{"user": uid, "item": x, "type": event_type}])
        self.assertEqual((st, r["accepted"]), (200, 1), r)
        after = self.ids(uid, n=30)
        self.assertNotIn(x, after)
        self.assertNotIn(x, self.ids(uid, n=60))
        self.assertIn(y, after)
        print("%s on %s: neighbour %s from rank %d to %d" % (
            event_type, x, y, before.index(y) + 1, after.index(y) + 1))
        self.assertGreater(after.index(y), before.index(y))
        return before, after

    def test_not_interested_removes_and_demotes_neighbours(self):
        self.neighbour_rank_after("u14", "not_interested")

    def test_dislike_removes_and_changes_the_list(self):
        # a thumbs down removes the item and changes the next list; demoting its neighbours is
        # kept for not_interested (a dislike is often a miss inside a liked genre)
        uid = "u15"
        before = self.ids(uid, n=30)
        x = before[0]
        st, r = self.s.post("/v1/events", [{"user": uid, "item": x, "type": "dislike"}])
        self.assertEqual((st, r["accepted"]), (200, 1), r)
        after = self.ids(uid, n=30)
        self.assertNotIn(x, after)
        self.assertNotIn(x, self.ids(uid, n=60))
        self.assertNotEqual(before[1:], after[:len(before) - 1])

    def test_like_in_a_new_category_changes_the_list(self):
        uid = "u16"  # a scifi fan with 8 unseen scifi items
        before = self.rec(uid, n=10)["items"]
        self.assertEqual(sum(CAT_OF.get(x["id"]) == "sports" for x in before[:8]), 0, before)
        self.assertFalse([x for x in before if x["reason"].get("item") == "sports-3"])
        st, r = self.s.post("/v1/events", [{"user": uid, "item": "sports-3", "type": "like"}])
        self.assertEqual((st, r["accepted"]), (200, 1))
        after = self.rec(uid, n=10)["items"]
        self.assertNotEqual([x["id"] for x in before], [x["id"] for x in after])
        self.assertNotIn("sports-3", [x["id"] for x in after])
        self.assertGreater(sum(CAT_OF.get(x["id"]) == "sports" for x in after[:8]), 0, after)
        evidence = [x for x in after if x["reason"].get("item") == "sports-3"]
        self.assertGreaterEqual(len(evidence), 2, after)
        for x in evidence:
            self.assertEqual(x["reason"]["kind"], "because_you")
            self.assertEqual(x["reason"]["text"], "because you liked Sports Title 3")
            self.assertEqual(CAT_OF[x["id"]], "sports")

    def test_request_filter_on_attributes(self):
        # a per-request attribute condition, in the rules' language: GET (JSON in the query)
        # and POST give the same list, every item passes, and a bad condition is a 400
        cond = {"all": [{"item.attributes.available": {"eq": True}},
                        {"item.attributes.duration_min": {"lt": 10}}]}
        got = self.ids("u0", n=10, filter=json.dumps(cond))
        self.assertTrue(got)
        short = {it["id"] for it in ITEMS if it["attributes"]["duration_min"] < 10}
        self.assertFalse(set(got) & UNAVAILABLE, got)
        self.assertTrue(set(got) <= short, got)
        st, r = self.s.post("/v1/recommend/u0", {"n": 10, "filter": cond})
        self.assertEqual(st, 200, r)
        self.assertEqual([x["id"] for x in r["items"]], got)
        st, r = self.s.post("/v1/recommend/u0", {"filter": {"item.attributes.available": {"eq2": 1}}})
        self.assertEqual(st, 400, r)
        self.assertIn('filter["item.attributes.available"]: unknown operator "eq2"', r["error"]["message"])

    # ---- 6. diversity

    def test_diversity_widens_the_categories(self):
        for u in (17, 18, 19):
            uid = "u%d" % u
            flat = self.ids(uid, n=10, diversity=0)
            wide = self.ids(uid, n=10, diversity=0.9)
            d0 = len({CAT_OF.get(i) for i in flat})
            d9 = len({CAT_OF.get(i) for i in wide})
            self.assertTrue(d9 > d0 or d0 == len(CATS), (uid, flat, wide))
            self.assertGreaterEqual(d9, 3, wide)
            self.assertEqual(flat[0], wide[0])  # MMR starts from the most relevant
            self.assertEqual(len(wide), 10)

    # ---- 7. freshness and new arrivals

    def test_fresh_item_outranks_equal_old_one_per_category_half_life(self):
        r = self.rec("stranger-2", n=100)
        items = {x["id"]: x for x in r["items"]}
        for f in FRESH:  # new arrivals reach the list, explained as such
            self.assertIn(f["id"], items)
            self.assertEqual(items[f["id"]]["source"], "fresh")
            self.assertEqual(items[f["id"]]["reason"]["kind"], "new_in")
            self.assertEqual(items[f["id"]]["reason"]["text"], "new in %s" % f["categories"][0])
        score = {i: items[i]["score"] for i in items}
        pos = {i: items[i]["position"] for i in items}
        # the same base (no events, one source): only freshness tells them apart
        self.assertAlmostEqual(score["brief-now"] / score["brief-old"], 1.5, delta=0.01)
        self.assertLess(pos["brief-now"], pos["brief-old"])
        # a day is 24 half-lives of "brief" but 1/7 of the default: 1 + 0.5 * 2^(-1/7)
        self.assertAlmostEqual(score["brief-day"] / score["brief-old"], 1.0, delta=0.01)
        self.assertAlmostEqual(score["digest-day"] / score["brief-old"], 1 + 0.5 * 2 ** (-1 / 7),
                               delta=0.01)
        self.assertLess(pos["digest-day"], pos["brief-day"])
        got = self.rec("u20", n=5, category="brief")
        self.assertEqual([x["id"] for x in got["items"]][0], "brief-now")
        self.assertEqual({x["id"] for x in got["items"]}, {"brief-now", "brief-day", "brief-old"})
        self.assertTrue(all(x["reason"]["kind"] == "new_in" for x in got["items"]))


# ---------------------------------------------------------------------------------------------
# Rules

RULES_V1 = {"rules": [
    {"name": "available-only", "filter": {"item.attributes.available": {"eq": True}}},
    {"name": "mobile-short", "boost": 4,
     "when": {"all": [{"context.device": {"eq": "mobile"}},
                      {"item.attributes.duration_min": {"lt": 10}}]}},
    {"name": "quiet-sports", "bury": 0.05,
     "when": {"all": [{"context.referrer": {"eq": "quiet"}},
                      {"item.categories": {"contains": "sports"}}]}},
    {"name": "fr-pin", "pin": [{"item": "news-7", "position": 1}],
     "when": {"context.region": {"eq": "FR"}}},
    {"name": "blocked", "block": ["scifi-1", "scifi-2"]},
]}
RULES_V2 = {"rules": [
    RULES_V1["rules"][0], RULES_V1["rules"][1], RULES_V1["rules"][2],
    {"name": "fr-pin-2", "pin": [{"item": "romance-7", "position": 1}],
     "when": {"context.region": {"eq": "FR"}}},
]}
RULES_V4 = {"rules": [
    RULES_V1["rules"][0],
    {"name": "fr-pin-3", "pin": [{"item": "sports-7", "position": 1}],
     "when": {"context.region": {"eq": "FR"}}},
]}


def rules_text(rules):
    return json.dumps(rules, indent=2) + "\n"


def broken_rules():
    """RULES_V2 with an unknown operator; returns (text, line of the offending value, path)."""
    bad = json.loads(json.dumps(RULES_V2))
    bad["rules"][1]["when"]["all"][1] = {"item.attributes.duration_min": {"lte2": 10}}
    text = rules_text(bad)
    lines = text.splitlines()
    line = next(k + 1 for k, l in enumerate(lines) if '"lte2"' in l)  # the unknown key's value
    return text, line, 'rules[1].when.all[1]["item.attributes.duration_min"]'


class RulesTest(RankingCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="recd-rules-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.path = os.path.join(cls.tmp, "rules.json")
        with open(cls.path, "w") as f:
            f.write(rules_text(RULES_V1))
        cls.s = start_server("--rules", cls.path)
        cls.addClassCleanup(cls.s.cleanup)
        cls.plain = start_server()  # the same data without rules, for comparison
        cls.addClassCleanup(cls.plain.cleanup)

    def write(self, text):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.path)

    def test_a_rules_listed(self):
        st, r = self.s.get("/v1/rules")
        self.assertEqual(st, 200, r)
        self.assertEqual(r["rules"], [x["name"] for x in RULES_V1["rules"]])
        self.assertEqual(r["count"], 5)
        self.assertEqual(r["file"], self.path)
        st, r = self.plain.get("/v1/rules")
        self.assertEqual((st, r["count"], r["file"]), (200, 0, None))
        self.assertError(self.plain.post("/v1/rules/reload"), 404)

    def test_a_filter_removes_unavailable(self):
        for u in range(0, 8):
            got = self.ids("u%d" % u, n=40)
            self.assertEqual(len(got), 40)
            self.assertFalse(set(got) & UNAVAILABLE, got)
            # without the rule they would be there
            self.assertTrue(set(self.ids("u%d" % u, self.plain, n=40)) & UNAVAILABLE)

    def test_a_boost_short_items_on_mobile_only(self):
        for u in (0, 1, 2):
            uid = "u%d" % u
            none = self.ids(uid, n=10)
            desktop = self.ids(uid, n=10, device="desktop")
            mobile = self.ids(uid, n=10, device="mobile")
            self.assertEqual(none, desktop)
            self.assertLess(sum(i in SHORT for i in none[:5]), 5, none)
            self.assertEqual(sum(i in SHORT for i in mobile[:5]), 5, mobile)
            self.assertGreater(sum(i in SHORT for i in mobile), sum(i in SHORT for i in none))

    def test_a_bury_by_context(self):
        uid = "u3"  # a sports fan
        normal = self.ids(uid, n=10)
        quiet = self.ids(uid, n=10, referrer="quiet")
        self.assertGreaterEqual(sum(CAT_OF.get(i) == "sports" for i in normal[:5]), 4, normal)
        self.assertEqual(sum(CAT_OF.get(i) == "sports" for i in quiet[:5]), 0, quiet)
        self.assertEqual(self.ids(uid, n=10, referrer="loud"), normal)

    def test_a_pin_by_region(self):
        for u in (0, 1, 3):
            uid = "u%d" % u
            fr = self.rec(uid, n=10, region="FR")["items"]
            self.assertEqual(fr[0]["id"], "news-7")
            self.assertEqual((fr[0]["source"], fr[0]["reason"]["kind"]), ("pin", "promoted"), fr[0])
            self.assertEqual(fr[0]["position"], 1)
            self.assertEqual(len(fr), 10)
            de = self.ids(uid, n=10, region="DE")
            self.assertNotEqual(de[0], "news-7")
            self.assertEqual(self.ids(uid, n=10), de)
            # the rest of the list keeps its order
            self.assertEqual([x["id"] for x in fr[1:]], [i for i in de if i != "news-7"][:9])
        st, r = self.s.post("/v1/recommend/u0", {"n": 3, "context": {"region": "FR"}})
        self.assertEqual(r["items"][0]["id"], "news-7")

    def test_a_pin_debug_counts(self):
        # a category list shorter than n: the pin adds an item, and the counts follow it
        r = self.rec("u0", n=20, region="FR", category="scifi", debug=1)
        st = r["debug"]["stages"]
        self.assertEqual([x["stage"] for x in st], STAGES)
        self.assertEqual(st[4]["out"], len(r["items"]))
        # the explain stage's "in" is what the pin stage let out
        self.assertEqual(st[5]["in"], st[4]["out"], st)

    def test_a_pin_respects_the_request_filters(self):
        # a pin never overrides a filter: an item the request excludes by id (exclude=news-7),
        # or outside the requested category (category=romance), is not pinned
        with self.subTest("exclude"):
            got = self.ids("u1", n=10, region="FR", exclude="news-7")
            self.assertNotIn("news-7", got)
        with self.subTest("category"):
            got = self.ids("u1", n=10, region="FR", category="romance")
            self.assertTrue(got)
            self.assertTrue(all(CAT_OF.get(i) == "romance" for i in got), got)

    def test_a_block_removes_items(self):
        seen_without = False
        for u in range(0, N_USERS, 4):  # scifi fans
            uid = "u%d" % u
            got = self.ids(uid, n=20, category="scifi")
            self.assertFalse({"scifi-1", "scifi-2"} & set(got), got)
            seen_without |= bool({"scifi-1", "scifi-2"} & set(self.ids(uid, self.plain, n=20, category="scifi")))
        self.assertTrue(seen_without)

    def test_z_reload_broken_file_and_sighup(self):
        # reload: the new rules apply to the next request
        self.write(rules_text(RULES_V2))
        st, r = self.s.post("/v1/rules/reload")
        self.assertEqual(st, 200, r)
        self.assertEqual(r["rules"], [x["name"] for x in RULES_V2["rules"]])
        self.assertEqual(self.ids("u0", n=10, region="FR")[0], "romance-7")
        blocked_back = any({"scifi-1", "scifi-2"} & set(self.ids("u%d" % u, n=20, category="scifi"))
                           for u in range(0, N_USERS, 4))
        self.assertTrue(blocked_back, "the block rule was removed by the reload")
        # a broken file: 400 naming file, line and path; the old rules stay
        text, line, path = broken_rules()
        self.write(text)
        self.assertError(self.s.post("/v1/rules/reload"), 400, "%s:%d:" % (self.path, line), path,
                         "lte2")
        st, r = self.s.get("/v1/rules")
        self.assertEqual(r["rules"], [x["name"] for x in RULES_V2["rules"]])
        self.assertEqual(self.ids("u0", n=10, region="FR")[0], "romance-7")
        self.assertEqual(sum(i in SHORT for i in self.ids("u0", n=5, device="mobile")), 5)
        self.assertFalse(set(self.ids("u0", n=40)) & UNAVAILABLE)
        # syntax error: file:line:column
        self.write('{"rules": [\n  {"name": "x",\n')
        st, r = self.s.post("/v1/rules/reload")
        self.assertEqual(st, 400, r)
        self.assertIn("%s:3:" % self.path, r["error"]["message"])
        self.assertEqual(self.ids("u0", n=10, region="FR")[0], "romance-7")
        # SIGHUP reloads too
        self.write(rules_text(RULES_V4))
        os.kill(self.s.proc.pid, signal.SIGHUP)
        want = [x["name"] for x in RULES_V4["rules"]]
        deadline = time.time() + 10
        while time.time() < deadline:
            st, r = self.s.get("/v1/rules")
            if r["rules"] == want:
                break
            time.sleep(0.05)
        self.assertEqual(r["rules"], want)
        self.assertEqual(self.ids("u0", n=10, region="FR")[0], "sports-7")
        self.assertLess(sum(i in SHORT for i in self.ids("u0", n=5, device="mobile")), 5)
        # a broken file on SIGHUP keeps the server and its rules
        self.write(broken_rules()[0])
        os.kill(self.s.proc.pid, signal.SIGHUP)
        time.sleep(0.3)
        self.assertIsNone(self.s.proc.poll())
        st, r = self.s.get("/v1/rules")
        self.assertEqual(r["rules"], want)

    def test_broken_rules_file_stops_the_server(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "bad-rules.json")
            text, line, jpath = broken_rules()
            with open(path, "w") as f:
                f.write(text)
            r = run_recd("serve", "--port", "0", "--data", d, "--rules", path, timeout=60)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("%s:%d:" % (path, line), r.stderr)
            self.assertIn(jpath, r.stderr)
            missing = os.path.join(d, "missing.json")
            r = run_recd("serve", "--port", "0", "--data", d, "--rules", missing, timeout=60)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(missing, r.stderr)


# ---------------------------------------------------------------------------------------------
# A category cap, and no new-arrival candidates

class CapTest(RankingCase):
    @classmethod
    def setUpClass(cls):
        cls.s = start_server("--max-per-category", "2", "--fresh-candidates", "0")
        cls.addClassCleanup(cls.s.cleanup)
        st, r = cls.s.post("/v1/items", FRESH)
        assert st == 200, r

    def test_max_per_category(self):
        for u in range(0, 12):
            for div in (None, 0.5):
                got = self.ids("u%d" % u, n=10, diversity=div)
                counts = {}
                for i in got:
                    counts[CAT_OF.get(i)] = counts.get(CAT_OF.get(i), 0) + 1
                self.assertLessEqual(max(counts.values()), 2, got)
                self.assertEqual(len(got), 2 * len(CATS), got)  # 4 categories x 2: stops short
                if div is None:  # pure relevance under the cap: the user's category first
                    self.assertTrue(all(CAT_OF.get(i) == taste(u) for i in got[:2]), got)

    def test_no_fresh_candidates(self):
        # the arrivals have no events and no content factors: without the fresh source they
        # are out of reach
        self.assertEqual(self.ids("u0", n=10, category="brief"), [])
        self.assertFalse({f["id"] for f in FRESH} & set(self.ids("stranger", n=100)))


# ---------------------------------------------------------------------------------------------
# The approximate iALS index, on from the first item: debug says so, lists stay personal

class AnnTest(RankingCase):
    @classmethod
    def setUpClass(cls):
        cls.s = start_server("--ann-min-items", "1", "--ann-lists", "8", "--ann-nprobe", "2")
        cls.addClassCleanup(cls.s.cleanup)

    def test_debug_shows_ann_and_lists_stay_personal(self):
        for u in range(0, 8):
            r = self.rec("u%d" % u, n=5, debug=1)
            self.assertEqual(r["debug"]["als_search"], "ann", r["debug"])
            self.assertGreater(r["debug"]["ann_scanned"], 0)
            self.assertLess(r["debug"]["ann_scanned"], len(ITEMS))  # 2 lists of 8
            got = [x["id"] for x in r["items"]]
            self.assertEqual(len(got), 5)
            self.assertTrue(all(CAT_OF.get(i) == taste(u) for i in got[:3]), got)
        # no factors, no iALS list
        self.assertIsNone(self.rec("stranger", n=5, debug=1)["debug"]["als_search"])


# ---------------------------------------------------------------------------------------------
# Exploration

MAX_IMP = 15


class ExploreTest(RankingCase):
    @classmethod
    def setUpClass(cls):
        cls.s = start_server("--explore-share", "0.2", "--explore-max-impressions", str(MAX_IMP))
        cls.addClassCleanup(cls.s.cleanup)
        st, r = cls.s.post("/v1/items", FRESH)
        assert st == 200, r

    def test_explore_slots(self):
        shown = {}
        lists_with = 0
        explored = set()
        for rnd in range(2):
            for u in range(N_USERS):
                uid = "u%d" % u
                items = self.rec(uid, n=10)["items"]
                self.assertEqual(len(items), 10)
                ex = [x for x in items if x["source"] == "explore"]
                lists_with += bool(ex)
                self.assertLessEqual(len(ex), 2)  # floor(0.2 * 10 + 0.5)
                for x in ex:
                    self.assertEqual(x["reason"]["kind"], "exploration", x)
                    self.assertGreaterEqual(x["position"], 9, items)  # the last slots
                    self.assertNotIn(x["id"], HIST[uid])
                    # new or little-shown: fewer impressions than the limit so far
                    self.assertLess(shown.get(x["id"], 0), MAX_IMP, x)
                    explored.add(x["id"])
                for x in items:
                    if x["source"] != "explore":
                        self.assertNotEqual(x["reason"]["kind"], "exploration")
                    shown[x["id"]] = shown.get(x["id"], 0) + 1
        self.assertGreaterEqual(lists_with, N_USERS)
        self.assertGreaterEqual(len(explored), 5)
        print("exploration: %d of %d lists, %d distinct items, new arrivals explored: %s" % (
            lists_with, 2 * N_USERS, len(explored), sorted(explored & {f["id"] for f in FRESH})))
        # the head of the list is unchanged by exploration: n=8 -> 2 slots too, n=3 -> 1 slot
        items = self.rec("u5", n=3)["items"]
        self.assertEqual(sum(x["source"] == "explore" for x in items), 1)
        self.assertEqual(items[2]["source"], "explore")

    def test_explore_respects_the_request_filters(self):
        # exploration draws only items the request may show: the request's category, exclude and
        # min_published, the user's excluded categories and tags, the rules' filters and blocks
        # (track=0: these lists do not count as impressions)
        with self.subTest("category=scifi"):
            got = self.rec("u1", n=10, category="scifi", track=0)["items"]
            self.assertTrue(all(CAT_OF.get(x["id"]) == "scifi" for x in got), got)
        with self.subTest("exclude"):
            # everything but the scifi items is excluded: u0 (a scifi fan) has 8 unseen
            excl = [i for i in CAT_OF if CAT_OF[i] != "scifi"] + [f["id"] for f in FRESH]
            st, r = self.s.post("/v1/recommend/u0", {"n": 10, "exclude": excl, "track": False})
            self.assertEqual(st, 200, r)
            self.assertEqual(len([x for x in r["items"] if x["source"] != "explore"]), 8, r)
            self.assertFalse(set(excl) & {x["id"] for x in r["items"]}, r["items"])
        with self.subTest("preferences"):
            uid = "u38"  # a news fan
            st, _ = self.s.request("PUT", "/v1/users/%s/preferences" % uid, body={
                "exclude_categories": ["scifi", "romance", "sports", "brief", "digest"]})
            self.assertEqual(st, 200)
            got = self.rec(uid, n=10, track=0)["items"]
            self.assertTrue(all(CAT_OF.get(x["id"]) == "news" for x in got), got)
            st, _ = self.s.request("PUT", "/v1/users/%s/preferences" % uid, body={})
            self.assertEqual(st, 200)  # back to none, for the other tests of this server


# ---------------------------------------------------------------------------------------------
# The source bandit

class SourceBanditTest(RankingCase):
    @classmethod
    def setUpClass(cls):
        # lists leave the attribution window after 0.6 s: a list nobody clicked is a 0 reward
        cls.s = start_server("--source-bandit", "--attribution-window", "0.01")
        cls.addClassCleanup(cls.s.cleanup)

    def test_learns_the_arm_that_gets_clicked(self):
        # the simulated users of this context click only lists built with the "knn" arm
        ctx = {"device": "mobile", "hour": 20}
        arms = []
        for k in range(240):
            st, r = self.s.post("/v1/recommend/u%d" % (k % N_USERS), {"n": 5, "debug": True, "context": ctx})
            self.assertEqual(st, 200, r)
            arm = r["debug"]["source_arm"]
            self.assertIn(arm, ("configured", "knn", "popular", "als"))
            arms.append(arm)
            if arm == "knn" and r["items"]:
                ev = {"user": "u%d" % (k % N_USERS), "item": r["items"][0]["id"], "type": "click",
                      "recommendation_id": r["recommendation_id"]}
                self.assertEqual(self.s.post("/v1/events", [ev])[0], 200)
            time.sleep(0.012)
        last = arms[-60:]
        print("source arms, last 60 of 240: knn %d, others %d" % (last.count("knn"), 60 - last.count("knn")))
        self.assertGreater(last.count("knn"), 40)
        # previews (track=0) do not use the bandit
        st, r = self.s.get("/v1/recommend/u1?debug=1&track=0")
        self.assertIsNone(r["debug"]["source_arm"])


if __name__ == "__main__":
    main()
