# SPDX-License-Identifier: Apache-2.0
"""`vibebox exec` and /api/v1/environments/{id}/exec (vibebox.exec.v1,
docs/exec-protocol.md) end to end: a real PostgreSQL cluster, the Docker
engine and vibeboxd with postgres-store, auth and docker-runtime
(fixture.py), the CLI as a subprocess and python3-websockets for the
protocol's own checks.

The remote exit code is the CLI's (`exit 7` gives 7); 50 MB through stdin
and back with `cat` keep their SHA-256; stdout and stderr stay apart;
`cat` with stdin closed at once ends with 0; vibebox's own failures (usage,
no such or a stopped environment) exit 255; a team viewer is refused
(4403, and the CLI exits 255), a member demoted while a command runs is
closed with 4403; exec.start and exec.close audit rows name
who, the environment, argv[0] and the exit code; a client that does not
ack receives exactly one window and the daemon's RSS stays flat, and so
does it under `vibebox exec ... cat /dev/zero` read slowly; broken
frames and start messages are closed with 1002/1007, stdin past the
window with 1008; env variables, stdin-ack and the exit frame on the wire.
"""

import asyncio
import hashlib
import json
import os
import subprocess
import time

import websockets

from daemon import Suite, expect
from fixture import BUILD, Platform, skip_unless_ready

VIBEBOX = os.environ.get("VIBEBOX") or os.path.join(BUILD, "vibebox")
ENVS = "/api/v1/environments"
PROTO = "vibebox.exec.v1"
WINDOW = 256 * 1024
PLATFORM = """environments: { stop_timeout = "1s"; };
terminal: { window = "256KiB"; };"""
LIMITS = 'register_limit = "1000/1m"; login_limit = "1000/1m";'
P = None
D = None
T = {}    # tokens
U = {}    # user ids
E = {}    # environments
MADE = []


def call(method, path, body=None, who="alice"):
    return D.request(method, path, body, token=T[who], timeout=120)


def vibebox(who, *args, stdin=None, timeout=180):
    """Run `vibebox exec ...` as who; returns (code, stdout, stderr) as
    bytes. stdin: bytes, or None for a stdin that ends at once."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "HOME": P.dir, "XDG_CONFIG_HOME": os.path.join(P.dir, "cfg"),
           "VIBEBOX_SERVER": f"http://127.0.0.1:{D.port}",
           "VIBEBOX_TOKEN": T[who]}
    r = subprocess.run([VIBEBOX, "exec", *args], input=stdin,
                       stdin=subprocess.DEVNULL if stdin is None else None,
                       capture_output=True, env=env, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


async def connect(who, env):
    return await websockets.connect(
        f"ws://127.0.0.1:{D.port}{ENVS}/{env}/exec", subprotocols=[PROTO],
        extra_headers={"Authorization": "Bearer " + T[who]},
        max_queue=4, ping_interval=None, max_size=None)


def start_frame(argv):
    return b"\x03" + json.dumps({"argv": argv}).encode()


async def closed_with(ws, timeout=30):
    """Read until the server closes; returns its close code."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    except websockets.ConnectionClosed as e:
        return e.code


def setup():
    global D
    D = P.start(platform=PLATFORM, auth=LIMITS)
    for who in ("admin", "alice", "bob", "dave", "carol"):
        T[who] = P.user(D, f"{who}@exec.test", who.capitalize())
        st, me, _ = D.request("GET", "/api/v1/users/me", token=T[who])
        U[who] = me["id"]
    proj = P.project(D, T["alice"], "Alice's")["id"]
    E["alice"] = P.environment(D, T["alice"], proj, "box")["id"]
    MADE.append(E["alice"])
    E["stopped"] = P.environment(D, T["alice"], proj, "idle")["id"]
    MADE.append(E["stopped"])
    st, team, _ = D.request("POST", "/api/v1/teams", {"name": "T"},
                            token=T["bob"])
    expect(st == 201, f"team: {st} {team}")
    st, b, _ = D.request("POST", f"/api/v1/teams/{team['id']}/members",
                         {"userId": U["dave"], "role": "viewer"},
                         token=T["bob"])
    expect(st == 201, f"member: {st} {b}")
    st, b, _ = D.request("POST", f"/api/v1/teams/{team['id']}/members",
                         {"userId": U["carol"], "role": "developer"},
                         token=T["bob"])
    expect(st == 201, f"member: {st} {b}")
    E["team_id"] = team["id"]
    tproj = P.project(D, T["bob"], "Team's", team["id"])["id"]
    E["team"] = P.environment(D, T["bob"], tproj, "teambox")["id"]
    MADE.append(E["team"])
    for env, who in ((E["alice"], "alice"), (E["team"], "bob")):
        st, b = call("POST", f"{ENVS}/{env}/start", who=who)[:2]
        expect(st == 200 and b["status"] == "running", f"start: {st} {b}")


