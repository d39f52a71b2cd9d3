# SPDX-License-Identifier: Apache-2.0
"""The plugins' metrics, end to end: a real PostgreSQL cluster, the Docker
engine, one real redis-server and vibeboxd with postgres-store,
redis-cache, auth, docker-runtime, platform and the metrics plugin on a
listener of its own. Every scrape is read strictly (promtext.py) and the
checks assert exact increments:

- auth: a good and a bad password, a lockout (login_limit) and a burst of
  registrations over register_limit count in auth_attempts_total and
  rate_limited_total; access tokens, good and forged, count as "token";
- postgres-store: one store_user_by_email per login that reaches the
  store; the pool's slots add up to its size;
- redis-cache: a user read the second time is a hit, never an error;
  with Redis stopped, reads are errors;
- platform and docker-runtime: create, start and stop an environment move
  environment_transitions_total, environments{status} and
  runtime_operations_total with their durations;
- the terminal: terminal_sessions while a shell is open, and every byte
  typed (in) and received (out) in terminal_bytes_total.
"""

import asyncio
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request

import websockets

from daemon import Daemon, Suite, expect, free_port
from fixture import (BUILD, CLUSTER, PASSWORD, SECRET, SRC, Platform,
                     skip_unless_ready)
from promtext import parse, value
from redis import Redis, skip_unless_redis

ENVS = "/api/v1/environments"
PROTO = "vibebox.terminal.v1"
P = None
R = None
D = None
T = {}   # tokens
ENV = {}
STATUSES = ("stopped", "starting", "running", "stopping", "error")


class Stack(Platform):
    """The fixture's platform, with redis-cache and metrics loaded."""

    def __enter__(self):
        super().__enter__()
        for name in ("redis-cache", "metrics"):
            os.symlink(os.path.join(BUILD, "plugins", name, ".libs",
                                    name + ".so"),
                       os.path.join(self.plugin_dir, name + ".so"))
        return self

    def start_all(self, redis_url, metrics_port):
        conninfo = subprocess.run(
            [CLUSTER, "createdb", self.pg, "metrics"], check=True,
            capture_output=True, text=True).stdout.strip()
        key = os.path.join(self.dir, "secrets.key")
        d = Daemon(plugin_dir=self.plugin_dir, plugins=f"""
  {{ name = "postgres-store"; config = {{ conninfo = "{conninfo}";
      secrets_key_file = "{key}"; pool = 4; }}; }},
  {{ name = "redis-cache"; config = {{ url = "{redis_url}"; }}; }},
  {{ name = "auth"; config = {{ jwt_secret = "{SECRET}";
      registration = "open"; argon2_memory = "1MiB";
      argon2_iterations = 1; user_cache = "0"; principal_cache = "30s";
      login_limit = "3/15m"; register_limit = "5/15m"; }}; }},
  {{ name = "docker-runtime"; config = {{ images = [ "vibebox/*" ]; }}; }},
  {{ name = "platform"; config = {{ environments: {{
      stop_timeout = "1s"; reconcile_interval = "1h"; }}; }}; }},
  {{ name = "metrics"; config = {{
      listen = "127.0.0.1:{metrics_port}"; }}; }}""")
        d.conninfo = conninfo
        d.metrics_port = metrics_port
        d.start()
        self.instances.append(Platform.instance_id(d))
        return d


def scrape_text():
    url = f"http://127.0.0.1:{D.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as r:
        expect(r.status == 200, f"scrape: {r.status}")
        return r.read().decode()


def scrape():
    return parse(scrape_text())


def v(fams, name, **labels):
    """A sample that must be there."""
    x = value(fams, "vibebox_" + name, **labels)
    expect(x is not None, f"vibebox_{name}{labels} is not exposed")
    return x


def delta(before, after, name, **labels):
    return v(after, name, **labels) - v(before, name, **labels)


def login(email, password):
    st, b, _ = D.request("POST", "/api/v1/auth/login",
                         {"email": email, "password": password})
    return st, b


