# SPDX-License-Identifier: Apache-2.0
"""The terminal and the followed logs over WebSocket, end to end: a real
PostgreSQL cluster, the Docker engine and vibeboxd with postgres-store,
auth and docker-runtime (fixture.py); the client is python3-websockets
speaking vibebox.terminal.v1 (docs/terminal-protocol.md).

Echo of input; 50 MB arriving byte-exact (sha256 against the container's
own); a slow reader keeps the daemon's RSS bounded; a dropped connection
resumed from its offset gets exactly the missing bytes; two viewers see
the same output; three terminals stream and type at once (run under the
ThreadSanitizer build by CI); who may open a terminal (4403 for a viewer, 4404 for a
stranger, 4409 for a stopped environment); the exit frame after `exit 3`;
logs/stream lines from stdout and stderr; an image whose command exits
without a TTY keeps running, its terminal opens root's login shell from
the image's /etc/passwd, and it stops on SIGTERM.
"""

import asyncio
import hashlib
import json
import os
import re
import subprocess
import time

import websockets

from daemon import Suite, expect
from fixture import CMD_IMAGE, Platform, skip_unless_ready

ENVS = "/api/v1/environments"
PROTO = "vibebox.terminal.v1"
PLATFORM = """environments: { stop_timeout = "1s"; };
terminal: { window = "256KiB"; buffer = "1MiB"; linger = "30s"; };"""
LIMITS = 'register_limit = "1000/1m"; login_limit = "1000/1m";'
P = None
D = None
T = {}    # tokens
E = {}    # environments
MADE = []
ONLY = os.environ.get("VBX_TEST_ONLY", "")  # run the checks named so


class Term:
    """One terminal socket: frames in, the output kept with its offsets."""

    def __init__(self, ws):
        self.ws = ws
        self.hello = None
        self.start = self.next = self.acked = 0
        self.data = bytearray()
        self.exit = None
        self.code = None
        self.dsr = self.dsr_answered = 0

    @classmethod
    async def open(cls, who, env, query="", subprotocol_token=False):
        protos = [PROTO]
        headers = {}
        if subprotocol_token:
            protos.append("bearer." + T[who])
        else:
            headers["Authorization"] = "Bearer " + T[who]
        url = f"ws://127.0.0.1:{D.port}{ENVS}/{env}/terminal"
        if query:
            url += "?" + query
        ws = await websockets.connect(url, subprotocols=protos,
                                      extra_headers=headers,
                                      max_queue=4, ping_interval=None)
        return cls(ws)

    def on_frame(self, m):
        expect(isinstance(m, bytes) and m, f"binary frames only: {m!r}")
        if m[0] == 0x82:
            expect(self.hello is None, "one hello")
            self.hello = json.loads(m[1:])
            self.start = self.next = self.acked = self.hello["offset"]
        elif m[0] == 0x80:
            expect(self.hello is not None and self.exit is None,
                   "output after hello, before exit")
            off = int.from_bytes(m[1:9], "big")
            expect(off == self.next, f"offset {off}, expected {self.next}")
            self.data += m[9:]
            self.next += len(m) - 9
            # busybox ash asks where the cursor is (ESC [ 6 n) and takes
            # what is typed next for the answer: answer as a terminal does
            self.dsr += m[9:].count(b"\x1b[6n")
        elif m[0] == 0x81:
            self.exit = json.loads(m[1:])
        else:
            raise AssertionError(f"unknown frame type {m[0]:#x}")

    async def recv(self, timeout=30):
        try:
            m = await asyncio.wait_for(self.ws.recv(), timeout)
        except websockets.ConnectionClosed as e:
            self.code = e.code
            return False
        self.on_frame(m)
        return True

    async def ack(self):
        if self.next > self.acked:
            await self.ws.send(b"\x02" + self.next.to_bytes(8, "big"))
            self.acked = self.next

    async def send(self, text):
        await self.ws.send(b"\x00" + text.encode())

    async def until(self, pred, timeout=60, ack=True):
        end = time.monotonic() + timeout
        while not pred(self):
            left = end - time.monotonic()
            expect(left > 0, f"timed out; last output "
                             f"{bytes(self.data[-200:])!r}")
            if not await self.recv(left):
                expect(pred(self), f"closed {self.code} first")
                return
            if ack:
                await self.ack()
            while self.dsr_answered < self.dsr:
                self.dsr_answered += 1
                await self.send("\x1b[1;1R")

    async def until_text(self, text, timeout=60, since=0):
        b = text.encode()
        seen = [max(since, 0)]  # scan only what is new (50 MB arrive)

        def found(t):
            hit = t.data.find(b, max(seen[0] - len(b), since, 0)) >= 0
            seen[0] = len(t.data)
            return hit
        await self.until(found, timeout)

    async def close_code(self, timeout=10):
        while await self.recv(timeout):
            pass
        return self.code


