# SPDX-License-Identifier: Apache-2.0
"""WebSockets against a real daemon with a real client (python3-websockets):
authentication by header and by subprotocol, /api/v1/events filtered
through authorize, echo, and backpressure with a slow reader."""

import asyncio
import json
import time

import websockets

from daemon import Daemon, Suite, expect

TESTKIT = '{ name = "testkit"; }'


def url(d, path):
    return f"ws://127.0.0.1:{d.port}{path}"


async def connect(d, path, proto, token=None, header=True, **kw):
    protos = [proto]
    headers = {}
    if token and header:
        headers["Authorization"] = "Bearer " + token
    elif token:
        protos.append("bearer." + token)
    return await websockets.connect(url(d, path), subprotocols=protos,
                                    extra_headers=headers, **kw)


async def close_code(ws, timeout=5):
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    except websockets.ConnectionClosed as e:
        return e.code


def run(coro):
    return asyncio.run(coro)


def with_daemon(fn, plugins=TESTKIT, server=""):
    d = Daemon(plugins=plugins, server=server).start()
    try:
        run(fn(d))
    finally:
        code = d.stop()
    expect(code == 0, f"exit {code}")


def test_events_need_an_authentication_plugin():
    async def go(d):
        ws = await connect(d, "/api/v1/events", "vibebox.events.v1", "alice")
        expect(await close_code(ws) == 4503, "closed 4503")
    with_daemon(go, plugins="")


def test_events_refuse_a_bad_token():
    async def go(d):
        ws = await connect(d, "/api/v1/events", "vibebox.events.v1",
                           "vbx_bad")
        expect(await close_code(ws) == 4401, "closed 4401")
        ws = await connect(d, "/api/v1/events", "vibebox.events.v1")
        expect(await close_code(ws) == 4401, "no token: 4401")
    with_daemon(go)


def test_unknown_route_or_subprotocol_is_refused():
    async def go(d):
        for path, proto in (("/api/v1/nope", "vibebox.events.v1"),
                            ("/api/v1/events", "vibebox.test.v1"),
                            ("/api/v1/events", "other.v1")):
            try:
                ws = await connect(d, path, proto, "alice")
                await ws.close()
                raise AssertionError(f"{path} {proto} was accepted")
            except (websockets.InvalidStatusCode,
                    websockets.InvalidHandshake):
                pass
    with_daemon(go)


def test_events_are_filtered_by_authorize():
    async def go(d):
        alice = await connect(d, "/api/v1/events", "vibebox.events.v1",
                              "alice")
        bob = await connect(d, "/api/v1/events", "vibebox.events.v1",
                            "bob", header=False)
        expect(bob.subprotocol == "vibebox.events.v1", bob.subprotocol)
        # Both are subscribed once their first frame says so.
        for ws in (alice, bob):
            hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
            expect(hello == {"type": "subscribed"}, hello)
        for env in ("a-1", "b-1", "a-2"):
            st, _, _ = d.request("POST", f"/api/v1/x/testkit/publish/{env}",
                                 token="admin")
            expect(st == 204, f"publish {st}")
        got_a = [json.loads(await asyncio.wait_for(alice.recv(), 5))
                 for _ in range(2)]
        got_b = json.loads(await asyncio.wait_for(bob.recv(), 5))
        expect([e["environmentId"] for e in got_a] == ["a-1", "a-2"], got_a)
        expect(got_b["environmentId"] == "b-1", got_b)
        e = got_a[0]
        expect(e["type"] == "environment.status" and e["status"] ==
               "running" and e["projectId"] == "p-1" and
               e["reason"] == "started by test", e)
        try:
            extra = await asyncio.wait_for(bob.recv(), 0.5)
            raise AssertionError(f"bob saw {extra}")
        except asyncio.TimeoutError:
            pass
        await alice.close()
        await bob.close()
    with_daemon(go)


def test_echo_and_route_close():
    async def go(d):
        ws = await connect(d, "/api/v1/x/testkit/ws", "vibebox.test.v1",
                           "alice")
        expect(await ws.recv() == "hello alice@example.test", "hello")
        await ws.send("ping")
        expect(await ws.recv() == "echo:ping", "echo text")
        await ws.send(b"\x00\x01")
        expect(await ws.recv() == b"echo:\x00\x01", "echo binary")
        await ws.send("close")
        expect(await close_code(ws) == 1000, "route closed with 1000")
    with_daemon(go)


def test_slow_reader_keeps_memory_bounded():
    """The route floods 256 x 64 KiB (16 MiB); the client does not read.
    The daemon's queue stops at server.ws_queue, so its memory stays
    flat; then every message still arrives."""
    async def go(d):
        ws = await connect(d, "/api/v1/x/testkit/ws", "vibebox.test.v1",
                           "alice", max_queue=1, read_limit=2 ** 16)
        await ws.recv()
        base = d.rss_kib()
        await ws.send("flood:256")
        await asyncio.sleep(1.5)
        grown = d.rss_kib() - base
        expect(grown < 8 * 1024, f"daemon grew {grown} KiB")
        n = 0
        while True:
            m = await asyncio.wait_for(ws.recv(), 10)
            if isinstance(m, str):
                break
            expect(len(m) == 65536, len(m))
            n += 1
        expect(n == 256, f"{n} messages")
        refused = int(m.split("refused=")[1])
        expect(refused > 0, "the queue pushed back")
        await ws.close()
    with_daemon(go, server='ws_queue = "256KiB";')


if __name__ == "__main__":
    s = Suite()
    for name, fn in list(globals().items()):
        if name.startswith("test_"):
            s.run(fn)
    s.finish()
