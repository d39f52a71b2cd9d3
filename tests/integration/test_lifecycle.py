# SPDX-License-Identifier: Apache-2.0
"""The daemon's life against a real process: -V and -t (the plugin table,
the values in effect), memory trimmed after a burst, shutdown with
requests and WebSockets in flight, shutdown_timeout, SIGHUP reload, and
systemd notification."""

import asyncio
import os
import re
import signal
import socket
import subprocess
import threading
import time

import websockets

from daemon import VIBEBOXD, Daemon, Suite, expect

TESTKIT = '{ name = "testkit"; config = { greeting = "hi"; }; }'


def test_version():
    out = subprocess.run([VIBEBOXD, "-V"], capture_output=True, text=True)
    expect(out.returncode == 0 and out.stdout.startswith("vibeboxd "),
           out.stdout)
    # The ABI the SDK headers declare, so a minor bump needs no edit here.
    hdr = open(os.path.join(os.environ.get("VBX_SRCDIR", "."),
                            "include/vibebox/plugin.h")).read()
    abi = ".".join(re.search(rf"#define VBX_ABI_{part} (\d+)", hdr).group(1)
                   for part in ("MAJOR", "MINOR"))
    expect(f"plugin ABI {abi}" in out.stdout, (abi, out.stdout))


def test_check_prints_the_plugin_table():
    d = Daemon(plugins=TESTKIT)
    out = subprocess.run([VIBEBOXD, "-t", "-c", d.conf], capture_output=True,
                         text=True)
    expect(out.returncode == 0, out.stderr)
    lines = out.stdout.splitlines()
    expect(lines[0].split() == ["NAME", "VERSION", "PROVIDES", "REQUIRES"],
           lines)
    expect(lines[1].split() == ["testkit", "1.0.0", "authn,authz", "-"],
           lines)
    expect("test is successful" in lines[-1], lines)


def test_check_prints_values_in_effect():
    """-t shows the values derived from the CPU count: server.workers,
    postgres-store's pool, auth's hash_concurrency; a key set in the
    file says so."""
    build = os.environ.get("VBX_BUILDDIR", ".")
    d = Daemon()
    plugins = os.path.join(d.dir, "plugins")
    os.mkdir(plugins)
    for name in ("postgres-store", "auth"):
        os.symlink(os.path.join(build, "plugins", name, ".libs", name + ".so"),
                   os.path.join(plugins, name + ".so"))
    secret = "k1:" + "ab" * 32
    with open(d.conf, "w") as f:
        f.write(f'server: {{ listen = "127.0.0.1:{d.port}"; }};\n'
                f'plugin_dir = "{plugins}";\nstate_dir = "{d.dir}";\n'
                'log: { level = "error"; };\n'
                'plugins = (\n'
                ' { name = "postgres-store"; config = {\n'
                '     conninfo = "host=/nonexistent dbname=x"; }; },\n'
                f' {{ name = "auth"; config = {{ jwt_secret = "{secret}";\n'
                '     argon2_memory = "64KiB"; hash_concurrency = 3; }; }\n'
                ');\n')
    out = subprocess.run([VIBEBOXD, "-t", "-c", d.conf], capture_output=True,
                         text=True, timeout=60)
    expect(out.returncode == 0, out.stderr)
    lines = [l.strip() for l in out.stdout.splitlines()]
    head = [l for l in lines if l.startswith("values in effect")]
    expect(len(head) == 1, lines)
    cpus = int(head[0].split("(")[1].split()[0])
    expect(1 <= cpus <= os.cpu_count(), head)
    workers = min(max(2 * cpus, 4), 32)
    for want in (f"server.workers = {workers} (default: 2 per CPU, 4..32)",
                 f"plugins.postgres-store.pool = {workers} "
                 "(default: server.workers)",
                 "plugins.auth.hash_concurrency = 3 (set)",
                 "health.timeout = 3s (default)",
                 "plugins.postgres-store.timeout = 5s (default)",
                 "plugins.postgres-store.acquire_timeout = 5s (default)"):
        expect(want in lines, f"{want!r} not in {lines}")