def register(email):
    st, b, _ = D.request("POST", "/api/v1/auth/register",
                         {"email": email, "password": PASSWORD})
    return st, b


def wait_for(pred, what, timeout=20):
    end = time.monotonic() + timeout
    while True:
        fams = scrape()
        if pred(fams):
            return fams
        expect(time.monotonic() < end, f"timed out waiting for {what}")
        time.sleep(0.1)


# ---- checks ----

def test_every_series_from_the_start():
    f = scrape()
    for m in ("password", "refresh", "api_key", "token", "ticket"):
        for r in ("ok", "invalid", "locked", "error"):
            v(f, "auth_attempts_total", method=m, result=r)
    for lim in ("login", "register", "api"):
        v(f, "rate_limited_total", limit=lim)
    for r in ("hit", "miss", "error"):
        v(f, "cache_requests_total", result=r)
    for s in STATUSES:
        expect(v(f, "environments", status=s) == 0, f"no env is {s}")
    expect(v(f, "terminal_sessions") == 0, "no terminal yet")
    for d in ("in", "out"):
        expect(v(f, "terminal_bytes_total", direction=d) == 0, d)
    expect(v(f, "environment_transitions_total", **{"from": "stopped",
                                                    "to": "starting"}) == 0,
           "no transition yet")
    for op in ("create", "start", "stop", "exec", "inspect", "list"):
        v(f, "runtime_operations_total", operation=op, result="ok")
        v(f, "runtime_operation_duration_seconds_count", operation=op)
    v(f, "store_query_duration_seconds_count", operation="store_user_get")
    types = {"vibebox_auth_attempts_total": "counter",
             "vibebox_rate_limited_total": "counter",
             "vibebox_cache_requests_total": "counter",
             "vibebox_environments": "gauge",
             "vibebox_environment_transitions_total": "counter",
             "vibebox_terminal_sessions": "gauge",
             "vibebox_terminal_bytes_total": "counter",
             "vibebox_runtime_operations_total": "counter",
             "vibebox_runtime_operation_duration_seconds": "histogram",
             "vibebox_store_query_duration_seconds": "histogram",
             "vibebox_store_pool_connections": "gauge"}
    for name, t in types.items():
        expect(f[name].type == t and f[name].help, f"{name}: {t}, helped")


def test_pool_slots_add_up():
    f = scrape()
    n = [v(f, "store_pool_connections", state=s)
         for s in ("idle", "busy", "connecting", "closed")]
    expect(sum(n) == 4 and n[0] >= 1, f"pool = 4 slots: {n}")


def test_logins_good_and_bad():
    b = scrape()
    st, body = register("alice@metrics.test")
    expect(st == 201, f"register: {st} {body}")
    st, body = login("alice@metrics.test", PASSWORD)
    expect(st == 200, f"login: {st} {body}")
    T["alice"] = body["accessToken"] if "accessToken" in body else \
        body["tokens"]["accessToken"]
    st, _ = login("alice@metrics.test", "wrong password")
    expect(st == 401, f"bad password: {st}")
    a = scrape()
    for r, n in (("ok", 1), ("invalid", 1), ("locked", 0), ("error", 0)):
        got = delta(b, a, "auth_attempts_total", method="password", result=r)
        expect(got == n, f"password {r}: +{got}, expected +{n}")
    got = delta(b, a, "store_query_duration_seconds_count",
                operation="store_user_by_email")
    expect(got == 2, f"two logins reached the store: +{got}")
    expect(v(a, "store_query_duration_seconds_sum",
             operation="store_user_by_email") > 0, "their time")


