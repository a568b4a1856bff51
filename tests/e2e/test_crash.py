"""Faults (issue #7): nothing acknowledged is ever lost. See docs/RELIABILITY.md.

CrashLoopTest: 8 client threads stream event batches (1-50 events, a quarter without id) over
HTTP, a new connection per request, while the server is killed with SIGKILL, restarted on the same
data directory and killed again, CYCLES times (about 50 s on 2 cores). Kills land at random
moments, or are aimed: at a training run, at a snapshot write (.tmp present), just after a
snapshot's rename, 0-30 ms into a SIGTERM shutdown, and during start-up (replay). Six clients
resend a batch until it is acknowledged (at-least-once), two give up on the first failure. Every
client records what got a 2xx. Checked: after every restart memory holds exactly what is stored and
the last snapshot is served; at the end every acknowledged event is stored exactly once (API per
user, then SQLite by id or by (user, item, type, ts)), nothing is stored that was not sent, a
batch is stored whole or not at all; and the crashed server serves exactly what a clean replay of
a copy of its store (no snapshot) serves: histories, counts, popular, and after training on both,
recommendations and similar items (training is deterministic with --train-threads 1: checked).

DamagedSnapshotKindsTest: the latest model snapshot with a flipped byte (header, factors,
checksum), cut by one byte, cut to nothing, or deleted: detected, logged, never served; the model
is rebuilt from the events under a new version and lists work (test_durability.py covers the
truncation to half).

DiskFullTest: the data directory on a 24 MiB tmpfs filled up while 4 threads stream: what cannot be
stored fails with 500 store_error (JSON) and is not stored, nothing acknowledged is lost, and the
same process takes events again once space is freed. Skipped where a tmpfs cannot be mounted.

SnapshotBookkeepingTest: kills aimed a few ms after a snapshot's rename, while its als.* keys
are recorded: the served version must be the snapshot's own, and old snapshots must not pile up
(both failed before the fixes in trainer.c: one transaction for the keys, a directory sweep).

SigtermTest: SIGTERM during the start-up replay must still shut down cleanly (it did not before
cmd_serve.c handled signals with a handler and a self-pipe).

Environment: RECD_CRASH_SEED (random seed, printed), RECD_CRASH_CYCLES (default 50).
"""
import collections
import http.client
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
import unittest

from harness import RECD, Server, free_port, main

SEED = int(os.environ.get("RECD_CRASH_SEED") or random.randrange(1 << 30))
CYCLES = int(os.environ.get("RECD_CRASH_CYCLES") or 50)

N_CLIENTS = 8             # client threads
RETRYING = 6              # clients 0..5 resend a batch until it is acknowledged; 6, 7 give up
USERS_PER_CLIENT = 50     # each user belongs to one client: its events arrive in order
N_ITEMS = 600
MAX_BATCH = 50
NO_ID_SHARE = 0.25        # events sent without an id (deduplicated by user, item, type, ts)
TS0 = 1700000000
TYPES = ["view", "view", "view", "click", "click", "like", "add_to_cart", "purchase", "share",
         "skip", "dislike"]
# store numbers of the wire types (src/ingest/event.h)
TYPE_NO = {"view": 0, "click": 1, "like": 2, "dislike": 3, "add_to_cart": 4, "purchase": 5,
           "rating": 6, "dwell": 7, "share": 8, "skip": 9, "impression": 10, "not_interested": 11}

# Training every few thousand events, single-threaded and seeded, so runs are frequent (kills
# land in them) and comparable; the online ranker (not replayed by design) and the freshness
# boost (wall-clock dependent) are off so that a clean replay must serve exactly the same.
SERVE_ARGS = ["--threads", "8", "--factors", "32", "--train-threads", "1", "--seed", "7",
              "--retrain-events", "4000", "--retrain-seconds", "0", "--no-ranker",
              "--fresh-boost", "0"]


def http_call(port, method, path, body=None, timeout=15):
    """One request on a fresh connection. Returns (status, JSON or None); raises OSError or
    http.client.HTTPException when the server dies under it."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data,
                     headers={"Content-Type": "application/json"} if data else {})
        r = conn.getresponse()
        text = r.read()
        try:
            return r.status, json.loads(text) if text else None
        except ValueError:
            return r.status, {"raw": text.decode("utf-8", "replace")}
    finally:
        conn.close()


def get_json(s, path):
    st, body = s.get(path)
    assert st == 200, (path, st, body)
    return body


def als_status(s):
    return [m for m in get_json(s, "/v1/status")["models"] if m["name"] == "als"][0]


def log_since(s, offset):
    with open(s.log_path, "rb") as f:
        f.seek(offset)
        return f.read().decode("utf-8", "replace")


def log_size(s):
    try:
        return os.path.getsize(s.log_path)
    except OSError:
        return 0


def db_meta(data_dir):
    """The meta table of a (possibly running) store, read-only."""
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(data_dir, "recd.db"), uri=True,
                         timeout=30)
    try:
        return dict(db.execute("SELECT key, value FROM meta"))
    finally:
        db.close()


def snapshot_version(path):
    """The version in a snapshot's file name (models/als-000012.bin: 12)."""
    return int(re.search(r"als-(\d+)\.bin$", path).group(1))


def event_key(ev):
    """How the test names an event: its id, or (user, item, type, ts) without one."""
    return ev["id"] if "id" in ev else (ev["user"], ev["item"], TYPE_NO[ev["type"]], ev["ts"])


class Control:
    """The kill loop's side of the clients: which port is up, and when to stop."""

    def __init__(self):
        self.cv = threading.Condition()
        self.port = None          # None while the server is down
        self.finishing = False    # no new batches; pending retries still complete
        self.stopped_ports = set()  # lives that got a SIGTERM: refusals (5xx) are expected
        self.done = False         # clients give up at once

    def up(self, port):
        with self.cv:
            self.port = port
            self.cv.notify_all()

    def down(self):
        with self.cv:
            self.port = None

    def wait_up(self):
        with self.cv:
            while self.port is None and not self.done:
                self.cv.wait(0.5)
            return None if self.done else self.port