def run(coro):
    return asyncio.run(coro)


async def refused(who, env, query=""):
    """The close code of a terminal that is refused."""
    t = await Term.open(who, env, query)
    code = await t.close_code()
    expect(t.hello is None, f"no hello before {code}")
    return code


def call(method, path, body=None, who="alice"):
    return D.request(method, path, body, token=T[who], timeout=120)


def setup():
    global D
    D = P.start(platform=PLATFORM, auth=LIMITS)
    for who in ("admin", "alice", "bob", "dave", "eve"):
        T[who] = P.user(D, f"{who}@term.test", who.capitalize())
    st, me, _ = D.request("GET", "/api/v1/users/me", token=T["dave"])
    dave = me["id"]
    proj = P.project(D, T["alice"], "Alice's")["id"]
    E["alice"] = P.environment(D, T["alice"], proj, "box")["id"]
    MADE.append(E["alice"])
    st, team, _ = D.request("POST", "/api/v1/teams", {"name": "T"},
                            token=T["bob"])
    expect(st == 201, f"team: {st} {team}")
    st, b, _ = D.request("POST", f"/api/v1/teams/{team['id']}/members",
                         {"userId": dave, "role": "viewer"}, token=T["bob"])
    expect(st == 201, f"member: {st} {b}")
    tproj = P.project(D, T["bob"], "Team's", team["id"])["id"]
    E["team"] = P.environment(D, T["bob"], tproj, "teambox")["id"]
    MADE.append(E["team"])
    st, b, _ = call("POST", f"{ENVS}/{E['alice']}/start")
    expect(st == 200 and b["status"] == "running", f"start: {st} {b}")


def teardown():
    for e in MADE:
        for who in ("alice", "bob"):
            if call("DELETE", f"{ENVS}/{e}", who=who)[0] == 204:
                break


async def shell(query="", prompt=True, env=None):
    """A terminal, with its prompt shown when it is a new session."""
    t = await Term.open("alice", env or E["alice"], query)
    await t.until(lambda t: t.hello is not None)
    if prompt:
        await ready(t)
    return t


async def ready(t):
    """Wait until the shell takes input. busybox ash sometimes sits on its
    cursor-position query (ESC [ 6 n) after our answer, with the docker
    CLI too; a second answer wakes it."""
    for i in range(5):
        mark = len(t.data)
        await t.send(f"echo RE''ADY{i}\n")
        try:
            await t.until_text(f"READY{i}", timeout=3, since=mark)
            return
        except (AssertionError, asyncio.TimeoutError):
            await t.send("\x1b[1;1R")
    raise AssertionError(f"no shell: {bytes(t.data[-200:])!r}")


# ---- checks ----

def test_echo_of_input():
    async def go():
        t = await shell("cols=100&rows=30")
        h = t.hello
        expect(re.fullmatch(r"[0-9a-f-]{36}", h["session"]) and
               h["offset"] == 0 and h["window"] == 256 * 1024 and
               "gap" not in h, h)
        await t.send("echo he''llo-$((6*7))\n")
        await t.until_text("hello-42")
        await t.send("stty size\n")
        await t.until_text("30 100")
        await t.ws.send(b"\x01\x00\x78\x00\x28")  # resize 120x40
        await t.send("stty size\n")
        await t.until_text("40 120")
        await t.ws.close()
    run(go())


