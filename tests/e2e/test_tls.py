"""HTTPS end to end (docs/SECURITY.md, "TLS"): `recd serve --tls-cert --tls-key` with a
self-signed certificate made here by the openssl command (Debian package openssl)."""
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

from harness import Server, main, run_recd


def openssl(*args):
    """Runs the openssl command; fails the test, naming the package, when it is missing."""
    if not shutil.which("openssl"):
        raise AssertionError("the openssl command is not installed: it makes the test's "
                             "certificates; install the Debian package 'openssl' "
                             "(scripts/install-deps.sh does)")
    r = subprocess.run(["openssl"] + list(args), capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError("openssl %s failed:\n%s" % (" ".join(args), r.stderr))


def make_pair(directory, name, key_args):
    """A self-signed certificate for 127.0.0.1 and its key: (cert path, key path)."""
    cert = os.path.join(directory, name + "-cert.pem")
    key = os.path.join(directory, name + "-key.pem")
    openssl("req", "-x509", "-newkey", *key_args, "-nodes", "-keyout", key, "-out", cert,
            "-days", "2", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost")
    os.chmod(key, 0o600)
    return cert, key


def handshake(port, cafile, version=None, ciphers=None):
    """(TLS version, cipher name) of a handshake, or raises ssl.SSLError / OSError."""
    ctx = ssl.create_default_context(cafile=cafile)
    if version:
        ctx.minimum_version = ctx.maximum_version = version
    if ciphers:
        ctx.set_ciphers(ciphers)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as t:
            return t.version(), t.cipher()[0]


def log_text(server):
    with open(server.log_path, "rb") as f:
        return f.read().decode("utf-8", "replace")


class TlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="recd-tls-")
        cls.cert, cls.key = make_pair(cls.dir, "rsa", ["rsa:2048"])
        cls.other_cert, cls.other_key = make_pair(
            cls.dir, "ec", ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"])
        cls.s = Server("--retrain-events", "0", "--tls-cert", cls.cert, "--tls-key", cls.key,
                       https_ca=cls.cert).start()

    @classmethod
    def tearDownClass(cls):
        cls.s.cleanup()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_https_roundtrip(self):
        st, r = self.s.get("/v1/status")
        self.assertEqual(st, 200, r)
        st, r = self.s.post("/v1/items", [{"id": "tls-%d" % i, "title": "T%d" % i}
                                          for i in range(5)])
        self.assertEqual((st, r["upserted"]), (200, 5), r)
        events = [{"user": "tls-u%d" % u, "item": "tls-%d" % ((u + k) % 5), "type": "view"}
                  for u in range(6) for k in range(2)]
        st, r = self.s.post("/v1/events", events)
        self.assertEqual((st, r["accepted"]), (200, len(events)), r)
        st, r = self.s.get("/v1/recommend/tls-u0?n=3")
        self.assertEqual(st, 200, r)
        self.assertTrue(r["items"], r)
        self.assertTrue(all(x["id"].startswith("tls-") for x in r["items"]), r)
        st, r = self.s.get("/v1/users/tls-u0")
        self.assertEqual(st, 200, r)
        self.assertEqual(len(r["history"]), 2, r)

    def test_serves_our_certificate_and_logs_https(self):
        with open(self.cert) as f:
            want = ssl.PEM_cert_to_DER_cert(f.read())
        ctx = ssl.create_default_context(cafile=self.cert)
        with socket.create_connection(("127.0.0.1", self.s.port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as t:
                self.assertEqual(t.getpeercert(binary_form=True), want)
        # A client that does not trust the certificate refuses it.
        with self.assertRaises(ssl.SSLCertVerificationError):
            handshake(self.s.port, None)
        text = log_text(self.s)
        self.assertIn("http: serving https on 127.0.0.1", text)
        self.assertIn("listening on https://127.0.0.1:%d" % self.s.port, text)

    def test_modern_protocols_only(self):
        self.assertEqual(handshake(self.s.port, self.cert, ssl.TLSVersion.TLSv1_3)[0], "TLSv1.3")
        v, cipher = handshake(self.s.port, self.cert, ssl.TLSVersion.TLSv1_2)
        self.assertEqual(v, "TLSv1.2")
        self.assertTrue(cipher.startswith("ECDHE-") and ("GCM" in cipher or "CHACHA" in cipher),
                        cipher)
        # TLS 1.2 with RSA key exchange and a CBC cipher: GnuTLS's NORMAL would take it, recd's
        # default priorities do not.
        with self.assertRaises((ssl.SSLError, OSError)):
            handshake(self.s.port, self.cert, ssl.TLSVersion.TLSv1_2, "AES128-SHA")

    def test_priorities_option(self):
        s = Server("--retrain-events", "0", "--tls-cert", self.cert, "--tls-key", self.key,
                   "--tls-priorities", "NORMAL", https_ca=self.cert).start()
        try:
            v, cipher = handshake(s.port, self.cert, ssl.TLSVersion.TLSv1_2, "AES128-SHA")
            self.assertEqual((v, cipher), ("TLSv1.2", "AES128-SHA"))
            # the line follows the daemon's start, which is when /health can first answer
            deadline = time.time() + 10
            while time.time() < deadline and "priorities NORMAL" not in log_text(s):
                time.sleep(0.05)
            self.assertIn("priorities NORMAL", log_text(s))
        finally:
            s.cleanup()

    def test_plain_http_gets_no_answer(self):
        with socket.create_connection(("127.0.0.1", self.s.port), timeout=10) as c:
            c.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            got = b""
            try:
                while len(got) < 65536:
                    b = c.recv(4096)
                    if not b:
                        break
                    got += b
            except OSError:
                pass  # a reset is as good as a close
        self.assertFalse(got.startswith(b"HTTP/"), got[:200])
        self.assertNotIn(b'"status"', got)
        # The server goes on serving HTTPS.
        self.assertEqual(self.s.get("/health")[0], 200)

    def start_fails(self, *tls_args):
        """recd serve with tls_args must exit non-zero at start: returns its stderr."""
        data = tempfile.mkdtemp(prefix="recd-tls-bad-", dir=self.dir)
        r = run_recd("serve", "--port", "0", "--data", data, "--retrain-events", "0",
                     *tls_args, timeout=60)
        self.assertNotEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("listening on https:", r.stderr)
        return r.stderr

    def test_missing_key_file(self):
        missing = os.path.join(self.dir, "no-such-key.pem")
        err = self.start_fails("--tls-cert", self.cert, "--tls-key", missing)
        self.assertIn("TLS key file %s: cannot open: No such file" % missing, err)

    def test_mismatched_certificate_and_key(self):
        err = self.start_fails("--tls-cert", self.cert, "--tls-key", self.other_key)
        self.assertIn("certificate %s, key %s" % (self.cert, self.other_key), err)
        self.assertIn("do not match", err)

    def test_swapped_or_wrong_files(self):
        err = self.start_fails("--tls-cert", self.key, "--tls-key", self.cert)
        self.assertIn("TLS certificate file %s holds no PEM certificate" % self.key, err)
        err = self.start_fails("--tls-cert", self.cert, "--tls-key", os.devnull)
        self.assertIn("TLS key file %s holds no PEM private key" % os.devnull, err)

    def test_cert_and_key_go_together(self):
        err = self.start_fails("--tls-cert", self.cert)
        self.assertIn("--tls-cert and --tls-key go together", err)
        err = self.start_fails("--tls-key", self.key)
        self.assertIn("--tls-key was given without --tls-cert", err)


if __name__ == "__main__":
    main()
