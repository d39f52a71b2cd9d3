# SPDX-License-Identifier: Apache-2.0
"""Revocation reaches open sockets (issue 10, "access that outlives its
revocation"): a real PostgreSQL cluster, the Docker engine and vibeboxd
with the default plugins (fixture.py); the clients are python3-websockets.

For each trigger a team developer opens a terminal (and, where the brief
asks, a logs stream and /api/v1/events), the trigger happens through the
REST API, and the socket must close within one second with 4401 (the
credential is no longer valid) or 4403 (still authenticated, no longer
allowed); the shell must not be reachable again with that credential.
Triggers: member removed, member demoted to viewer (the terminal closes,
the logs stream stays: viewers may read), user disabled, admin flag
revoked, API key revoked, password changed, logout (refresh family
revoked), team deleted; sockets opened with a WebSocket ticket close with
the key or login that asked for it. A socket of another user stays open
throughout.
"""

import asyncio
import itertools
import os
import time

import websockets

from daemon import Suite, expect
from fixture import PASSWORD, Platform, skip_unless_ready

ENVS = "/api/v1/environments"
TERM = "vibebox.terminal.v1"
LOGS = "vibebox.logs.v1"
EVENTS = "vibebox.events.v1"
LIMITS = 'register_limit = "1000/1m"; login_limit = "1000/1m";'
DEADLINE = 1.0  # seconds from the trigger's answer to the close
P = None
D = None
S = {}  # setup: tokens and ids
SEQ = itertools.count(1)
ONLY = os.environ.get("VBX_TEST_ONLY", "")  # run the checks named so


def call(method, path, body=None, token=None):
    return D.request(method, path, body, token=token, timeout=60)[:2]


def register(name):
    """A new user: (id, access token, refresh token)."""
    email = f"{name}{next(SEQ)}@revoke.test"
    st, b = call("POST", "/api/v1/auth/register",
                 {"email": email, "password": PASSWORD, "name": name})
    expect(st == 201, f"register {email}: {st} {b}")
    return b["user"]["id"], b["tokens"]["accessToken"], \
        b["tokens"]["refreshToken"]


def member(user_id, role, team=None):
    st, b = call("POST", f"/api/v1/teams/{team or S['team']}/members",
                 {"userId": user_id, "role": role}, token=S["owner"])
    expect(st == 201, f"member: {st} {b}")


def developer():
    """A new developer of the team: (id, access token, refresh token)."""
    u = register("dev")
    member(u[0], "developer")
    return u


async def connect(path, proto, token):
    """A socket; a ticket ("vbt_") is offered as a browser does."""
    if token.startswith("vbt_"):
        protos, headers = [proto, "bearer." + token], {}
    else:
        protos, headers = [proto], {"Authorization": "Bearer " + token}
    return await websockets.connect(
        f"ws://127.0.0.1:{D.port}{path}", subprotocols=protos,
        extra_headers=headers, ping_interval=None, max_queue=64)


def ticket(token):
    st, b = call("POST", "/api/v1/auth/ws-ticket", token=token)
    expect(st == 201, f"ws-ticket: {st} {b}")
    return b["ticket"]


async def terminal(token, env=None):
    """An open terminal whose shell answers: it echoes a marker."""
    ws = await connect(f"{ENVS}/{env or S['env']}/terminal", TERM, token)
    await answers(ws)
    return ws


async def answers(ws, timeout=20):
    """Type into the shell until it echoes a marker (busybox ash may sit
    on its cursor-position query at first: answer it)."""
    end = time.monotonic() + timeout
    seen = b""
    while time.monotonic() < end:
        await ws.send(b"\x00echo RE''VOKE\n\x00\x1b[1;1R")
        try:
            while True:
                m = await asyncio.wait_for(ws.recv(), 1)
                if isinstance(m, bytes) and m[:1] == b"\x80":
                    seen += m[9:]
                    await ws.send(b"\x02" + (0).to_bytes(8, "big"))
                if b"REVOKE" in seen:
                    return
        except asyncio.TimeoutError:
            pass
    raise AssertionError(f"the shell does not answer: {seen[-200:]!r}")


async def closed_within(ws, deadline, began):
    """The close code, if the socket closes before began + deadline."""
    try:
        while True:
            left = began + deadline - time.monotonic()
            await asyncio.wait_for(ws.recv(), max(left, 0.001))
    except websockets.ConnectionClosed as e:
        took = time.monotonic() - began
        expect(took <= deadline, f"closed {e.code} after {took:.2f} s")
        return e.code
    except asyncio.TimeoutError:
        raise AssertionError(f"still open {deadline} s after the trigger")


