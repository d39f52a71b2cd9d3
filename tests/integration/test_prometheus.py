# SPDX-License-Identifier: Apache-2.0
"""Debian's prometheus scrapes the daemon's metrics listener: it is
started here on a free loopback port with a temporary config (scrape
every 1s) and storage, and the values are read back through its HTTP
API. Prometheus asks for OpenMetrics first, so this is also the check
that its own parser takes that format. Skipped only without the
prometheus binary (apt-get install prometheus)."""

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

from daemon import Suite, expect, free_port
from expo import metrics_daemon

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


def skip_without_prometheus():
    if not os.access(PROMETHEUS, os.X_OK):
        required = os.environ.get("VBX_REQUIRE_SERVICES") == "1"
        print(f"# {'FAILED' if required else 'skipped'}: no prometheus "
              "binary (apt-get install prometheus)", flush=True)
        raise SystemExit(1 if required else 77)


class Prometheus:
    def __init__(self, target):
        self.dir = tempfile.mkdtemp(prefix="vbx-prom-")
        self.port = free_port()
        conf = os.path.join(self.dir, "prometheus.yml")
        with open(conf, "w") as f:
            f.write(f"""global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: vibebox
    static_configs:
      - targets: ["{target}"]
""")
        self.log = open(os.path.join(self.dir, "prometheus.log"), "w")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={conf}",
             f"--storage.tsdb.path={self.dir}/data",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=self.log)

    def query(self, q):
        url = (f"http://127.0.0.1:{self.port}/api/v1/query?" +
               urllib.parse.urlencode({"query": q}))
        with urllib.request.urlopen(url, timeout=5) as r:
            body = json.load(r)
        expect(body["status"] == "success", body)
        return body["data"]["result"]

    def wait_value(self, q, want, timeout=30):
        """Poll q until its one result's value is want."""
        deadline, got = time.time() + timeout, None
        while time.time() < deadline:
            expect(self.proc.poll() is None, "prometheus exited: " +
                   open(self.log.name).read()[-2000:])
            try:
                res = self.query(q)
                got = [float(r["value"][1]) for r in res]
                if got == [want]:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{q}: {got}, expected [{want}]; log: " +
                             open(self.log.name).read()[-2000:])

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def test_prometheus_scrapes_the_daemon():
    d = metrics_daemon()
    prom = Prometheus(f"127.0.0.1:{d.mport}")
    try:
        prom.wait_value('up{job="vibebox"}', 1)
        for i in range(3):
            st, _, _ = d.get(f"/api/v1/x/testkit/items/{i}", token="alice")
            expect(st == 200, f"items/{i}: {st}")
        prom.wait_value('vibebox_http_requests_total{method="GET",'
                        'route="/api/v1/x/testkit/items/{id}",'
                        'status="200"}', 3)
        prom.wait_value('vibebox_build_info{job="vibebox"}', 1)
        res = prom.query('vibebox_http_request_duration_seconds_bucket{'
                         'route="/api/v1/x/testkit/items/{id}",le="+Inf"}')
        expect([float(r["value"][1]) for r in res] == [3], res)
    finally:
        prom.stop()
        code = d.stop()
    expect(code == 0, f"vibeboxd exit {code}")


if __name__ == "__main__":
    skip_without_prometheus()
    s = Suite()
    s.run(test_prometheus_scrapes_the_daemon)
    s.finish()
