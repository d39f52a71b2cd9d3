# SPDX-License-Identifier: Apache-2.0
"""The event bridge between replicas (issue 11): three vibeboxd (A, B, C)
on one PostgreSQL database, one Docker engine and one real redis-server,
each on its own loopback port and state_dir, with the redis-cache plugin.

- an environment started through A: its status events reach an
  /api/v1/events socket on C exactly once each, and A's own socket
  exactly once (the bridge does not echo them back to A);
- an API key revoked on A closes B's /api/v1/events socket opened with
  that key within one second (4401): principal_changed crossed;
- Redis stopped: A and C keep serving, and events published on each still
  reach their own sockets; Redis started again on the same port: bridging
  resumes without restarting the daemons;
- garbage published on the channel by something else is counted as
  undecodable by every replica (the `events` health check) and bridging
  goes on.

The events of the last check are eventbench's (tests/plugins/eventbench.c),
a user-facing event of a plugin of its own, published by a route.
"""

import asyncio
import json
import os
import shutil
import subprocess
import time

import websockets

from daemon import Daemon, Suite, expect
from fixture import (BUILD, PASSWORD, SECRET, Platform, CLUSTER,
                     skip_unless_ready)
from redis import Redis, skip_unless_redis, wait_bridged

EVENTS = "vibebox.events.v1"
ENVS = "/api/v1/environments"
DEADLINE = 1.0  # seconds from the revocation's answer to the close
TEST_PLUGINS = os.environ.get("VBX_TEST_PLUGIN_DIR", "")
REDIS_SO = os.path.join(BUILD, "plugins", "redis-cache", ".libs",
                        "redis-cache.so")


def replicas(p, redis, n):
    """n daemons on one new database of p's cluster, sharing redis."""
    p.dbs += 1
    conninfo = subprocess.run(
        [CLUSTER, "createdb", p.pg, f"t{p.dbs}"], check=True,
        capture_output=True, text=True).stdout.strip()
    key = os.path.join(p.dir, "secrets.key")
    out = []
    for _ in range(n):
        d = Daemon(plugin_dir=p.plugin_dir, server='ws_queue = "16MiB";',
                   plugins=f"""
  {{ name = "redis-cache"; config = {{ url = "{redis.url}"; }}; }},
  {{ name = "postgres-store"; config = {{ conninfo = "{conninfo}";
      secrets_key_file = "{key}"; }}; }},
  {{ name = "auth"; config = {{ jwt_secret = "{SECRET}";
      registration = "open"; argon2_memory = "1MiB";
      argon2_iterations = 1; login_limit = "1000/1m";
      register_limit = "1000/1m"; }}; }},
  {{ name = "docker-runtime"; config = {{ images = [ "vibebox/*" ]; }}; }},
  {{ name = "platform"; config = {{ }}; }},
  {{ name = "eventbench"; config = {{ }}; }}""")
        d.conninfo = conninfo
        d.start()
        wait_bridged(d)
        out.append(d)
    p.instances.append(Platform.instance_id(out[0]))
    return out


class Listener:
    """An /api/v1/events socket and everything it received, in order."""

    def __init__(self, ws):
        self.ws = ws
        self.got = []
        self.closed = None
        self.task = asyncio.ensure_future(self.read())

    @classmethod
    async def open(cls, d, token):
        ws = await websockets.connect(
            f"ws://127.0.0.1:{d.port}/api/v1/events", subprotocols=[EVENTS],
            extra_headers={"Authorization": "Bearer " + token},
            ping_interval=None, max_size=None, max_queue=None)
        return cls(ws)

    async def read(self):
        try:
            async for m in self.ws:
                self.got.append(json.loads(m))
        except websockets.ConnectionClosed as e:
            self.closed = e.code
        else:
            self.closed = self.ws.close_code

    def of(self, type_, **match):
        return [e for e in self.got if e.get("type") == type_ and
                all(e.get(k) == v for k, v in match.items())]

    async def wait(self, cond, what, timeout=20):
        end = time.monotonic() + timeout
        while not cond():
            if self.closed is not None:
                raise AssertionError(f"{what}: socket closed {self.closed}")
            if time.monotonic() > end:
                raise AssertionError(f"{what}: not within {timeout} s; "
                                     f"got {self.got[-5:]}")
            await asyncio.sleep(0.01)

    async def close(self):
        await self.ws.close()
        await self.task


