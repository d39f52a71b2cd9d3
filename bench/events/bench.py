# SPDX-License-Identifier: Apache-2.0
"""The event bridge's cost: two vibeboxd (A and C) on one PostgreSQL
database and one redis-server, with redis-cache, auth and eventbench
(tests/plugins/eventbench.c). A client of /api/v1/events on each.

1. Burst: A publishes N events as fast as its queue takes them. Reported:
   events/s through the bridge (C's bridge counter "in", read from
   /health/ready), events/s delivered to C's client and to A's own client
   (from the first publish to the last delivery), and how many arrived.
2. Paced: A publishes M events G microseconds apart. Reported: latency
   from the publish (the event's CLOCK_REALTIME stamp) to its arrival at
   each client, p50/p90/p99/max; A's own client is the peer without the
   bridge, so C minus A is the bridge's part (encode, queue, Redis PUBLISH,
   Redis to C's subscriber, decode, inject).

Run by bench/events/run.sh; everything listens on 127.0.0.1.
"""

import asyncio
import json
import os
import re
import subprocess
import sys
import time

import websockets

sys.path.insert(0, os.path.join(os.environ.get("VBX_SRCDIR", "."),
                                "tests", "integration"))
from daemon import Daemon  # noqa: E402
from fixture import (BUILD, CLUSTER, PASSWORD, SECRET,  # noqa: E402
                     Platform)
from redis import Redis, skip_unless_redis  # noqa: E402

N = int(os.environ.get("VBX_BENCH_EVENTS", "20000"))
M = int(os.environ.get("VBX_BENCH_EVENTS_PACED", "2000"))
GAP_US = int(os.environ.get("VBX_BENCH_EVENTS_GAP_US", "500"))
PLUGINS = os.environ.get("VBX_TEST_PLUGIN_DIR", "")
REDIS_SO = os.path.join(BUILD, "plugins", "redis-cache", ".libs",
                        "redis-cache.so")


def daemons(p, redis, n):
    p.dbs += 1
    conninfo = subprocess.run(
        [CLUSTER, "createdb", p.pg, f"b{p.dbs}"], check=True,
        capture_output=True, text=True).stdout.strip()
    key = os.path.join(p.dir, "secrets.key")
    out = []
    for _ in range(n):
        d = Daemon(plugin_dir=p.plugin_dir, log='level = "warn";',
                   server='ws_queue = "64MiB";',
                   extra="events: { queue = 65536; };", plugins=f"""
  {{ name = "redis-cache"; config = {{ url = "{redis.url}"; }}; }},
  {{ name = "postgres-store"; config = {{ conninfo = "{conninfo}";
      secrets_key_file = "{key}"; }}; }},
  {{ name = "auth"; config = {{ jwt_secret = "{SECRET}";
      registration = "open"; argon2_memory = "1MiB";
      argon2_iterations = 1; }}; }},
  {{ name = "eventbench"; config = {{ }}; }}""")
        d.start()
        out.append(d)
    return out


class Client:
    """An /api/v1/events socket stamping each tick with its arrival."""

    def __init__(self, ws):
        self.ws = ws
        self.got = {}  # tag -> [(seq, sent_ns, recv_ns)]
        self.task = asyncio.ensure_future(self.read())

    @classmethod
    async def open(cls, d, token):
        ws = await websockets.connect(
            f"ws://127.0.0.1:{d.port}/api/v1/events",
            subprotocols=["vibebox.events.v1"],
            extra_headers={"Authorization": "Bearer " + token},
            ping_interval=None, max_size=None, max_queue=None,
            compression=None)
        return cls(ws)

    async def read(self):
        try:
            async for m in self.ws:
                now = time.time_ns()
                e = json.loads(m)
                self.got.setdefault(e.get("tag"), []).append(
                    (e["seq"], e["sentNs"], now))
        except websockets.ConnectionClosed:
            pass

    async def wait(self, tag, n, timeout):
        end = time.monotonic() + timeout
        while len(self.got.get(tag, ())) < n and time.monotonic() < end:
            await asyncio.sleep(0.01)
        return self.got.get(tag, [])


def burst(d, token, tag, n, gap_us=0):
    st, b, _ = d.request("POST", f"/api/v1/x/eventbench/burst?n={n}"
                         f"&gap_us={gap_us}&tag={tag}", token=token,
                         timeout=600)
    assert st == 200 and b["published"] == n, (st, b)
    return b


