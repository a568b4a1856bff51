"""Security end to end (docs/SECURITY.md): API keys and scopes, rate limits, CORS and the bind
rule, against a real `recd serve`."""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.request

from harness import Server, main, run_recd

READ = "read-key-0123456789abcdef"
WRITE = "write-key-0123456789abcdef"
ADMIN = "admin+key/0123456789abcdef=="
ORIGIN_A, ORIGIN_B = "https://a.example", "https://b.example"


def keys_file(directory, text):
    path = os.path.join(directory, "keys.txt")
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return path


def default_keys(directory):
    return keys_file(directory, "# recd test keys\nread %s\nwrite %s  # the browser SDK\n\n"
                     "admin %s\n" % (READ, WRITE, ADMIN))


def call(server, method, path, key=None, body=None, headers=None):
    """(status, headers, parsed JSON or None) of one request on a fresh connection."""
    h = dict(headers or {})
    if key is not None:
        h["Authorization"] = "Bearer " + key
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        text = r.read()
        return r.status, r.headers, json.loads(text) if text else None
    finally:
        c.close()


def server_log(server, until="listening on http://"):
    """The server's log so far, once it holds until (the start-up line logged after the first
    requests may already have been answered), or after 10 s."""
    deadline = time.time() + 10
    while True:
        with open(server.log_path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        if until in text or time.time() > deadline:
            return text
        time.sleep(0.05)


def other_local_address():
    """A non-loopback IPv4 address of this machine, or None when it has only loopback."""
    cands = []
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: a UDP connect sends nothing
            cands.append(s.getsockname()[0])
    except OSError:
        pass
    try:
        cands += [i[4][0] for i in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)]
    except OSError:
        pass
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=5).stdout
        cands += [a for a in out.split() if ":" not in a]
    except (OSError, subprocess.SubprocessError):
        pass
    for a in cands:
        if not a.startswith("127.") and a != "0.0.0.0":
            return a
    return None


class KeysAndCorsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="recd-sec-")
        cls.s = Server("--keys", default_keys(cls.dir), "--retrain-events", "0",
                       "--cors-origins", ORIGIN_A + ", " + ORIGIN_B).start()
        st, _, r = call(cls.s, "POST", "/v1/items", ADMIN,
                        [{"id": "i%d" % i, "title": "Item %d" % i} for i in range(5)])
        assert st == 200, r

    @classmethod
    def tearDownClass(cls):
        cls.s.cleanup()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def assertError(self, resp, status, code, fragment):
        st, _, body = resp
        self.assertEqual(st, status, body)
        self.assertEqual(body["error"]["code"], code, body)
        self.assertIn(fragment, body["error"]["message"])

    def test_no_key_or_wrong_key_is_401_with_challenge(self):
        resp = call(self.s, "GET", "/v1/popular")
        self.assertError(resp, 401, "unauthorized", "Authorization: Bearer")
        self.assertTrue(resp[1]["WWW-Authenticate"].startswith("Bearer"), resp[1])
        resp = call(self.s, "GET", "/v1/popular", key="not-a-key-0123456789")
        self.assertError(resp, 401, "unauthorized", "invalid API key")
        self.assertTrue(resp[1]["WWW-Authenticate"].startswith("Bearer"))
        self.assertNotIn("not-a-key", json.dumps(resp[2]))
        resp = call(self.s, "GET", "/v1/popular", headers={"Authorization": "Basic " + READ})
        self.assertError(resp, 401, "unauthorized", "Bearer <key>")
        resp = call(self.s, "POST", "/v1/events", body=[{"user": "u", "item": "i1", "type": "view"}])
        self.assertError(resp, 401, "unauthorized", "API key")

    def test_key_without_the_scope_is_403_naming_it(self):
        ev = [{"user": "u1", "item": "i1", "type": "view"}]
        self.assertError(call(self.s, "POST", "/v1/events", READ, ev), 403, "forbidden",
                         "'write' scope")
        self.assertError(call(self.s, "DELETE", "/v1/users/u1", READ), 403, "forbidden",
                         "'admin' scope")
        self.assertError(call(self.s, "DELETE", "/v1/users/u1", WRITE), 403, "forbidden",
                         "'admin' scope")
        # write does not imply read
        self.assertError(call(self.s, "GET", "/v1/popular", WRITE), 403, "forbidden",
                         "'read' scope")
        for path in ("/v1/status", "/metrics", "/v1/users/u1/export", "/v1/rules",
                     "/v1/metrics/history", "/v1/experiments"):
            self.assertEqual(call(self.s, "GET", path, READ)[0], 403, path)
        # the dashboard page holds no data (it asks for a key and sends it on its own requests),
        # so it is open like /health; what it shows stays admin-only (above)
        with urllib.request.urlopen("http://127.0.0.1:%d/dashboard" % self.s.port) as r:
            self.assertEqual(r.status, 200)

    def test_right_scopes_are_served(self):
        st, _, r = call(self.s, "POST", "/v1/events", WRITE,
                        [{"user": "u2", "item": "i1", "type": "view"},
                         {"user": "u2", "item": "i2", "type": "like"}])
        self.assertEqual((st, r["accepted"]), (200, 2), r)
        for method, path in (("GET", "/v1/recommend/u2?n=3"), ("POST", "/v1/recommend/u2"),
                             ("GET", "/v1/items/i1/similar"), ("GET", "/v1/popular"),
                             ("GET", "/v1/items/i1")):
            st, _, r = call(self.s, method, path, READ, body={} if method == "POST" else None)
            self.assertEqual(st, 200, (method, path, r))
        for key in (ADMIN,):  # admin may do everything, reads and writes included
            self.assertEqual(call(self.s, "GET", "/v1/popular", key)[0], 200)
            self.assertEqual(call(self.s, "POST", "/v1/events", key,
                                  [{"user": "u3", "item": "i3", "type": "view"}])[0], 200)
            self.assertEqual(call(self.s, "GET", "/v1/status", key)[0], 200)
            self.assertEqual(call(self.s, "DELETE", "/v1/users/u3", key)[0], 200)
        # HEAD follows its GET's scope
        self.assertEqual(call(self.s, "HEAD", "/v1/popular")[0], 401)
        self.assertEqual(call(self.s, "HEAD", "/v1/popular", READ)[0], 200)

    def test_health_stays_open(self):
        st, _, r = call(self.s, "GET", "/health")
        self.assertEqual((st, r["status"]), (200, "ok"))

    def test_refused_before_the_body_is_read(self):
        """A client that waits for 100 Continue gets the 401 instead, and sends no body."""
        with socket.create_connection(("127.0.0.1", self.s.port), timeout=10) as sock:
            sock.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                         b"\r\nContent-Length: 5000000\r\nExpect: 100-continue\r\n\r\n")
            head = sock.recv(4096).decode("latin-1")
        self.assertTrue(head.startswith("HTTP/1.1 401"), head)
        self.assertIn("WWW-Authenticate: Bearer", head)

    def test_cors_preflight(self):
        st, h, _ = call(self.s, "OPTIONS", "/v1/events", headers={
            "Origin": ORIGIN_B, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type"})
        self.assertEqual(st, 204)
        self.assertEqual(h["Access-Control-Allow-Origin"], ORIGIN_B)
        self.assertIn("Origin", h["Vary"])
        self.assertIn("POST", h["Access-Control-Allow-Methods"])
        allowed = [x.strip().lower() for x in h["Access-Control-Allow-Headers"].split(",")]
        for name in ("authorization", "content-type", "x-request-id"):
            self.assertIn(name, allowed)
        self.assertGreater(int(h["Access-Control-Max-Age"]), 0)
        st, h, _ = call(self.s, "OPTIONS", "/v1/recommend/u1", headers={
            "Origin": ORIGIN_A, "Access-Control-Request-Method": "GET"})
        self.assertEqual(st, 204)
        self.assertIn("GET", h["Access-Control-Allow-Methods"])
        # an origin not on the list
        st, h, r = call(self.s, "OPTIONS", "/v1/events", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        self.assertEqual((st, r["error"]["code"]), (403, "forbidden"))
        self.assertIsNone(h["Access-Control-Allow-Origin"])
        # a path with no routes is still 404
        self.assertEqual(call(self.s, "OPTIONS", "/nope", headers={"Origin": ORIGIN_A})[0], 404)

    def test_cors_headers_on_replies(self):
        st, h, _ = call(self.s, "GET", "/v1/popular", READ, headers={"Origin": ORIGIN_A})
        self.assertEqual(st, 200)
        self.assertEqual(h["Access-Control-Allow-Origin"], ORIGIN_A)
        self.assertIn("Origin", h["Vary"])
        self.assertIn("X-Request-Id", h["Access-Control-Expose-Headers"])
        # errors carry them too, so the page can read why
        st, h, _ = call(self.s, "GET", "/v1/popular", headers={"Origin": ORIGIN_A})
        self.assertEqual((st, h["Access-Control-Allow-Origin"]), (401, ORIGIN_A))
        st, h, _ = call(self.s, "GET", "/v1/popular", READ,
                        headers={"Origin": "https://a.example.evil.com"})
        self.assertEqual(st, 200)
        self.assertIsNone(h["Access-Control-Allow-Origin"])
        self.assertIn("Origin", h["Vary"])


class RateLimitTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="recd-sec-")
        cls.keyed = Server("--keys", default_keys(cls.dir), "--rate-limit", "0.5",
                           "--rate-burst", "2").start()
        cls.open = Server("--rate-limit", "0.5", "--rate-burst", "2").start()

    @classmethod
    def tearDownClass(cls):
        cls.keyed.cleanup()
        cls.open.cleanup()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def exhaust(self, server, key):
        """Requests until a 429 (the burst is 2 at 0.5/s): returns its headers and body."""
        for _ in range(6):
            st, h, r = call(server, "GET", "/v1/popular", key)
            if st == 429:
                return h, r
            self.assertEqual(st, 200, r)
        self.fail("no 429 after 6 requests at a limit of 0.5/s with bursts of 2")

    def test_per_key_limit_429_with_retry_after_then_recovers(self):
        h, r = self.exhaust(self.keyed, READ)
        self.assertEqual(r["error"]["code"], "rate_limited")
        self.assertIn("retry in", r["error"]["message"])
        retry = int(h["Retry-After"])
        self.assertGreaterEqual(retry, 1)
        self.assertLessEqual(retry, 2)
        # another key has its own bucket; /health is never limited
        self.assertEqual(call(self.keyed, "GET", "/v1/popular", ADMIN)[0], 200)
        for _ in range(5):
            self.assertEqual(call(self.keyed, "GET", "/health")[0], 200)
        # requests without a valid key are refused before they count
        self.assertEqual(call(self.keyed, "GET", "/v1/popular")[0], 401)
        time.sleep(retry + 0.1)
        st, _, r = call(self.keyed, "GET", "/v1/popular", READ)
        self.assertEqual(st, 200, r)

    def test_without_keys_the_limit_is_per_client_address(self):
        h, r = self.exhaust(self.open, None)
        self.assertEqual(r["error"]["code"], "rate_limited")
        self.assertIn("client address", r["error"]["message"])
        retry = int(h["Retry-After"])
        self.assertGreaterEqual(retry, 1)
        time.sleep(retry + 0.1)
        self.assertEqual(call(self.open, "GET", "/v1/popular")[0], 200)


class KeyReloadTest(unittest.TestCase):
    """SIGHUP reads the key file again: a rotated key works at once, the old one stops working,
    and a broken file keeps the keys in place (docs/SECURITY.md, key rotation)."""

    def test_sighup_rotates_keys(self):
        d = tempfile.mkdtemp(prefix="recd-sec-")
        self.addCleanup(shutil.rmtree, d, ignore_errors=True)
        old, new = "admin-old-0123456789abcdef", "admin-new-0123456789abcdef"
        path = keys_file(d, "admin %s\n" % old)
        s = Server("--keys", path).start()
        self.addCleanup(s.cleanup)
        self.assertEqual(call(s, "GET", "/v1/status", old)[0], 200)

        def hup_and_wait(marker):
            seen = server_log(s).count(marker)
            s.proc.send_signal(signal.SIGHUP)
            deadline = time.time() + 10
            while server_log(s).count(marker) == seen and time.time() < deadline:
                time.sleep(0.05)
            self.assertGreater(server_log(s).count(marker), seen, server_log(s))

        keys_file(d, "admin %s\nread %s\n" % (new, READ))
        hup_and_wait("SIGHUP: 2 API keys reloaded")
        self.assertEqual(call(s, "GET", "/v1/status", new)[0], 200)
        self.assertEqual(call(s, "GET", "/v1/status", old)[0], 401)
        self.assertEqual(call(s, "GET", "/v1/status", READ)[0], 403)

        keys_file(d, "admin short\n")  # too short a key: the file is refused as a whole
        hup_and_wait("keeping the 2 current keys")
        self.assertEqual(call(s, "GET", "/v1/status", new)[0], 200)
        self.assertEqual(call(s, "GET", "/v1/popular", READ)[0], 200)


class BindRuleTest(unittest.TestCase):
    def test_no_keys_binds_loopback_only(self):
        s = Server("--bind", "0.0.0.0").start()  # the later --bind wins over the harness's
        try:
            log = server_log(s)
            self.assertIn("binds 127.0.0.1 only, not 0.0.0.0", log)
            self.assertIn("listening on http://127.0.0.1:%d" % s.port, log)
            # without --cors-origins nothing changes: OPTIONS is 405, no CORS headers
            st, h, r = call(s, "OPTIONS", "/v1/events", headers={"Origin": ORIGIN_A})
            self.assertEqual((st, r["error"]["code"]), (405, "method_not_allowed"))
            st, h, _ = call(s, "GET", "/v1/popular", headers={"Origin": ORIGIN_A})
            self.assertEqual(st, 200)
            self.assertIsNone(h["Access-Control-Allow-Origin"])
            self.assertIsNone(h["Vary"])
            other = other_local_address()
            if other is None:
                self.skipTest("this machine has only loopback addresses")
            with self.assertRaises(OSError):
                socket.create_connection((other, s.port), timeout=3).close()
        finally:
            s.cleanup()

    def test_default_says_it_is_loopback_without_keys(self):
        s = Server().start()
        try:
            self.assertIn("no API keys (--keys): no authentication, listening on loopback",
                          server_log(s))
            self.assertEqual(call(s, "GET", "/v1/popular")[0], 200)
        finally:
            s.cleanup()

    def test_insecure_public_keeps_the_bind(self):
        s = Server("--bind", "0.0.0.0", "--insecure-public").start()
        try:
            log = server_log(s)
            self.assertIn("--insecure-public: listening on 0.0.0.0 with no API keys", log)
            self.assertIn("listening on http://0.0.0.0:%d" % s.port, log)
            other = other_local_address()
            if other is None:
                self.skipTest("this machine has only loopback addresses")
            socket.create_connection((other, s.port), timeout=3).close()
        finally:
            s.cleanup()


class KeyFileErrorsTest(unittest.TestCase):
    def start_fails(self, *args):
        data = tempfile.mkdtemp(prefix="recd-sec-")
        self.addCleanup(shutil.rmtree, data, True)
        p = run_recd("serve", "--port", "0", "--data", data, *args, timeout=60)
        self.assertNotEqual(p.returncode, 0, p.stderr)
        self.assertFalse(os.path.exists(os.path.join(data, "recd.db")), "failed before opening")
        return p.stderr

    def test_bad_line_names_file_and_line(self):
        d = tempfile.mkdtemp(prefix="recd-sec-")
        self.addCleanup(shutil.rmtree, d, True)
        path = keys_file(d, "# keys\nread %s\nwirte %s\n" % (READ, WRITE))
        err = self.start_fails("--keys", path)
        self.assertIn("%s:3: unknown scope 'wirte'" % path, err)
        path = keys_file(d, "read %s\nadmin short\n" % READ)
        self.assertIn("%s:2: a key must be 16..256 characters" % path,
                      self.start_fails("--keys", path))

    def test_missing_file_and_bad_options(self):
        self.assertIn("/nonexistent/keys", self.start_fails("--keys", "/nonexistent/keys"))
        self.assertIn("--cors-origins", self.start_fails("--cors-origins", "https://a.example/"))
        self.assertIn("--rate-limit", self.start_fails("--rate-limit", "-1"))


if __name__ == "__main__":
    main()
