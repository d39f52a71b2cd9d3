# SPDX-License-Identifier: Apache-2.0
"""How vibeboxd frames requests, over raw sockets against a real daemon:
request smuggling shapes (Content-Length with Transfer-Encoding, two
Content-Lengths, chunked bodies), headers that must be single, bad
Content-Length values, request targets and headers past their limits
(414, 431), requests pipelined after a body, bodies whose JSON repeats
a key, control characters in the log, and the raw-head checks made before
libwebsockets parses a head (encoded slashes and dot segments, encoded
control characters, heads it would drop without an answer). Each refused request gets exactly one
answer, in the error envelope, and then the connection is closed."""

import json
import socket
import time

from daemon import Daemon, Suite, expect

TESTKIT = '{ name = "testkit"; config = { greeting = "hi"; }; }'
ECHO = b"POST /api/v1/x/testkit/echo HTTP/1.1\r\nHost: t\r\n" \
       b"Authorization: Bearer alice\r\nContent-Type: application/json\r\n"
SMUGGLED = b"GET /api/v1/x/testkit/items/smuggled HTTP/1.1\r\nHost: t\r\n" \
           b"Authorization: Bearer alice\r\n\r\n"


def exchange(d, data, wait=3.0):
    """Send data and read until the server closes or goes quiet for
    `wait` seconds. Returns (bytes read, closed by the server)."""
    s = socket.create_connection(("127.0.0.1", d.port), timeout=wait)
    try:
        s.sendall(data)
        out = b""
        while True:
            try:
                b = s.recv(65536)
            except socket.timeout:
                return out, False
            except ConnectionResetError:
                return out, True
            if not b:
                return out, True
            out += b
    finally:
        s.close()


def responses(raw):
    """Split what came back into (status, headers, body) per response."""
    out = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        out.append((status, headers, rest[:n]))
        raw = rest[n:]
    return out


def refused(d, data, status, words):
    """data gets one answer, `status` in the error envelope with `words`
    in its message, and the connection is closed after it."""
    raw, closed = exchange(d, data)
    got = responses(raw)
    expect(len(got) == 1, f"one response expected, got {raw!r}")
    st, headers, body = got[0]
    expect(st == status, f"status {st}, want {status}: {raw!r}")
    err = json.loads(body)["error"]
    expect(err["statusCode"] == status and words in err["message"], err)
    expect(headers.get("connection") == "close", headers)
    expect(closed, f"connection left open after {status}")
    return err


def with_daemon(checks, log='level = "info";'):
    d = Daemon(plugins=TESTKIT, log=log).start()
    try:
        for check in checks:
            check(d)
    finally:
        code = d.stop()
    if code != 0:
        with open(d.logpath, errors="replace") as f:
            print("# " + "\n# ".join(f.read().splitlines()[-60:]))
    expect(code == 0, f"exit status {code}")
    return d


def test_content_length_with_transfer_encoding_smuggles_nothing():
    def check(d):
        refused(d, ECHO + b"Content-Length: 5\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED,
                400, "both Content-Length and Transfer-Encoding")
        # the other order of the two headers, and a GET
        refused(d, b"GET /health/live HTTP/1.1\r\nHost: t\r\n"
                b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
                b"0\r\n\r\n" + SMUGGLED,
                400, "both Content-Length and Transfer-Encoding")
    d = with_daemon([check])
    paths = [l.get("path") for l in d.loglines() if l.get("msg") == "access"]
    expect(not any("smuggled" in (p or "") for p in paths), paths)


def test_two_content_lengths():
    def check(d):
        refused(d, ECHO + b"Content-Length: 2\r\nContent-Length: 16\r\n\r\n"
                b"{}" + SMUGGLED, 400, "more than one Content-Length")
        # the same value twice is still two headers
        refused(d, ECHO + b"Content-Length: 2\r\nContent-Length: 2\r\n\r\n"
                b"{}", 400, "more than one Content-Length")
    with_daemon([check])


def test_bad_content_length_values():
    def check(d):
        for value in (b"-1", b"abc", b"2, 2", b"+2", b"0x2",
                      b"99999999999999999999"):
            refused(d, ECHO + b"Content-Length: " + value + b"\r\n\r\n{}",
                    400, "Content-Length must be one decimal number")
    with_daemon([check])


