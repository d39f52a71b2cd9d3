# SPDX-License-Identifier: Apache-2.0
"""Traces of who did what (issue 10), end to end: a real PostgreSQL
cluster, the Docker engine and vibeboxd with the default plugins
(fixture.py); the client is python3-websockets.

Every WebSocket upgrade leaves one access-log line when it ends: status
101 with bytes both ways, the duration and the close code for a terminal;
401 for a bad token, 404 for a stranger and for a path with no route. The
audit log (GET /api/v1/audit) has terminal.open, terminal.close (with its
duration) and terminal.refused rows naming the user, the environment and
the client; environment.create/update/start/stop/restart/delete and
environment.variable.set/delete rows, with a variable's name and never
its value (neither in the audit list nor in the daemon's log), and
environment.port.add/remove rows.
"""

import asyncio
import json
import time

import websockets

from daemon import Suite, expect
from fixture import Platform, skip_unless_ready

ENVS = "/api/v1/environments"
PROTO = "vibebox.terminal.v1"
PLATFORM = 'environments: { stop_timeout = "1s"; };'
LIMITS = 'register_limit = "1000/1m"; login_limit = "1000/1m";'
KEY = "AUDIT_PROBE_NAME"
VALUE = "v4lue-that-must-never-be-audited-7d1f"
P = None
D = None
T = {}    # tokens
U = {}    # user ids
E = {}    # environments


def call(method, path, body=None, who="alice"):
    return D.request(method, path, body, token=T[who], timeout=120)


def audit_rows():
    st, b, _ = call("GET", "/api/v1/audit?limit=100", who="admin")
    expect(st == 200, f"audit list: {st} {b}")
    return b["data"]


def rows_of(rows, action, target=None):
    return [r for r in rows if r["action"] == action and
            (target is None or r["targetId"] == target)]


def wait_for(fn, what, timeout=10):
    """fn() until it is truthy (rows written by a worker, a log line
    written at the close)."""
    end = time.monotonic() + timeout
    while True:
        got = fn()
        if got or time.monotonic() > end:
            expect(got, f"timed out waiting for {what}")
            return got
        time.sleep(0.1)


def access_lines(path, status):
    return [line for line in D.loglines() if line.get("msg") == "access"
            and line.get("path") == path and line.get("status") == status]


def setup():
    global D
    D = P.start(platform=PLATFORM, auth=LIMITS)
    for who in ("admin", "alice", "bob"):
        T[who] = P.user(D, f"{who}@audit.test", who.capitalize())
        st, me, _ = D.request("GET", "/api/v1/users/me", token=T[who])
        U[who] = me["id"]
    proj = P.project(D, T["alice"], "Audited")["id"]
    E["proj"] = proj
    E["box"] = P.environment(D, T["alice"], proj, "box")["id"]


def teardown():
    call("DELETE", f"{ENVS}/{E['box']}")


# ---- environments and variables ----

def lifecycle(env):
    """Each action once, leaving env running for the terminal checks."""
    for action, status in (("start", "running"), ("stop", "stopped"),
                           ("start", "running"), ("restart", "running")):
        st, b = call("POST", f"{ENVS}/{env}/{action}")[:2]
        expect(st == 200 and b["status"] == status, f"{action}: {st} {b}")


def test_environment_actions_and_variables_are_audited():
    env = E["box"]
    st, b = call("PATCH", f"{ENVS}/{env}", {"name": "box two"})[:2]
    expect(st == 200, f"update: {st} {b}")
    for secret in (False, True):
        st, b = call("PUT", f"{ENVS}/{env}/variables/{KEY}",
                     {"value": VALUE, "secret": secret})[:2]
        expect(st in (200, 201), f"set variable: {st} {b}")
    st, b = call("DELETE", f"{ENVS}/{env}/variables/{KEY}")[:2]
    expect(st == 204, f"delete variable: {st} {b}")
    st, b = call("POST", f"{ENVS}/{env}/ports", {"port": 8080})[:2]
    expect(st == 201, f"add port: {st} {b}")
    st, b = call("DELETE", f"{ENVS}/{env}/ports/8080")[:2]
    expect(st == 204, f"remove port: {st} {b}")
    lifecycle(env)
    gone = P.environment(D, T["alice"], E["proj"], "short-lived")["id"]
    st, b = call("DELETE", f"{ENVS}/{gone}")[:2]
    expect(st == 204, f"delete: {st} {b}")

    rows = audit_rows()
    for action, target, n in (("environment.create", env, 1),
                              ("environment.update", env, 1),
                              ("environment.start", env, 2),
                              ("environment.stop", env, 1),
                              ("environment.restart", env, 1),
                              ("environment.create", gone, 1),
                              ("environment.delete", gone, 1),
                              ("environment.variable.set", env, 2),
                              ("environment.variable.delete", env, 1),
                              ("environment.port.add", env, 1),
                              ("environment.port.remove", env, 1)):
        got = rows_of(rows, action, target)
        expect(len(got) == n, f"{n} {action} of {target}: {got}")
        for r in got:
            expect(r["actorId"] == U["alice"] and
                   r["targetType"] == "environment" and
                   r["client"] == "127.0.0.1", f"who and where: {r}")
    upd = json.loads(rows_of(rows, "environment.update", env)[0]["detail"])
    expect(upd == {"status": "stopped", "changed": "name",
                   "name": "box two"}, f"update detail: {upd}")
    sets = [json.loads(r["detail"])
            for r in rows_of(rows, "environment.variable.set", env)]
    expect(sorted(sets, key=lambda d: d["created"]) ==
           [{"name": KEY, "created": False, "secret": True},
            {"name": KEY, "created": True, "secret": False}],
           f"variable.set details: {sets}")
    dele = json.loads(rows_of(rows, "environment.variable.delete",
                              env)[0]["detail"])
    expect(dele == {"name": KEY}, f"variable.delete detail: {dele}")
    for action in ("environment.port.add", "environment.port.remove"):
        port = json.loads(rows_of(rows, action, env)[0]["detail"])
        expect(port == {"port": 8080, "protocol": "tcp"},
               f"{action} detail: {port}")
    start = json.loads(rows_of(rows, "environment.restart", env)[0]["detail"])
    expect(start["status"] == "running", f"restart detail: {start}")
    expect(VALUE not in json.dumps(rows), "the value is in the audit log")
    expect(VALUE not in D.logtext(), "the value is in the daemon's log")


