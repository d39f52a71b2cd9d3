# SPDX-License-Identifier: Apache-2.0
"""Start and talk to a real vibeboxd for the integration tests.

Everything goes to 127.0.0.1 on a free port. Each test file prints one
"ok - name" / "not ok - name" line per check and exits non-zero on any
failure.
"""

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import traceback

VIBEBOXD = os.environ.get("VIBEBOXD", "vibeboxd")
PLUGIN_DIR = os.environ.get("VBX_TEST_PLUGIN_DIR", "")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    """One vibeboxd process with its own config, port and log file."""

    def __init__(self, plugins="", server="", log='level = "info";',
                 extra="", env=None, plugin_dir=None):
        self.dir = tempfile.mkdtemp(prefix="vbx-it-")
        self.plugin_dir = plugin_dir or PLUGIN_DIR
        self.port = free_port()
        self.conf = os.path.join(self.dir, "vibeboxd.conf")
        self.logpath = os.path.join(self.dir, "stderr.log")
        self.write_conf(plugins, server, log, extra)
        self.env = dict(os.environ, **(env or {}))
        self.proc = None

    def write_conf(self, plugins="", server="", log='level = "info";',
                   extra=""):
        with open(self.conf, "w") as f:
            f.write(f"""
server: {{ listen = "127.0.0.1:{self.port}"; workers = 2; {server} }};
log: {{ {log} }};
plugin_dir = "{self.plugin_dir}";
state_dir = "{self.dir}";
{extra}
plugins = ( {plugins} );
""")

    def start(self, wait=True):
        self.log = open(self.logpath, "w")
        self.proc = subprocess.Popen([VIBEBOXD, "-c", self.conf],
                                     stdout=self.log, stderr=self.log,
                                     env=self.env)
        if wait:
            deadline = time.time() + 10
            while time.time() < deadline:
                try:
                    if self.get("/health/startup")[0] == 200:
                        return self
                except OSError:
                    pass
                if self.proc.poll() is not None:
                    raise RuntimeError("vibeboxd exited: " + self.logtext())
                time.sleep(0.05)
            raise RuntimeError("vibeboxd did not start: " + self.logtext())
        return self

    def logtext(self):
        with open(self.logpath) as f:
            return f.read()

    def loglines(self):
        out = []
        for line in self.logtext().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def request(self, method, path, body=None, token=None, headers=None,
                timeout=10, source=None):
        """source: the local address to send from (127.0.0.2 etc. are
        loopback too), for tests of per-address behaviour."""
        c = http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=timeout,
            source_address=(source, 0) if source else None)
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = data
        return r.status, parsed, r

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=20):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()
        return self.proc.returncode if self.proc else None

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0


class Suite:
    """A tiny TAP-like runner: each check is a function."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def run(self, fn):
        name = fn.__name__.replace("test_", "").replace("_", " ")
        try:
            fn()
            self.passed += 1
            print(f"ok - {name}", flush=True)
        except Exception:
            self.failed += 1
            print(f"not ok - {name}", flush=True)
            for line in traceback.format_exc().splitlines():
                print("# " + line, flush=True)

    def finish(self):
        print(f"# {self.passed} passed, {self.failed} failed", flush=True)
        sys.exit(1 if self.failed else 0)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def error_of(body):
    expect(isinstance(body, dict) and "error" in body,
           f"error envelope expected, got {body!r}")
    return body["error"]