def test_lockout_and_register_burst():
    st, _ = register("bob@metrics.test")
    expect(st == 201, f"register bob: {st}")
    b = scrape()
    codes = [login("bob@metrics.test", "nope")[0] for _ in range(4)]
    expect(codes == [401, 401, 401, 429], f"login_limit 3: {codes}")
    burst = [register(f"burst{i}@metrics.test")[0] for i in range(3)]
    limited = burst.count(429)
    expect(limited >= 1 and set(burst) <= {201, 429},
           f"register_limit 5 (4 used): {burst}")
    a = scrape()
    for r, n in (("invalid", 3), ("locked", 1), ("ok", 0)):
        got = delta(b, a, "auth_attempts_total", method="password", result=r)
        expect(got == n, f"password {r}: +{got}, expected +{n}")
    got = delta(b, a, "rate_limited_total", limit="login")
    expect(got == 1, f"one login 429: +{got}")
    got = delta(b, a, "rate_limited_total", limit="register")
    expect(got == limited, f"{limited} register 429s: +{got}")
    expect(delta(b, a, "rate_limited_total", limit="api") == 0, "no api")


def test_tokens_and_the_shared_cache():
    carol = T["carol"]  # registered first, never used since
    b = scrape()
    st, _, _ = D.request("GET", "/api/v1/users/me", token=carol)
    expect(st == 200, f"me: {st}")
    m = scrape()
    st, _, _ = D.request("GET", "/api/v1/users/me", token=carol)
    expect(st == 200, f"me again: {st}")
    forged = carol[:-4] + ("AAAA" if not carol.endswith("AAAA") else "BBBB")
    st, _, _ = D.request("GET", "/api/v1/users/me", token=forged)
    expect(st == 401, f"forged: {st}")
    a = scrape()
    expect(delta(b, m, "cache_requests_total", result="hit") == 0 and
           delta(b, m, "cache_requests_total", result="miss") >= 1,
           "the first read of carol misses the shared cache")
    expect(delta(m, a, "cache_requests_total", result="hit") == 1 and
           delta(m, a, "cache_requests_total", result="miss") == 0,
           "the second is one hit")
    expect(v(a, "cache_requests_total", result="error") == 0, "no error")
    got = delta(b, a, "auth_attempts_total", method="token", result="ok")
    expect(got == 2, f"two good access tokens: +{got}")
    got = delta(b, a, "auth_attempts_total", method="token",
                result="invalid")
    expect(got == 1, f"one forged: +{got}")


def call(method, path, body=None):
    return D.request(method, path, body, token=T["alice"], timeout=120)


def test_environment_lifecycle():
    st, proj, _ = call("POST", "/api/v1/projects", {"name": "m"})
    expect(st == 201, f"project: {st} {proj}")
    st, e, _ = call("POST", ENVS, {"projectId": proj["id"], "name": "box",
                                   "image": "vibebox/test:latest",
                                   "cpuLimit": 0.5, "memoryLimit": 128})
    expect(st == 201, f"environment: {st} {e}")
    ENV["id"] = e["id"]
    b = scrape()
    expect(v(b, "environments", status="stopped") == 1, "one stopped")
    st, e, _ = call("POST", f"{ENVS}/{ENV['id']}/start")
    expect(st == 200 and e["status"] == "running", f"start: {st} {e}")
    m = scrape()
    expect([v(m, "environments", status=s) for s in STATUSES] ==
           [0, 0, 1, 0, 0], "one running, nothing else")
    for fr, to in (("stopped", "starting"), ("starting", "running")):
        got = delta(b, m, "environment_transitions_total",
                    **{"from": fr, "to": to})
        expect(got == 1, f"{fr} -> {to}: +{got}")
    for op in ("create", "start"):
        got = delta(b, m, "runtime_operations_total", operation=op,
                    result="ok")
        expect(got == 1, f"runtime {op} ok: +{got}")
        got = delta(b, m, "runtime_operation_duration_seconds_count",
                    operation=op)
        expect(got == 1, f"runtime {op} timed once: +{got}")
        expect(delta(b, m, "runtime_operation_duration_seconds_sum",
                     operation=op) > 0, f"{op} took time")
    expect(delta(b, m, "runtime_operations_total", operation="start",
                 result="error") == 0, "no start error")