async def subscribed(*pairs):
    """The server adds a socket to /api/v1/events' subscribers on a worker
    after the handshake and then sends {"type":"subscribed"}: wait for it
    on each (daemon, listener), so no later event can miss it."""
    for _, x in pairs:
        await x.wait(lambda: x.of("subscribed"), "subscribed", timeout=10)


# ---- the checks ----

S = {}


def call(d, method, path, body=None, token=None):
    return d.request(method, path, body, token=token, timeout=60)[:2]


def register(d, name):
    st, b = call(d, "POST", "/api/v1/auth/register",
                 {"email": f"{name}@bridge.test", "password": PASSWORD,
                  "name": name})
    expect(st == 201, f"register {name}: {st} {b}")
    return b["user"]["id"], b["tokens"]["accessToken"]


async def settle(listeners, quiet=0.5):
    """Wait until no socket received anything for `quiet` seconds, so a
    duplicate would have arrived."""
    counts = None
    while True:
        now = [len(x.got) for x in listeners]
        if now == counts:
            return
        counts = now
        await asyncio.sleep(quiet)


def test_env_status_reaches_every_replica_once():
    a, b, c = S["replicas"]
    tok = S["token"]
    st, proj = call(a, "POST", "/api/v1/projects", {"name": "Bridge"},
                    token=tok)
    expect(st == 201, f"project: {st} {proj}")
    env = Platform.environment(a, tok, proj["id"], "bridgebox")["id"]
    S["env"] = env

    async def go():
        on_a, on_c = await Listener.open(a, tok), await Listener.open(c, tok)
        await subscribed((a, on_a), (c, on_c))
        st, e = call(a, "POST", f"{ENVS}/{env}/start", token=tok)
        expect(st == 200 and e["status"] == "running", f"start: {st} {e}")
        st, e = call(a, "POST", f"{ENVS}/{env}/stop", token=tok)
        expect(st == 200 and e["status"] == "stopped", f"stop: {st} {e}")
        for x in (on_a, on_c):
            await x.wait(lambda: any(
                e["status"] == "stopped" for e in x.of(
                    "environment.status", environmentId=env)),
                "the stopped status")
        await settle([on_a, on_c])
        seen = [[(e["status"], e["at"]) for e in x.of(
            "environment.status", environmentId=env)] for x in (on_a, on_c)]
        want = ["starting", "running", "stopping", "stopped"]
        expect([s for s, _ in seen[0]] == want, f"on A: {seen[0]}")
        expect(seen[1] == seen[0], f"on C: {seen[1]}, on A: {seen[0]}")
        await on_a.close()
        await on_c.close()
    asyncio.run(go())


def test_key_revoked_on_a_closes_socket_on_b_4401():
    a, b, c = S["replicas"]
    st, k = call(a, "POST", "/api/v1/keys", {"name": "ci",
                                             "scopes": ["read"]},
                 token=S["token"])
    expect(st == 201, f"key: {st} {k}")

    async def go():
        on_b = await Listener.open(b, k["key"])
        mine = await Listener.open(b, S["token"])  # not revoked with it
        st, body = call(a, "DELETE", f"/api/v1/keys/{k['id']}",
                        token=S["token"])
        began = time.monotonic()
        expect(st == 204, f"revoke: {st} {body}")
        await on_b.wait(lambda: on_b.closed is not None, "the close",
                        timeout=DEADLINE)
        took = time.monotonic() - began
        expect(on_b.closed == 4401, f"closed {on_b.closed}")
        expect(took <= DEADLINE, f"closed after {took:.2f} s")
        expect(mine.closed is None, f"the token's socket closed too")
        await mine.close()
    asyncio.run(go())


def burst(d, tag, n):
    st, b = call(d, "POST", f"/api/v1/x/eventbench/burst?n={n}&tag={tag}",
                 token=S["token"])
    expect(st == 200 and b["published"] == n, f"burst {tag}: {st} {b}")


def ticks(x, tag):
    return [e["seq"] for e in x.of("eventbench.tick", tag=tag)]


