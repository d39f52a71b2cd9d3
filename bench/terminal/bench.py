# SPDX-License-Identifier: Apache-2.0
"""Terminal benchmarks: throughput against the engine's own exec stream,
keystroke round trip, and memory per open session.

Run by bench/terminal/run.sh, which sets VIBEBOXD, VBX_SRCDIR and
VBX_BUILDDIR; everything (PostgreSQL, Docker, vibeboxd) is brought up by
tests/integration/fixture.py and talks over loopback or Unix sockets.
"""

import asyncio
import http.client
import json
import os
import socket
import statistics
import struct
import sys
import time

import websockets

sys.path.insert(0, os.path.join(os.environ.get("VBX_SRCDIR", "."),
                                "tests", "integration"))
from fixture import Platform, skip_unless_ready  # noqa: E402

MIB = 1 << 20
SIZE_MIB = int(os.environ.get("VBX_BENCH_TERM_MIB", "200"))
KEYS = int(os.environ.get("VBX_BENCH_TERM_KEYS", "500"))
SESSIONS = int(os.environ.get("VBX_BENCH_TERM_SESSIONS", "50"))
ROUNDS = int(os.environ.get("VBX_BENCH_TERM_ROUNDS", "3"))


class Terminal:
    """A vibebox.terminal.v1 client that acks everything it reads."""

    def __init__(self, ws):
        self.ws = ws
        self.offset = 0

    @classmethod
    async def open(cls, d, token, env_id, query=""):
        ws = await websockets.connect(
            f"ws://127.0.0.1:{d.port}/api/v1/environments/{env_id}"
            f"/terminal{query}", subprotocols=["vibebox.terminal.v1"],
            extra_headers={"Authorization": "Bearer " + token},
            max_size=None, compression=None)
        t = cls(ws)
        hello = await ws.recv()
        assert hello[0] == 0x82, hello[:1]
        t.hello = json.loads(hello[1:])
        # The shell's prompt: busybox ash reads the terminal's answer to
        # its cursor query first and would swallow input typed earlier.
        await t.frame()
        await asyncio.sleep(0.1)
        return t

    async def send(self, text):
        await self.ws.send(b"\x00" + text.encode())

    async def frame(self):
        """The next output frame's bytes (acked), or None after exit."""
        while True:
            f = await self.ws.recv()
            if f[0] == 0x80:
                data = f[9:]
                self.offset = struct.unpack(">Q", f[1:9])[0] + len(data)
                await self.ws.send(b"\x02" + struct.pack(">Q", self.offset))
                return data
            if f[0] == 0x81:
                return None

    async def until(self, marker):
        """Read until marker shows up; returns the bytes read."""
        got = bytearray()
        while marker not in got[-len(marker) - 65536:]:
            data = await self.frame()
            if data is None:
                break
            got += data
        return got


def engine_exec(container, cmd):
    """Bytes/s of `cmd` run with a TTY through the engine's own API on its
    Unix socket: the raw stream every terminal is made of (the limit)."""
    body = json.dumps({"AttachStdout": True, "AttachStderr": True,
                       "Tty": True, "Cmd": ["/bin/sh", "-c", cmd]})
    c = http.client.HTTPConnection("localhost")
    c.sock = socket.socket(socket.AF_UNIX)
    c.sock.connect("/var/run/docker.sock")
    c.request("POST", f"/containers/{container}/exec", body,
              {"Content-Type": "application/json"})
    exec_id = json.loads(c.getresponse().read())["Id"]
    s = socket.socket(socket.AF_UNIX)
    s.connect("/var/run/docker.sock")
    start = json.dumps({"Detach": False, "Tty": True}).encode()
    s.sendall(b"POST /exec/%s/start HTTP/1.1\r\nHost: docker\r\n"
              b"Content-Type: application/json\r\nConnection: Upgrade\r\n"
              b"Upgrade: tcp\r\nContent-Length: %d\r\n\r\n%s"
              % (exec_id.encode(), len(start), start))
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536)
    total = len(buf.split(b"\r\n\r\n", 1)[1])
    t0 = time.monotonic()
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        total += len(chunk)
    return total, time.monotonic() - t0


