"""Keyed user ids (issue #7, `--user-id-key FILE`, docs/PRIVACY.md): with a key, every user id
that enters recd is replaced by HMAC-SHA256(key, id) as 32 hex characters, so the raw id is in no
byte of the data directory, while clients keep naming users by their raw ids: events, user
documents, preferences, recommendations, export and erasure all work by the raw id. Under another
key the old users are not found; without a key, a keyed data directory is refused. `recd import`
and the Kafka consumer key ids the same way."""
import hashlib
import hmac
import json
import os
import shutil
import sqlite3
import tempfile
import time
import unittest

from harness import Server, main, run_recd
from test_kafka import MOCK, PROPS, Mock

ALICE = "alice-raw-id"
GROUP_A = ["a%d" % i for i in range(10)]
GROUP_B = ["b%d" % i for i in range(10)]
ALICE_SEEN = GROUP_A[:5]
EXPERIMENTS = {"experiments": [{
    "name": "pinned", "traffic": 1e-9,  # nobody gets in but the pinned user
    "variants": [{"name": "control", "weight": 1}, {"name": "treatment", "weight": 1}],
    "overrides": {ALICE: "treatment"}}]}


def write_key(directory, name):
    """A key file as `openssl rand -hex 32 > FILE` writes it; returns (path, key bytes)."""
    key = os.urandom(32).hex().encode()
    path = os.path.join(directory, name)
    with open(path, "wb") as f:
        f.write(key + b"\n")
    os.chmod(path, 0o600)
    return path, key


def keyed(key, user):
    """The documented form: the first 32 hex characters of HMAC-SHA256(key, user)."""
    return hmac.new(key, user.encode(), hashlib.sha256).hexdigest()[:32]


def files_holding(data, needle):
    """Relative paths of the files under data whose bytes contain needle."""
    b, found = needle.encode(), []
    for root, _, names in os.walk(data):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                if b in f.read():
                    found.append(os.path.relpath(path, data))
    return sorted(found)


def taste_events():
    """Two tastes: 20 users like items of group A, 20 of group B; alice views half of A."""
    events = []
    for u in range(40):
        group = GROUP_A if u % 2 == 0 else GROUP_B
        for j in range(6):
            events.append({"user": "taste-%d" % u, "item": group[(u + 3 * j) % 10],
                           "type": "like", "ts": 1700000000 + 10 * u + j})
    for j, item in enumerate(ALICE_SEEN):
        events.append({"id": "alice-evt-%d" % j, "user": ALICE, "item": item, "type": "like",
                       "ts": 1700001000 + j})
    return events