def events_detail(d):
    _, body, _ = d.get("/health/ready")
    for c in body.get("checks", []):
        if c.get("name") == "events":
            return c.get("detail")
    return None


def bridge_in(d):
    """C's bridge counter "in", from the events check of /health/ready."""
    _, body, _ = d.get("/health/ready")
    for c in body.get("checks", []):
        m = re.search(r"(\d+) in,", c.get("detail") or "")
        if c.get("name") == "events" and m:
            return int(m.group(1))
    return 0


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


async def ready(pairs, token):
    for d, cl in pairs:
        tag = f"ready{d.port}"
        while not cl.got.get(tag):
            burst(d, token, tag, 1)
            await asyncio.sleep(0.02)


async def run_burst(a, c, ca, cc, token):
    base = bridge_in(c)
    t0 = time.time_ns()
    b = burst(a, token, "burst", N)
    t_pub = time.time_ns()
    # the bridge's own rate: C's counter, polled
    end = time.monotonic() + 120
    while bridge_in(c) - base < N and time.monotonic() < end:
        await asyncio.sleep(0.005)
    t_in = time.time_ns()
    got_in = bridge_in(c) - base
    gc = await cc.wait("burst", N, 120)
    ga = await ca.wait("burst", N, 120)
    print(f"burst of {N} events published on A in "
          f"{(t_pub - t0) / 1e6:.0f} ms ({b['retries']} retries on a full "
          f"queue)")
    print(f"  through the bridge (C's counter): {got_in} in "
          f"{(t_in - t0) / 1e6:.0f} ms = {got_in / ((t_in - t0) / 1e9):,.0f}"
          f" events/s (counter polled every 5 ms)")
    for name, g in (("C's client (bridged)", gc), ("A's client (local)", ga)):
        if g:
            span = (max(r for _, _, r in g) - t0) / 1e9
            print(f"  {name}: {len(g)}/{N} delivered, "
                  f"{len(g) / span:,.0f} events/s")
        else:
            print(f"  {name}: nothing delivered")


async def run_paced(a, ca, cc, token):
    # on a thread: the clients' loop must read while the route publishes
    await asyncio.to_thread(burst, a, token, "paced", M, GAP_US)
    gc = await cc.wait("paced", M, 60)
    ga = await ca.wait("paced", M, 60)
    print(f"paced: {M} events, one every {GAP_US} us "
          f"(~{1e6 / GAP_US:,.0f}/s)")
    for name, g in (("C (bridged)", gc), ("A (local)", ga)):
        lat = [(r - s) / 1e6 for _, s, r in g]
        if not lat:
            print(f"  {name}: nothing delivered")
            continue
        print(f"  {name}: {len(g)}/{M} delivered; latency ms p50 "
              f"{pct(lat, 0.5):.3f}  p90 {pct(lat, 0.9):.3f}  p99 "
              f"{pct(lat, 0.99):.3f}  max {max(lat):.3f}")


async def bench(a, c, token):
    ca, cc = await Client.open(a, token), await Client.open(c, token)
    await ready([(a, ca), (c, cc)], token)
    await run_paced(a, ca, cc, token)
    await run_burst(a, c, ca, cc, token)
    for name, d in (("A", a), ("C", c)):
        print(f"  {name}'s events check: {events_detail(d)}")
    await ca.ws.close()
    await cc.ws.close()


def main():
    skip_unless_redis()
    if not os.path.exists(REDIS_SO):
        sys.exit("bench/events: no redis-cache plugin in this build")
    redis = Redis().start()
    try:
        with Platform() as p:
            for so in (REDIS_SO, os.path.join(PLUGINS, "eventbench.so")):
                os.symlink(so, os.path.join(p.plugin_dir,
                                            os.path.basename(so)))
            a, c = daemons(p, redis, 2)
            try:
                st, b, _ = a.request("POST", "/api/v1/auth/register",
                                     {"email": "bench@events.test",
                                      "password": PASSWORD, "name": "B"})
                assert st == 201, (st, b)
                print(f"vibeboxd {a.port} (A) and {c.port} (C), "
                      f"redis-server {redis.port}; CPUs {os.cpu_count()}")
                asyncio.run(bench(a, c, b["tokens"]["accessToken"]))
            finally:
                for d in (a, c):
                    d.stop()
    finally:
        redis.stop()


if __name__ == "__main__":
    main()