def test_subprotocol_token_and_refusals():
    async def go():
        # an API key: lws refuses a subprotocol list over 128 bytes, which
        # a JWT makes (see docs/terminal-protocol.md)
        st, k, _ = call("POST", "/api/v1/keys",
                        {"name": "term", "scopes": ["read", "write"]})
        expect(st == 201, f"key: {st} {k}")
        T["alice_key"] = k["key"]
        t = await Term.open("alice_key", E["alice"], subprotocol_token=True)
        await t.until(lambda t: t.hello is not None)
        await t.ws.close()
        expect(await refused("alice", E["alice"], "cols=0") == 4400,
               "cols=0")
        expect(await refused("alice", E["alice"], "rows=1001") == 4400,
               "rows=1001")
        expect(await refused("alice", E["alice"],
                             "session=00000000-0000-4000-8000-"
                             "000000000000&offset=0") == 4404,
               "unknown session")
    run(go())


def test_a_viewer_gets_4403_a_stranger_4404_stopped_4409():
    async def go():
        expect(await refused("dave", E["team"]) == 4403, "viewer")
        expect(await refused("eve", E["alice"]) == 4404, "stranger")
        expect(await refused("eve", E["team"]) == 4404, "stranger, team")
        expect(await refused("bob", E["team"]) == 4409, "stopped")
        expect(await refused("alice", "not-a-uuid") == 4404, "bad id")
    run(go())


MAKE_BIG = ("head -c 37500000 /dev/urandom | base64 > /tmp/t.b64; "
            "echo MA''DE\n")


async def make_big(t):
    await t.send(MAKE_BIG)
    await t.until_text("MADE", timeout=120)


def test_50_mb_arrive_byte_exact():
    async def go():
        t = await shell()
        await make_big(t)
        mark = len(t.data)
        # raw: no \n -> \r\n on the way out, no echo
        await t.send("stty raw -echo; printf '\\nBEGIN\\n'; cat /tmp/t.b64;"
                     " printf 'END\\n'; sha256sum /tmp/t.b64; "
                     "printf 'SUM''DONE\\n'\n")
        began = time.monotonic()
        await t.until_text("SUMDONE", timeout=300, since=mark)
        secs = time.monotonic() - began
        data = bytes(t.data[mark:])
        b = data.index(b"\nBEGIN\n") + 7
        e = data.index(b"\nEND\n", b) + 1
        got = hashlib.sha256(data[b:e]).hexdigest()
        want = re.search(rb"([0-9a-f]{64})  /tmp/t.b64", data[e:])
        expect(want, f"sha256sum line in {data[e:e + 300]!r}")
        expect(e - b >= 50_000_000, f"{e - b} bytes")
        expect(got == want.group(1).decode(),
               f"sha256 {got} != {want.group(1)}")
        print(f"# 50 MB in {secs:.1f} s ({(e - b) / secs / 1e6:.1f} MB/s)")
        await t.ws.close()
    run(go())


def test_a_slow_reader_keeps_rss_bounded():
    async def go():
        t = await shell()
        await make_big(t)
        await t.send("cat /tmp/t.b64; echo SLOW''DONE\n")
        await t.until(lambda t: len(t.data) > 1_000_000)
        base = D.rss_kib()
        peak = base
        # not reading at all for a while, then reading slowly
        for _ in range(10):
            await asyncio.sleep(0.3)
            peak = max(peak, D.rss_kib())
        got = len(t.data)
        for _ in range(200):
            await t.recv()
            await t.ack()
            await asyncio.sleep(0.01)
            peak = max(peak, D.rss_kib())
        expect(len(t.data) > got, "it moved on")
        grown = (peak - base) / 1024
        print(f"# RSS {base // 1024} MiB, peak +{grown:.1f} MiB while "
              f"{len(t.data) / 1e6:.1f} of 50 MB were read")
        expect(grown < 30, f"RSS grew by {grown:.1f} MiB")
        await t.ws.close()
    run(go())


SEQ = 200000
EXPECTED_SEQ = "".join(f"{i}\n" for i in range(1, SEQ + 1)).encode()