def burst_then_quiet(d, n=300):
    for _ in range(n):
        expect(d.get("/health/live")[0] == 200, "live")
    time.sleep(5)  # 3 quiet seconds, and a tick


def test_memory_trimmed_after_a_burst():
    """core/memtrim.c: quiet for 3 s after 256 requests or more, the
    daemon calls malloc_trim, and says so once."""
    d = Daemon(plugins=TESTKIT).start()
    try:
        burst_then_quiet(d)
        trims = [l for l in d.logtext().splitlines()
                 if "malloc_trim took the resident size" in l]
        expect(len(trims) == 1, d.logtext())
        time.sleep(2)  # still quiet: no second trim
        expect(d.logtext().count("malloc_trim took") == 1, d.logtext())
    finally:
        d.stop()


def test_memory_trims_off():
    d = Daemon(plugins=TESTKIT, env={"VBX_MEMTRIM": "0"}).start()
    try:
        burst_then_quiet(d)
        log = d.logtext()
        expect("VBX_MEMTRIM=0" in log, log)
        expect("malloc_trim took" not in log, log)
    finally:
        d.stop()


def test_check_reports_every_error_with_file_and_line():
    d = Daemon()
    with open(d.conf, "w") as f:
        f.write('server: { workers = 0; wrokers = 2; };\n'
                'log: { level = "loud"; };\n'
                'plugins = ( { name = "testkit"; config = { greting = "x"; }; } );\n')
    out = subprocess.run([VIBEBOXD, "-t", "-c", d.conf], capture_output=True,
                         text=True)
    expect(out.returncode == 1, out.returncode)
    err = out.stderr
    for want in (f"{d.conf}:1: server.workers", f"{d.conf}:1: server.wrokers",
                 f"{d.conf}:2: log.level",):
        expect(want in err, f"{want!r} not in {err}")
    expect("test failed" in err, err)


def test_unknown_plugin_key_is_an_error():
    d = Daemon(plugins='{ name = "testkit"; config = { greting = "x"; }; }')
    out = subprocess.run([VIBEBOXD, "-t", "-c", d.conf], capture_output=True,
                         text=True)
    expect(out.returncode == 1, out.returncode)
    expect("plugins.testkit.greting: unknown key" in out.stderr, out.stderr)


def test_sigterm_drains_in_flight_work():
    d = Daemon(plugins=TESTKIT,
               server='drain_delay = "1s"; shutdown_timeout = "10s";').start()
    results = {}

    def slow():
        results["slow"] = d.get("/api/v1/x/testkit/slow?ms=2000",
                                token="alice")[0]

    async def ws_close_code():
        ws = await websockets.connect(
            f"ws://127.0.0.1:{d.port}/api/v1/x/testkit/ws",
            subprotocols=["vibebox.test.v1"],
            extra_headers={"Authorization": "Bearer alice"})
        await ws.recv()
        results["ws_ready"] = True
        try:
            while True:
                await ws.recv()
        except websockets.ConnectionClosed as e:
            results["ws"] = e.code

    t = threading.Thread(target=slow)
    w = threading.Thread(target=lambda: asyncio.run(ws_close_code()))
    t.start()
    w.start()
    time.sleep(0.4)
    expect(results.get("ws_ready"), "WebSocket open")
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    time.sleep(0.2)
    st, body, _ = d.get("/health/ready")
    expect(st == 503 and body["status"] == "draining", body)
    st, _, _ = d.get("/health/live")
    expect(st == 200, "live during the drain delay")
    w.join(5)
    expect(results.get("ws") == 1001, f"ws close {results.get('ws')}")
    expect(time.monotonic() - t0 >= 0.9, "WebSockets close after the delay")
    time.sleep(0.2)
    try:
        socket.create_connection(("127.0.0.1", d.port), timeout=1).close()
        raise AssertionError("the listener is still open")
    except ConnectionRefusedError:
        pass
    t.join(10)
    expect(results.get("slow") == 200, f"in-flight request: {results}")
    d.proc.wait(10)
    expect(d.proc.returncode == 0, d.proc.returncode)
    log = d.logtext()
    expect('"plugin":"testkit","msg":"fini"' in log, "plugins finalised")


