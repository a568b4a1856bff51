"""The web dashboard (GET /dashboard) in a real headless Chromium, against a real `recd serve` with
an experiment running, trained models and some metrics history: tests/browser/dashboard_check.mjs
does the clicking; this file feeds recd and runs it.

Needs node, npm and Debian's chromium (skips with 77 without them). playwright-core is installed
with `npm ci` into the build tree ($RECD_BROWSER_DIR, else <dir of RECD_BIN>/browser), never into
the source tree. Screenshots go to $RECD_SCREENSHOTS (default: a temporary directory)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

import harness
from harness import Server, main

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "browser")
FILES = ("package.json", "package-lock.json", "dashboard_check.mjs")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
EXPERIMENTS = {"experiments": [{"name": "blend-test", "holdout": 0.1, "variants": [
    {"name": "control", "weight": 50, "settings": {}},
    {"name": "knn-heavy", "weight": 50, "settings": {"blend_knn": 1.0}}]}]}


def browser_dir():
    return os.environ.get("RECD_BROWSER_DIR") or os.path.join(
        os.path.dirname(os.path.abspath(harness.RECD)), "browser")


def install_browser_tools():
    """Copies the check next to the build and runs `npm ci` there unless the locked playwright-core
    is already installed. Returns the directory."""
    d = browser_dir()
    os.makedirs(d, exist_ok=True)
    for f in FILES:
        shutil.copyfile(os.path.join(SRC, f), os.path.join(d, f))
    with open(os.path.join(d, "package-lock.json")) as f:
        want = json.load(f)["packages"]["node_modules/playwright-core"]["version"]
    try:
        with open(os.path.join(d, "node_modules", "playwright-core", "package.json")) as f:
            have = json.load(f)["version"]
    except (OSError, ValueError, KeyError):
        have = None
    if have != want:
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=d, capture_output=True,
                           text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError("npm ci in %s failed:\n%s%s" % (d, r.stdout, r.stderr))
    return d


def catalog():
    cats = ["drama", "comedy", "scifi", "docs", "kids"]
    return [{"id": "i%d" % k, "title": "Title %d" % k, "categories": [cats[k % len(cats)]]}
            for k in range(50)]


def events():
    """30 users, 10 events each: users of one taste group share items, so models learn something."""
    out = []
    for u in range(30):
        for j in range(10):
            item = "i%d" % ((u % 5) * 10 + (j * 3 + u) % 10)
            if j % 2:
                out.append({"user": "u%d" % u, "item": item, "type": "click"})
            else:
                out.append({"user": "u%d" % u, "item": item, "type": "rating", "value": 3 + j % 3})
    return out


class DashboardTest(unittest.TestCase):
    KEY = None  # an admin key: the server runs with --keys and the page is given the key

    @classmethod
    def call(cls, method, path, body=None):
        headers = {"Authorization": "Bearer " + cls.KEY} if cls.KEY else None
        return cls.s.request(method, path, body=body, headers=headers)

    @classmethod
    def setUpClass(cls):
        # class cleanups run even when setUpClass fails half way, unlike tearDownClass
        cls.tmp = tempfile.mkdtemp(prefix="recd-dashboard-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.dir = install_browser_tools()
        path = os.path.join(cls.tmp, "experiments.json")
        with open(path, "w") as f:
            json.dump(EXPERIMENTS, f)
        # drift windows of 3 s that need 5 events: the clicks below land in a later window than
        # the first events, so the drift chart has a value to show
        extra = []
        if cls.KEY:
            keys = os.path.join(cls.tmp, "keys.txt")
            with open(keys, "w") as f:
                f.write("admin %s\nread read-only-key-0123456789abcdef\n" % cls.KEY)
            extra = ["--keys", keys]
        cls.s = Server("--experiments", path, "--metrics-interval", "1", "--drift-window", "0.05",
                       "--drift-min-events", "5", *extra)
        cls.addClassCleanup(cls.s.cleanup)
        cls.s.start()
        st, r = cls.call("POST", "/v1/items", catalog())
        assert st == 200, r
        st, r = cls.call("POST", "/v1/events", events())
        assert st == 200 and r["accepted"] == 300, r
        st, r = cls.call("POST", "/v1/train?wait=1")
        assert st == 200, r
        # Serve every user, then click some served items so the experiment has impressions and
        # clicks in more than one variant.
        clicks = []
        for u in range(30):
            st, r = cls.call("GET", "/v1/recommend/u%d" % u)
            assert st == 200 and r["items"], r
            if u % 2 == 0 and r.get("recommendation_id"):
                clicks.append({"user": "u%d" % u, "item": r["items"][0]["id"], "type": "click",
                               "recommendation_id": r["recommendation_id"]})
        assert clicks, "no recommendation carried a recommendation_id"
        time.sleep(3.5)  # the next drift window
        st, r = cls.call("POST", "/v1/events", clicks)
        assert st == 200 and r["accepted"] == len(clicks), r
        time.sleep(3)  # --metrics-interval 1: a few history samples for the charts

    def test_dashboard_in_chromium(self):
        shots = os.environ.get("RECD_SCREENSHOTS") or os.path.join(self.tmp, "screenshots")
        url = "http://127.0.0.1:%d/dashboard" % self.s.port
        key = ["--key", self.KEY] if self.KEY else []
        r = subprocess.run(["node", "dashboard_check.mjs", "--url", url, "--user", "u1",
                            "--screenshots", shots, *key], cwd=self.dir, capture_output=True,
                           text=True, timeout=300)
        print(r.stdout.strip())
        self.assertEqual(r.returncode, 0, "dashboard check failed:\n%s%s\nrecd log:\n%s"
                         % (r.stdout, r.stderr, self.s.tail()))
        for name in ("dashboard.png", "dashboard-lookup.png"):
            self.assertGreater(os.path.getsize(os.path.join(shots, name)), 1000, name)


class DashboardWithKeysTest(DashboardTest):
    """The same page and checks against a recd with --keys: the page is open, its data is not;
    it must ask for the key, then show everything as above."""
    KEY = "admin-key-for-the-dashboard-test-0123456789"

    def test_page_open_data_not(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/dashboard" % self.s.port) as r:
            self.assertEqual(r.status, 200)
            self.assertIn(b'id="key-form"', r.read())
        st, r = self.s.request("GET", "/v1/status")
        self.assertEqual(st, 401, r)
        st, r = self.s.request("GET", "/v1/status",
                               headers={"Authorization": "Bearer read-only-key-0123456789abcdef"})
        self.assertEqual(st, 403, r)


if __name__ == "__main__":
    missing = [what for what, ok in (("node", shutil.which("node")), ("npm", shutil.which("npm")),
                                     (CHROMIUM, os.access(CHROMIUM, os.X_OK))) if not ok]
    if missing:
        print("SKIP: dashboard test needs %s (apt-get install nodejs npm chromium)" % ", ".join(missing))
        sys.exit(77)
    main()