async def still_open(ws, wait=1.5):
    try:
        while True:
            await asyncio.wait_for(ws.recv(), wait)
    except asyncio.TimeoutError:
        return True
    except websockets.ConnectionClosed as e:
        raise AssertionError(f"closed {e.code}, expected open")


async def refused(token):
    """A new terminal with the same credential gets no shell."""
    try:
        ws = await connect(f"{ENVS}/{S['env']}/terminal", TERM, token)
    except websockets.InvalidStatusCode as e:
        return e.status_code
    try:
        while True:
            m = await asyncio.wait_for(ws.recv(), 10)
            expect(not (isinstance(m, bytes) and m[:1] == b"\x82"),
                   "a terminal opened again after the revocation")
    except websockets.ConnectionClosed as e:
        return e.code


async def revoked(token, trigger, code, extra=(), reopen=True):
    """Open a terminal (and the sockets in extra: (path, proto, code),
    opened with the same credential or a fourth item),
    run trigger(), and see each close with its code within DEADLINE while
    the bystander's terminal stays open; with reopen, the credential gets
    no terminal again."""
    bystander = await terminal(S["bystander"])
    ws = await terminal(token)
    others = [(await connect(p, proto, (t or [token])[0]), c)
              for p, proto, c, *t in extra]
    trigger()
    began = time.monotonic()
    got = await closed_within(ws, DEADLINE, began)
    expect(got == code, f"terminal closed with {got}, expected {code}")
    for o, c in others:
        got = await closed_within(o, DEADLINE, began)
        expect(got == c, f"{o.subprotocol} closed with {got}, expected {c}")
    await answers(bystander)
    await bystander.close()
    if reopen:
        again = await refused(token)
        expect(again in (4401, 4403, 4404), f"reopened: {again}")


def logs_path():
    return f"{ENVS}/{S['env']}/logs/stream?tail=0"


def ok(st, b, want, what):
    expect(st == want, f"{what}: {st} {b}")


# ---- checks, one per trigger ----

def test_member_removed_closes_terminal_and_logs_4403():
    uid, tok, _ = developer()
    run(revoked(tok, lambda: ok(*call(
        "DELETE", f"/api/v1/teams/{S['team']}/members/{uid}",
        token=S["owner"]), 204, "remove"), 4403,
        [(logs_path(), LOGS, 4403)]))


def test_member_demoted_to_viewer_closes_terminal_keeps_logs():
    uid, tok, _ = developer()

    async def go():
        logs = await connect(logs_path(), LOGS, tok)
        await revoked(tok, lambda: ok(*call(
            "PATCH", f"/api/v1/teams/{S['team']}/members/{uid}",
            {"role": "viewer"}, token=S["owner"]), 200, "demote"), 4403)
        # docs/permissions.md: a viewer reads an environment's logs
        expect(await still_open(logs), "logs stream of a viewer")
        await logs.close()
    run(go())


def test_user_disabled_closes_terminal_logs_and_events_4401():
    uid, tok, _ = developer()
    run(revoked(tok, lambda: ok(*call(
        "PATCH", f"/api/v1/users/{uid}", {"disabled": True},
        token=S["admin"]), 200, "disable"), 4401,
        [(logs_path(), LOGS, 4401), ("/api/v1/events", EVENTS, 4401)]))


def test_admin_revoked_closes_an_admins_terminal_4403():
    uid, tok, _ = developer()
    ok(*call("PATCH", f"/api/v1/users/{uid}", {"admin": True},
             token=S["admin"]), 200, "grant admin")
    # a new login carries the admin flag
    st, b = call("POST", "/api/v1/auth/login",
                 {"email": call("GET", "/api/v1/users/me", token=tok)[1]
                  ["email"], "password": PASSWORD})
    ok(st, b, 200, "login")
    tok = b["tokens"]["accessToken"]
    run(revoked(tok, lambda: ok(*call(
        "PATCH", f"/api/v1/users/{uid}", {"admin": False},
        token=S["admin"]), 200, "revoke admin"), 4403,
        [("/api/v1/events", EVENTS, 4403)], reopen=False))
    # still a developer: a new socket opens, without the admin flag