def test_chunked_bodies_are_refused_with_411():
    def check(d):
        body = b'{"name":"abc"}'
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        refused(d, ECHO + b"Transfer-Encoding: chunked\r\n\r\n" + chunked,
                411, "send Content-Length")
        refused(d, b"GET /health/live HTTP/1.1\r\nHost: t\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED,
                411, "send Content-Length")
        refused(d, ECHO + b"Transfer-Encoding: chunked, gzip\r\n\r\n", 400,
                "must end in chunked")
        refused(d, ECHO + b"Transfer-Encoding : chunked\r\n\r\n", 400,
                "whitespace before its colon")
        refused(d, ECHO + b"Content-Length : 2\r\n\r\n{}", 400,
                "whitespace before its colon")
        # the same body with Content-Length works
        raw, _ = exchange(d, ECHO + b"Content-Length: %d\r\n"
                          b"Connection: close\r\n\r\n%s" % (len(body), body))
        st, _, got = responses(raw)[0]
        expect(st == 201 and json.loads(got)["name"] == "abc", raw)
    with_daemon([check])


def test_single_headers_sent_twice():
    def check(d):
        refused(d, b"GET /health/live HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
                400, "more than one Host header")
        refused(d, b"GET /api/v1/x/testkit/items/1 HTTP/1.1\r\nHost: t\r\n"
                b"Authorization: Bearer alice\r\n"
                b"Authorization: Bearer admin\r\n\r\n",
                400, "more than one Authorization header")
        refused(d, ECHO + b"Content-Type: text/plain\r\n"
                b"Content-Length: 2\r\n\r\n{}",
                400, "more than one Content-Type header")
    with_daemon([check])


def test_body_method_without_length_closes_after_answer():
    def check(d):
        # no Content-Length: no body; what follows is not read as one
        raw, closed = exchange(d, ECHO + b"\r\n" + SMUGGLED)
        got = responses(raw)
        expect(len(got) == 1 and got[0][0] == 400, raw)
        expect(got[0][1].get("connection") == "close", got[0][1])
        expect(closed, "connection left open")
    with_daemon([check])


def test_pipelining_after_a_body_cannot_stall_the_server():
    # libwebsockets 4.1 reports the body's end of a POST pipelined behind a
    # GET without end: one packet used to pin the service thread forever
    def check(d):
        body = b'{"name":"p"}'
        post = ECHO + b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        one = b"GET /health/live HTTP/1.1\r\nHost: t\r\n\r\n"
        raw, closed = exchange(d, one + post + one)
        got = responses(raw)
        expect(len(got) == 1 and got[0][0] == 400 and
               "together with another request" in got[0][2].decode(), raw)
        expect(closed, "connection left open")
        # a body and the request behind it in one packet, without a GET
        raw, closed = exchange(d, post + one)
        expect([g[0] for g in responses(raw)] == [400] and closed, raw)
        t0 = time.time()
        st, _, _ = d.get("/health/live", timeout=3)
        expect(st == 200 and time.time() - t0 < 1, "server stalled")
        # pipelined GETs are still answered in order
        raw, _ = exchange(d, one * 3, wait=1.0)
        expect([g[0] for g in responses(raw)] == [200, 200, 200], raw)
    with_daemon([check])


def test_keep_alive_still_serves_several_requests():
    def check(d):
        one = b"GET /health/live HTTP/1.1\r\nHost: t\r\n\r\n"
        body = b'{"name":"k"}'
        two = ECHO + b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        s = socket.create_connection(("127.0.0.1", d.port), timeout=3)
        try:
            for req, want in ((one, 200), (two, 201), (one, 200)):
                s.sendall(req)
                raw = s.recv(65536)
                got = responses(raw)
                expect(len(got) == 1 and got[0][0] == want, raw)
                expect("connection" not in got[0][1], got[0][1])
        finally:
            s.close()
    with_daemon([check])


def test_oversized_heads_are_answered():
    def check(d):
        refused(d, b"GET /" + b"a" * 8192 + b" HTTP/1.1\r\nHost: t\r\n\r\n",
                414, "request target (path and query) is longer than 8190")
        refused(d, b"GET /health/live?q=" + b"b" * 9000 +
                b" HTTP/1.1\r\nHost: t\r\n\r\n", 414, "request target")
        refused(d, b"GET /health/live?" + b"&".join(b"a%d=%s" % (i, b"c" * 200)
                                                   for i in range(50)) +
                b" HTTP/1.1\r\nHost: t\r\n\r\n", 414, "request target")
        refused(d, b"GET /health/live HTTP/1.1\r\nHost: t\r\nUser-Agent: " +
                b"u" * 65536 + b"\r\n\r\n", 431,
                "request header user-agent is longer than 8190 bytes")
        refused(d, b"GET /api/v1/x/testkit/items/1 HTTP/1.1\r\nHost: t\r\n"
                b"Authorization: Bearer " + b"t" * 10000 + b"\r\n\r\n", 431,
                "request header authorization is longer")
        # just under the limits is served
        raw, _ = exchange(d, b"GET /health/live?q=" + b"b" * 8000 +
                          b" HTTP/1.1\r\nHost: t\r\nUser-Agent: " +
                          b"u" * 8000 + b"\r\nConnection: close\r\n\r\n")
        expect(responses(raw)[0][0] == 200, raw)
    with_daemon([check])