class Client(threading.Thread):
    def __init__(self, t, ctl, rng_seed):
        super().__init__(daemon=True)
        self.t = t
        self.ctl = ctl
        self.rng = random.Random(rng_seed)
        self.retry = t < RETRYING
        self.n = 0                       # events generated
        self.sent = []                   # every event sent at least once
        self.acked = []                  # events of batches answered 2xx
        self.batches_acked = 0
        self.batches_lost = 0            # fire-and-forget batches without an answer
        self.lost_events = []            # their events (stored or not: unknown to the client)
        self.retries = 0                 # resent requests
        self.dup_answers = 0             # acked retries whose events had been committed already
        self.failures = []               # unexpected answers (non-2xx, bad counts)
        self.conn_errors = 0
        self.refused = collections.Counter()  # 5xx JSON errors while the server shut down

    def make_batch(self):
        batch = []
        for _ in range(self.rng.randint(1, MAX_BATCH)):
            self.n += 1
            item = min(int(self.rng.paretovariate(0.9)) - 1, N_ITEMS - 1)
            ev = {"user": "u%d-%d" % (self.t, self.rng.randrange(USERS_PER_CLIENT)),
                  "item": "i%d" % item, "type": self.rng.choice(TYPES),
                  # unique over all clients: id-less events never collide by accident
                  "ts": TS0 + self.n * N_CLIENTS + self.t}
            if self.rng.random() >= NO_ID_SHARE:
                ev["id"] = "c%d-e%d" % (self.t, self.n)
            batch.append(ev)
        return batch

    def run(self):
        while not self.ctl.finishing and not self.ctl.done:
            batch = self.make_batch()
            self.sent.extend(batch)
            self.send(batch)

    def send(self, batch):
        attempt = 0
        while True:
            up = self.ctl.wait_up()
            if up is None:
                if self.retry:
                    self.lost_events.extend(batch)  # test aborted: fate unknown
                return
            port = up
            if attempt:
                self.retries += 1
            attempt += 1
            try:
                st, r = http_call(port, "POST", "/v1/events", batch)
            except (OSError, http.client.HTTPException):
                self.conn_errors += 1
                if not self.retry:
                    self.batches_lost += 1
                    self.lost_events.extend(batch)
                    return
                time.sleep(0.01)
                continue
            if st != 200:
                if port in self.ctl.stopped_ports and st >= 500 and "error" in r:
                    self.refused[(st, r["error"].get("code"))] += 1
                else:
                    self.failures.append("status %d: %s" % (st, r))
                if not self.retry:
                    self.batches_lost += 1
                    self.lost_events.extend(batch)
                    return
                time.sleep(0.05)
                continue
            acc, dup = r.get("accepted"), r.get("duplicates")
            if acc + dup != len(batch) or r.get("rejected"):
                self.failures.append("batch of %d answered %s" % (len(batch), r))
            # a batch is one savepoint of one transaction: all of it was stored, or none
            if dup not in (0, len(batch)):
                self.failures.append("partly stored batch: %d of %d duplicates on attempt %d"
                                     % (dup, len(batch), attempt))
            if dup and attempt == 1:
                self.failures.append("fresh batch reported %d duplicates" % dup)
            if dup:
                self.dup_answers += 1
            self.batches_acked += 1
            self.acked.extend(batch)
            return


