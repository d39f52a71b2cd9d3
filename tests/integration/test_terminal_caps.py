# SPDX-License-Identifier: Apache-2.0
"""Fair sharing of terminal sessions, end to end (fixture.py: PostgreSQL,
Docker, vibeboxd): with terminal.max_sessions_per_user = 2 and
terminal.max_sessions_per_env = 3, a user with two sockets open is
refused a third (4429) while another user still gets one; the
environment's cap refuses a third user's session there (4429) but not
elsewhere; a user over the cap who has dropped a socket gets a new
session, and the lingering one is reclaimed (its resume is 4404).
"""

import asyncio
import time

import websockets

import test_terminal as tt
from daemon import Suite, expect
from fixture import Platform, skip_unless_ready

ENVS = tt.ENVS
ENV = {}
PLATFORM = """environments: { stop_timeout = "1s"; };
terminal: { linger = "5m"; max_sessions = 10; max_sessions_per_user = 2;
            max_sessions_per_env = 3; };
logs: { max_streams_per_user = 2; };"""


def setup(p):
    d = p.start(platform=PLATFORM, auth=tt.LIMITS)
    tt.D = d
    for who in ("alice", "bob"):
        tt.T[who] = p.user(d, f"{who}@caps.test", who.capitalize())
    st, me, _ = d.request("GET", "/api/v1/users/me", token=tt.T["alice"])
    st, team, _ = d.request("POST", "/api/v1/teams", {"name": "T"},
                            token=tt.T["bob"])
    expect(st == 201, f"team: {st} {team}")
    st, b, _ = d.request("POST", f"/api/v1/teams/{team['id']}/members",
                         {"userId": me["id"], "role": "developer"},
                         token=tt.T["bob"])
    expect(st == 201, f"member: {st} {b}")
    envs = {}
    for name, team_id in (("team", team["id"]), ("bob", None)):
        proj = p.project(d, tt.T["bob"], name, team_id)["id"]
        envs[name] = p.environment(d, tt.T["bob"], proj, name)["id"]
        tt.MADE.append(envs[name])
        st, b, _ = d.request("POST", f"{ENVS}/{envs[name]}/start",
                             token=tt.T["bob"], timeout=120)
        expect(st == 200 and b["status"] == "running", f"start: {st} {b}")
    return d, envs


async def opened(who, env):
    t = await tt.Term.open(who, env)
    await t.until(lambda t: t.hello is not None)
    return t


def test_caps_per_user_and_env_and_reclaim():
    async def go():
        team, own = ENV["team"], ENV["bob"]
        a1 = await opened("alice", team)
        a2 = await opened("alice", team)
        expect(await tt.refused("alice", team) == 4429,
               "alice's third while both have sockets")
        b1 = await opened("bob", team)
        expect(await tt.refused("bob", team) == 4429,
               "the environment's fourth")
        b2 = await opened("bob", own)
        # alice drops one socket: her next session reclaims it
        gone = a1.hello["session"]
        await a1.ws.close()
        await asyncio.sleep(0.3)
        a3 = await opened("alice", team)
        expect(await tt.refused("alice", team, f"session={gone}") == 4404,
               "the reclaimed session is gone")
        # the one with a socket lives on
        await a2.send("echo al''ive\n")
        await a2.until_text("alive", timeout=20)
        for t in (a2, a3, b1, b2):
            await t.ws.close()
    asyncio.run(go())


async def logs(who, env):
    """A logs stream: None while it is open after a moment, else the
    close code."""
    url = f"ws://127.0.0.1:{tt.D.port}{ENVS}/{env}/logs/stream?tail=0"
    ws = await websockets.connect(
        url, subprotocols=["vibebox.logs.v1"],
        extra_headers={"Authorization": "Bearer " + tt.T[who]})
    try:
        await asyncio.wait_for(ws.recv(), 1.0)
    except asyncio.TimeoutError:
        return ws
    except websockets.ConnectionClosed as e:
        return e.code
    raise AssertionError("a log line with tail=0 and no output")


def test_log_streams_per_user():
    async def go():
        own = ENV["bob"]
        b1, b2 = await logs("bob", own), await logs("bob", own)
        expect(not isinstance(b1, int) and not isinstance(b2, int),
               f"two streams: {b1} {b2}")
        expect(await logs("bob", own) == 4429, "bob's third")
        a1 = await logs("alice", ENV["team"])
        expect(not isinstance(a1, int), f"alice's first: {a1}")
        await b1.close()
        end = time.monotonic() + 10
        while True:  # the slot comes back when the pump frees the stream
            b3 = await logs("bob", own)
            if not isinstance(b3, int) or time.monotonic() > end:
                break
        expect(not isinstance(b3, int), f"after a close: {b3}")
        for ws in (b2, b3, a1):
            await ws.close()
    asyncio.run(go())


def main():
    skip_unless_ready()
    s = Suite()
    with Platform() as p:
        d, envs = setup(p)
        ENV.update(envs)
        try:
            s.run(test_caps_per_user_and_env_and_reclaim)
            s.run(test_log_streams_per_user)
        finally:
            for e in tt.MADE:
                d.request("DELETE", f"{ENVS}/{e}", token=tt.T["bob"],
                          timeout=120)
            tt.stop_checked(s, d)
    s.finish()


if __name__ == "__main__":
    main()
