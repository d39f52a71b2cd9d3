# SPDX-License-Identifier: Apache-2.0
"""The database stalls or dies: vibeboxd with postgres-store on its
embedded cluster (no conninfo: state_dir/postgres), auth, docker-runtime
and platform.

- The whole cluster (postmaster and every backend) stopped with SIGSTOP:
  /health/ready answers 503 within health.timeout (3 s), a request that
  needs the store answers 503 within the store's timeout (5 s),
  /health/live and an open terminal are unaffected; after SIGCONT all
  recovers.
- The postmaster killed: readiness goes false, the daemon restarts the
  cluster by itself (a log line says so) and the store works again.
- vibeboxd killed with SIGKILL: its cluster survives as an orphan; the
  next daemon on the same state_dir stops it and starts; a second daemon
  on a state_dir whose owner lives refuses, naming the state_dir.
- The same stall over TCP (a server of our own, conninfo set): the
  deadlines hold whatever the transport, for they poll the socket.
- SIGTERM with the cluster stopped: the daemon still exits.
"""

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

from daemon import Daemon, Suite, expect
import fixture
from fixture import IMAGE, PASSWORD, SECRET, skip_unless_ready
import test_terminal
from relay import Relay

D = None
STATE = None
MADE = []  # the daemons' own directories (config, log)
TOKEN = None
ENV = None
ENVS = "/api/v1/environments"
ONLY = os.environ.get("VBX_TEST_ONLY", "")  # run the checks named so


def plugins():
    return f"""
  {{ name = "postgres-store"; config = {{ }}; }},
  {{ name = "auth"; config = {{ jwt_secret = "{SECRET}";
      registration = "open"; argon2_memory = "1MiB";
      argon2_iterations = 1; }}; }},
  {{ name = "docker-runtime"; config = {{ images = [ "vibebox/*" ]; }}; }},
  {{ name = "platform"; config = {{ }}; }}"""


def plugin_dir(root):
    d = os.path.join(root, "plugins")
    os.mkdir(d)
    for name in fixture.PLUGINS:
        os.symlink(os.path.join(fixture.BUILD, "plugins", name, ".libs",
                                name + ".so"),
                   os.path.join(d, name + ".so"))
    return d


def new_daemon(pdir, state=None):
    """A daemon whose state_dir is state (default its own directory),
    reachable by the cluster's user (postgres, when we are root)."""
    d = Daemon(plugin_dir=pdir, plugins=plugins())
    MADE.append(d.dir)
    if state:
        d.dir = state
        d.write_conf(plugins=plugins())
    os.chmod(d.dir, 0o755)
    return d


def wait_started(d, seconds=90):
    """Started: /health/startup 200 (the first start runs initdb)."""
    d.start(wait=False)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        expect(d.proc.poll() is None, "vibeboxd exited: " + d.logtext())
        try:
            if d.get("/health/startup", timeout=5)[0] == 200:
                return d
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("vibeboxd did not start: " + d.logtext())


def pgdata(d):
    return os.path.join(d.dir, "postgres", "data")


def postmaster(d):
    try:
        with open(os.path.join(pgdata(d), "postmaster.pid")) as f:
            return int(f.readline())
    except (OSError, ValueError):
        return None


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def cluster_pids(pm):
    """The postmaster and its children (each backend is a session of
    its own, so not one process group)."""
    out = [pm]
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pm:
            out.append(int(p))
    return out


def signal_all(pids, sig):
    for p in pids:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass


def timed(fn, *args, **kw):
    t0 = time.monotonic()
    try:
        r = fn(*args, **kw)
    except OSError as e:  # a read timeout: the daemon hung
        r = (None, repr(e), None)
    return r, time.monotonic() - t0


def store_request(d, timeout=20):
    """A request that needs the store: the caller's projects."""
    return d.get("/api/v1/projects", token=TOKEN, timeout=timeout)


def until(pred, seconds, what):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            if pred():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{what} within {seconds} s")


def ready_ok(d):
    return d.get("/health/ready", timeout=5)[0] == 200


def recovered(d):
    until(lambda: ready_ok(d) and store_request(d, 5)[0] == 200, 30,
          "ready and store requests answer 200 again")


def setup():
    global TOKEN, ENV
    st, body, _ = D.request("POST", "/api/v1/auth/register",
                            {"email": "a@faults.test", "password": PASSWORD,
                             "name": "A"})
    expect(st == 201, f"register: {st} {body}")
    TOKEN = body["tokens"]["accessToken"]
    st, p, _ = D.request("POST", "/api/v1/projects", {"name": "p"},
                         token=TOKEN)
    expect(st == 201, f"project: {st} {p}")
    st, e, _ = D.request("POST", ENVS, {"projectId": p["id"], "name": "box",
                                        "image": IMAGE, "cpuLimit": 0.5,
                                        "memoryLimit": 128}, token=TOKEN)
    expect(st == 201, f"environment: {st} {e}")
    ENV = e["id"]
    st, b, _ = D.request("POST", f"{ENVS}/{ENV}/start", token=TOKEN,
                         timeout=120)
    expect(st == 200 and b["status"] == "running", f"start: {st} {b}")
    test_terminal.D = D
    test_terminal.T["alice"] = TOKEN