async def terminal_session():
    url = f"ws://127.0.0.1:{D.port}{ENVS}/{ENV['id']}/terminal"
    ws = await websockets.connect(
        url, subprotocols=[PROTO], ping_interval=None,
        extra_headers={"Authorization": "Bearer " + T["alice"]})
    sent, got, exiting = 0, bytearray(), False

    async def send(text):
        nonlocal sent
        data = text.encode()
        await ws.send(b"\x00" + data)
        sent += len(data)

    async def until(pred, timeout=60):
        end = time.monotonic() + timeout
        while not pred():
            m = await asyncio.wait_for(ws.recv(), end - time.monotonic())
            if m[0] == 0x80:
                got.extend(m[9:])
                try:  # the session may end (exit) while we answer
                    await ws.send(b"\x02" + (int.from_bytes(m[1:9], "big") +
                                             len(m) - 9).to_bytes(8, "big"))
                    # busybox ash asks where the cursor is: answer it,
                    # but not once it was told to exit (it would not read)
                    for _ in range(m[9:].count(b"\x1b[6n")):
                        if not exiting:
                            await send("\x1b[1;1R")
                except websockets.ConnectionClosed:
                    pass
            elif m[0] == 0x81:
                return json.loads(m[1:])
        return None

    for i in range(5):  # the shell takes input once its prompt is up
        mark = len(got)
        await send(f"echo RE''ADY{i}\n")
        try:
            await until(lambda: f"READY{i}".encode() in got[mark:], 3)
            break
        except asyncio.TimeoutError:
            await send("\x1b[1;1R")
    open_now = await asyncio.to_thread(scrape)
    await send("echo metrics-$((6*7)); exit 0\n")
    exiting = True
    end = await until(lambda: False)
    try:
        await asyncio.wait_for(ws.recv(), 10)
    except (websockets.ConnectionClosed, asyncio.TimeoutError):
        pass
    await ws.close()
    return open_now, sent, bytes(got), end


def test_terminal_sessions_and_bytes():
    b = scrape()
    open_now, sent, got, end = asyncio.run(terminal_session())
    expect(end is not None and b"metrics-42" in got, f"output: {got[-200:]}")
    expect(v(open_now, "terminal_sessions") == 1, "one session while open")
    a = wait_for(lambda f: v(f, "terminal_sessions") == 0,
                 "the session to end after exit")
    got_in = delta(b, a, "terminal_bytes_total", direction="in")
    got_out = delta(b, a, "terminal_bytes_total", direction="out")
    expect(got_in == sent, f"in: +{got_in}, typed {sent}")
    expect(got_out == len(got), f"out: +{got_out}, received {len(got)}")
    got = delta(b, a, "runtime_operations_total", operation="exec",
                result="ok")
    expect(got == 1, f"one exec: +{got}")


def test_stop_and_remove():
    b = scrape()
    st, e, _ = call("POST", f"{ENVS}/{ENV['id']}/stop")
    expect(st == 200 and e["status"] == "stopped", f"stop: {st} {e}")
    m = scrape()
    for fr, to in (("running", "stopping"), ("stopping", "stopped")):
        got = delta(b, m, "environment_transitions_total",
                    **{"from": fr, "to": to})
        expect(got == 1, f"{fr} -> {to}: +{got}")
    got = delta(b, m, "runtime_operations_total", operation="stop",
                result="ok")
    expect(got == 1, f"runtime stop ok: +{got}")
    expect([v(m, "environments", status=s) for s in STATUSES] ==
           [1, 0, 0, 0, 0], "one stopped, nothing else")
    st, _, _ = call("DELETE", f"{ENVS}/{ENV['id']}")
    expect(st == 204, f"delete: {st}")
    a = wait_for(lambda f: delta(m, f, "runtime_operations_total",
                                 operation="remove", result="ok") >= 1,
                 "runtime_remove")
    expect(sum(v(a, "environments", status=s) for s in STATUSES) == 0,
           "none left")
    got = delta(m, a, "runtime_operations_total", operation="remove",
                result="ok")
    expect(got == 1, f"runtime remove ok: +{got}")