def test_duplicate_json_keys_are_a_validation_error():
    def check(d):
        st, body, _ = d.request("POST", "/api/v1/x/testkit/echo",
                                body='{"name":"ok","name":"' + "x" * 40 +
                                '"}', token="alice",
                                headers={"Content-Type": "application/json"})
        expect(st == 400, f"status {st}: {body}")
        err = body["error"]
        expect(err["code"] == "VALIDATION_ERROR", err)
        expect("more than once" in err["fields"]["name"], err)
        st, body, _ = d.request("POST", "/api/v1/x/testkit/echo",
                                body='{"name":"ok","x":{"a":1,"a":2}}',
                                token="alice",
                                headers={"Content-Type": "application/json"})
        expect(st == 400 and "x.a" in body["error"]["fields"], body)
        st, body, _ = d.request("POST", "/api/v1/x/testkit/echo",
                                body={"name": "ok"}, token="alice")
        expect(st == 201, f"status {st}: {body}")
    with_daemon([check])


def test_control_characters_stay_out_of_the_text_log():
    # a control character in the target, raw or encoded (an escape
    # sequence for the terminal of whoever reads the log, a tab, a line
    # break to forge a line) is refused before libwebsockets decodes it;
    # the warning names the target as sent (up to the fault), escaped
    def check(d):
        for target in (b"/health/live%1b[2K%09FORGED",
                       b"/health/live\x1b[2K\x09RAW"):
            raw, _ = exchange(d, b"GET " + target + b" HTTP/1.1\r\n"
                              b"Host: t\r\nConnection: close\r\n\r\n")
            expect(responses(raw)[0][0] == 400, raw)
    d = with_daemon([check], log='level = "info"; format = "text";')
    text = d.logtext()
    expect("\x1b" not in text and "\t" not in text, repr(text))
    # the target as far as the scanner read it: up to the fault
    expect("target as sent: /health/live%1b\n" in text, text)
    expect("target as sent: /health/live\\x1b\n" in text, text)

USERS = b"GET /api/v1/projects/..%2f..%2fv1%2fusers HTTP/1.1\r\nHost: t\r\n" \
        b"Authorization: Bearer alice\r\n\r\n"


def test_encoded_slashes_and_dot_segments_are_refused():
    # libwebsockets decodes %2f and resolves ".." before any callback: the
    # raw target is checked first, so none of these reaches a route
    def check(d):
        err = refused(d, USERS, 400, "encoded slash")
        expect(err["code"] == "BAD_REQUEST", err)
        for target in (b"/api/v1/projects/%2e%2e/%2e%2e/v1/users",
                       b"/api/v1/projects/%2E%2e/x", b"/api/v1/./users",
                       b"/api/v1/x/../users", b"/health/live/.",
                       b"/api/v1/projects/.%2E?q=1"):
            refused(d, b"GET " + target + b" HTTP/1.1\r\nHost: t\r\n\r\n",
                    400, "'.' or '..' segment")
        for target in (b"/api/v1/projects%2Fx", b"/api/v1/a%5cb",
                       b"/api/v1/a%5Cb"):
            refused(d, b"GET " + target + b" HTTP/1.1\r\nHost: t\r\n\r\n",
                    400, "encoded slash or backslash")
        # in the query an encoded slash is data; "..." is a name
        raw, _ = exchange(d, b"GET /health/live?next=%2Fa%2F..%2Fb HTTP/1.1"
                          b"\r\nHost: t\r\nConnection: close\r\n\r\n")
        expect(responses(raw)[0][0] == 200, raw)
        raw, _ = exchange(d, b"GET /api/v1/x/testkit/items/... HTTP/1.1\r\n"
                          b"Host: t\r\nAuthorization: Bearer alice\r\n"
                          b"Connection: close\r\n\r\n")
        expect(responses(raw)[0][0] != 400, raw)
    d = with_daemon([check])
    paths = [l.get("path") for l in d.loglines() if l.get("msg") == "access"]
    expect(not any("users" in (p or "") for p in paths), paths)


