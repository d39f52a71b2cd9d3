# SPDX-License-Identifier: Apache-2.0
"""The metrics plugin against a real daemon: the exposition parses
strictly, routes are labelled by pattern, counts are exact, histograms
cumulative, OpenMetrics on request; promtool accepts both formats; the
token, the public-listener mode and its config refusals; the WebSocket
gauge follows a real client; file_readable follows the token file."""

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time

import websockets

from daemon import VIBEBOXD, Daemon, Suite, expect
from expo import metrics_daemon, parse, plugin_dir, scrape, value

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
ITEMS = "/api/v1/x/testkit/items/{id}"
OM = "application/openmetrics-text; version=1.0.0"


def promtool(text):
    """promtool check metrics on text: (exit code, its complaints)."""
    expect(os.access(PROMTOOL, os.X_OK),
           "no promtool: apt-get install prometheus "
           "(scripts/install-deps.sh test)")
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text,
                       capture_output=True, text=True, timeout=30)
    return p.returncode, (p.stdout + p.stderr).strip()


def traffic(d):
    for i in ("1", "2"):
        st, _, _ = d.get(f"/api/v1/x/testkit/items/{i}", token="alice")
        expect(st == 200, f"items/{i}: {st}")
    st, _, _ = d.get("/api/v1/nope", token="alice")
    expect(st == 404, f"nope: {st}")
    st, _, _ = d.request("DELETE", "/health/live")
    expect(st == 405, f"DELETE /health/live: {st}")
    st, _, _ = d.get("/health/ready")
    expect(st == 200, f"ready: {st}")


def test_routes_are_patterns_and_counts_exact():
    d = metrics_daemon()
    try:
        traffic(d)
        st, h, body = scrape(d.mport)
        expect(st == 200, f"scrape {st}")
        expect(h["content-type"] ==
               "text/plain; version=0.0.4; charset=utf-8", h)
        f = parse(body)
        req = "vibebox_http_requests_total"
        expect(value(f, req, method="GET", route=ITEMS, status="200") == 2,
               "two requests of the {id} route")
        expect(value(f, req, method="GET", route="unmatched",
                     status="404") == 1, "one unmatched 404")
        expect(value(f, req, method="DELETE", route="unmatched",
                     status="405") == 1, "one unmatched 405")
        routes = {s[1]["route"] for s in f[req]["samples"]}
        expect(not any("/items/1" in r or "/items/2" in r for r in routes),
               f"a raw path leaked: {routes}")
        expect(value(f, "vibebox_health_ready") == 1, "ready")
        expect(value(f, "vibebox_health_check_up", check="testkit") == 1,
               "testkit check up")
        expect(value(f, "vibebox_build_info", abi="1.3",
                     version=f["vibebox_build_info"]["samples"][0][1]
                     ["version"]) == 1, "build_info")
        for name in ("resident_memory_bytes", "open_fds", "max_fds",
                     "start_time_seconds"):
            expect(value(f, "vibebox_process_" + name) > 0, name)
        expect(f["vibebox_process_cpu_seconds_total"]["type"] == "counter",
               "cpu is a counter")
    finally:
        code = d.stop()
    expect(code == 0, f"vibeboxd exit {code}")


def test_histogram_is_cumulative():
    d = metrics_daemon()
    try:
        traffic(d)
        f = parse(scrape(d.mport)[2])
        dur = "vibebox_http_request_duration_seconds"
        expect(f[dur]["type"] == "histogram", "histogram")
        buckets = [(float(ls["le"].replace("Inf", "inf")), v)
                   for n, ls, v in f[dur]["samples"]
                   if n == dur + "_bucket" and ls.get("route") == ITEMS]
        expect(len(buckets) == 15, f"14 bounds and +Inf: {buckets}")
        les = [b[0] for b in buckets]
        counts = [b[1] for b in buckets]
        expect(les == sorted(les) and les[-1] == float("inf"), les)
        expect(counts == sorted(counts), f"not cumulative: {counts}")
        expect(counts[-1] == 2, f"+Inf bucket {counts[-1]}")
        expect(value(f, dur + "_count", method="GET", route=ITEMS) == 2,
               "count")
        expect(value(f, dur + "_sum", method="GET", route=ITEMS) > 0, "sum")
    finally:
        code = d.stop()
    expect(code == 0, f"vibeboxd exit {code}")


def test_openmetrics_on_request():
    d = metrics_daemon()
    try:
        traffic(d)
        st, h, body = scrape(d.mport, headers={"Accept": OM})
        expect(st == 200, f"scrape {st}")
        expect(h["content-type"].startswith(
            "application/openmetrics-text; version=1.0.0"), h)
        expect(body.endswith("# EOF\n"), body[-40:])
        f = parse(body, openmetrics=True)
        expect("vibebox_http_requests" in f and
               f["vibebox_http_requests"]["type"] == "counter",
               "a counter's family is named without _total")
        expect(value(f, "vibebox_http_requests_total", method="GET",
                     route=ITEMS, status="200") == 2, "same count")
        _, _, text = scrape(d.mport, headers={"Accept": "text/plain"})
        expect(not text.endswith("# EOF\n"), "text has no # EOF")
    finally:
        code = d.stop()
    expect(code == 0, f"vibeboxd exit {code}")