def test_a_dropped_connection_resumes_from_its_offset():
    async def go():
        t = await shell()
        await t.send(f"stty raw -echo; printf '\\nBEGIN\\n'; seq 1 {SEQ}; "
                     f"printf 'SEQ''DONE\\n'\n")
        await t.until(lambda t: len(t.data) > 300_000)
        sid, offset = t.hello["session"], t.next
        first = bytes(t.data)
        t.ws.transport.abort()  # dropped, no close handshake
        await asyncio.sleep(0.5)
        r = await shell(f"session={sid}&offset={offset}", prompt=False)
        expect(r.hello["session"] == sid and r.hello["offset"] == offset
               and "gap" not in r.hello, r.hello)
        await r.until_text("SEQDONE", timeout=120)
        whole = first + bytes(r.data)
        b = whole.index(b"\nBEGIN\n") + 7
        e = whole.index(b"SEQDONE")
        expect(whole[b:e] == EXPECTED_SEQ,
               f"{len(whole[b:e])} bytes, want {len(EXPECTED_SEQ)}")
        await r.ws.close()
    run(go())


def test_a_resume_behind_the_ring_is_told_the_gap():
    async def go():
        t = await shell()
        await t.send(f"seq 1 {SEQ}; echo G''APDONE\n")
        await t.until_text("GAPDONE", timeout=120)
        sid, total = t.hello["session"], t.next
        await t.ws.close()
        r = await shell(f"session={sid}&offset=0", prompt=False)
        h = r.hello
        expect(h["offset"] >= total - 1024 * 1024 and
               h.get("gap") == h["offset"], f"{h} after {total} bytes")
        await r.until(lambda r: r.next >= total)
        n = total - h["offset"]  # later bytes (a prompt) may follow
        expect(bytes(r.data[:n]) == bytes(t.data[h["offset"]:total]),
               "the ring's bytes")
        await r.ws.close()
    run(go())


def test_two_viewers_see_the_same_output():
    async def go():
        a = await shell()
        b = await shell(f"session={a.hello['session']}", prompt=False)
        expect(b.hello["session"] == a.hello["session"], b.hello)
        await a.send("echo tw''o-viewers\n")
        await a.until_text("two-viewers")
        await b.until_text("two-viewers")
        await b.send("echo from-''b\n")
        await a.until_text("from-b")
        await b.until_text("from-b")
        end = min(a.next, b.next)
        lo = max(a.start, b.start)
        expect(a.data[lo - a.start:end - a.start] ==
               b.data[lo - b.start:end - b.start], "same bytes")
        await a.ws.close()
        await b.ws.close()
    run(go())


def test_three_terminals_at_once():
    """Three sessions streaming and typing at once: every send of each
    wakes the service thread through the WebSocket pending list. A wake-up
    lost there stalls a terminal (the timeout here); one serviced twice
    drops a reference twice (a crash); under the ThreadSanitizer build the
    race itself is a report, which ends the daemon (its exit code)."""
    async def one(i):
        t = await Term.open("alice", E["alice"])
        await t.until(lambda t: t.hello is not None)
        await ready(t)
        for round_ in range(3):
            mark = len(t.data)
            await t.send(f"seq 1 20000; echo DO''NE{i}-{round_}\n")
            await t.until_text(f"DONE{i}-{round_}", timeout=120, since=mark)
        await t.ws.close()

    async def go():
        await asyncio.gather(*(one(i) for i in range(3)))
    run(go())


def test_exit_3_sends_the_exit_frame():
    async def go():
        t = await shell()
        await t.send("exit 3\n")
        code = None
        await t.until(lambda t: t.exit is not None, timeout=30)
        code = await t.close_code()
        expect(t.exit["code"] == 3 and t.exit["reason"], t.exit)
        expect(code == 1000, f"closed {code}")
    run(go())