class KeyedIdsTest(unittest.TestCase):
    """One data directory through its life: filled under key 1, restarted under key 2 and with no
    key, then back under key 1 for export and erasure."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="recd-keyed-")  # keys live outside the data directory
        self.key_path, self.key = write_key(self.tmp, "user-id.key")
        self.key2_path, self.key2 = write_key(self.tmp, "other.key")
        self.exp_path = os.path.join(self.tmp, "experiments.json")
        with open(self.exp_path, "w") as f:
            json.dump(EXPERIMENTS, f)
        self.alice = keyed(self.key, ALICE)
        self.s = None

    def tearDown(self):
        if self.s:
            self.s.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def serve(self, key_path, data=None):
        # debug logs name every request; server.log is in the data directory, so the checks
        # that no file holds the raw id cover the log too
        extra = ["--user-id-key", key_path] if key_path else []
        return Server("--retrain-events", "0", "--retrain-seconds", "0", "--factors", "8",
                      "--log-level", "debug", "--experiments", self.exp_path, *extra, data=data)

    def recommend_alice(self):
        st, r = self.s.get("/v1/recommend/%s?n=5" % ALICE)
        self.assertEqual(st, 200, r)
        return r, [x["id"] for x in r["items"]]

    def assert_personal(self, ids):
        """alice's list follows her taste: unseen items of group A, not what she already liked."""
        self.assertFalse(set(ids) & set(ALICE_SEEN), ids)
        self.assertGreaterEqual(sum(i in GROUP_A for i in ids), 4, ids)

    def test_keyed_ids_end_to_end(self):
        self.s = s = self.serve(self.key_path).start()
        items = [{"id": i, "title": "Item %s" % i, "categories": [i[0]]} for i in GROUP_A + GROUP_B]
        self.assertEqual(s.post("/v1/items", items)[0], 200)
        st, r = s.post("/v1/events", taste_events())
        self.assertEqual((st, r["accepted"]), (200, 245), r)
        st, r = s.post("/v1/users", [{"id": ALICE, "attributes": {"plan": "pro-7f3a"}}])
        self.assertEqual((st, r["upserted"]), (200, 1), r)
        st, r = s.request("PUT", "/v1/users/%s/preferences" % ALICE, {"exclude_tags": ["gore"]})
        self.assertEqual((st, r["user"]), (200, self.alice), r)
        self.assertEqual(s.post("/v1/train?wait=1")[0], 200)

        # Requests name alice by her raw id; answers that echo a user id show the keyed one.
        r, ids = self.recommend_alice()
        self.assertEqual(r["user"], self.alice)
        self.assert_personal(ids)
        # the experiment pin names the raw id in the file and still reaches her keyed id
        self.assertEqual((r["experiment"], r["variant"]), ("pinned", "treatment"))
        st, u = s.get("/v1/users/%s" % ALICE)
        self.assertEqual(st, 200, u)
        self.assertEqual((u["id"], u["events"], u["attributes"]),
                         (self.alice, 5, {"plan": "pro-7f3a"}))
        self.assertEqual(sorted(h["item"] for h in u["history"]), ALICE_SEEN)
        # the keyed id is an opaque id like any other: no second hashing
        self.assertEqual(s.get("/v1/users/%s" % self.alice)[0], 404)
        time.sleep(0.7)  # the tracker writes served lists every 0.2 s

        # After a clean stop, no file holds the raw id (the debug log names routes, not paths);
        # the keyed one is in the store and model.
        self.assertEqual(s.stop(), 0)
        self.assertIn("/v1/users/{id}/preferences", s.tail())
        self.assertEqual(files_holding(s.data, ALICE), [])
        holding = files_holding(s.data, self.alice)
        self.assertIn("recd.db", holding)
        self.assertTrue(any(p.startswith("models" + os.sep) for p in holding), holding)
        con = sqlite3.connect(os.path.join(s.data, "recd.db"))
        for table, col in (("users", "id"), ("events", "user"), ("preferences", "user"),
                           ("served", "user")):
            n = con.execute("SELECT count(*) FROM %s WHERE %s = ?" % (table, col),
                            (self.alice,)).fetchone()[0]
            self.assertGreater(n, 0, table)
        self.assertEqual(con.execute("SELECT value FROM meta WHERE key = 'user_id_key'")
                         .fetchone()[0][:12], "hmac-sha256:")
        con.close()

        # `recd recommend` takes the key too
        out = run_recd("recommend", "--data", s.data, "--user-id-key", self.key_path,
                       "--user", ALICE, "-n", "5", "--factors", "8")
        self.assertEqual(out.returncode, 0, out.stderr)
        listed = [w for line in out.stdout.splitlines()[1:] for w in line.split()[1:2]]
        self.assert_personal(listed)

        # Under another key alice is unknown: her history is not visible under her raw id.
        other = self.serve(self.key2_path, data=s.data).start()
        try:
            self.assertEqual(other.get("/v1/users/%s" % ALICE)[0], 404)
            self.assertEqual(other.get("/v1/users/%s/export" % ALICE)[0], 404)
            st, r = other.get("/v1/recommend/%s?n=5" % ALICE)
            self.assertEqual(st, 200)
            self.assertEqual(r["user"], keyed(self.key2, ALICE))
            self.assertNotEqual(r["user"], self.alice)
            self.assertIn("another --user-id-key", other.tail())
        finally:
            self.assertEqual(other.stop(), 0)
        # Without a key, recd refuses to serve the keyed directory (raw ids would be stored).
        with self.assertRaises(RuntimeError) as cm:
            self.serve(None, data=s.data).start()
        self.assertIn("are keyed", str(cm.exception))

        # Back under key 1: export and erase by the raw id.
        s.start()
        r, ids = self.recommend_alice()
        self.assert_personal(ids)
        st, e = s.get("/v1/users/%s/export" % ALICE)
        self.assertEqual(st, 200, e)
        self.assertEqual(e["user"], self.alice)
        self.assertEqual(e["document"], {"id": self.alice, "attributes": {"plan": "pro-7f3a"}})
        self.assertEqual(e["preferences"], {"exclude_tags": ["gore"]})
        self.assertEqual(sorted(x["id"] for x in e["events"]),
                         ["alice-evt-%d" % j for j in range(5)])
        self.assertGreaterEqual(e["stored"]["served"], 1)
        st, r = s.delete("/v1/users/%s" % ALICE)
        self.assertEqual((st, r), (200, {"deleted": self.alice}))
        self.assertEqual(s.get("/v1/users/%s" % ALICE)[0], 404)
        self.assertEqual(s.get("/v1/users/%s/export" % ALICE)[0], 404)
        # the snapshot before the erasure names her; the first two after it do not keep it
        for _ in range(2):
            self.assertEqual(s.post("/v1/train?wait=1")[0], 200)
        self.assertEqual(s.stop(), 0)
        self.assertEqual(files_holding(s.data, ALICE), [])
        self.assertEqual(files_holding(s.data, self.alice), [])

    def test_import_keys_ids_and_a_keyed_directory_needs_the_key(self):
        data = tempfile.mkdtemp(prefix="recd-keyed-import-")
        self.s = Server(data=data)  # for cleanup only
        lines = [{"user": {"id": "carol-raw-id", "attributes": {"city": "x"}}}]
        lines += [{"user": "carol-raw-id", "item": "i%d" % k, "type": "view",
                   "ts": 1700000000 + k} for k in range(3)]
        src = os.path.join(self.tmp, "events.jsonl")
        with open(src, "w") as f:
            f.write("\n".join(json.dumps(x) for x in lines) + "\n")
        out = run_recd("import", src, "--data", data, "--user-id-key", self.key_path)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("users 1, events 3", out.stdout)
        self.assertEqual(files_holding(data, "carol-raw-id"), [])
        self.assertIn("recd.db", files_holding(data, keyed(self.key, "carol-raw-id")))
        # without the key the import is refused, and nothing raw is written
        out = run_recd("import", src, "--data", data)
        self.assertEqual(out.returncode, 1)
        self.assertIn("are keyed", out.stderr)
        self.assertEqual(files_holding(data, "carol-raw-id"), [])
        # the server finds the imported user by the raw id
        self.s = self.serve(self.key_path, data=data).start()
        st, u = self.s.get("/v1/users/carol-raw-id")
        self.assertEqual((st, u["id"], u["events"], u["attributes"]),
                         (200, keyed(self.key, "carol-raw-id"), 3, {"city": "x"}))

    def test_bad_key_files_are_refused(self):
        short = os.path.join(self.tmp, "short.key")
        with open(short, "w") as f:
            f.write("too-short\n")
        for path, message in ((short, "at least 32"),
                              (os.path.join(self.tmp, "missing.key"), "cannot read")):
            data = tempfile.mkdtemp(prefix="recd-keyed-bad-")
            try:
                with self.assertRaises(RuntimeError) as cm:
                    self.serve(path, data=data).start()
                self.assertIn(message, str(cm.exception))
                self.assertIn(path, str(cm.exception))
            finally:
                shutil.rmtree(data, ignore_errors=True)