def test_control_characters_in_the_target_are_refused():
    def check(d):
        for target in (b"/health/live%00", b"/health/live%0a", b"/a%0D%0Ab",
                       b"/health/live?q=%00", b"/health/%7f",
                       b"/health/live\x1b[2K", b"/health/\tlive"):
            refused(d, b"GET " + target + b" HTTP/1.1\r\nHost: t\r\n\r\n",
                    400, "control character")
    with_daemon([check])


def test_heads_libwebsockets_would_drop_are_answered():
    def check(d):
        refused(d, b"GET /health/live HTTP/1.1\r\nHost: t\r\nX-Foo: " +
                b"f" * 65536 + b"\r\n\r\n", 431, "request header x-foo")
        refused(d, b"GET /health/live HTTP/1.1\r\nHost: t\r\n" +
                b"".join(b"X-H%d: v\r\n" % i for i in range(1000)) +
                b"\r\n", 431, "more than 64 header lines")
        refused(d, b"GET /health/live HTTP/1.1\r\nHost: t\r\n" +
                b"".join(b"Accept: v\r\n" for i in range(95)) +
                b"\r\n", 431, "more than 64 header lines")
        refused(d, b"GET /health/live?" +
                b"&".join(b"p%d=1" % i for i in range(150)) +
                b" HTTP/1.1\r\nHost: t\r\n\r\n", 414,
                "more than 90 query parameters and header lines")
        refused(d, b"GET /health/live HTTP/1.1\r\nHost: t\r\n" +
                b"".join(b"X-%d: %s\r\n" % (i, b"a" * 4000)
                         for i in range(9)) + b"\r\n", 431,
                "request head is larger than 31744 bytes")
        # at the limits is served: 89 parameters and one header line
        raw, _ = exchange(d, b"GET /health/live?" +
                          b"&".join(b"p%d=1" % i for i in range(89)) +
                          b" HTTP/1.1\r\nConnection: close\r\n\r\n")
        expect(responses(raw)[0][0] == 200, raw)
    with_daemon([check])


def test_http2_upgrade_is_refused():
    # libwebsockets 4.1 switches to HTTP/2 on "Upgrade: h2c"; its heads
    # would bypass every raw check above
    def check(d):
        h2c = b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n" \
              b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
        refused(d, b"GET /health/live HTTP/1.1\r\nHost: t\r\n" + h2c,
                400, "Upgrade is accepted to websocket only")
    with_daemon([check])


def test_pipelined_and_kept_alive_requests_pass_the_raw_checks():
    def check(d):
        one = b"GET /health/live HTTP/1.1\r\nHost: t\r\n\r\n"
        body = b'{"name":"k"}'
        two = ECHO + b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        s = socket.create_connection(("127.0.0.1", d.port), timeout=3)
        try:
            # a head split over several writes, a body holding "%2f"
            for part in (b"GET /hea", b"lth/li", b"ve HTTP/1.1\r\nHo",
                         b"st: t\r\n", b"\r\n"):
                s.sendall(part)
                time.sleep(0.05)
            expect(responses(s.recv(65536))[0][0] == 200, "split head")
            body = b'{"name":"..%2f.."}'
            s.sendall(ECHO + b"Content-Length: %d\r\n\r\n%s" %
                      (len(body), body))
            expect(responses(s.recv(65536))[0][0] == 201, "body")
            s.sendall(one + one)
            raw = b""
            while raw.count(b"HTTP/1.1 200") < 2:
                raw += s.recv(65536)
            expect([g[0] for g in responses(raw)] == [200, 200], raw)
            # after those, the connection is still watched
            s.sendall(USERS)
            got = responses(s.recv(65536))
            expect(got[0][0] == 400 and s.recv(100) == b"", got)
        finally:
            s.close()
    with_daemon([check])


if __name__ == "__main__":
    s = Suite()
    s.run(test_content_length_with_transfer_encoding_smuggles_nothing)
    s.run(test_two_content_lengths)
    s.run(test_bad_content_length_values)
    s.run(test_chunked_bodies_are_refused_with_411)
    s.run(test_single_headers_sent_twice)
    s.run(test_body_method_without_length_closes_after_answer)
    s.run(test_pipelining_after_a_body_cannot_stall_the_server)
    s.run(test_keep_alive_still_serves_several_requests)
    s.run(test_oversized_heads_are_answered)
    s.run(test_duplicate_json_keys_are_a_validation_error)
    s.run(test_control_characters_stay_out_of_the_text_log)
    s.run(test_encoded_slashes_and_dot_segments_are_refused)
    s.run(test_control_characters_in_the_target_are_refused)
    s.run(test_heads_libwebsockets_would_drop_are_answered)
    s.run(test_http2_upgrade_is_refused)
    s.run(test_pipelined_and_kept_alive_requests_pass_the_raw_checks)
    s.finish()