def test_promtool_accepts_both_formats():
    d = metrics_daemon()
    try:
        traffic(d)
        rc, out = promtool(scrape(d.mport)[2])
        expect(rc == 0 and out == "", f"text: promtool {rc}: {out}")
        body = scrape(d.mport, headers={"Accept": OM})[2]
        rc, out = promtool(body)
        # promtool parses with the text-format parser, which sees an
        # OpenMetrics counter's samples (x_total) apart from its HELP
        # (under x): that lint, once per counter, is all it may say.
        counters = {n + "_total" for n, fam in parse(body, True).items()
                    if fam["type"] == "counter" and fam["samples"]}
        got = set(out.splitlines())
        expect(rc in (0, 3) and
               got == {c + " no help text" for c in counters},
               f"OpenMetrics: promtool {rc}: {out}")
    finally:
        code = d.stop()
    expect(code == 0, f"vibeboxd exit {code}")


def test_own_listener_paths_and_methods():
    d = metrics_daemon()
    try:
        expect(scrape(d.mport, "/other")[0] == 404, "404")
        st, h, _ = scrape(d.mport, method="POST")
        expect(st == 405 and h.get("allow") == "GET, HEAD", f"405 {h}")
        st, h, body = scrape(d.mport, method="HEAD")
        expect(st == 200 and body == "" and
               int(h["content-length"]) > 0, "HEAD")
    finally:
        code = d.stop()
    expect(code == 0, f"vibeboxd exit {code}")


def test_token_file():
    d0 = Daemon()
    tok = os.path.join(d0.dir, "metrics.token")
    with open(tok, "w") as f:
        f.write("s3cret-token\n")
    d = metrics_daemon(f'token_file = "{tok}";')
    try:
        expect(scrape(d.mport)[0] == 401, "no token: 401")
        for bad in ("Bearer wrong", "Bearer s3cret-toke",
                    "Bearer s3cret-token2", "Basic s3cret-token"):
            st = scrape(d.mport, headers={"Authorization": bad})[0]
            expect(st == 401, f"{bad}: {st}")
        st, _, body = scrape(
            d.mport, headers={"Authorization": "Bearer s3cret-token"})
        expect(st == 200, f"with the token: {st}")
        f = parse(body)
        expect(value(f, "vibebox_file_readable", plugin="metrics",
                     key="token_file") == 1, "token file readable")
        os.unlink(tok)
        f = parse(scrape(
            d.mport, headers={"Authorization": "Bearer s3cret-token"})[2])
        expect(value(f, "vibebox_file_readable", plugin="metrics",
                     key="token_file") == 0, "token file gone")
    finally:
        code = d.stop()
    expect(code == 0, f"vibeboxd exit {code}")


def test_readiness_gauges():
    """health_ready and health_check_up follow a failing check, from
    /health/ready, and computed at the scrape when no probe ran."""
    d0 = Daemon()
    fail = os.path.join(d0.dir, "fail")
    d = metrics_daemon(others=f'{{ name = "testkit"; config = {{ '
                              f'fail_file = "{fail}"; }}; }},')
    try:
        f = parse(scrape(d.mport)[2])  # no probe yet: the scrape computes
        expect(value(f, "vibebox_health_ready") == 1, "ready at start")
        expect(value(f, "vibebox_health_check_up", check="testkit") == 1,
               "testkit up")
        open(fail, "w").close()
        expect(d.get("/health/ready")[0] == 503, "readiness fails")
        f = parse(scrape(d.mport)[2])
        expect(value(f, "vibebox_health_ready") == 0, "not ready")
        expect(value(f, "vibebox_health_check_up", check="testkit") == 0,
               "testkit down")
        expect(value(f, "vibebox_health_check_up", check="events") == 1,
               "events up")
        os.unlink(fail)
        expect(d.get("/health/ready")[0] == 200, "ready again")
        f = parse(scrape(d.mport)[2])
        expect(value(f, "vibebox_health_ready") == 1, "ready again")
    finally:
        code = d.stop()
    expect(code == 0, f"vibeboxd exit {code}")


def test_a_taken_port_fails_the_start():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        try:
            metrics_daemon(f'listen = "127.0.0.1:{port}";').stop()
            raise AssertionError("started on a taken port")
        except RuntimeError as e:
            expect("plugins.metrics.listen" in str(e) and
                   "cannot listen on" in str(e), str(e)[-2000:])