class KeyedKafkaTest(unittest.TestCase):
    """Kafka messages are keyed by the same code; dead letters keep no raw bytes."""

    def setUp(self):
        if not os.path.exists(MOCK):
            self.skipTest("kafka_mock not built at %s" % MOCK)
        self.tmp = tempfile.mkdtemp(prefix="recd-keyed-kafka-")
        self.key_path, self.key = write_key(self.tmp, "user-id.key")
        self.mock = Mock()
        self.s = None

    def tearDown(self):
        if self.s:
            self.s.cleanup()
        self.mock.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_kafka_events_and_dead_letters(self):
        raw = "kafka-raw-id"
        self.s = s = Server("--retrain-events", "0", "--user-id-key", self.key_path,
                            "--kafka-brokers", self.mock.bootstrap, "--kafka-topic", "events",
                            "--kafka-group", "e2e-keyed", "--kafka-properties", PROPS).start()
        self.mock.produce(0, {"user": raw, "item": "x", "type": "view"})
        self.mock.produce(0, [{"user": raw, "item": "y", "type": "view"}, {"user": raw}])
        self.mock.produce(1, '{"user" "%s"}' % raw)  # jansson quotes the token after "user"
        self.mock.cmd("flush")
        deadline = time.time() + 60
        while time.time() < deadline:
            k = s.get("/v1/status")[1]["kafka"]
            if k["consumed"] == 3:
                break
            time.sleep(0.05)
        self.assertEqual((k["consumed"], k["applied"], k["dead_letters"]), (3, 2, 2), k)
        st, u = s.get("/v1/users/%s" % raw)
        self.assertEqual((st, u["id"], u["events"]), (200, keyed(self.key, raw), 2))
        self.assertEqual(s.stop(), 0)
        con = sqlite3.connect(os.path.join(s.data, "recd.db"))
        rows = con.execute("SELECT reason, length(payload), payload_bytes FROM dead_letters"
                           " ORDER BY src_partition").fetchall()
        con.close()
        self.assertEqual(len(rows), 2)
        for reason, kept, size in rows:
            self.assertNotIn(raw, reason)
            self.assertEqual(kept or 0, 0)
            self.assertGreater(size, 0)
        self.assertIn("malformed JSON", rows[1][0])
        self.assertEqual(files_holding(s.data, raw), [])


if __name__ == "__main__":
    main()
