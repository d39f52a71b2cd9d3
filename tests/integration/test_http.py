# SPDX-License-Identifier: Apache-2.0
"""The HTTP server of vibeboxd against a real daemon: health, secure
defaults, authentication, routing, bodies, errors, request ids, logs, and
a blocking handler that must not delay /health/live."""

import http.client
import json
import os
import re
import threading
import time

from daemon import Daemon, Suite, error_of, expect

TESTKIT = '{ name = "testkit"; config = { greeting = "hi"; }; }'


def test_secure_by_default_without_auth_plugin():
    d = Daemon().start()
    try:
        st, body, _ = d.get("/api/v1/plugins", token="admin")
        expect(st == 503, f"status {st}")
        err = error_of(body)
        expect(err["code"] == "UNAVAILABLE" and err["statusCode"] == 503,
               err)
        expect("authn" in err["message"], err["message"])
        st, _, _ = d.get("/health/live")
        expect(st == 200, "live answers without plugins")
    finally:
        expect(d.stop() == 0, "exit 0")


def run_with_testkit(checks, server="", plugins=TESTKIT):
    d = Daemon(plugins=plugins, server=server).start()
    try:
        for check in checks:
            check(d)
    finally:
        code = d.stop()
    expect(code == 0, f"exit status {code}")
    return d


def test_health_endpoints():
    def check(d):
        st, body, _ = d.get("/health/live")
        expect(st == 200 and body == {"status": "ok"}, body)
        st, body, _ = d.get("/health/startup")
        expect(st == 200 and body["status"] == "started", body)
        st, body, _ = d.get("/health/ready")
        expect(st == 200 and body["status"] == "ok", body)
        names = {c["name"]: c for c in body["checks"]}
        expect("testkit" in names and "events" in names, body)
        expect(names["testkit"]["latencyMs"] == 0.005, names["testkit"])
    run_with_testkit([check])


def test_ready_fails_with_a_failing_check():
    d = Daemon()
    fail = os.path.join(d.dir, "fail")
    d.write_conf(plugins='{ name = "testkit"; config = { fail_file = "%s"; };'
                 ' }' % fail)
    d.start()
    try:
        open(fail, "w").close()
        st, body, _ = d.get("/health/ready")
        expect(st == 503 and body["status"] == "fail", body)
        bad = [c for c in body["checks"] if c["status"] == "fail"]
        expect(bad and bad[0]["detail"] == "fail file present", body)
        os.unlink(fail)
        st, _, _ = d.get("/health/ready")
        expect(st == 200, "ready again")
    finally:
        expect(d.stop() == 0, "exit 0")


def test_authentication():
    def check(d):
        st, body, r = d.get("/api/v1/plugins")
        expect(st == 401 and error_of(body)["code"] == "UNAUTHORIZED", body)
        expect(r.getheader("WWW-Authenticate") == "Bearer", "challenge")
        st, body, _ = d.get("/api/v1/plugins", token="vbx_revoked")
        expect(st == 401, f"bad key: {st}")
        st, body, _ = d.get("/api/v1/plugins", token="nobody")
        expect(st == 401, f"declined by all: {st}")
        st, body, _ = d.get("/api/v1/plugins", token="alice")
        expect(st == 403 and error_of(body)["code"] == "FORBIDDEN", body)
        st, body, _ = d.get("/api/v1/plugins", token="admin")
        expect(st == 200, body)
        p = body["data"][0]
        expect(p["name"] == "testkit" and p["version"] == "1.0.0", p)
        expect(p["provides"] == ["authn", "authz"] and p["requires"] == [],
               p)
        hooks = {h["name"]: h for h in p["hooks"]}
        expect(hooks["authenticate"]["policy"] == "FIRST", hooks)
        expect("health_check" in hooks and "authorize" in hooks, hooks)
        expect("config_reload" in p["events"], p["events"])
    run_with_testkit([check])