# ---- checks ----

def test_no_store_call_reaches_a_server_before_the_cluster_is_ready():
    # The platform's first reconcile pass runs while the embedded cluster
    # is still being made: it must get "unavailable", not a connection to
    # the default server (nor a conninfo freed under it).
    log = D.logtext()
    ready = log.find("embedded postgres: ready")
    expect(ready > 0, "no 'embedded postgres: ready' line")
    expect("postgres: cannot connect" not in log[:ready],
           f"a store call before the cluster was ready: {log[:ready][-1500:]}")


def test_a_stopped_cluster_answers_503_in_time():
    async def go():
        t = await test_terminal.shell(env=ENV)
        pids = cluster_pids(postmaster(D))
        signal_all(pids, signal.SIGSTOP)
        try:
            (st, body, _), took = timed(D.get, "/health/ready", timeout=20)
            print(f"# /health/ready: {st} in {took:.2f} s")
            expect(st == 503 and took < 3.5, f"ready: {st} {body} {took}")
            (st, body, _), took = timed(store_request, D)
            print(f"# store request: {st} in {took:.2f} s")
            expect(st == 503 and took < 6, f"store: {st} {body} {took}")
            (st, _, _), took = timed(D.get, "/health/live", timeout=5)
            expect(st == 200 and took < 0.5, f"live: {st} {took}")
            mark = len(t.data)
            await t.send("echo ST''ALLED\n")
            await t.until_text("STALLED", timeout=5, since=mark)
            short_health_timeout_bounds_a_hung_check()
        finally:
            signal_all(pids, signal.SIGCONT)
        recovered(D)
        mark = len(t.data)
        await t.send("echo AF''TER\n")
        await t.until_text("AFTER", timeout=5, since=mark)
        await t.ws.close()
    asyncio.run(go())


def short_health_timeout_bounds_a_hung_check():
    """With the store stalled, a reload applies (nothing waits on the
    store) and the core's health.timeout bounds readiness by itself."""
    D.write_conf(plugins=plugins(), extra='health: { timeout = "500ms"; };')
    D.signal(signal.SIGHUP)
    until(lambda: "configuration generation 2 is active" in D.logtext(),
          10, "a reload applies while the store is stopped")
    (st, body, _), took = timed(D.get, "/health/ready", timeout=20)
    print(f"# /health/ready with health.timeout 500ms: {st} in {took:.2f} s")
    checks = {c["name"]: c["status"] for c in body["checks"]} \
        if isinstance(body, dict) else {}
    expect(st == 503 and took < 1.2 and checks.get("checks") == "fail",
           f"ready: {st} {body} {took}")


def test_a_killed_postmaster_is_restarted():
    pm = postmaster(D)
    os.kill(pm, signal.SIGKILL)
    until(lambda: not ready_ok(D), 5, "readiness goes false")
    recovered(D)
    expect(postmaster(D) not in (None, pm), "a new postmaster")
    expect("restarting the cluster" in D.logtext(),
           "the restart is logged")


def test_an_orphaned_cluster_is_stopped_and_started_again():
    global D
    pm = postmaster(D)
    D.proc.kill()
    D.proc.wait()
    D.log.close()
    time.sleep(0.5)
    expect(alive(pm), "the cluster outlives a SIGKILLed vibeboxd")
    D = wait_started(new_daemon(D.plugin_dir, D.dir))
    recovered(D)
    expect(not alive(pm), "the orphan is gone")
    expect("orphan" in D.logtext(), "the orphan is logged")


def test_a_second_daemon_on_a_live_state_dir_refuses():
    d2 = new_daemon(D.plugin_dir, D.dir)
    d2.start(wait=False)
    try:
        code = d2.proc.wait(30)
    except Exception:
        d2.proc.kill()
        d2.proc.wait()
        raise AssertionError("the second daemon did not exit")
    finally:
        d2.log.close()
    text = d2.logtext()
    expect(code != 0 and "another vibeboxd" in text and D.dir in text,
           f"exit {code}: {text[-1500:]}")
    expect(ready_ok(D) and store_request(D)[0] == 200,
           "the first daemon is unaffected")


def test_the_environment_is_deleted():
    st = D.request("DELETE", f"{ENVS}/{ENV}", token=TOKEN, timeout=60)[0]
    expect(st == 204, f"delete the environment: {st}")


def test_a_stopped_cluster_does_not_hang_shutdown():
    """SIGTERM with the cluster stopped and a worker waiting on it: the
    worker's call ends at its deadline, pg_ctl stop at its own."""
    pids = cluster_pids(postmaster(D))
    signal_all(pids, signal.SIGSTOP)
    try:
        waiting = threading.Thread(target=timed, args=(store_request, D, 60))
        waiting.start()
        time.sleep(0.5)
        t0 = time.monotonic()
        D.signal(signal.SIGTERM)
        try:
            code = D.proc.wait(60)
        except Exception:
            code = None
        took = time.monotonic() - t0
        print(f"# exit {code} in {took:.2f} s")
        expect(code == 0 and took < 45, f"exit {code} after {took:.1f} s")
        waiting.join()
    finally:
        signal_all(pids, signal.SIGCONT)