def test_api_key_revoked_closes_its_terminal_4401():
    uid, tok, _ = developer()
    st, k = call("POST", "/api/v1/keys",
                 {"name": "ci", "scopes": ["read", "write"]}, token=tok)
    ok(st, k, 201, "key")
    tk = ticket(k["key"])

    async def go():
        # the user's own access token is not revoked with the key
        mine = await terminal(tok)
        await revoked(k["key"], lambda: ok(*call(
            "DELETE", f"/api/v1/keys/{k['id']}", token=tok), 204,
            "revoke key"), 4401,
            [(f"{ENVS}/{S['env']}/terminal", TERM, 4401, tk)])
        await answers(mine)
        await mine.close()
    run(go())


def test_password_changed_closes_terminal_4401():
    uid, tok, _ = developer()
    run(revoked(tok, lambda: ok(*call(
        "PATCH", "/api/v1/users/me",
        {"password": "another horse", "currentPassword": PASSWORD},
        token=tok), 200, "password"), 4401))


def test_logout_closes_the_sessions_terminal_4401():
    uid, tok, refresh = developer()
    # another login of the same user keeps its socket
    st, b = call("POST", "/api/v1/auth/login",
                 {"email": call("GET", "/api/v1/users/me", token=tok)[1]
                  ["email"], "password": PASSWORD})
    ok(st, b, 200, "login")

    async def go():
        other = await terminal(b["tokens"]["accessToken"])
        await revoked(tok, lambda: ok(*call(
            "POST", "/api/v1/auth/logout", {"refreshToken": refresh}), 204,
            "logout"), 4401,
            [(f"{ENVS}/{S['env']}/terminal", TERM, 4401, ticket(tok))])
        await answers(other)
        await other.close()
    run(go())


def test_team_deleted_closes_terminal_4403():
    uid, tok, _ = developer()
    st, team = call("POST", "/api/v1/teams", {"name": "Doomed"},
                    token=S["owner"])
    ok(st, team, 201, "team")
    member(uid, "developer", team["id"])
    proj = P.project(D, S["owner"], "Doomed's", team["id"])["id"]
    env = P.environment(D, S["owner"], proj, "doomedbox")["id"]
    st, b = call("POST", f"{ENVS}/{env}/start", token=S["owner"])
    ok(st, b, 200, "start")

    async def go():
        ws = await terminal(tok, env)
        st, b = call("DELETE", f"/api/v1/teams/{team['id']}",
                     token=S["owner"])
        began = time.monotonic()
        if st != 204:
            call("DELETE", f"{ENVS}/{env}", token=S["owner"])
        ok(st, b, 204, "delete team")
        got = await closed_within(ws, DEADLINE, began)
        expect(got == 4403, f"closed {got}")
    try:
        run(go())
    finally:  # the team's environment went with it; its container not
        ids = P.docker("ps", "-aq", "--filter",
                       f"label=io.vibebox.environment={env}").split()
        if ids:
            P.docker("rm", "-f", *ids)


def run(coro):
    return asyncio.run(coro)


def setup():
    global D
    D = P.start(auth=LIMITS)
    S["admin"] = register("admin")[1]  # the first user: instance admin
    _, S["owner"], _ = register("owner")
    by, S["bystander"], _ = register("bystander")
    st, team = call("POST", "/api/v1/teams", {"name": "Revoke"},
                    token=S["owner"])
    ok(st, team, 201, "team")
    S["team"] = team["id"]
    member(by, "developer")
    proj = P.project(D, S["owner"], "Revoke's", S["team"])["id"]
    S["env"] = P.environment(D, S["owner"], proj, "revokebox")["id"]
    st, b = call("POST", f"{ENVS}/{S['env']}/start", token=S["owner"])
    expect(st == 200 and b["status"] == "running", f"start: {st} {b}")


def teardown():
    call("DELETE", f"{ENVS}/{S['env']}", token=S["owner"])


def main():
    global P
    skip_unless_ready()
    s = Suite()
    with Platform() as p:
        P = p
        setup()
        try:
            for fn in (test_member_removed_closes_terminal_and_logs_4403,
                       test_member_demoted_to_viewer_closes_terminal_keeps_logs,
                       test_user_disabled_closes_terminal_logs_and_events_4401,
                       test_admin_revoked_closes_an_admins_terminal_4403,
                       test_api_key_revoked_closes_its_terminal_4401,
                       test_password_changed_closes_terminal_4401,
                       test_logout_closes_the_sessions_terminal_4401,
                       test_team_deleted_closes_terminal_4403):
                if not ONLY or any(o in fn.__name__ for o in ONLY.split(",")):
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