class CrashLoopTest(unittest.TestCase):
    def setUp(self):
        self.s = Server(*SERVE_ARGS)
        self.b = None
        self.passed = False

    def tearDown(self):
        if self.b:
            self.b.cleanup()
        if self.passed:
            self.s.cleanup()
        else:
            self.s.stop()
            print("\ndata directory kept for inspection: %s" % self.s.data)

    def test_kill9_loop(self):
        rng = random.Random(SEED)
        s = self.s
        t_start = time.time()
        print("\nseed %d (RECD_CRASH_SEED), %d cycles" % (SEED, CYCLES))
        s.start()
        # catalog and users first, so that ids get the same dense indexes in every replay
        st, r = s.post("/v1/items", [{"id": "i%d" % i, "title": "Item %d" % i,
                                      "categories": ["cat%d" % (i % 12)]} for i in range(N_ITEMS)])
        self.assertEqual(st, 200, r)
        st, r = s.post("/v1/users", [{"id": "u%d-%d" % (t, k), "attributes": {"group": t % 3}}
                                     for t in range(N_CLIENTS) for k in range(USERS_PER_CLIENT)])
        self.assertEqual(st, 200, r)

        ctl = Control()
        clients = [Client(t, ctl, rng.randrange(1 << 30)) for t in range(N_CLIENTS)]
        for c in clients:
            c.start()

        kills = collections.Counter()     # by mode, and the ones that demonstrably hit
        restarts_with_snapshot = 0
        max_start_s = 0.0
        torn = []                         # (cycle, als.path, als.version) that disagree after a kill
        odd = []                          # restarts that served a snapshot under another version
        try:
            for cycle in range(CYCLES):
                if cycle:
                    before = log_size(s)
                    meta = db_meta(s.data)
                    t0 = time.time()
                    s.start()
                    max_start_s = max(max_start_s, time.time() - t0)
                    self.check_restart(s, meta, log_since(s, before), cycle, odd)
                    if "als.path" in meta:
                        restarts_with_snapshot += 1
                ctl.up(s.port)
                mode = rng.choices(["random", "training", "snapshot", "snapshot saved",
                                    "shutdown", "random + start"], [5, 2, 2, 1, 1, 1])[0]
                kills[mode] += 1
                if mode.startswith("random"):
                    time.sleep(rng.uniform(0.05, 1.4))
                elif mode == "training":
                    if self.wait_training(s, 2.5):
                        kills["hit: training run"] += 1
                elif mode == "snapshot":
                    if self.wait_snapshot(s, 2.5, tmp=True):
                        kills["hit: snapshot write"] += 1
                elif mode == "snapshot saved":
                    # just after the rename: the store's als.* keys are being updated
                    if self.wait_snapshot(s, 2.5, tmp=False):
                        kills["hit: snapshot just renamed"] += 1
                if mode == "shutdown":
                    time.sleep(rng.uniform(0.05, 1.0))
                    with ctl.cv:
                        ctl.stopped_ports.add(s.port)
                    s.proc.send_signal(signal.SIGTERM)
                    time.sleep(rng.uniform(0.0, 0.03))
                    if s.proc.poll() is None:
                        kills["hit: SIGTERM shutdown"] += 1
                ctl.down()
                s.kill9()
                if any(f.endswith(".tmp") for f in self.model_files(s)):
                    kills["left a partial snapshot (.tmp)"] += 1
                meta = db_meta(s.data)
                if "als.path" in meta and snapshot_version(meta["als.path"]) != int(
                        meta.get("als.version", -1)):
                    state = (os.path.basename(meta["als.path"]), meta.get("als.version"))
                    if state not in [t[1:] for t in torn]:  # it lasts until a run is saved
                        torn.append((cycle,) + state)
                if mode == "random + start":
                    # one more life, killed while it starts (replay, snapshot load, first run)
                    if self.kill_while_starting(s, rng.uniform(0.0, 0.3)):
                        kills["hit: start-up"] += 1

            # the last restart, then a while of live ingestion without kills
            before = log_size(s)
            meta = db_meta(s.data)
            s.start()
            self.check_restart(s, meta, log_since(s, before), CYCLES, odd)
            ctl.up(s.port)
            time.sleep(1.5)
            with ctl.cv:
                ctl.finishing = True
            for c in clients:
                c.join(60)
                self.assertFalse(c.is_alive(), "client %d hangs" % c.t)
        finally:
            with ctl.cv:
                ctl.done = True
                ctl.cv.notify_all()
        crash_s = time.time() - t_start

        sent = [e for c in clients for e in c.sent]
        acked = [e for c in clients for e in c.acked]
        unknown = [e for c in clients for e in c.lost_events]
        failures = [f for c in clients for f in c.failures]
        self.assertEqual(failures, [], "unexpected answers during the crash loop")
        self.assertEqual(len({event_key(e) for e in sent}), len(sent), "test bug: keys repeat")
        self.assertEqual(len(acked) + len(unknown), len(sent))
        print("crash loop: %d kills -9 (%d cycles) in %.1fs, longest restart %.2fs; kills %s" %
              (CYCLES + kills["random + start"], CYCLES, crash_s, max_start_s, dict(kills)))
        print("restarts that loaded a snapshot: %d; kills that left the snapshot's store "
              "keys torn (als.path newer than als.version): %d %s"
              % (restarts_with_snapshot, len(torn), torn[:3]))
        print("answers other than 200: %s (only while shutting down)"
              % dict(sum((c.refused for c in clients), collections.Counter())))
        print("events sent %d, acknowledged %d (%d batches; %d requests resent, %d acked as "
              "already committed); fire-and-forget batches without answer: %d (%d events)" %
              (len(sent), len(acked), sum(c.batches_acked for c in clients),
               sum(c.retries for c in clients), sum(c.dup_answers for c in clients),
               sum(c.batches_lost for c in clients), len(unknown)))
        self.assertGreater(len(acked), 20000, "too little was acknowledged to mean anything")
        self.assertGreater(kills["hit: training run"], 0, "no kill landed in a training run")

        # ---- the server after the last restart, through the API ----
        self.wait_idle(s)
        status_a = get_json(s, "/v1/status")
        self.assertEqual(status_a["events"], status_a["events_in_memory"], status_a)
        users = ["u%d-%d" % (t, k) for t in range(N_CLIENTS) for k in range(USERS_PER_CLIENT)]
        sent_by_user = collections.Counter(e["user"] for e in sent)
        acked_by_user = collections.Counter(e["user"] for e in acked)
        api_counts = {}
        for u in users:
            info = get_json(s, "/v1/users/" + u)
            api_counts[u] = info["events"]
            self.assertGreaterEqual(info["events"], acked_by_user[u],
                                    "user %s lost acknowledged events" % u)
            self.assertLessEqual(info["events"], sent_by_user[u],
                                 "user %s has more events than were sent: duplicates" % u)
        self.assertEqual(sum(api_counts.values()), status_a["events"])

        # ---- a clean replay of the same store, without model snapshots ----
        self.b = self.clean_replay_of(s)
        self.b.start(timeout=60)
        self.wait_idle(self.b)
        self.compare_servers(s, self.b, users)

        # ---- and the store itself, after a clean stop ----
        self.assertEqual(s.stop(), 0, "SIGTERM must shut down cleanly")
        self.check_store(s.data, sent, acked, unknown, api_counts)
        # snapshots and their cold sets (cold-NNNNNN.bin, written after the snapshot's recording)
        junk = [f for f in self.model_files(s)
                if not re.match(r"(als|cold)-\d{6}\.bin(\.tmp)?$", f)]
        self.assertEqual(junk, [], "unexpected files in models/")
        self.assertLessEqual(sum(f.endswith(".tmp") for f in self.model_files(s)), 1)
        crash_log = log_since(s, 0)
        self.assertNotIn("damaged", crash_log, "a kill -9 left a damaged snapshot behind")
        self.assertNotIn("is missing", crash_log, "a kill -9 left a dangling snapshot path")
        trained = len(re.findall(r"trained iALS v\d+", crash_log))
        print("training runs completed over all lives: %d; total test time %.1fs" %
              (trained, time.time() - t_start))
        print("models/ at the end: %s" % self.model_files(s))
        self.passed = True  # every loss and duplicate check passed; the rest is bookkeeping
        bugs = []
        # a kill -9 after a snapshot's rename but before the old one was unlinked used to leak
        # that file for good; every save now sweeps the directory. Expected: the served
        # snapshot and the previous one, plus at most one .tmp of an interrupted write.
        bins = [f for f in self.model_files(s) if re.match(r"als-\d{6}\.bin$", f)]
        if len(bins) > 2:
            bugs.append("old snapshots pile up after crashes: %s" % self.model_files(s))
        # a cold set lives only as long as its snapshot (a kill may leave one without it)
        colds = [f for f in self.model_files(s) if re.match(r"cold-\d{6}\.bin$", f)]
        if any(f.replace("cold-", "als-") not in bins for f in colds):
            bugs.append("cold sets outlive their snapshots: %s" % self.model_files(s))
        # the six als.* keys are one transaction: a kill can no longer leave the new snapshot
        # recorded under the previous one's version, trained_events, trained_at and trained_seq
        if torn or odd:
            bugs.append("snapshot keys torn by a kill (cycle, als.path, als.version): %s; "
                        "restarts that then served a snapshot under another version: %s"
                        % (torn, odd))
        self.assertEqual(bugs, [])

    # ---- helpers ----

    @staticmethod
    def model_files(s):
        try:
            return sorted(os.listdir(os.path.join(s.data, "models")))
        except OSError:
            return []

    def wait_training(self, s, timeout):
        """Returns True right after /v1/status said a training run is under way."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if als_status(s)["training"]:
                    return True
            except (OSError, AssertionError):
                pass
            time.sleep(0.005)
        return False

    def wait_snapshot(self, s, timeout, tmp):
        """With tmp, returns True while a snapshot is being written (its .tmp file exists);
        else True as soon as a new snapshot file has been renamed into place."""
        models = os.path.join(s.data, "models")
        old = set(self.model_files(s))
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                files = os.listdir(models)
            except OSError:
                files = []
            if tmp and any(f.endswith(".tmp") for f in files):
                return True
            if not tmp and any(f.endswith(".bin") and f not in old for f in files):
                return True
            time.sleep(0.0005)
        return False

    def kill_while_starting(self, s, delay):
        """Starts recd on s's data directory and SIGKILLs it after delay seconds; True when it
        had not answered /health yet (the kill landed in the start-up)."""
        port = free_port()
        with open(s.log_path, "ab") as log:
            p = subprocess.Popen([RECD, "serve", "--port", str(port), "--bind", "127.0.0.1",
                                  "--data", s.data] + s.extra, stdout=log,
                                 stderr=subprocess.STDOUT)
            time.sleep(delay)
            try:
                up = http_call(port, "GET", "/health", timeout=0.2)[0] == 200
            except (OSError, http.client.HTTPException):
                up = False
            p.send_signal(signal.SIGKILL)
            p.wait()
        return not up and p.returncode == -signal.SIGKILL

    def check_restart(self, s, meta, log, cycle, odd):
        """Right after a restart, before clients resume: memory holds exactly what is stored,
        and the last recorded snapshot is served (a kill never damages one). A served version
        other than the snapshot's own goes to odd (the torn-keys bug, reported at the end)."""
        status = get_json(s, "/v1/status")
        self.assertEqual(status["events"], status["events_in_memory"],
                         "cycle %d: memory and store disagree after restart" % cycle)
        self.assertNotIn("damaged", log, "cycle %d" % cycle)
        self.assertNotIn("is missing", log, "cycle %d" % cycle)
        if "als.path" in meta:
            als = [m for m in status["models"] if m["name"] == "als"][0]
            self.assertTrue(als["ready"], "cycle %d: snapshot not served:\n%s" % (cycle, log))
            self.assertIn("serving model snapshot version", log, "cycle %d" % cycle)
            file_version = snapshot_version(meta["als.path"])
            if als["version"] != file_version:
                odd.append("cycle %d: %s served as version %d (trained_events %d)"
                           % (cycle, os.path.basename(meta["als.path"]), als["version"],
                              als["trained_events"]))

    def wait_idle(self, s, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if not als_status(s)["training"]:
                return
            time.sleep(0.05)
        self.fail("training never ends")

    def clean_replay_of(self, a):
        """A second server on a consistent copy of a's store (SQLite backup API, a running)
        without any model: no snapshot file, no als.* meta keys."""
        b = Server(*SERVE_ARGS)
        src = sqlite3.connect("file:%s?mode=ro" % os.path.join(a.data, "recd.db"), uri=True)
        dst = sqlite3.connect(os.path.join(b.data, "recd.db"))
        src.backup(dst)
        src.close()
        dst.execute("DELETE FROM meta WHERE key LIKE 'als.%'")
        dst.commit()
        dst.close()
        return b

    def compare_servers(self, a, b, users):
        sa, sb = get_json(a, "/v1/status"), get_json(b, "/v1/status")
        for k in ("items", "users", "events", "events_in_memory"):
            self.assertEqual(sa[k], sb[k], "status %s differs from a clean replay" % k)
        for u in users:
            self.assertEqual(get_json(a, "/v1/users/" + u), get_json(b, "/v1/users/" + u),
                             "user %s: history differs from a clean replay" % u)
        pa = get_json(a, "/v1/popular?n=100")["items"]
        pb = get_json(b, "/v1/popular?n=100")["items"]
        self.assertEqual(len(pa), len(pb))
        for x, y in zip(pa, pb):
            self.assertAlmostEqual(x["score"], y["score"], delta=1e-6 * abs(y["score"]) + 1e-9)
        # ids in the same order, except where two scores are equal to rounding
        self.assertEqual([x["id"] for x in pa], [y["id"] for y in pb], "popular list differs")

        # both train on everything now; is training itself deterministic? (b trains twice)
        for srv in (a, b):
            st, r = srv.post("/v1/train?wait=1")
            self.assertEqual(st, 200, r)

        def recs(srv):
            return {u: [x["id"] for x in get_json(srv, "/v1/recommend/%s?n=10&track=0" % u)["items"]]
                    for u in users}
        def similar(srv):
            return {i: [x["id"] for x in get_json(srv, "/v1/items/i%d/similar?n=10" % i)["items"]]
                    for i in range(0, N_ITEMS, 6)}
        ra, rb = recs(a), recs(b)
        sim_a, sim_b = similar(a), similar(b)
        st, r = b.post("/v1/train?wait=1")
        self.assertEqual(st, 200, r)
        rb2 = recs(b)
        deterministic = rb == rb2 and sim_b == similar(b)
        same = sum(ra[u] == rb[u] for u in users)
        overlap = sum(len(set(ra[u]) & set(rb[u])) for u in users) / float(sum(len(rb[u]) for u in users))
        print("training deterministic (same data, --train-threads 1, same seed): %s; "
              "recommendations equal to the clean replay's for %d of %d users (overlap %.3f)"
              % (deterministic, same, len(users), overlap))
        if deterministic:
            self.assertEqual(ra, rb, "recommendations differ from a clean replay")
            self.assertEqual(sim_a, sim_b, "similar items differ from a clean replay")
        else:
            self.assertGreater(overlap, 0.8)
        ma, mb = als_status(a), als_status(b)
        self.assertEqual(ma["trained_events"], mb["trained_events"])
        self.assertTrue(ma["ready"] and mb["ready"])

    def check_store(self, data, sent, acked, unknown, api_counts):
        db = sqlite3.connect(os.path.join(data, "recd.db"))
        try:
            rows = db.execute("SELECT event_id, user, item, type, ts FROM events").fetchall()
        finally:
            db.close()
        stored = collections.Counter(r[0] if r[0] is not None else tuple(r[1:]) for r in rows)
        twice = [k for k, n in stored.items() if n > 1]
        self.assertEqual(twice, [], "events stored more than once")
        sent_keys = {event_key(e) for e in sent}
        strays = [k for k in stored if k not in sent_keys]
        self.assertEqual(strays, [], "stored events nobody sent")
        missing = [event_key(e) for e in acked if event_key(e) not in stored]
        self.assertEqual(missing[:20], [], "%d acknowledged events lost" % len(missing))
        by_user = collections.Counter(r[1] for r in rows)
        self.assertEqual({u: by_user[u] for u in api_counts}, api_counts,
                         "the API's counts differ from the store's")
        maybe = sum(1 for e in unknown if event_key(e) in stored)
        print("store: %d events, all %d acknowledged ones exactly once, no duplicate; %d of the "
              "%d unanswered fire-and-forget events had been committed before the kill"
              % (len(rows), len(acked), maybe, len(unknown)))


class DamagedSnapshotKindsTest(unittest.TestCase):
    """Each kind of damage to the latest snapshot: detected (checksum or short read), logged, never
    served; the model is rebuilt from the events under a new version, and lists work."""

    def flip(self, path, where):
        size = os.path.getsize(path)
        pos = {"header": 5, "middle": size // 2, "checksum": size - 3}[where]
        with open(path, "r+b") as f:
            f.seek(pos)
            b = f.read(1)
            f.seek(pos)
            f.write(bytes([b[0] ^ 0x10]))

    def test_damage_kinds(self):
        s = Server("--retrain-events", "0", "--factors", "8", "--train-threads", "1").start()
        try:
            rng = random.Random(3)
            s.post("/v1/events", [{"user": "d%d" % rng.randrange(30), "item": "x%d" % rng.randrange(40),
                                   "type": "like", "ts": TS0 + k} for k in range(600)])
            st, r = s.post("/v1/train?wait=1")
            self.assertEqual(st, 200, r)
            kinds = [("flip", "header"), ("flip", "middle"), ("flip", "checksum"),
                     ("cut", 1), ("cut", "all"), ("delete", None)]
            for kind, arg in kinds:
                version = als_status(s)["version"]
                self.assertEqual(s.stop(), 0)
                path = db_meta(s.data)["als.path"]
                self.assertTrue(path.startswith(os.path.join(s.data, "models")), path)
                if kind == "flip":
                    self.flip(path, arg)
                elif kind == "cut":
                    size = os.path.getsize(path)
                    with open(path, "r+b") as f:
                        f.truncate(0 if arg == "all" else size - arg)
                else:
                    os.unlink(path)
                what = "%s %s" % (kind, arg)
                before = log_size(s)
                s.start()
                st, rec = s.get("/v1/recommend/d1?n=5")
                self.assertEqual(st, 200, what)  # served (popular or rebuilt), never an error
                self.assertTrue(rec["items"], what)
                deadline = time.time() + 30
                while time.time() < deadline:
                    als = als_status(s)
                    if als["ready"] and not als["training"]:
                        break
                    time.sleep(0.05)
                log = log_since(s, before)
                self.assertTrue(als["ready"], "%s: no model rebuilt\n%s" % (what, log))
                self.assertEqual(als["version"], version + 1, what)
                self.assertEqual(als["trained_events"], 600, what)
                self.assertIn("is missing" if kind == "delete" else "is damaged", log, what)
                self.assertNotIn("serving model snapshot", log, "%s: damaged model served" % what)
                self.assertIn("trained iALS v%d" % (version + 1), log, what)
                # the rebuilt model is saved and will be the one loaded next time
                self.assertTrue(db_meta(s.data)["als.path"].endswith("als-%06d.bin" % (version + 1)))
                st, rec = s.get("/v1/recommend/d1?n=5")
                self.assertEqual(st, 200, what)
                self.assertEqual(rec["model"], "hybrid", what)
                self.assertIn("als", {x["source"] for x in rec["items"]}, what)
                line = [l for l in log.splitlines() if "damaged" in l or "missing" in l][0]
                print("\n%-14s -> %s" % (what, line[line.index("engine:"):]), end="")
            # and a clean restart serves the rebuilt snapshot again
            version = als_status(s)["version"]
            self.assertEqual(s.stop(), 0)
            before = log_size(s)
            s.start()
            self.assertIn("serving model snapshot version %d" % version, log_since(s, before))
            print()
        finally:
            s.cleanup()


class SnapshotBookkeepingTest(unittest.TestCase):
    """kill -9 a few milliseconds after a new snapshot file is renamed into place, while
    save_snapshot (trainer.c) records it in the store's meta table (als.path, then als.version,
    als.trained_seq, als.trained_events, als.trained_at, als.duration, each its own commit) and
    then unlinks the snapshot two versions back: the aimed form of two findings of the crash
    loop. First on fresh stores (the first snapshot), then 20 times on one store."""

    FIRST_DELAYS_MS = [1, 2, 3, 4, 6]
    DELAYS_MS = [0.5, 1, 2, 3, 4, 6, 8, 12, 20, 40] * 2

    def streaming(self, s, port):
        """Three threads posting batches of 50 id'd events to port[0] while it is set."""
        stop, n, lock = threading.Event(), [0], threading.Lock()

        def streamer():
            while not stop.is_set():
                p = port[0]
                if p is None:
                    time.sleep(0.005)
                    continue
                with lock:
                    first = n[0]
                    n[0] += 50
                batch = [{"user": "b%d" % (k % 300), "item": "j%d" % (k * 7 % 500), "type": "click",
                          "ts": TS0 + k, "id": "b%d" % k} for k in range(first, first + 50)]
                try:
                    http_call(p, "POST", "/v1/events", batch)
                except (OSError, http.client.HTTPException):
                    time.sleep(0.005)

        threads = [threading.Thread(target=streamer) for _ in range(3)]
        for th in threads:
            th.start()
        return stop, threads

    def life(self, s, port, delay_ms, cycle, odd, versions):
        """Starts s, checks the snapshot it serves, streams until a new snapshot file appears,
        kills s delay_ms later."""
        meta = db_meta(s.data) if os.path.exists(os.path.join(s.data, "recd.db")) else {}
        before = log_size(s)
        s.start()
        als = als_status(s)
        if "als.path" in meta:
            versions.append(als["version"])
            self.assertIn("serving model snapshot", log_since(s, before))
            if als["version"] != snapshot_version(meta["als.path"]):
                odd.append("%s: %s served as version %d (meta als.version %s, trained_events %d, "
                           "last_train %s)" % (cycle, os.path.basename(meta["als.path"]),
                                               als["version"], meta.get("als.version"),
                                               als["trained_events"], als["last_train"]))
        old = set(CrashLoopTest.model_files(s))
        port[0] = s.port
        deadline = time.time() + 10
        while time.time() < deadline and not any(
                f.endswith(".bin") and f not in old for f in CrashLoopTest.model_files(s)):
            time.sleep(0.0003)
        time.sleep(delay_ms / 1000.0)
        port[0] = None
        s.kill9()

    @staticmethod
    def files_when_idle(s, timeout):
        """models/ as listed between two looks at /v1/status that both saw no training run and
        the same version."""
        deadline = time.time() + timeout
        while True:
            a = als_status(s)
            files = CrashLoopTest.model_files(s)
            time.sleep(0.2)
            b = als_status(s)
            if (not a["training"] and not b["training"] and a["version"] == b["version"]) \
                    or time.time() > deadline:
                return files

    def test_kill_while_snapshot_is_recorded(self):
        odd, versions, port = [], [], [None]
        args = ["--retrain-events", "2000", "--factors", "16", "--train-threads", "1",
                "--retrain-seconds", "0"]
        servers = []
        stop, threads = self.streaming(None, port)
        try:
            for delay_ms in self.FIRST_DELAYS_MS:       # the first snapshot of a fresh store
                s = Server(*args)
                servers.append(s)
                self.life(s, port, delay_ms, "first snapshot, %g ms" % delay_ms, odd, versions)
                self.life(s, port, 1000, "first snapshot, %g ms" % delay_ms, odd, versions)
            s = Server(*args)
            servers.append(s)
            for cycle, delay_ms in enumerate(self.DELAYS_MS):
                self.life(s, port, delay_ms, "cycle %d, %g ms" % (cycle, delay_ms), odd, versions)
            # the last start counts what the kills left, once the server is idle: the events
            # streamed between the last snapshot and its kill can be enough for one more run at
            # start, and while it saves, its new file is the third until the oldest is removed.
            # A kill after a second run's rename, before its recording, leaves a file newer
            # than the recorded one (CI saw 19, 20, 21 with 20 recorded): the start removes
            # such files, planted here as well, with one older than the two kept.
            stop.set()
            for th in threads:
                th.join(30)
            recorded = snapshot_version(db_meta(s.data)["als.path"])
            planted = ["als-%06d.bin" % (recorded + 7), "als-%06d.bin.tmp" % (recorded + 8),
                       "cold-%06d.bin" % (recorded + 7), "cold-%06d.bin.tmp" % recorded]
            if recorded > 2:
                planted.append("als-%06d.bin" % (recorded - 2))
            for name in planted:
                with open(os.path.join(s.data, "models", name), "wb") as f:
                    f.write(b"not a snapshot")
            before = log_size(s)
            s.start()
            files = self.files_when_idle(s, 60)
            last_log = log_since(s, before)
        finally:
            stop.set()
            for th in threads:
                th.join(30)
            for srv in servers:
                srv.cleanup()
        print("\nkills a few ms after a snapshot's rename: %d; versions served after them: %s"
              % (len(self.FIRST_DELAYS_MS) * 2 + len(self.DELAYS_MS), versions))
        print("served under another version: %d times, e.g.\n  %s" % (len(odd), "\n  ".join(odd[:4])))
        print("models/ at the end: %s" % files)
        bugs = []
        # (once separate commits, als.path first: a kill between them served the new file under
        # the old version, or under -1 for a first snapshot.) A served snapshot reports its own
        # version.
        if odd:
            bugs.append("snapshots served under another version: %s" % odd)
        # at most 2 snapshots kept, whatever a kill interrupted (models/ranker.bin is not one)
        left = [f for f in files if f in planted]
        if left:
            bugs.append("files of unrecorded or superseded versions kept at start: %s" % left)
        if sum(bool(re.match(r"als-\d{6}\.bin$", f)) for f in files) > 2:
            bugs.append("snapshots leaked: %s; the last start's log:\n%s" % (files, last_log))
        if any(re.match(r"cold-\d{6}\.bin$", f) and f.replace("cold-", "als-") not in files
               for f in files):
            bugs.append("cold sets outlive their snapshots: %s" % files)
        self.assertEqual(bugs, [])


class DiskFullTest(unittest.TestCase):
    """The store's file system fills up while events stream in from 4 threads."""

    SIZE_MB = 24

    def setUp(self):
        self.mnt = tempfile.mkdtemp(prefix="recd-full-")
        self.mounted = False
        if os.geteuid() != 0:
            os.rmdir(self.mnt)
            self.skipTest("disk-full test needs root to mount a tmpfs")
        try:
            r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm" % self.SIZE_MB, "tmpfs",
                                self.mnt], capture_output=True, text=True)
            why = r.stderr.strip() if r.returncode else None
        except OSError as e:
            why = str(e)
        if why is not None:
            os.rmdir(self.mnt)
            self.skipTest("cannot mount a tmpfs here (%s): disk-full behaviour not tested" % why)
        self.mounted = True

    def tearDown(self):
        if self.mounted:
            subprocess.run(["umount", "-l", self.mnt])
            os.rmdir(self.mnt)

    def test_disk_full_while_streaming(self):
        data = os.path.join(self.mnt, "data")
        os.mkdir(data)
        s = Server("--retrain-events", "2000", "--factors", "8", "--train-threads", "1",
                   "--no-ranker", data=data)
        s.log_path = self.mnt + ".log"   # outside the tmpfs: the log must not need the full disk
        try:
            self.run_full(s)
        except AssertionError:
            print("\nserver log (tail):\n" + s.tail())
            raise
        finally:
            s.stop()
            try:
                os.unlink(s.log_path)
            except OSError:
                pass

    def run_full(self, s):
        def fill(path):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                for chunk in (1 << 16, 1 << 12, 1 << 9):
                    try:
                        while True:
                            os.write(fd, b"\0" * chunk)
                    except OSError:
                        pass
            finally:
                os.close(fd)

        s.start()
        filler = os.path.join(self.mnt, "filler")
        lock = threading.Lock()
        acked, refused, codes = [], [], collections.Counter()
        phase = ["before"]
        by_phase = collections.Counter()
        counter = [0]
        stop = threading.Event()

        def batch(k):
            out = []
            with lock:
                for _ in range(k):
                    counter[0] += 1
                    n = counter[0]
                    ev = {"user": "f%d" % (n % 97), "item": "g%d" % (n * 7 % 211), "type": "click",
                          "ts": TS0 + n, "context": {"pad": "p" * 200}}  # fills the disk faster
                    if n % 4:
                        ev["id"] = "full-%d" % n
                    out.append(ev)
            return out

        def post(b):
            t_sent, ph = time.time(), phase[0]
            st, r = http_call(s.port, "POST", "/v1/events", b)
            with lock:
                codes[st] += 1
                by_phase[(phase[0], st)] += 1
                if st != 200 and phase[0] == "freed":
                    late.append((round(t_sent - freed_at[0], 4), ph, round(time.time() - freed_at[0], 4)))
                if st == 200:
                    if r["accepted"] != len(b):
                        errors.append("batch of %d: %s" % (len(b), r))
                    acked.extend(b)
                else:
                    refused.append((b, st, r))
            return st

        errors, late, freed_at = [], [], [0.0]

        def streamer(seed):
            rng = random.Random(seed)
            while not stop.is_set():
                post(batch(rng.randint(1, 50)))

        threads = [threading.Thread(target=streamer, args=(k,)) for k in range(4)]
        for th in threads:
            th.start()
        try:
            time.sleep(0.5)
            # 1. fill the file system while the streamers go on
            phase[0] = "full"
            fill(filler)
            deadline = time.time() + 20
            while time.time() < deadline and by_phase[("full", 500)] + by_phase[("full", 503)] < 20:
                time.sleep(0.05)
            time.sleep(0.5)
            # reads work on a full disk, and other writes fail the same clean way
            self.assertEqual(s.get("/v1/users/f1")[0], 200)
            self.assertEqual(s.get("/v1/recommend/f1?n=3&track=0")[0], 200)
            st, r = s.post("/v1/items", [{"id": "new-item", "title": "x" * 3000}])
            items_full = (st, r)
            # a training run cannot save its snapshot, and must not break anything
            st, r = s.post("/v1/train?wait=1")
            self.assertEqual(st, 200, r)
            # 2. space comes back: the same process takes events again
            os.unlink(filler)
            freed_at[0] = time.time()
            phase[0] = "freed"
            deadline = time.time() + 10
            while time.time() < deadline and by_phase[("freed", 200)] < 50:
                time.sleep(0.05)
        finally:
            stop.set()
            for th in threads:
                th.join(30)
        log = log_since(s, 0)
        print("\ndisk full: answers by phase %s" % dict(by_phase))
        if refused:
            print("disk full: a refusal: %d %s" % (refused[0][1], refused[0][2]))
        print("disk full: refusals after the space came back (sent, phase at send, answered; s "
              "after the unlink): %s" % late[:12])
        print("disk full: POST /v1/items on the full disk: %d %s" % items_full)
        print("disk full: log: %s" % " | ".join(sorted({re.sub(r"^\S+ ", "", l)[:110] for l in
                                                        log.splitlines() if "full" in l or
                                                        "not saved" in l})[:5]))
        self.assertEqual(errors, [])
        self.assertGreater(by_phase[("full", 500)] + by_phase[("full", 503)], 0,
                           "the store never refused a write on a full disk")
        for b, st, r in refused:
            self.assertIn(st, (500, 503), r)
            self.assertIn(r.get("error", {}).get("code"), ("store_error", "busy"), r)
        # (the store may find room for it: a full disk refuses some commits, not all)
        self.assertTrue(items_full[0] == 200 or (items_full[0] >= 500 and "error" in items_full[1]),
                        items_full)
        self.assertGreater(by_phase[("freed", 200)], 0, "no recovery once space was freed")
        # no refusal of a request sent once the space was back (one in flight may still fail)
        self.assertEqual([x for x in late if x[1] != "full"], [], "refused after the disk came back")
        st, status = s.get("/v1/status")
        self.assertEqual(status["events"], len(acked), "refused batches were (partly) stored")
        self.assertEqual(status["events_in_memory"], len(acked))
        # refused batches were not stored: sending them again accepts every event
        for b, _, _ in refused:
            for _ in range(20):  # a snapshot being written may take the freed space for a moment
                st, r = http_call(s.port, "POST", "/v1/events", b)
                if st not in (500, 503):
                    break
                time.sleep(0.25)
            self.assertEqual((st, r.get("accepted"), r.get("duplicates")), (200, len(b), 0), r)
            acked.extend(b)
        # a training run after the disk came back saves a snapshot again
        st, r = s.post("/v1/train?wait=1")
        self.assertEqual(st, 200, r)
        deadline = time.time() + 30
        while als_status(s)["training"] and time.time() < deadline:
            time.sleep(0.05)
        version = als_status(s)["version"]
        self.assertTrue(db_meta(s.data)["als.path"].endswith("als-%06d.bin" % version))
        # nothing acknowledged lost, nothing twice, after a clean restart too
        self.assertEqual(s.stop(), 0, "SIGTERM must shut down cleanly")
        before = log_size(s)
        s.start()
        self.assertIn("serving model snapshot version %d" % version, log_since(s, before))
        st, status = s.get("/v1/status")
        self.assertEqual(status["events"], len(acked))
        time.sleep(0.5)  # SIGTERM right after start-up may kill recd outright: SigtermTest
        self.assertEqual(s.stop(), 0, "SIGTERM must shut down cleanly (after restart)")
        db = sqlite3.connect(os.path.join(s.data, "recd.db"))
        stored = collections.Counter(
            r[0] if r[0] is not None else tuple(r[1:])
            for r in db.execute("SELECT event_id, user, item, type, ts FROM events"))
        db.close()
        self.assertEqual(set(stored), {event_key(e) for e in acked})
        self.assertEqual(max(stored.values()), 1)
        print("disk full: %d events acknowledged, %d batches refused and resent: all stored once"
              % (len(acked), len(refused)))