def teardown():
    for e in MADE:
        for who in ("alice", "bob"):
            if call("DELETE", f"{ENVS}/{e}", who=who)[0] == 204:
                break


# ---- the CLI ----

def test_exit_7_gives_7():
    code, out, err = vibebox("alice", E["alice"], "--", "sh", "-c", "exit 7")
    expect(code == 7, f"exit {code}: {out!r} {err!r}")
    code, out, err = vibebox("alice", E["alice"], "true")
    expect(code == 0, f"true: exit {code}: {err!r}")


def test_stdout_and_stderr_stay_apart():
    code, out, err = vibebox("alice", E["alice"], "sh", "-c",
                             "echo out; echo err >&2; echo out2")
    expect(code == 0, f"exit {code}: {err!r}")
    expect(out == b"out\nout2\n", f"stdout {out!r}")
    expect(err == b"err\n", f"stderr {err!r}")


def test_cat_with_no_stdin_ends():
    t0 = time.monotonic()
    code, out, err = vibebox("alice", E["alice"], "cat", timeout=60)
    expect(code == 0 and out == b"", f"exit {code}: {out!r} {err!r}")
    print(f"# cat with stdin closed at once ended in "
          f"{time.monotonic() - t0:.2f} s")


def test_50_mb_through_stdin_and_back():
    data = os.urandom(50 * 1024 * 1024)
    want = hashlib.sha256(data).hexdigest()
    t0 = time.monotonic()
    code, out, err = vibebox("alice", E["alice"], "cat", stdin=data,
                             timeout=600)
    secs = time.monotonic() - t0
    expect(code == 0, f"exit {code}: {err[-300:]!r}")
    expect(len(out) == len(data), f"{len(out)} bytes back of {len(data)}")
    expect(hashlib.sha256(out).hexdigest() == want, "SHA-256 differs")
    print(f"# 50 MiB through cat and back in {secs:.1f} s")
    # and the command saw every byte, in order
    code, out, err = vibebox("alice", E["alice"], "sha256sum", stdin=data,
                             timeout=600)
    expect(code == 0 and out.split()[0].decode() == want,
           f"remote sha256sum: {code} {out!r} {err!r}")


