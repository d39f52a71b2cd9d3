# SPDX-License-Identifier: Apache-2.0
"""packaging/observability against a running deployment: vibeboxd with the
whole platform (PostgreSQL, Docker, auth, redis-cache when redis-server is
installed, tracing to a collector of the test's) and the metrics plugin,
and
Debian's prometheus scraping it with the shipped prometheus.yml (its
target pointed at the daemon) and alerts.yml. Checks:

- every alert rule evaluates without error; on this healthy daemon the
  only active alert is VibeBoxBackupMetricAbsent (no backup-s3 loaded);
- every PromQL query of the Grafana dashboard runs; each label it groups
  by, matches on or shows in a legend exists on the metrics it reads, as
  the daemon exports them; a query on exported metrics with no filter
  returns data;
- the dashboard's instance variable lists the daemon.

Metrics the daemon does not export (a plugin that is not loaded, or not
instrumented yet) are listed, and their queries are only checked to run.
Exit 77 (skipped) without the metrics plugin's build; without prometheus,
PostgreSQL or Docker too, but 1 with VBX_REQUIRE_SERVICES=1.
"""

import asyncio
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
import websockets  # noqa: E402
import yaml  # noqa: E402

from daemon import Suite, expect, free_port  # noqa: E402
import fixture  # noqa: E402
from redis import Redis  # noqa: E402

SRC = os.environ.get("VBX_SRCDIR", ".")
BUILD = os.environ.get("VBX_BUILDDIR", ".")
OBS = os.path.join(SRC, "packaging", "observability")
METRICS_SO = os.path.join(BUILD, "plugins", "metrics", ".libs", "metrics.so")
REDIS_SO = os.path.join(BUILD, "plugins", "redis-cache", ".libs",
                        "redis-cache.so")
TRACING_SO = os.path.join(BUILD, "plugins", "tracing", ".libs", "tracing.so")
REQUIRED = os.environ.get("VBX_REQUIRE_SERVICES") == "1"
# Grafana's variables, as the dashboard would send them.
GRAFANA_VARS = {"$__rate_interval": "1m", "$__interval": "15s",
                "$__range": "1h", "$instance": ".*"}
# Labels Prometheus adds, and le of a histogram's buckets.
OWN_LABELS = {"job", "instance", "le"}
# Alerts a healthy daemon without backup-s3 has pending (never firing:
# each waits longer than the test runs), and those it may have: starting
# an environment can take more than a second.
EXPECTED_ACTIVE = {"VibeBoxBackupMetricAbsent"}
ALLOWED_ACTIVE = {"VibeBoxHighLatencyP99"}

S = {}  # the daemon, prometheus, what /metrics exports


def skip(why):
    print(f"# {'FAILED' if REQUIRED else 'skipped'}: {why}", flush=True)
    raise SystemExit(1 if REQUIRED else 77)


def http_json(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.load(r)


def prom(path, **params):
    """GET Prometheus' API; the data of a success, else an AssertionError
    naming the error."""
    url = f"http://127.0.0.1:{S['prom_port']}{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params, doseq=True)
    try:
        body = http_json(url)
    except urllib.error.HTTPError as e:
        body = json.load(e)
    expect(body.get("status") == "success",
           f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
    return body["data"]


def wait_for(what, cond, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        try:
            got = cond()
        except (OSError, AssertionError, ValueError):
            got = None
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


# ---- what the daemon exports ----

LABEL = re.compile(r'(\w+)="(?:[^"\\]|\\.)*"')


def exported(port):
    """{series name: label names} from the metrics listener's text."""
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][\w:]*)(\{.*\})?\s", line)
        expect(m, f"unparsable exposition line {line!r}")
        out.setdefault(m.group(1), set()).update(
            LABEL.findall(m.group(2) or ""))
    return out


# ---- the deployment ----

class OtlpSink(http.server.BaseHTTPRequestHandler):
    """A collector that accepts every OTLP/HTTP export (test_tracing.py
    checks what is in them; here only the counts matter)."""
    posts = 0

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        OtlpSink.posts += 1
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def start_sink():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), OtlpSink)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    S["sink"] = srv
    return srv.server_address[1]


def start_daemon(p):
    """The platform's daemon with the metrics plugin; redis-cache on a
    redis-server of its own, and tracing (every request) to a collector
    of the test's, when they are there."""
    os.symlink(METRICS_SO, os.path.join(p.plugin_dir, "metrics.so"))
    d = p.start(wait=False)
    S["metrics_port"] = free_port()
    more = (f', {{ name = "metrics"; config = {{ listen = '
            f'"127.0.0.1:{S["metrics_port"]}"; }}; }}')
    if os.path.exists(REDIS_SO) and shutil.which("redis-server"):
        os.symlink(REDIS_SO, os.path.join(p.plugin_dir, "redis-cache.so"))
        S["redis"] = Redis().start()
        more += (f', {{ name = "redis-cache"; config = {{ url = '
                 f'"{S["redis"].url}"; }}; }}')
    if os.path.exists(TRACING_SO):
        os.symlink(TRACING_SO, os.path.join(p.plugin_dir, "tracing.so"))
        more += (f', {{ name = "tracing"; config = {{ endpoint = '
                 f'"http://127.0.0.1:{start_sink()}"; sample = 1; '
                 f'interval = "100ms"; }}; }}')
    with open(d.conf) as f:
        conf = f.read()
    cut = conf.rindex(");")
    conf = conf[:cut] + more + "\n" + conf[cut:]
    with open(d.conf, "w") as f:
        f.write(conf)
    d.start()
    p.instances.append(fixture.Platform.instance_id(d))
    return d