def tcp_daemon(pg):
    """A daemon whose postgres-store reaches the cluster in pg over TCP."""
    ci = subprocess.run([fixture.CLUSTER, "createdb", pg, "tcp"], check=True,
                        capture_output=True, text=True).stdout.strip()
    def cluster():
        u = socket.socket(socket.AF_UNIX)
        u.connect(os.path.join(pg, ".s.PGSQL.5432"))
        return u
    relay = Relay(cluster)  # the cluster listens on no TCP address
    user = re.search(r"user=(\S+)", ci).group(1)
    d = Daemon(plugin_dir=D.plugin_dir, plugins=f"""
  {{ name = "postgres-store"; config = {{
      conninfo = "host=127.0.0.1 port={relay.port} user={user} dbname=tcp";
  }}; }},
  {{ name = "auth"; config = {{ jwt_secret = "{SECRET}";
      registration = "open"; argon2_memory = "1MiB";
      argon2_iterations = 1; }}; }}""")
    MADE.append(d.dir)
    return d.start(), relay


def test_a_stopped_server_over_tcp_answers_503_in_time():
    pg = os.path.join(STATE, "pg")
    subprocess.run([fixture.CLUSTER, "start", pg], check=True,
                   capture_output=True)
    d = relay = None
    try:
        d, relay = tcp_daemon(pg)
        st, body, _ = d.request("POST", "/api/v1/auth/register",
                                {"email": "t@faults.test",
                                 "password": PASSWORD, "name": "T"})
        expect(st == 201, f"register: {st} {body}")
        token = body["tokens"]["accessToken"]
        with open(os.path.join(pg, "data", "postmaster.pid")) as f:
            pids = cluster_pids(int(f.readline()))
        signal_all(pids, signal.SIGSTOP)
        try:
            (st, body, _), took = timed(d.get, "/health/ready", timeout=20)
            print(f"# over TCP, /health/ready: {st} in {took:.2f} s")
            expect(st == 503 and took < 3.5, f"ready: {st} {body} {took}")
            (st, body, _), took = timed(d.get, "/api/v1/keys", token=token,
                                        timeout=20)
            print(f"# over TCP, store request: {st} in {took:.2f} s")
            expect(st == 503 and took < 6, f"store: {st} {body} {took}")
        finally:
            signal_all(pids, signal.SIGCONT)
        until(lambda: ready_ok(d) and d.get("/api/v1/keys", token=token,
                                            timeout=5)[0] == 200,
              30, "over TCP, ready and store requests answer 200 again")
    finally:
        if d:
            d.stop()
        if relay:
            relay.close()
        subprocess.run([fixture.CLUSTER, "stop", pg], capture_output=True)


def cleanup(state):
    """Whatever a failed check left: the box, the daemon, the cluster."""
    if D and D.proc and D.proc.poll() is None:
        try:
            if ENV:
                D.request("DELETE", f"{ENVS}/{ENV}", token=TOKEN,
                          timeout=60)
        except OSError:
            pass  # stopping already; the box goes below
        D.stop()
    if ENV:  # a daemon that died with the store down left its box
        subprocess.run(["docker", "rm", "-f", f"vbx-{ENV}"],
                       capture_output=True)
        subprocess.run(["docker", "network", "rm", f"vbx-{ENV}"],
                       capture_output=True)
    pm = postmaster(D) if D else None
    if pm and alive(pm):
        signal_all(cluster_pids(pm), signal.SIGCONT)
        os.kill(pm, signal.SIGQUIT)
        time.sleep(1)
    for d in MADE + [state]:
        shutil.rmtree(d, ignore_errors=True)


def main():
    global D, STATE
    skip_unless_ready()
    s = Suite()
    state = STATE = tempfile.mkdtemp(prefix="vbx-faults-")
    try:
        D = wait_started(new_daemon(plugin_dir(state), state))
        setup()
        for fn in (test_no_store_call_reaches_a_server_before_the_cluster_is_ready,
                   test_a_stopped_cluster_answers_503_in_time,
                   test_a_killed_postmaster_is_restarted,
                   test_an_orphaned_cluster_is_stopped_and_started_again,
                   test_a_second_daemon_on_a_live_state_dir_refuses,
                   test_a_stopped_server_over_tcp_answers_503_in_time):
            if not ONLY or any(o in fn.__name__ for o in ONLY.split(",")):
                s.run(fn)
        s.run(test_the_environment_is_deleted)
        s.run(test_a_stopped_cluster_does_not_hang_shutdown)
    finally:
        if s.failed and D:
            print(f"# daemon log: {D.logtext()[-3000:]}")
        cleanup(state)
    s.finish()


if __name__ == "__main__":
    main()