def test_a_slow_reader_of_the_cli_slows_the_command():
    """vibebox exec's stdout read slowly: the CLI acks only what it wrote
    out, so the daemon's memory stays flat while the command could write
    gigabytes."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "HOME": P.dir, "VIBEBOX_SERVER": f"http://127.0.0.1:{D.port}",
           "VIBEBOX_TOKEN": T["alice"]}
    base = D.rss_kib()
    p = subprocess.Popen([VIBEBOX, "exec", E["alice"], "cat", "/dev/zero"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         env=env)
    try:
        got, peak = 0, base
        end = time.monotonic() + 4
        while time.monotonic() < end:
            chunk = p.stdout.read(64 * 1024)
            expect(chunk, "the output ended")
            got += len(chunk)
            peak = max(peak, D.rss_kib())
            time.sleep(0.02)  # about 3 MiB/s
        grown = (peak - base) / 1024
        expect(got > 1024 * 1024, f"only {got} bytes came")
        expect(grown < 30, f"RSS grew by {grown:.1f} MiB")
        print(f"# read {got / 1048576:.1f} MiB slowly; daemon RSS "
              f"+{grown:.1f} MiB")
    finally:
        p.kill()
        p.wait()


def test_failures_of_vibebox_itself_exit_255():
    code, _, err = vibebox("alice")
    expect(code == 255 and b"usage" in err, f"no ENV: {code} {err!r}")
    code, _, err = vibebox("alice", E["alice"])
    expect(code == 255 and b"usage" in err, f"no CMD: {code} {err!r}")
    code, _, err = vibebox("alice", E["alice"], "--")
    expect(code == 255 and b"usage" in err, f"only --: {code} {err!r}")
    code, _, err = vibebox("alice", "no-such-env", "true")
    expect(code == 255 and err, f"no such env: {code} {err!r}")
    code, _, err = vibebox("alice", E["stopped"], "true")
    expect(code == 255 and b"start it" in err, f"stopped: {code} {err!r}")
    # CMD's own options are CMD's: -c is sh's, not vibebox's
    code, out, err = vibebox("alice", E["alice"], "sh", "-c", "echo $0-x")
    expect(code == 0 and out == b"sh-x\n", f"sh -c: {code} {out!r} {err!r}")


def test_a_viewer_may_not_exec():
    code, out, err = vibebox("dave", E["team"], "true")
    expect(code == 255, f"exit {code}: {err!r}")
    expect(b"4403" in err or b"403" in err, f"message: {err!r}")

    async def raw():
        ws = await connect("dave", E["team"])
        expect(await closed_with(ws) == 4403, "viewer: 4403")
        ws = await connect("alice", E["team"])  # not her team's
        expect(await closed_with(ws) == 4404, "stranger: 4404")
    asyncio.run(raw())


def test_audit_rows_name_who_where_what_and_the_exit_code():
    code, _, err = vibebox("alice", E["alice"], "sh", "-c", "exit 5")
    expect(code == 5, f"exit {code}: {err!r}")

    def rows():
        st, b, _ = call("GET", "/api/v1/audit?limit=100", who="admin")
        expect(st == 200, f"audit: {st} {b}")
        return [r for r in b["data"] if r["targetId"] == E["alice"]]
    end = time.monotonic() + 10
    while True:
        got = rows()
        closes = [r for r in got if r["action"] == "exec.close" and
                  detail_of(r).get("exitCode") == 5]
        if closes or time.monotonic() > end:
            break
        time.sleep(0.1)
    expect(closes, f"no exec.close with exit code 5: {got}")
    c = closes[0]
    detail = detail_of(c)
    expect(c["actorId"] == U["alice"], f"actor: {c}")
    expect(detail["argv0"] == "sh" and detail["closeCode"] == 1000,
           f"detail: {detail}")
    starts = [r for r in got if r["action"] == "exec.start"]
    expect(starts and starts[0]["actorId"] == U["alice"], f"start: {got}")
    refused = [r for r in rows_all() if r["action"] == "exec.refused"]
    expect(refused, "no exec.refused row for the viewer")


def detail_of(row):
    d = row["detail"]
    return d if isinstance(d, dict) else json.loads(d)


def test_a_demoted_member_loses_the_running_command():
    async def run():
        ws = await connect("carol", E["team"])
        await ws.recv()  # hello
        await ws.send(start_frame(["sleep", "60"]))
        await asyncio.sleep(0)  # the command starts on a worker
        st, b, _ = D.request(
            "PATCH", f"/api/v1/teams/{E['team_id']}/members/{U['carol']}",
            {"role": "viewer"}, token=T["bob"])
        expect(st == 200, f"demote: {st} {b}")
        t0 = time.monotonic()
        code = await closed_with(ws, timeout=20)
        expect(code == 4403, f"closed {code}, want 4403")
        print(f"# closed 4403 {time.monotonic() - t0:.2f} s after the "
              f"demotion")
    asyncio.run(run())


def rows_all():
    st, b, _ = call("GET", "/api/v1/audit?limit=100", who="admin")
    return b["data"]


# ---- the protocol ----

def test_a_reader_that_does_not_ack_gets_one_window():
    async def run():
        ws = await connect("alice", E["alice"])
        hello = await ws.recv()
        expect(hello[0] == 0x82 and json.loads(hello[1:])["window"] ==
               WINDOW, f"hello {hello!r}")
        base = D.rss_kib()
        await ws.send(start_frame(["cat", "/dev/zero"]))
        got = 0
        try:
            while True:
                m = await asyncio.wait_for(ws.recv(), 3)
                expect(m[0] == 0x80, f"frame {m[:1]!r}")
                expect(int.from_bytes(m[1:9], "big") == got, "offset")
                got += len(m) - 9
        except asyncio.TimeoutError:
            pass
        expect(got == WINDOW, f"{got} bytes without an ack, window "
                              f"{WINDOW}")
        grown = (D.rss_kib() - base) / 1024
        expect(grown < 30, f"RSS grew by {grown:.1f} MiB")
        # an ack lets exactly as much more through
        await ws.send(b"\x02" + got.to_bytes(8, "big"))
        more = 0
        try:
            while True:
                m = await asyncio.wait_for(ws.recv(), 3)
                more += len(m) - 9
        except asyncio.TimeoutError:
            pass
        expect(more == WINDOW, f"{more} more after the ack")
        print(f"# one window ({WINDOW} bytes) per ack; RSS +{grown:.1f} MiB")
        await ws.close()
    asyncio.run(run())


def test_broken_frames_are_refused():
    async def case(frames, want):
        ws = await connect("alice", E["alice"])
        await ws.recv()  # hello
        for f in frames:
            await ws.send(f)
        code = await closed_with(ws)
        expect(code == want, f"{frames!r}: closed {code}, want {want}")
    asyncio.run(case([b"\x00hi"], 1002))                 # stdin first
    asyncio.run(case([b"\x03" + b'{"argv":[]}'], 1007))  # empty argv
    asyncio.run(case([b"\x03" + b'{"argv":[""]}'], 1007))
    asyncio.run(case([b"\x03" + b'{"argv":["a\\u0000b"]}'], 1007))
    asyncio.run(case([b"\x03" + b'{"argv":["true"],"x":1}'], 1007))
    asyncio.run(case([b"\x03not json"], 1007))
    asyncio.run(case([start_frame(["cat"]), b"\x01\x00"], 1002))
    asyncio.run(case([start_frame(["cat"]), b"\x09"], 1002))
    asyncio.run(case([start_frame(["cat"]), start_frame(["cat"])], 1002))
    asyncio.run(case([start_frame(["cat"]), b"\x01", b"\x00x"], 1002))
    asyncio.run(case([b"\x02" + (1).to_bytes(8, "big")], 1002))
    # more stdin than a window past the last stdin-ack (0): 1008
    asyncio.run(case([start_frame(["sleep", "30"]),
                      b"\x00" + b"x" * (WINDOW + 1)], 1008))


def test_env_and_exit_frame_over_the_socket():
    async def run():
        ws = await connect("alice", E["alice"])
        await ws.recv()  # hello
        await ws.send(b"\x03" + json.dumps(
            {"argv": ["sh", "-c", 'read x; echo "$GREETING $x"; exit 3'],
             "env": {"GREETING": "hello"}}).encode())
        await ws.send(b"\x00world\n")
        await ws.send(b"\x01")
        out, exit_, taken = b"", None, 0
        try:
            while True:
                m = await asyncio.wait_for(ws.recv(), 30)
                if m[0] == 0x80:
                    out += m[9:]
                elif m[0] == 0x81:
                    exit_ = json.loads(m[1:])
                elif m[0] == 0x85:
                    taken = int.from_bytes(m[1:9], "big")
        except websockets.ConnectionClosed as e:
            expect(e.code == 1000, f"closed {e.code}")
        expect(out == b"hello world\n", f"stdout {out!r}")
        expect(taken == 6, f"stdin-ack {taken}, want 6")
        expect(exit_ and exit_["code"] == 3, f"exit frame {exit_}")
    asyncio.run(run())


def main():
    global P
    skip_unless_ready()
    s = Suite()
    with Platform() as p:
        P = p
        setup()
        try:
            for fn in (test_exit_7_gives_7,
                       test_stdout_and_stderr_stay_apart,
                       test_cat_with_no_stdin_ends,
                       test_50_mb_through_stdin_and_back,
                       test_a_slow_reader_of_the_cli_slows_the_command,
                       test_failures_of_vibebox_itself_exit_255,
                       test_a_viewer_may_not_exec,
                       test_a_demoted_member_loses_the_running_command,
                       test_audit_rows_name_who_where_what_and_the_exit_code,
                       test_a_reader_that_does_not_ack_gets_one_window,
                       test_broken_frames_are_refused,
                       test_env_and_exit_frame_over_the_socket):
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