# ---- terminals ----

async def open_terminal(token, env, path=None):
    url = f"ws://127.0.0.1:{D.port}{path or f'{ENVS}/{env}/terminal'}"
    return await websockets.connect(
        url, subprotocols=[PROTO],
        extra_headers={"Authorization": "Bearer " + token},
        ping_interval=None)


async def closed_with(token, env):
    """The close code of a terminal that is refused."""
    ws = await open_terminal(token, env)
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    except websockets.ConnectionClosed as e:
        return e.code


async def a_session(env):
    """Open a terminal, type, read, stay 0.3 s, close with 1000; returns
    the hello and the bytes sent in input frames."""
    ws = await open_terminal(T["alice"], env)
    hello = None
    while hello is None:
        m = await asyncio.wait_for(ws.recv(), 30)
        if m[0] == 0x82:
            hello = json.loads(m[1:])
    frame = b"\x00echo audited\n"
    await ws.send(frame)
    await asyncio.sleep(0.3)
    await ws.close(1000)
    return hello, len(frame)


def test_a_terminal_leaves_an_access_line_and_audit_rows():
    env = E["box"]
    began = time.monotonic()
    hello, sent = asyncio.run(a_session(env))
    took_ms = (time.monotonic() - began) * 1000
    path = f"{ENVS}/{env}/terminal"
    line = wait_for(lambda: access_lines(path, 101), "the access line")[0]
    expect(line["method"] == "GET" and line["client"] == "127.0.0.1" and
           line["closeCode"] == 1000 and line["request"], f"line: {line}")
    expect(line["bytesIn"] >= sent and line["bytes"] > 0,
           f"bytes both ways: {line}")
    expect(300 <= line["durationMs"] <= took_ms + 50,
           f"duration {line['durationMs']} of {took_ms:.0f} ms: {line}")

    rows = wait_for(lambda: (lambda r: r if rows_of(r, "terminal.close",
                                                    env) else None)(
        audit_rows()), "terminal.close")
    opened = rows_of(rows, "terminal.open", env)
    closed = rows_of(rows, "terminal.close", env)
    expect(len(opened) == 1 and len(closed) == 1, f"{opened} {closed}")
    for r in opened + closed:
        expect(r["actorId"] == U["alice"] and r["client"] == "127.0.0.1"
               and r["targetType"] == "environment", f"who, where: {r}")
    o = json.loads(opened[0]["detail"])
    c = json.loads(closed[0]["detail"])
    expect(o == {"session": hello["session"], "joined": False},
           f"open detail: {o}")
    expect(c["session"] == hello["session"] and c["closeCode"] == 1000 and
           300 <= c["durationMs"] <= took_ms + 50 and
           c["openedAt"].endswith("Z"), f"close detail: {c}")


def test_refused_upgrades_are_logged():
    env = E["box"]
    path = f"{ENVS}/{env}/terminal"
    T["nobody"] = "not-a-token"
    code = asyncio.run(closed_with(T["nobody"], env))
    expect(code == 4401, f"bad token: {code}")
    line = wait_for(lambda: access_lines(path, 401), "the 401 line")[0]
    expect(line["closeCode"] == 4401 and line["durationMs"] > 0 and
           line["bytesIn"] == 0, f"401 line: {line}")

    code = asyncio.run(closed_with(T["bob"], env))
    expect(code == 4404, f"a stranger: {code}")
    line = wait_for(lambda: access_lines(path, 404), "the 404 line")[0]
    expect(line["closeCode"] == 4404, f"404 line: {line}")
    # written by open after its close, so it may follow the close frame
    refused = wait_for(lambda: rows_of(audit_rows(), "terminal.refused",
                                       env), "terminal.refused")
    expect(len(refused) == 1 and refused[0]["actorId"] == U["bob"] and
           refused[0]["client"] == "127.0.0.1" and
           json.loads(refused[0]["detail"])["reason"], f"{refused}")

    async def no_route():
        try:
            ws = await open_terminal(T["alice"], env, "/api/v1/no/such")
            await ws.close()
            return True
        except (websockets.InvalidStatusCode, websockets.InvalidHandshake,
                OSError):
            return False
    expect(not asyncio.run(no_route()), "an upgrade without a route")
    line = wait_for(lambda: access_lines("/api/v1/no/such", 404),
                    "the no-route line")[0]
    expect(line["closeCode"] == 0, f"no-route line: {line}")


def main():
    global P
    skip_unless_ready()
    s = Suite()
    with Platform() as p:
        P = p
        setup()
        try:
            for fn in (test_environment_actions_and_variables_are_audited,
                       test_a_terminal_leaves_an_access_line_and_audit_rows,
                       test_refused_upgrades_are_logged):
                s.run(fn)
        finally:
            teardown()
            code = D.stop()
            if s.failed:
                print(f"# daemon log: {D.logpath}")
            s.run(lambda: expect(code == 0, f"vibeboxd exit {code}"))
    s.finish()


if __name__ == "__main__":
    main()