def test_logs_stream_lines_of_stdout_and_stderr():
    async def go():
        url = f"ws://127.0.0.1:{D.port}{ENVS}/{E['alice']}/logs/stream?tail=0"
        ws = await websockets.connect(
            url, subprotocols=["vibebox.logs.v1"],
            extra_headers={"Authorization": "Bearer " + T["alice"]})
        t = await shell()
        await t.send("echo out-''line > /proc/1/fd/1; "
                     "echo err-''line > /proc/1/fd/2\n")
        seen = {}
        end = time.monotonic() + 30
        while len(seen) < 2 and time.monotonic() < end:
            m = json.loads(await asyncio.wait_for(ws.recv(), 30))
            seen[m["line"]] = m
        expect(seen.get("out-line", {}).get("stream") == "stdout", seen)
        expect(seen.get("err-line", {}).get("stream") == "stderr", seen)
        expect(re.match(r"\d{4}-\d\d-\d\dT", seen["out-line"]["time"]),
               seen)
        await ws.close()
        await t.ws.close()
        for who, want in (("eve", 4404), ("dave", 4404)):
            ws = await websockets.connect(
                url, subprotocols=["vibebox.logs.v1"],
                extra_headers={"Authorization": "Bearer " + T[who]})
            try:
                await asyncio.wait_for(ws.recv(), 10)
                raise AssertionError(f"{who}: a frame")
            except websockets.ConnectionClosed as e:
                expect(e.code == want, f"{who}: {e.code}")
    run(go())


def container_state(env_id):
    out = subprocess.run(["docker", "inspect", "--format",
                          "{{json .State}}", f"vbx-{env_id}"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def test_an_image_whose_command_exits_keeps_running():
    proj = P.project(D, T["alice"], "Commands")["id"]
    env = P.environment(D, T["alice"], proj, "cmdbox", image=CMD_IMAGE)["id"]
    MADE.append(env)
    st, b = call("POST", f"{ENVS}/{env}/start")[:2]
    expect(st == 200 and b["status"] == "running", f"start: {st} {b}")
    time.sleep(3)
    st, b = call("GET", f"{ENVS}/{env}")[:2]
    expect(b["status"] == "running" and container_state(env)["Running"],
           f"after 3 s: {b}")

    async def go():
        t = await shell(env=env)
        mark = len(t.data)
        await t.send("echo lo''gin=$0\n")
        await t.until_text("login=/bin/ash", since=mark)
        await t.ws.close()
    run(go())
    began = time.monotonic()
    st, b = call("POST", f"{ENVS}/{env}/stop")[:2]
    took = time.monotonic() - began
    state = container_state(env)
    print(f"# stopped in {took:.2f} s, exit code {state['ExitCode']}")
    expect(st == 200 and b["status"] == "stopped", f"stop: {st} {b}")
    # 0: the keep-alive ended on SIGTERM; 137 would be the SIGKILL that
    # follows environments.stop_timeout
    expect(took < 2 and state["ExitCode"] == 0, f"{took:.2f} s {state}")


def stop_checked(s, d):
    """Stop d: a clean exit is one more check (and the log's path is
    printed when a check failed)."""
    code = d.stop()
    if s.failed:
        print(f"# daemon log: {d.logpath}")

    def vibeboxd_exits_cleanly():
        expect(code == 0, f"vibeboxd exit {code}")
    s.run(vibeboxd_exits_cleanly)


def main():
    global P
    skip_unless_ready()
    s = Suite()
    with Platform() as p:
        P = p
        setup()
        try:
            for fn in (test_echo_of_input,
                       test_subprotocol_token_and_refusals,
                       test_a_viewer_gets_4403_a_stranger_4404_stopped_4409,
                       test_50_mb_arrive_byte_exact,
                       test_a_slow_reader_keeps_rss_bounded,
                       test_a_dropped_connection_resumes_from_its_offset,
                       test_a_resume_behind_the_ring_is_told_the_gap,
                       test_two_viewers_see_the_same_output,
                       test_three_terminals_at_once,
                       test_exit_3_sends_the_exit_frame,
                       test_logs_stream_lines_of_stdout_and_stderr,
                       test_an_image_whose_command_exits_keeps_running):
                if not ONLY or any(o in fn.__name__ for o in ONLY.split(",")):
                    s.run(fn)
        finally:
            teardown()
            stop_checked(s, D)
    s.finish()


if __name__ == "__main__":
    main()