class SigtermTest(unittest.TestCase):
    """SIGTERM while recd starts (replaying its store) must still mean a clean shutdown."""

    def test_sigterm_during_start_up(self):
        s = Server("--retrain-events", "0", "--factors", "8").start()
        try:
            for k in range(15):
                st, r = s.post("/v1/events", [{"user": "s%d" % (i % 500), "item": "t%d" % (i % 300),
                                               "type": "click", "ts": TS0 + i}
                                              for i in range(k * 10000, (k + 1) * 10000)])
                self.assertEqual(st, 200, r)
            self.assertEqual(s.stop(), 0)
            results = []
            for attempt in range(3):
                before = log_size(s)
                with open(s.log_path, "ab") as log:
                    p = subprocess.Popen([RECD, "serve", "--port", "0", "--data", s.data] + s.extra,
                                         stdout=log, stderr=subprocess.STDOUT)
                    # recd blocks SIGTERM before it opens the store, and waits for it with
                    # sigwait once it serves: from here on SIGTERM means "shut down cleanly"
                    deadline = time.time() + 20
                    while "store: opened" not in log_since(s, before) and time.time() < deadline:
                        time.sleep(0.001)
                    p.send_signal(signal.SIGTERM)
                    try:
                        p.wait(30)
                    except subprocess.TimeoutExpired:
                        p.kill()
                        p.wait()
                results.append(p.returncode)
            print("\nexit status after SIGTERM during the start-up replay: %s" % results)
            # recd used to die of the signal itself here (status -15): OpenBLAS starts a thread
            # before main, with no signals blocked, and the kernel handed SIGTERM to it. A
            # handler and a self-pipe (cmd_serve.c) turn it into a clean shutdown.
            self.assertEqual(results, [0, 0, 0], "SIGTERM during start-up killed recd outright")
        finally:
            s.cleanup()


if __name__ == "__main__":
    main()