def test_routing_and_error_envelope():
    def check(d):
        st, body, _ = d.get("/api/v1/nothing-here")
        err = error_of(body)
        expect(st == 404 and err["code"] == "NOT_FOUND", body)
        expect(err["statusCode"] == 404, err)
        st, body, r = d.request("DELETE", "/api/v1/x/testkit/echo",
                                token="alice")
        expect(st == 405, f"status {st}")
        expect(r.getheader("Allow") == "POST, OPTIONS", r.getheader("Allow"))
        st, body, _ = d.get("/api/v1/x/testkit/items/x%20y")
        expect(st == 200 and body["id"] == "x y", body)
        st, body, _ = d.get("/api/v1/x/testkit/items/missing")
        expect(st == 404 and error_of(body)["code"] == "NOT_FOUND", body)
        st, body, _ = d.get("/api/v1/x/testkit/items/silent")
        expect(st == 500 and error_of(body)["code"] == "INTERNAL_ERROR",
               body)
    run_with_testkit([check])


def test_head_and_options():
    def check(d):
        # HEAD: GET's status and headers, Content-Length of GET's body,
        # no body.
        st, body, r = d.get("/api/v1/x/testkit/items/x%20y", token="alice")
        length = r.getheader("Content-Length")
        expect(st == 200 and int(length) > 0, (st, length))
        st, body, r = d.request("HEAD", "/api/v1/x/testkit/items/x%20y",
                                token="alice")
        expect(st == 200 and body is None, (st, body))
        expect(r.getheader("Content-Length") == length,
               (r.getheader("Content-Length"), length))
        expect(r.getheader("Content-Type") == "application/json",
               r.getheader("Content-Type"))
        st, body, r = d.request("HEAD", "/api/v1/x/testkit/items/missing",
                                token="alice")
        expect(st == 404 and body is None, (st, body))
        st, _, r = d.request("HEAD", "/health/live")
        expect(st == 200 and int(r.getheader("Content-Length")) > 0, st)
        # HEAD where only POST is: 405 like GET would be.
        st, _, r = d.request("HEAD", "/api/v1/x/testkit/echo", token="alice")
        expect(st == 405 and r.getheader("Allow") == "POST, OPTIONS",
               (st, r.getheader("Allow")))
        # OPTIONS: 204 with what the path takes; unknown paths 404.
        st, body, r = d.request("OPTIONS", "/api/v1/x/testkit/items/x")
        expect(st == 204 and body is None, (st, body))
        expect(r.getheader("Allow") == "GET, HEAD, OPTIONS",
               r.getheader("Allow"))
        st, _, r = d.request("OPTIONS", "/api/v1/x/testkit/echo")
        expect(st == 204 and r.getheader("Allow") == "POST, OPTIONS",
               r.getheader("Allow"))
        st, body, _ = d.request("OPTIONS", "/api/v1/nothing-here")
        expect(st == 404 and error_of(body)["code"] == "NOT_FOUND", body)
        # One connection: HEAD, then GET reads its own body, not a
        # leftover of the HEAD's.
        c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)
        c.request("HEAD", "/health/live")
        r = c.getresponse()
        expect(r.status == 200 and r.read() == b"", r.status)
        c.request("GET", "/health/live")
        r = c.getresponse()
        expect(r.status == 200 and json.loads(r.read())["status"] == "ok",
               r.status)
        c.close()
    run_with_testkit([check])