def test_redis_down_replicas_serve_and_resume():
    a, b, c = S["replicas"]
    redis = S["redis"]

    async def go():
        on_a, on_c = await Listener.open(a, S["token"]), \
            await Listener.open(c, S["token"])
        await subscribed((a, on_a), (c, on_c))
        burst(a, "up", 10)
        await on_c.wait(lambda: len(ticks(on_c, "up")) == 10, "up on C")
        redis.halt()
        for d in (a, c):
            st, _ = call(d, "GET", "/api/v1/projects", token=S["token"])
            expect(st == 200, f"projects with Redis down: {st}")
        burst(a, "downA", 5)
        await on_a.wait(lambda: len(ticks(on_a, "downA")) == 5, "downA")
        burst(c, "downC", 5)
        await on_c.wait(lambda: len(ticks(on_c, "downC")) == 5, "downC")
        await settle([on_a, on_c])
        expect(ticks(on_a, "downA") == list(range(5)), "A's own, once")
        expect(not ticks(on_c, "downA"), "A's events reached C anyway?")
        expect(not ticks(on_a, "downC"), "C's events reached A anyway?")
        redis.start()
        # at most once: probes sent before the provider reconnects are
        # lost; the first that arrives shows bridging is back
        end = time.monotonic() + 30
        i = 0
        while not any(e.get("tag", "").startswith("probe") for e in
                      on_c.of("eventbench.tick")):
            expect(time.monotonic() < end, "bridging did not resume")
            burst(a, f"probe{i}", 1)
            i += 1
            await asyncio.sleep(0.1)
        burst(a, "after", 20)
        await on_c.wait(lambda: len(ticks(on_c, "after")) == 20, "after")
        await settle([on_a, on_c])
        expect(ticks(on_c, "after") == list(range(20)), "after on C")
        expect(ticks(on_a, "after") == list(range(20)), "after on A")
        await on_a.close()
        await on_c.close()
    asyncio.run(go())


def events_detail(d):
    st, body = call(d, "GET", "/health/ready")
    expect(st == 200, f"ready: {st} {body}")
    for c in body["checks"]:
        if c["name"] == "events":
            return c.get("detail") or ""
    raise AssertionError(f"no events check: {body}")


def test_garbage_on_the_channel_is_counted_not_fatal():
    """Anything else publishing on the channel: counted as undecodable on
    every replica, which go on bridging."""
    redis = S["redis"]
    receivers = redis.call("PUBLISH", "vibebox:events", "not an event")
    expect(receivers == 3, f"{receivers} subscribers, expected 3")
    redis.call("PUBLISH", "vibebox:events", "VBXE\x01\x05trunc")
    end = time.monotonic() + 10
    for d in S["replicas"]:
        while "2 undecodable" not in events_detail(d):
            expect(time.monotonic() < end, f"health: {events_detail(d)}")
            time.sleep(0.05)
        expect(" out, " in events_detail(d) and " in, " in
               events_detail(d), events_detail(d))

    async def go():
        a, b, c = S["replicas"]
        on_c = await Listener.open(c, S["token"])
        await subscribed((c, on_c))
        burst(a, "still", 3)
        await on_c.wait(lambda: len(ticks(on_c, "still")) == 3, "still")
        await on_c.close()
    asyncio.run(go())


def main():
    skip_unless_ready()
    skip_unless_redis()
    if not os.path.exists(REDIS_SO):
        required = os.environ.get("VBX_REQUIRE_SERVICES") == "1"
        print(f"# {'FAILED' if required else 'skipped'}: the redis-cache "
              "plugin is not built (configure found no hiredis)")
        raise SystemExit(1 if required else 77)
    s = Suite()
    redis = Redis().start()
    S["redis"] = redis
    try:
        with Platform() as p:
            for so in (REDIS_SO, os.path.join(TEST_PLUGINS,
                                              "eventbench.so")):
                os.symlink(so, os.path.join(p.plugin_dir,
                                            os.path.basename(so)))
            S["replicas"] = replicas(p, redis, 3)
            _, S["token"] = register(S["replicas"][0], "owner")
            try:
                for fn in (test_env_status_reaches_every_replica_once,
                           test_key_revoked_on_a_closes_socket_on_b_4401,
                           test_redis_down_replicas_serve_and_resume,
                           test_garbage_on_the_channel_is_counted_not_fatal):
                    s.run(fn)
            finally:
                if "env" in S:
                    call(S["replicas"][0], "DELETE", f"{ENVS}/{S['env']}",
                         token=S["token"])
                for d in S["replicas"]:
                    code = d.stop()
                    if s.failed:
                        print(f"# daemon log: {d.logpath}")
                    s.run(lambda: expect(code == 0, f"vibeboxd exit {code}"))
    finally:
        redis.stop()
    s.finish()


if __name__ == "__main__":
    main()