def check_config(plugins):
    d = Daemon(plugin_dir=plugin_dir(), plugins=plugins)
    p = subprocess.run([VIBEBOXD, "-t", "-c", d.conf], capture_output=True,
                       text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


def test_public_listener_needs_a_token_file():
    rc, out = check_config('{ name = "metrics"; config = { listen = ""; }; }')
    expect(rc != 0 and "plugins.metrics.token_file" in out,
           f"-t: {rc} {out}")
    rc, out = check_config(
        '{ name = "metrics"; config = { listen = "localhost:x"; }; }')
    expect(rc != 0 and "plugins.metrics.listen" in out, f"-t: {rc} {out}")
    rc, out = check_config(
        '{ name = "metrics"; config = { listen = "127.0.0.1:9464"; }; }')
    expect(rc == 0, f"-t of a good block: {rc} {out}")


def test_public_listener_with_token():
    d0 = Daemon()
    tok = os.path.join(d0.dir, "metrics.token")
    with open(tok, "w") as f:
        f.write("pub-token")
    d = metrics_daemon(f'listen = ""; token_file = "{tok}";')
    try:
        st, _, _ = d.get("/metrics")
        expect(st == 401, f"public without token: {st}")
        st, _, _ = d.get("/metrics", token="wrong")
        expect(st == 401, f"public with a wrong token: {st}")
        st, body, r = d.get("/metrics", token="pub-token")
        expect(st == 200 and r.getheader("content-type").startswith(
            "text/plain; version=0.0.4"), f"public with the token: {st}")
        f = parse(body.decode() if isinstance(body, bytes) else body)
        expect(value(f, "vibebox_http_requests_total", method="GET",
                     route="/metrics", status="401") == 2, "the 401s")
        try:
            scrape(d.mport)
            raise AssertionError("an own listener is open too")
        except ConnectionRefusedError:
            pass
    finally:
        code = d.stop()
    expect(code == 0, f"vibeboxd exit {code}")


def ws_gauge(d):
    f = parse(scrape(d.mport)[2])
    return value(f, "vibebox_websocket_connections",
                 endpoint="/api/v1/x/testkit/ws")


def wait_for(fn, want, what, timeout=5):
    deadline = time.time() + timeout
    while True:
        got = fn()
        if got == want or time.time() > deadline:
            expect(got == want, f"{what}: {got}, expected {want}")
            return
        time.sleep(0.05)


def test_websocket_connections_follow_a_client():
    d = metrics_daemon()

    async def go():
        url = f"ws://127.0.0.1:{d.port}/api/v1/x/testkit/ws"
        hdr = {"Authorization": "Bearer alice"}
        a = await websockets.connect(url, subprotocols=["vibebox.test.v1"],
                                     extra_headers=hdr)
        b = await websockets.connect(url, subprotocols=["vibebox.test.v1"],
                                     extra_headers=hdr)
        await asyncio.to_thread(wait_for, lambda: ws_gauge(d), 2,
                                "two open")
        await a.send("ping")
        await asyncio.wait_for(a.recv(), 5)
        await a.close()
        await asyncio.to_thread(wait_for, lambda: ws_gauge(d), 1,
                                "one closed")
        await b.close()
        await asyncio.to_thread(wait_for, lambda: ws_gauge(d), 0,
                                "both closed")
        f = parse(scrape(d.mport)[2])
        msgs = "vibebox_websocket_messages_total"
        ep = "/api/v1/x/testkit/ws"
        expect(value(f, msgs, endpoint=ep, direction="in") == 1, "one in")
        expect(value(f, msgs, endpoint=ep, direction="out") >= 1, "out")
    try:
        asyncio.run(go())
    finally:
        code = d.stop()
    expect(code == 0, f"vibeboxd exit {code}")


def test_reload_checks_the_block():
    """SIGHUP with a bad listen is refused naming the key; the running
    listener keeps serving."""
    d = metrics_daemon()
    try:
        with open(d.conf) as f:
            text = f.read()
        with open(d.conf, "w") as f:
            f.write(text.replace(f'listen = "127.0.0.1:{d.mport}"',
                                 'listen = "127.0.0.1:99999"'))
        marker = "keeping the running configuration"
        d.signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while marker not in d.logtext() and time.monotonic() < deadline:
            time.sleep(0.05)
        log = d.logtext()
        expect(marker in log, "reload not refused: " + log[-2000:])
        expect("plugins.metrics.listen" in log, "the key is not named")
        expect(scrape(d.mport)[0] == 200, "the listener stopped")
    finally:
        code = d.stop()
    expect(code == 0, f"vibeboxd exit {code}")


if __name__ == "__main__":
    s = Suite()
    for t in (test_routes_are_patterns_and_counts_exact,
              test_histogram_is_cumulative, test_openmetrics_on_request,
              test_promtool_accepts_both_formats,
              test_own_listener_paths_and_methods, test_token_file,
              test_readiness_gauges, test_a_taken_port_fails_the_start,
              test_public_listener_needs_a_token_file,
              test_public_listener_with_token, test_reload_checks_the_block,
              test_websocket_connections_follow_a_client):
        s.run(t)
    s.finish()
