"""recd serve --kafka-brokers against a mock Kafka cluster (tests/kafka_mock.c, librdkafka's mock
broker speaking the real protocol over TCP): events from Kafka show in recommendations and in
GET /v1/status "kafka"; kill -9 mid-stream then restart stores and applies every event once;
malformed messages become dead letters; a broker outage is survived; POST /v1/events dedups
id-less events by content too."""
import json
import os
import sqlite3
import subprocess
import time
import unittest

from harness import RECD, Server, main

MOCK = os.environ.get("RECD_KAFKA_MOCK") or os.path.join(os.path.dirname(RECD), "kafka_mock")
PROPS = "heartbeat.interval.ms=100,session.timeout.ms=4500,fetch.wait.max.ms=50," \
        "reconnect.backoff.ms=50,reconnect.backoff.max.ms=500"
DEADLINE = 60


class Mock:
    """One kafka_mock process; commands go over its stdin, one line each."""

    def __init__(self, partitions=2):
        self.proc = subprocess.Popen([MOCK, "--brokers", "1", "--topic", "events", "--partitions",
                                      str(partitions), "--topic", "events-dlq"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.bootstrap = self.proc.stdout.readline().split()[1]

    def cmd(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        if answer.startswith("error"):
            raise RuntimeError("kafka_mock: %s: %s" % (line[:60], answer))
        return answer

    def produce(self, partition, payload):
        self.cmd("produce %d %s" % (partition, payload if isinstance(payload, str) else json.dumps(payload)))

    def close(self):
        try:
            self.cmd("quit")
        except (OSError, RuntimeError, ValueError):
            pass
        self.proc.wait(timeout=30)
        self.proc.stdin.close()
        self.proc.stdout.close()


def event(i):
    """Event i: with an id, id-less with ts, or id-less without ts (the message time is its ts)."""
    user, item = "k%d" % (i % 29), "it%d" % (i % 41)
    if i % 3 == 0:
        return {"id": "e%d" % i, "user": user, "item": item, "type": "view"}
    if i % 3 == 1:
        return {"user": user, "item": item, "type": "click", "ts": 1700000000 + i}
    return {"user": user, "item": item, "type": "like"}


class KafkaTest(unittest.TestCase):
    def setUp(self):
        if not os.path.exists(MOCK):
            self.skipTest("kafka_mock not built at %s" % MOCK)
        self.mock = Mock()
        self.s = None

    def tearDown(self):
        if self.s:
            self.s.cleanup()
        self.mock.close()

    def serve(self, data=None):
        return Server("--retrain-events", "0", "--factors", "8", "--kafka-brokers", self.mock.bootstrap,
                      "--kafka-topic", "events", "--kafka-group", "e2e", "--kafka-dead-letter-topic",
                      "events-dlq", "--kafka-properties", PROPS, "--kafka-dead-letter-bytes", "16",
                      data=data).start()

    def kafka(self):
        st, r = self.s.get("/v1/status")
        self.assertEqual(st, 200)
        return r, r["kafka"]

    def wait(self, cond, what):
        t0 = time.time()
        while time.time() - t0 < DEADLINE:
            r, k = self.kafka()
            if cond(r, k):
                return r, k
            time.sleep(0.05)
        self.fail("timed out waiting for %s; last status: %s" % (what, json.dumps(k)))

    def test_events_change_recommendations_and_status(self):
        self.s = self.serve()
        # two tastes, one array message per user
        n = 0
        for u in range(30):
            batch = [{"user": "t%d" % u, "item": "%s%d" % ("ab"[u % 2], i), "type": "like",
                      "ts": 1700000000 + i} for i in range(8) if (i + u) % 4]
            n += len(batch)
            self.mock.produce(u % 2, batch)
        self.mock.cmd("flush")
        self.wait(lambda r, k: k["applied"] == n, "the taste events")
        self.assertEqual(self.s.post("/v1/train?wait=1")[0], 200)
        self.mock.produce(0, {"user": "fresh", "item": "b2", "type": "like"})
        self.mock.cmd("flush")
        r, k = self.wait(lambda r, k: k["applied"] == n + 1, "fresh's event")
        st, rec = self.s.get("/v1/recommend/fresh?n=4")
        self.assertEqual(st, 200)
        ids = [x["id"] for x in rec["items"]]
        self.assertGreaterEqual(sum(i.startswith("b") for i in ids), 3, ids)
        self.assertNotIn("b2", ids)
        self.assertEqual(r["events"], n + 1)
        self.assertEqual(k["topic"], "events")
        self.assertEqual(k["group"], "e2e")
        self.assertEqual(k["assigned_partitions"], 2)
        self.assertEqual(k["consumed"], 31)
        self.assertEqual(k["brokers_up"] if k["brokers_up"] is not None else 1, 1)
        r, k = self.wait(lambda r, k: k["lag"] == 0 and all(p["committed"] is not None for p in k["partitions"]),
                         "commits")
        self.assertEqual(sorted(p["partition"] for p in k["partitions"]), [0, 1])
        self.assertEqual(sum(p["high_watermark"] for p in k["partitions"]), 31)

    def test_kill9_mid_stream_applies_every_event_once(self):
        self.s = self.serve()
        total = 3000
        for i in range(total):
            self.mock.produce(i % 2, event(i))
            if i == 1000:
                self.mock.cmd("flush")
                self.wait(lambda r, k: k["applied"] >= 600, "the stream to flow")
                self.s.kill9()  # mid-stream: some batches stored, their offsets maybe not committed
        self.mock.cmd("flush")
        self.s.start()
        r, k = self.wait(lambda r, k: r["events"] == total, "all events after the restart")
        time.sleep(0.5)
        r, k = self.kafka()
        self.assertEqual(r["events"], total)            # stored once each
        self.assertEqual(r["events_in_memory"], total)  # applied once each
        self.assertEqual(k["applied"] + k["duplicates"], k["events"])
        db = sqlite3.connect(os.path.join(self.s.data, "recd.db"))
        dup = db.execute("SELECT count(*) FROM (SELECT user, item, type, ts FROM events"
                         " GROUP BY event_id, user, item, type, ts HAVING count(*) > 1)").fetchone()[0]
        db.close()
        self.assertEqual(dup, 0)

    def test_malformed_messages_are_dead_letters(self):
        self.s = self.serve()
        self.mock.produce(0, {"user": "m", "item": "x", "type": "view"})
        self.mock.produce(0, "this is not json at all")
        self.mock.produce(1, [{"user": "m", "item": "y", "type": "view"}, {"user": "m", "type": "view"}])
        self.mock.produce(1, {"user": "m", "item": "z", "type": "view"})
        self.mock.cmd("flush")
        r, k = self.wait(lambda r, k: k["consumed"] == 4, "all four messages")
        self.assertEqual(k["applied"], 3)
        self.assertEqual(k["dead_letters"], 2)
        self.assertEqual(k["invalid_events"], 1)
        db = sqlite3.connect(os.path.join(self.s.data, "recd.db"))
        rows = db.execute("SELECT src_partition, src_offset, reason, payload, payload_bytes"
                          " FROM dead_letters ORDER BY src_partition").fetchall()
        db.close()
        self.assertEqual(len(rows), 2)
        self.assertEqual(rows[0][:2], (0, 1))
        self.assertIn("malformed JSON", rows[0][2])
        self.assertEqual(rows[0][3], b"this is not json")  # truncated to 16 bytes
        self.assertEqual(rows[0][4], len("this is not json at all"))
        self.assertIn('missing field "item"', rows[1][2])
        self.wait(lambda r, k: k["dead_letters_produced"] == 2, "the dead-letter topic")
        self.assertEqual(self.mock.cmd("count events-dlq"), "2")

    def test_broker_outage_is_survived(self):
        self.s = self.serve()
        for i in range(100):
            self.mock.produce(i % 2, event(i))
        self.mock.cmd("flush")
        self.wait(lambda r, k: k["applied"] == 100, "events before the outage")
        self.mock.cmd("down 1")
        for i in range(100, 200):
            self.mock.produce(i % 2, event(i))
        self.wait(lambda r, k: k["brokers_up"] == 0, "the outage to show")
        # recd keeps serving, HTTP ingestion included
        st, r = self.s.post("/v1/events", [{"user": "http", "item": "it1", "type": "view"}])
        self.assertEqual((st, r["accepted"]), (200, 1))
        self.assertEqual(self.s.get("/v1/recommend/k1?n=3")[0], 200)
        self.mock.cmd("up 1")
        self.mock.cmd("flush")
        r, k = self.wait(lambda r, k: r["events"] == 201, "the events queued during the outage")
        self.assertEqual(r["events_in_memory"], 201)
        self.wait(lambda r, k: k["brokers_up"] == 1, "the broker to be seen up")

    def test_http_dedups_idless_events_by_content(self):
        self.s = self.serve()
        ev = [{"user": "h", "item": "i1", "type": "click", "ts": 1700000123}]
        st, r = self.s.post("/v1/events", ev)
        self.assertEqual((st, r["accepted"], r["duplicates"]), (200, 1, 0))
        st, r = self.s.post("/v1/events", ev + [dict(ev[0], ts=1700000124)])
        self.assertEqual((st, r["accepted"], r["duplicates"]), (200, 1, 1))
        _, u = self.s.get("/v1/users/h")
        self.assertEqual(u["events"], 2)


if __name__ == "__main__":
    main()
