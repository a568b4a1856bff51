"""Test harness: starts the real recd binary on 127.0.0.1, a free port and a temporary data
directory, and talks HTTP (or HTTPS, given a CA file) to it like any client. Stdlib only."""
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

RECD = os.environ.get("RECD_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "recd")
SHARED = os.environ.get("RECD_SHARED_DATA") or os.path.join(
    os.path.dirname(__file__), "..", "..", "..", "shared", "data")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One recd serve process. The data directory outlives restarts until cleanup(). With
    https_ca (a PEM file of the certificate, or of its CA) requests go over HTTPS, checked
    against it; the TLS options themselves are among extra."""

    def __init__(self, *extra, data=None, https_ca=None):
        self.data = data or tempfile.mkdtemp(prefix="recd-e2e-")
        self.extra = list(extra)
        self.scheme = "https" if https_ca else "http"
        self.ssl_context = ssl.create_default_context(cafile=https_ca) if https_ca else None
        self.proc = None
        self.port = None
        self.log_path = os.path.join(self.data, "server.log")

    def start(self, timeout=30):
        self.port = free_port()
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [RECD, "serve", "--port", str(self.port), "--bind", "127.0.0.1", "--data", self.data]
            + self.extra, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("recd exited at start (status %s):\n%s"
                                   % (self.proc.returncode, self.tail()))
            try:
                status, _ = self.request("GET", "/health", timeout=1)
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("recd did not answer /health in time:\n" + self.tail())

    def tail(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-4000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()
        return self.proc.returncode if self.proc else None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.data, ignore_errors=True)

    def request(self, method, path, body=None, raw=None, timeout=60, headers=None):
        """Returns (status, parsed JSON body or None)."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request("%s://127.0.0.1:%d%s" % (self.scheme, self.port, path),
                                     data=data, method=method, headers=headers or {})
        if data is not None and not any(k.lower() == "content-type" for k in (headers or {})):
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self.ssl_context) as r:
                text = r.read()
                return r.status, json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            text = e.read()
            try:
                return e.code, json.loads(text)
            except ValueError:
                return e.code, {"raw": text.decode("utf-8", "replace")}

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, body=None, raw=None):
        return self.request("POST", path, body=body, raw=raw)

    def delete(self, path):
        return self.request("DELETE", path)


def run_recd(*args, timeout=600):
    return subprocess.run([RECD] + list(args), capture_output=True, text=True, timeout=timeout)


def main():
    if not os.path.exists(RECD):
        print("SKIP: recd binary not found at %s" % RECD)
        sys.exit(77)
    unittest.main(verbosity=2)