class EventsSocket:
    """An /api/v1/events WebSocket held open on a thread of its own (the
    autoscaler's metric counts it), reading what the daemon sends."""

    def __init__(self, d, token):
        self.url = f"ws://127.0.0.1:{d.port}/api/v1/events"
        self.token = token
        self.subscribed = threading.Event()
        self.received = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_until_complete,
                                       args=(self.hold(),), daemon=True)
        self.thread.start()
        expect(self.subscribed.wait(10), "the events socket subscribed")

    async def hold(self):
        self.task = asyncio.current_task()
        try:
            async with websockets.connect(
                    self.url, subprotocols=["vibebox.events.v1"],
                    extra_headers={"Authorization": "Bearer " + self.token}
            ) as ws:
                self.subscribed.set()
                async for _ in ws:
                    self.received += 1
        except asyncio.CancelledError:
            pass

    def close(self):
        self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(10)


def traffic(p, d):
    """Requests that make the core's and the plugins' series: readiness,
    a 404, a login, an events WebSocket (left open), a project and an
    environment started and stopped."""
    for path in ("/health/ready", "/health/live", "/no/such/route"):
        d.get(path)
    token = p.user(d, "admin@obs.test")
    S["events"] = EventsSocket(d, token)
    st, _, _ = d.request("POST", "/api/v1/auth/login",
                         {"email": "admin@obs.test", "password": "wrong"})
    expect(st == 401, f"a wrong password: {st}")
    proj = p.project(d, token, "obs")
    env = p.environment(d, token, proj["id"], "box")
    for what in ("start", "stop"):
        st, b, _ = d.request("POST", f"/api/v1/environments/{env['id']}/"
                             f"{what}", token=token, timeout=60)
        expect(st == 200, f"{what}: {st} {b}")
    d.get("/health/ready")


def start_prometheus():
    """The shipped prometheus.yml, its target the daemon's metrics
    listener, scraping and evaluating every second, no AlertManager."""
    with open(os.path.join(OBS, "prometheus", "prometheus.yml")) as f:
        cfg = yaml.safe_load(f)
    cfg["global"].update(scrape_interval="1s", evaluation_interval="1s")
    cfg["rule_files"] = [os.path.join(OBS, "prometheus", r)
                         for r in cfg["rule_files"]]
    del cfg["alerting"]
    (job,) = cfg["scrape_configs"]
    job["static_configs"] = [
        {"targets": [f"127.0.0.1:{S['metrics_port']}"]}]
    S["prom_dir"] = tempfile.mkdtemp(prefix="vbx-prom-")
    path = os.path.join(S["prom_dir"], "prometheus.yml")
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f)
    S["prom_port"] = free_port()
    S["prom_log"] = open(os.path.join(S["prom_dir"], "log"), "w")
    S["prom"] = subprocess.Popen(
        ["prometheus", f"--config.file={path}",
         f"--storage.tsdb.path={S['prom_dir']}/data",
         f"--web.listen-address=127.0.0.1:{S['prom_port']}",
         "--log.level=warn"], stdout=S["prom_log"], stderr=S["prom_log"])
    wait_for("prometheus ready", lambda: urllib.request.urlopen(
        f"http://127.0.0.1:{S['prom_port']}/-/ready", timeout=2).status
        == 200)
    # a few scrapes, so that rate() over them has points
    wait_for("5 scrapes of the daemon", lambda: prom(
        "/api/v1/query", query='count_over_time(up{job="vibebox"}[1m]) >= 5'
        ' and up{job="vibebox"} == 1')["result"])


def stop_prometheus():
    if "prom" in S:
        S["prom"].terminate()
        S["prom"].wait(20)
        S["prom_log"].close()
        shutil.rmtree(S["prom_dir"], ignore_errors=True)


# ---- the checks ----

def dashboard_queries():
    with open(os.path.join(OBS, "grafana", "vibebox.json")) as f:
        dash = json.load(f)
    for p in dash["panels"]:
        for t in p.get("targets", []):
            if (t.get("datasource") or {}).get("uid") != "${datasource}":
                continue
            expr = t["expr"]
            for k, v in GRAFANA_VARS.items():
                expr = expr.replace(k, v)
            yield p["title"], expr, t.get("legendFormat", "")