def test_every_store_hook_timed():
    """One series per store hook the pool serves (all of them but dump
    and restore), named as the SDK declares it; those this run used
    counted."""
    hooks = set()
    inc = os.path.join(SRC, "include", "vibebox")
    for name in os.listdir(inc):
        with open(os.path.join(inc, name)) as f:
            hooks |= set(re.findall(r"VBX_HOOK_DECLARE\((store_\w+)",
                                    f.read()))
    f = scrape()
    fam = f["vibebox_store_query_duration_seconds"]
    ops = {dict(labels)["operation"] for (name, labels) in fam.samples
           if name.endswith("_count")}
    expect(ops == hooks - {"store_dump", "store_restore"},
           f"missing {sorted(hooks - ops)}, unknown {sorted(ops - hooks)}")
    for op in ("store_user_create", "store_user_by_email", "store_user_get",
               "store_audit_add", "store_project_create", "store_env_create",
               "store_env_get", "store_env_transition", "store_env_list",
               "store_env_delete", "store_instance_id"):
        n = v(f, "store_query_duration_seconds_count", operation=op)
        expect(n >= 1, f"{op} was used and timed: {n}")


def test_promtool_accepts_the_scrape():
    """Prometheus's own linter on a scrape with every plugin's series
    set (the prometheus package, scripts/install-deps.sh)."""
    promtool = shutil.which("promtool")
    if not promtool:
        expect(os.environ.get("VBX_REQUIRE_SERVICES") != "1",
               "promtool is not installed (apt-get install prometheus)")
        print("# promtool not installed: not checked")
        return
    r = subprocess.run([promtool, "check", "metrics"], input=scrape_text(),
                       capture_output=True, text=True)
    expect(r.returncode == 0, f"promtool: {r.stdout} {r.stderr}")


def test_cache_errors_with_redis_down():
    """Last: Redis stops. A user read still answers (from the store), and
    its cache reads count as errors, not misses."""
    b = scrape()
    R.halt()
    st, _, _ = D.request("GET", "/api/v1/users/me", token=T["carol"],
                         timeout=30)
    expect(st == 200, f"me with Redis down: {st}")
    a = scrape()
    expect(delta(b, a, "cache_requests_total", result="error") >= 1,
           "cache errors counted")
    expect(delta(b, a, "cache_requests_total", result="hit") == 0 and
           delta(b, a, "cache_requests_total", result="miss") == 0,
           "no hit nor miss without Redis")


def main():
    global P, R, D
    skip_unless_redis()
    skip_unless_ready()
    for name in ("redis-cache", "metrics"):
        so = os.path.join(BUILD, "plugins", name, ".libs", name + ".so")
        if not os.path.exists(so):
            print(f"# skipped: {so} is not built")
            raise SystemExit(77)
    s = Suite()
    R = Redis().start()
    try:
        with Stack() as P:
            D = P.start_all(R.url, free_port())
            st, _ = register("admin@metrics.test")  # the first: admin
            expect(st == 201, f"register admin: {st}")
            st, body = register("carol@metrics.test")
            expect(st == 201, f"register carol: {st}")
            T["carol"] = body["tokens"]["accessToken"]
            for t in (test_every_series_from_the_start,
                      test_pool_slots_add_up, test_logins_good_and_bad,
                      test_lockout_and_register_burst,
                      test_tokens_and_the_shared_cache,
                      test_environment_lifecycle,
                      test_terminal_sessions_and_bytes,
                      test_stop_and_remove, test_every_store_hook_timed,
                      test_promtool_accepts_the_scrape,
                      test_cache_errors_with_redis_down):
                s.run(t)
            D.stop()
    finally:
        R.stop()
    s.finish()


if __name__ == "__main__":
    main()