async def vibebox_cat(d, token, env_id, cmd):
    t = await Terminal.open(d, token, env_id)
    await t.send(f"exec sh -c '{cmd}'\n")
    total = 0
    t0 = None
    while True:
        data = await t.frame()
        if data is None:
            break
        if t0 is None:
            t0 = time.monotonic()
        total += len(data)
    elapsed = time.monotonic() - t0
    await t.ws.close()
    return total, elapsed


async def keystrokes(d, token, env_id):
    t = await Terminal.open(d, token, env_id)
    # raw: no line buffering and no output processing (no \r added)
    await t.send("stty raw -echo; echo RE''ADY; exec cat\n")
    await t.until(b"READY\n")
    await asyncio.sleep(0.3)
    times = []
    for i in range(KEYS):
        ch = chr(ord("a") + i % 26).encode()
        t0 = time.perf_counter()
        await t.send(ch.decode())
        await t.until(ch)
        times.append((time.perf_counter() - t0) * 1e6)
    await t.ws.close()
    times.sort()
    return times[len(times) // 2], times[int(len(times) * 0.99) - 1]


async def memory(d, token, env_id):
    rss0 = d.rss_kib()
    terms = []
    for _ in range(SESSIONS):
        t = await Terminal.open(d, token, env_id)
        await t.send("echo u''p\n")
        await t.until(b"up\r\n")
        terms.append(t)
    await asyncio.sleep(1)
    rss1 = d.rss_kib()
    for t in terms:
        await t.ws.close()
    return rss0, rss1


def main():
    skip_unless_ready()
    with Platform() as p:
        d = p.start(platform='terminal: { window = "256KiB"; '
                    f'buffer = "1MiB"; max_sessions = {SESSIONS + 10}; }};'
                    'environments: { max_memory = "4GiB"; };')
        token = p.user(d, "bench@example.test")
        proj = p.project(d, token, "bench")
        env = p.environment(d, token, proj["id"], "bench", cpu=2,
                            memory=1024)
        st, env, _ = d.request("POST",
                               f"/api/v1/environments/{env['id']}/start",
                               token=token, timeout=120)
        assert st == 200 and env["status"] == "running", env
        cid = p.docker("ps", "-q", "--filter",
                       f"label=io.vibebox.environment={env['id']}").strip()
        p.docker("exec", cid, "sh", "-c",
                 f"head -c {SIZE_MIB * MIB} /dev/urandom | base64 "
                 "> /tmp/big")
        cmd = "stty raw -echo; cat /tmp/big"
        print(f"# terminal throughput, cat of {SIZE_MIB} MiB of base64 "
              f"text (~{SIZE_MIB * 4 // 3} MiB), best of {ROUNDS}")
        best = {"engine": 0.0, "vibeboxd": 0.0}
        for _ in range(ROUNDS):
            n, s = engine_exec(cid, cmd)
            best["engine"] = max(best["engine"], n / s / MIB)
            n, s = asyncio.run(vibebox_cat(d, token, env["id"], cmd))
            best["vibeboxd"] = max(best["vibeboxd"], n / s / MIB)
        ratio = best["vibeboxd"] / best["engine"]
        print(f"engine exec (the limit)  {best['engine']:8.1f} MiB/s")
        print(f"vibeboxd terminal        {best['vibeboxd']:8.1f} MiB/s")
        print(f"ratio {ratio:.2f} (target >= 0.5): "
              f"{'PASS' if ratio >= 0.5 else 'FAIL'}")
        p50, p99 = asyncio.run(keystrokes(d, token, env["id"]))
        print(f"# keystroke round trip over {KEYS} keys (input frame to "
              f"echoed output frame, through `cat` in raw mode)")
        print(f"p50 {p50:.0f} us   p99 {p99:.0f} us")
        rss0, rss1 = asyncio.run(memory(d, token, env["id"]))
        print(f"# memory of {SESSIONS} open sessions (vibeboxd VmRSS)")
        print(f"before {rss0} KiB, with them {rss1} KiB: "
              f"{(rss1 - rss0) / SESSIONS:.0f} KiB per session")
        # The environment's container outlives the throwaway database
        # otherwise.
        d.request("DELETE", f"/api/v1/environments/{env['id']}",
                  token=token, timeout=60)
        d.stop()
        return 0 if ratio >= 0.5 or os.environ.get(
            "VBX_BENCH_STRICT") != "1" else 1


if __name__ == "__main__":
    sys.exit(main())