def labels_used(expr, legend):
    used = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", legend))
    for group in re.findall(
            r"\b(?:by|without|on|ignoring|group_left|group_right)\s*"
            r"\(([^)]*)\)", expr):
        used.update(x.strip() for x in group.split(",") if x.strip())
    for sel in re.findall(r"\{([^}]*)\}", expr):
        used.update(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", sel))
    return used - OWN_LABELS


def filtered(expr):
    """A query that may rightly be empty: it compares, or selects label
    values (5xx answers, one status) besides the instance."""
    if "==" in expr:
        return True
    for sel in re.findall(r"\{([^}]*)\}", expr):
        if re.sub(r'instance=~"\.\*"', "", sel).strip(" ,"):
            return True
    return False


def test_alert_rules_evaluate():
    def evaluated():
        rules = [r for g in prom("/api/v1/rules")["groups"]
                 for r in g["rules"]]
        return rules if all(r["health"] != "unknown" for r in rules) \
            else None
    rules = wait_for("every rule evaluated", evaluated)
    expect(len(rules) >= 13, f"{len(rules)} rules loaded")
    bad = [(r["name"], r.get("lastError")) for r in rules
           if r["health"] != "ok"]
    expect(not bad, f"rules that fail to evaluate: {bad}")
    active = {a["labels"]["alertname"]: a["state"]
              for a in prom("/api/v1/alerts")["alerts"]}
    expect(EXPECTED_ACTIVE <= set(active) <= EXPECTED_ACTIVE | ALLOWED_ACTIVE
           and set(active.values()) == {"pending"},
           f"active alerts on a healthy daemon: {active}, expected "
           f"{sorted(EXPECTED_ACTIVE)} pending")


def test_dashboard_queries_against_the_daemon():
    have = exported(S["metrics_port"])
    checked, missing = 0, set()
    for title, expr, legend in dashboard_queries():
        data = prom("/api/v1/query", query=expr)
        names = set(re.findall(r"\bvibebox_\w+", expr))
        absent = {n for n in names if n not in have}
        if absent:
            missing |= absent
            continue
        checked += 1
        known = set().union(*(have[n] for n in names)) if names else set()
        unknown = labels_used(expr, legend) - known
        expect(not unknown, f"{title!r}: {expr} uses labels {unknown} that "
               f"{sorted(names)} do not have (they have {sorted(known)})")
        if names and not filtered(expr):
            expect(data["result"], f"{title!r}: {expr} returned no data")
    print(f"# {checked} dashboard queries checked against the exported "
          f"metrics; not exported by this daemon: {sorted(missing)}",
          flush=True)
    expect(checked >= 10, f"only {checked} queries could be checked")


def test_websockets_reach_prometheus():
    """The autoscaler's metric, as the HPA's adapter rule reads it."""
    got = wait_for("the events socket in vibebox_websocket_connections",
                   lambda: prom("/api/v1/query", query=(
                       "sum by (endpoint) (vibebox_websocket_connections)"
                   ))["result"])
    expect(len(got) == 1 and got[0]["value"][1] == "1" and
           got[0]["metric"]["endpoint"] == "/api/v1/events",
           f"websocket_connections: {got}")


def test_spans_reach_prometheus():
    """With the tracing plugin: spans exported to the collector, counted,
    none dropped (the dashboard's panel; VibeBoxSpansDropped quiet)."""
    if "sink" not in S:
        print("# tracing plugin not built: spans not checked", flush=True)
        return
    got = wait_for("spans exported in Prometheus", lambda: prom(
        "/api/v1/query", query="sum(vibebox_spans_exported_total) > 0"
    )["result"])
    dropped = prom("/api/v1/query",
                   query="sum(vibebox_spans_dropped_total)")["result"]
    expect(OtlpSink.posts > 0 and dropped and dropped[0]["value"][1] == "0",
           f"exported {got}, dropped {dropped}, {OtlpSink.posts} posts")


def test_instance_variable_lists_the_daemon():
    target = f"127.0.0.1:{S['metrics_port']}"
    values = prom("/api/v1/label/instance/values",
                  **{"match[]": "vibebox_build_info"})
    expect(values == [target], f"instance values {values}, want {target}")


def main():
    for tool in ("prometheus",):
        if not shutil.which(tool):
            skip(f"no {tool} (apt-get install prometheus)")
    if not os.path.exists(METRICS_SO):  # a build without it: not a service
        print(f"# skipped: the metrics plugin is not built ({METRICS_SO})")
        raise SystemExit(77)
    fixture.skip_unless_ready()
    suite = Suite()
    with fixture.Platform() as p:
        d = start_daemon(p)
        try:
            traffic(p, d)
            start_prometheus()
            for t in (test_alert_rules_evaluate,
                      test_dashboard_queries_against_the_daemon,
                      test_websockets_reach_prometheus,
                      test_spans_reach_prometheus,
                      test_instance_variable_lists_the_daemon):
                suite.run(t)
        finally:
            if "events" in S:
                S["events"].close()
            stop_prometheus()
            code = d.stop()
            if "redis" in S:
                S["redis"].stop()
            if "sink" in S:
                S["sink"].shutdown()
            if code != 0:
                print(f"# vibeboxd exit {code}: {d.logtext()[-2000:]}")
                suite.failed += 1
    suite.finish()


if __name__ == "__main__":
    main()