def test_json_bodies_and_validation():
    def check(d):
        st, body, r = d.request("POST", "/api/v1/x/testkit/echo?q=a%20b",
                                {"name": "box", "count": 3}, token="alice",
                                headers={"User-Agent": "it/1"})
        expect(st == 201, f"{st} {body}")
        expect(body == {"name": "box", "count": 3, "q": "a b",
                        "userAgent": "it/1"}, body)
        expect(r.getheader("X-Testkit") == "echo", "custom header")
        st, body, _ = d.request("POST", "/api/v1/x/testkit/echo", b"{nope",
                                token="alice")
        err = error_of(body)
        expect(st == 400 and err["code"] == "BAD_REQUEST", body)
        expect("not valid JSON" in err["message"], err["message"])
        st, body, _ = d.request("POST", "/api/v1/x/testkit/echo", b"[1,2]",
                                token="alice")
        expect(st == 400 and "JSON object" in error_of(body)["message"],
               body)
        st, body, _ = d.request("POST", "/api/v1/x/testkit/echo", b"",
                                token="alice")
        expect(st == 400, f"empty body {st}")
        st, body, _ = d.request("POST", "/api/v1/x/testkit/echo",
                                {"name": 7, "count": 1000}, token="alice")
        err = error_of(body)
        expect(st == 400 and err["code"] == "VALIDATION_ERROR", body)
        expect(set(err["fields"]) == {"name", "count"}, err)
        st, body, _ = d.request("POST", "/api/v1/x/testkit/echo",
                                {"name": "x" * 5000}, token="alice")
        expect(st == 413 and error_of(body)["code"] == "PAYLOAD_TOO_LARGE",
               f"{st} {body}")
        st, _, _ = d.request("POST", "/api/v1/x/testkit/echo", {"name": "ok"},
                             token="alice")
        expect(st == 201, "the connection pool still works after a 413")
    run_with_testkit([check], server='max_body = "4KiB";')


def test_request_ids():
    def check(d):
        _, _, r = d.get("/health/live")
        rid = r.getheader("X-Request-Id")
        expect(re.fullmatch(r"[0-9a-f]{32}", rid or ""), rid)
        _, _, r2 = d.get("/health/live")
        expect(r2.getheader("X-Request-Id") != rid, "ids differ")
        _, _, r = d.get("/health/ready", headers={"X-Request-Id": "abc-123"})
        expect(r.getheader("X-Request-Id") == "abc-123", "echoed")
        _, _, r = d.get("/health/live", headers={"X-Request-Id": "a b\x01"})
        expect(r.getheader("X-Request-Id") != "a b\x01", "bad id replaced")
    run_with_testkit([check])


def test_json_log_lines_and_access_log():
    d = run_with_testkit([lambda d: d.get("/health/ready",
                                          headers={"X-Request-Id": "rq-1"})])
    lines = d.loglines()
    expect(lines, "JSON log lines")
    for line in lines:
        expect({"time", "level", "plugin", "msg"} <= set(line), line)
        expect(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z",
                            line["time"]), line["time"])
    access = [x for x in lines if x.get("msg") == "access"
              and x.get("request") == "rq-1"]
    expect(len(access) == 1, access)
    a = access[0]
    expect(a["method"] == "GET" and a["path"] == "/health/ready", a)
    expect(a["status"] == 200 and a["client"] == "127.0.0.1", a)
    expect(any(x["plugin"] == "testkit" for x in lines), "plugin's own log")


def test_text_log_format_for_people():
    d = Daemon(log='level = "info"; format = "text";').start()
    d.get("/health/live", headers={"X-Request-Id": "rq-text"})
    expect(d.stop() == 0, "exit 0")
    text = d.logtext()
    expect(re.search(r"^\d{4}-\d\d-\d\dT[\d:.]+Z info core \[rq-text\] "
                     r"GET /health/live 200 15B \d+\.\d{3}ms 127\.0\.0\.1$",
                     text, re.M), text)
    expect(re.search(r"Z info core listening|Z info core vibeboxd", text),
           text)
    expect(not d.loglines(), "no JSON lines in text format")


def test_blocking_handlers_do_not_delay_live():
    def check(d):
        results = []

        def slow():
            results.append(d.get("/api/v1/x/testkit/slow?ms=2500",
                                 token="alice")[0])
        threads = [threading.Thread(target=slow) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.3)  # every worker is now asleep in a handler
        worst = 0.0
        for _ in range(20):
            t0 = time.monotonic()
            st, _, _ = d.get("/health/live", timeout=2)
            worst = max(worst, time.monotonic() - t0)
            expect(st == 200, "live")
        expect(worst < 0.25, f"/health/live took {worst:.3f}s")
        for t in threads:
            t.join()
        expect(results == [200] * 4, results)
    run_with_testkit([check])


if __name__ == "__main__":
    s = Suite()
    for name, fn in list(globals().items()):
        if name.startswith("test_"):
            s.run(fn)
    s.finish()