def test_shutdown_timeout_bounds_a_stuck_request():
    d = Daemon(plugins=TESTKIT, server='shutdown_timeout = "1s";').start()
    t = threading.Thread(target=lambda: d.get("/api/v1/x/testkit/slow?ms=6000",
                                              token="alice", timeout=10))
    t.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    d.signal(signal.SIGINT)
    d.proc.wait(10)
    took = time.monotonic() - t0
    expect(d.proc.returncode == 0, d.proc.returncode)
    # the worker still finishes its handler before the process exits
    expect(took < 7.5, f"took {took:.1f}s")
    expect("shutdown_timeout passed" in d.logtext(), "warned")
    t.join()


def test_sighup_reloads_log_level_and_plugin_blocks():
    d = Daemon(plugins=TESTKIT).start()
    bye = '{ name = "testkit"; config = { greeting = "bye"; }; }'
    try:
        d.write_conf(plugins=bye)
        d.signal(signal.SIGHUP)
        time.sleep(0.5)
        d.get("/health/live", headers={"X-Request-Id": "before"})
        d.write_conf(plugins=bye, log='level = "warn";')
        d.signal(signal.SIGHUP)
        time.sleep(0.5)
        d.get("/health/live", headers={"X-Request-Id": "after"})
        # a broken file is refused and the running config kept
        with open(d.conf, "a") as f:
            f.write("oops = ;\n")
        d.signal(signal.SIGHUP)
        time.sleep(0.5)
        st, _, _ = d.get("/health/live")
        expect(st == 200, "still serving")
    finally:
        expect(d.stop() == 0, "exit 0")
    lines = d.loglines()
    reload = [x for x in lines if "reloaded generation 2" in x["msg"]]
    expect(reload and "greeting=bye" in reload[0]["msg"], lines)
    reqs = [x.get("request") for x in lines if x["msg"] == "access"]
    expect("before" in reqs and "after" not in reqs, reqs)
    expect(any("keeping the running configuration" in x["msg"]
               for x in lines), "bad reload refused")


def test_sighup_with_a_changed_plugin_list_asks_for_a_restart():
    d = Daemon(plugins=TESTKIT).start()
    try:
        d.write_conf(plugins="")
        d.signal(signal.SIGHUP)
        time.sleep(0.5)
        st, _, _ = d.get("/api/v1/x/testkit/items/x")
        expect(st == 200, "the plugin still serves")
    finally:
        expect(d.stop() == 0, "exit 0")
    expect("restart vibeboxd" in d.logtext(), "asked for a restart")


def test_systemd_notification():
    path = os.path.join(Daemon().dir, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(10)
    d = Daemon(env={"NOTIFY_SOCKET": path}).start()
    try:
        expect(sock.recv(256) == b"READY=1", "READY=1")
        d.signal(signal.SIGTERM)
        expect(sock.recv(256) == b"STOPPING=1", "STOPPING=1")
        d.proc.wait(10)
        expect(d.proc.returncode == 0, d.proc.returncode)
    finally:
        d.stop()
        sock.close()


def test_port_in_use_is_a_clear_error():
    d = Daemon()
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", d.port))
        s.listen()
        out = subprocess.run([VIBEBOXD, "-c", d.conf], capture_output=True,
                             text=True, timeout=10)
    expect(out.returncode == 1, out.returncode)
    expect(f"server.listen 127.0.0.1:{d.port}: cannot listen" in out.stderr,
           out.stderr)


if __name__ == "__main__":
    s = Suite()
    for name, fn in list(globals().items()):
        if name.startswith("test_"):
            s.run(fn)
    s.finish()
