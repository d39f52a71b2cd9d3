# SPDX-License-Identifier: Apache-2.0
"""Behind a load balancer (issue 11): server.trusted_proxies, the
X-Forwarded-For header and the PROXY protocol (versions 1 and 2), against
a real vibeboxd on loopback.

An untrusted peer is 127.0.0.2 (loopback too) to a daemon that trusts
127.0.0.1, or 127.0.0.1 to a daemon that trusts 10.9.9.0/24 only. Debian's
nginx (http proxy, X-Forwarded-For) runs in front for one check;
nginx-light has no stream module, so the PROXY protocol is written by
this script as a balancer would send it. Checked: a spoofed X-Forwarded-For from an untrusted peer
is ignored; from a trusted one the rightmost untrusted address is the
client, in the access log (with the peer next to it) and, with the
platform (PostgreSQL and Docker, fixture.py), in an audit row and in the
per-address login limit; a reload applies a changed list; two
X-Forwarded-For lines are refused; on a proxy_protocol listener the
header's client is used, a connection without a header or with a broken
one is closed unanswered, and a header from an untrusted peer is refused.
"""

import http.client
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

from daemon import Daemon, Suite, expect, free_port
from fixture import PASSWORD, Platform, skip_unless_ready

CHAIN = "1.2.3.4, 10.9.9.9, 127.0.0.1"


class ProxyDaemon(Daemon):
    """A daemon with a plain listener and a proxy_protocol one."""

    def __init__(self, trusted, **kw):
        self.trusted = trusted
        self.pport = None
        super().__init__(**kw)

    def write_conf(self, plugins="", server="", log='level = "info";',
                   extra=""):
        if self.pport is None:
            self.pport = free_port()
        lst = ", ".join(f'"{t}"' for t in self.trusted)
        with open(self.conf, "w") as f:
            f.write(f"""
server: {{ listen = [ "127.0.0.1:{self.port}",
                      "127.0.0.1:{self.pport} proxy_protocol" ];
          workers = 2; trusted_proxies = [ {lst} ]; {server} }};
log: {{ {log} }};
plugin_dir = "{self.plugin_dir}";
state_dir = "{self.dir}";
{extra}
plugins = ( {plugins} );
""")


def wait_for(fn, what, timeout=10):
    end = time.monotonic() + timeout
    while True:
        got = fn()
        if got or time.monotonic() > end:
            expect(got, f"timed out waiting for {what}")
            return got
        time.sleep(0.05)


def access_line(d, rid):
    """The access-log line of the request with X-Request-Id rid."""
    def find():
        for line in d.loglines():
            if line.get("msg") == "access" and line.get("request") == rid:
                return line
        return None
    return wait_for(find, f"the access line of {rid}")


N = [0]


def rid():
    N[0] += 1
    return f"proxytest{N[0]:06d}"


def live(d, xff=None, conn=None):
    """GET /health/live with X-Forwarded-For xff; the access line."""
    r = rid()
    h = {"X-Request-Id": r}
    if xff is not None:
        h["X-Forwarded-For"] = xff
    if conn:
        conn.request("GET", "/health/live", headers=h)
        resp = conn.getresponse()
        resp.read()
        st = resp.status
    else:
        st = d.get("/health/live", headers=h)[0]
    expect(st == 200, f"/health/live: {st}")
    return access_line(d, r)


def raw(port, data, pieces=1, source=None):
    """Send data (in pieces, each its own segment) and read to the end."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10,
                                 source_address=(source, 0) if source
                                 else None)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    step = max(1, len(data) // pieces)
    try:
        try:
            for i in range(0, len(data), step):
                s.sendall(data[i:i + step])
                if pieces > 1:
                    time.sleep(0.05)  # separate reads on the daemon's side
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the daemon closed first
        out = b""
        while True:
            try:
                b = s.recv(65536)
            except ConnectionResetError:
                break
            if not b:
                break
            out += b
        return out
    finally:
        s.close()


def get_head(r, xff=None):
    h = f"GET /health/live HTTP/1.1\r\nHost: t\r\nX-Request-Id: {r}\r\n"
    if xff:
        h += f"X-Forwarded-For: {xff}\r\n"
    return (h + "Connection: close\r\n\r\n").encode()


V2SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2(cmd, fam, body):
    return V2SIG + bytes([0x20 | cmd, fam]) + struct.pack(">H", len(body)) \
        + body


# ---- X-Forwarded-For, core only ----

UNTRUSTED = None
TRUSTED = None


def test_xff_from_an_untrusted_peer_is_ignored():
    d = UNTRUSTED
    for spoof in ("1.2.3.4", CHAIN, "6.6.6.6, 10.9.9.9"):
        line = live(d, spoof)
        expect(line["client"] == "127.0.0.1" and "peer" not in line,
               f"spoofed {spoof!r}: {line}")


def test_xff_from_a_trusted_peer_names_the_client():
    d = TRUSTED
    for xff, client in ((CHAIN, "1.2.3.4"),
                        ("6.6.6.6, 5.5.5.5, 127.0.0.1", "5.5.5.5"),
                        ("garbage, 5.5.5.6", "5.5.5.6"),
                        ("2001:db8::7", "2001:db8::7"),
                        ("10.9.9.1, 127.0.0.1", "10.9.9.1")):
        line = live(d, xff)
        expect(line["client"] == client and line["peer"] == "127.0.0.1",
               f"{xff!r}: {line}")
    # garbage on the trusted side, or no header: the peer
    for xff in ("1.2.3.4, nonsense", "1.2.3.4:80", "", None):
        line = live(d, xff)
        expect(line["client"] == "127.0.0.1" and "peer" not in line,
               f"{xff!r}: {line}")


def test_two_xff_lines_are_refused():
    for d in (TRUSTED, UNTRUSTED):
        r = rid()
        head = (f"GET /health/live HTTP/1.1\r\nHost: t\r\nX-Request-Id: {r}"
                "\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-For: 5.6.7.8"
                "\r\n\r\n").encode()
        out = raw(d.port, head)
        expect(out.startswith(b"HTTP/1.1 400 ") and
               b"more than one X-Forwarded-For" in out, f"answer: {out!r}")


def test_a_reload_applies_a_changed_list():
    d = Daemon()
    d.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)
        line = live(d, CHAIN, conn)
        expect(line["client"] == "127.0.0.1", f"before: {line}")
        d.write_conf(server='trusted_proxies = [ "127.0.0.1/32", '
                            '"10.9.9.0/24" ];')
        d.signal(signal.SIGHUP)
        wait_for(lambda: "configuration generation 2 is active"
                 in d.logtext(), "the reload")
        # the same keep-alive connection, and a new one
        line = live(d, CHAIN, conn)
        expect(line["client"] == "1.2.3.4", f"after, same socket: {line}")
        line = live(d, CHAIN)
        expect(line["client"] == "1.2.3.4", f"after, new socket: {line}")
        d.write_conf()
        d.signal(signal.SIGHUP)
        wait_for(lambda: "configuration generation 3 is active"
                 in d.logtext(), "the second reload")
        line = live(d, CHAIN, conn)
        expect(line["client"] == "127.0.0.1", f"emptied again: {line}")
        conn.close()
    finally:
        d.stop()


def test_an_upgrade_gets_the_same_client():
    # No plugin serves /api/v1/events here without authentication: the
    # refused upgrade's access line still names the client.
    for d, xff, client in ((TRUSTED, CHAIN, "1.2.3.4"),
                           (UNTRUSTED, "6.6.6.6", "127.0.0.1")):
        r = rid()
        head = ("GET /api/v1/events HTTP/1.1\r\nHost: t\r\n"
                f"X-Request-Id: {r}\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                "Sec-WebSocket-Protocol: vibebox.events.v1\r\n"
                f"X-Forwarded-For: {xff}\r\n\r\n").encode()
        raw(d.port, head)

        def find():
            for line in d.loglines():
                if line.get("msg") == "access" and \
                        line.get("path") == "/api/v1/events" and \
                        line.get("client") == client:
                    return line
            return None
        wait_for(find, f"an access line of the upgrade with {client}")


def test_a_client_of_its_own_address_is_not_trusted():
    """127.0.0.2 is loopback too: a peer outside trusted_proxies."""
    r = rid()
    st = TRUSTED.get("/health/live", source="127.0.0.2",
                     headers={"X-Request-Id": r, "X-Forwarded-For": CHAIN})[0]
    expect(st == 200, f"status {st}")
    line = access_line(TRUSTED, r)
    expect(line["client"] == "127.0.0.2" and "peer" not in line,
           f"spoofed from 127.0.0.2: {line}")


def nginx_conf(dir, port, upstream):
    return f"""
daemon off; user root; pid {dir}/nginx.pid; error_log {dir}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fcgi; uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://127.0.0.1:{upstream};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }}
  }}
}}
"""


def test_behind_nginx():
    """Debian's nginx in front, as docs/admin-guide.md shows it: the
    client nginx saw (127.0.0.2) is the client, whatever it claimed."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    expect(os.path.exists(nginx), "no nginx (nginx-light)")
    dir = tempfile.mkdtemp(prefix="vbx-nginx-")
    port = free_port()
    with open(f"{dir}/nginx.conf", "w") as f:
        f.write(nginx_conf(dir, port, TRUSTED.port))
    proc = subprocess.Popen([nginx, "-p", dir, "-c", f"{dir}/nginx.conf"],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        def up():
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                return True
            except OSError:
                return proc.poll() is not None
        wait_for(up, "nginx to listen")
        expect(proc.poll() is None, "nginx exited: " +
               open(f"{dir}/error.log").read())
        for claimed in (None, "6.6.6.6", "6.6.6.6, 10.9.9.9"):
            r = rid()
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                           source_address=("127.0.0.2", 0))
            h = {"X-Request-Id": r}
            if claimed:
                h["X-Forwarded-For"] = claimed
            c.request("GET", "/health/live", headers=h)
            resp = c.getresponse()
            resp.read()
            c.close()
            expect(resp.status == 200, f"through nginx: {resp.status}")
            line = access_line(TRUSTED, r)
            expect(line["client"] == "127.0.0.2" and
                   line["peer"] == "127.0.0.1", f"{claimed!r}: {line}")
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(dir, ignore_errors=True)


# ---- the PROXY protocol ----

def test_proxy_v1_names_the_client():
    d = TRUSTED
    r = rid()
    hdr = f"PROXY TCP4 203.0.113.7 127.0.0.1 5555 {d.pport}\r\n".encode()
    for pieces in (1, 5):
        r = rid()
        out = raw(d.pport, hdr + get_head(r), pieces)
        expect(out.startswith(b"HTTP/1.1 200 "), f"answer: {out!r}")
        line = access_line(d, r)
        expect(line["client"] == "203.0.113.7" and
               line["peer"] == "127.0.0.1", f"{pieces} pieces: {line}")
    r = rid()
    out = raw(d.pport, b"PROXY TCP6 2001:db8::9 ::1 1 2\r\n" + get_head(r))
    expect(out.startswith(b"HTTP/1.1 200 "), f"answer: {out!r}")
    expect(access_line(d, r)["client"] == "2001:db8::9", "TCP6")
    # UNKNOWN: the peer is the client
    r = rid()
    out = raw(d.pport, b"PROXY UNKNOWN\r\n" + get_head(r))
    expect(out.startswith(b"HTTP/1.1 200 "), f"answer: {out!r}")
    expect(access_line(d, r)["client"] == "127.0.0.1", "UNKNOWN")


def test_proxy_v2_names_the_client():
    d = TRUSTED
    body = socket.inet_aton("198.51.100.20") + socket.inet_aton("127.0.0.1") \
        + struct.pack(">HH", 40000, d.pport)
    tlv = b"\x04\x00\x03abc"  # a NOOP TLV, skipped
    for pieces in (1, 7):
        r = rid()
        out = raw(d.pport, v2(1, 0x11, body + tlv) + get_head(r), pieces)
        expect(out.startswith(b"HTTP/1.1 200 "), f"answer: {out!r}")
        line = access_line(d, r)
        expect(line["client"] == "198.51.100.20" and
               line["peer"] == "127.0.0.1", f"{pieces} pieces: {line}")
    body6 = socket.inet_pton(socket.AF_INET6, "2001:db8::20") + \
        socket.inet_pton(socket.AF_INET6, "::1") + struct.pack(">HH", 1, 2)
    r = rid()
    out = raw(d.pport, v2(1, 0x21, body6) + get_head(r))
    expect(access_line(d, r)["client"] == "2001:db8::20", f"v6: {out!r}")
    # LOCAL (a balancer's health check): the peer is the client
    r = rid()
    out = raw(d.pport, v2(0, 0x00, b"") + get_head(r))
    expect(out.startswith(b"HTTP/1.1 200 "), f"LOCAL: {out!r}")
    expect(access_line(d, r)["client"] == "127.0.0.1", "LOCAL")


def test_proxy_then_xff():
    """The header's client is the peer X-Forwarded-For is judged by."""
    d = TRUSTED
    r = rid()
    out = raw(d.pport, b"PROXY TCP4 10.9.9.5 127.0.0.1 1 2\r\n" +
              get_head(r, "1.2.3.4"))
    line = access_line(d, r)
    expect(line["client"] == "1.2.3.4" and line["peer"] == "127.0.0.1",
           f"trusted proxied peer: {line} {out!r}")
    r = rid()
    raw(d.pport, b"PROXY TCP4 198.51.100.1 127.0.0.1 1 2\r\n" +
        get_head(r, "1.2.3.4"))
    line = access_line(d, r)
    expect(line["client"] == "198.51.100.1", f"untrusted: {line}")


def test_proxy_listener_closes_without_a_valid_header():
    d = TRUSTED
    for what, data in (
            ("no header", get_head(rid())),
            ("a v1 line too long", b"PROXY UNKNOWN " + b"x" * 120 + b"\r\n"
             + get_head(rid())),
            ("a bad address", b"PROXY TCP4 1.2.3 127.0.0.1 1 2\r\n" +
             get_head(rid())),
            ("a v2 length past the limit", V2SIG + b"\x21\x11\xff\xff" +
             b"\x00" * 100),
            ("a v2 UDP header", v2(1, 0x12, b"\x00" * 12) +
             get_head(rid()))):
        before = d.logtext().count("proxy_protocol listener closed")
        out = raw(d.pport, data)
        expect(out == b"", f"{what}: answered {out!r}")
        wait_for(lambda: d.logtext().count("proxy_protocol listener "
                                           "closed") > before,
                 f"the log line of {what}")
    # the daemon serves on afterwards
    r = rid()
    out = raw(d.pport, b"PROXY UNKNOWN\r\n" + get_head(r))
    expect(out.startswith(b"HTTP/1.1 200 "), f"afterwards: {out!r}")


def test_proxy_header_from_an_untrusted_peer_is_refused():
    hdr = b"PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n"
    # from 127.0.0.2 to a daemon that trusts 127.0.0.1 only
    out = raw(TRUSTED.pport, hdr + get_head(rid()), source="127.0.0.2")
    expect(out == b"", f"answered 127.0.0.2: {out!r}")
    d = UNTRUSTED
    out = raw(d.pport, hdr + get_head(rid()))
    expect(out == b"", f"answered {out!r}")
    wait_for(lambda: "is not in server.trusted_proxies" in d.logtext(),
             "the refusal in the log")
    # the plain listener of the same daemon still serves
    expect(d.get("/health/live")[0] == 200, "the plain listener")


def test_a_proxy_listener_needs_trusted_proxies():
    d = ProxyDaemon([])
    d.start(wait=False)
    code = d.proc.wait(10)
    d.stop()
    expect(code != 0 and "proxy_protocol listener, which only takes "
           "connections from server.trusted_proxies" in d.logtext(),
           f"exit {code}: {d.logtext()}")


# ---- with the platform: audit rows and the login limit ----

def with_platform(s):
    P = Platform()
    with P:
        d = P.start(auth='login_limit = "2/15m"; register_limit = '
                    '"1000/1m";', wait=False)
        with open(d.conf) as f:
            text = f.read()
        with open(d.conf, "w") as f:
            f.write(text.replace(
                "workers = 2;",
                'workers = 2; trusted_proxies = [ "127.0.0.1/32" ];', 1))
        d.start()
        try:
            def audited_client():
                tok = P.user(d, "admin@proxy.test")
                st, proj, _ = d.request(
                    "POST", "/api/v1/projects", {"name": "Behind"},
                    token=tok, headers={"X-Forwarded-For":
                                        "198.51.100.23, 127.0.0.1"})
                expect(st == 201, f"project: {st} {proj}")
                st, env, _ = d.request(
                    "POST", "/api/v1/environments",
                    {"projectId": proj["id"], "name": "box",
                     "image": "vibebox/test:latest", "cpuLimit": 0.5,
                     "memoryLimit": 128}, token=tok,
                    headers={"X-Forwarded-For": "198.51.100.23"})
                expect(st == 201, f"environment: {st} {env}")
                st, rows, _ = d.request("GET", "/api/v1/audit?limit=100",
                                        token=tok)
                expect(st == 200, f"audit: {st} {rows}")
                got = [r for r in rows["data"]
                       if r["action"] == "environment.create"]
                expect(len(got) == 1 and got[0]["client"] ==
                       "198.51.100.23", f"audit rows: {got}")
                d.request("DELETE", f"/api/v1/environments/{env['id']}",
                          token=tok)

            def login_limit_per_forwarded_client():
                def login(client):
                    return d.request(
                        "POST", "/api/v1/auth/login",
                        {"email": "admin@proxy.test",
                         "password": PASSWORD + "-wrong"},
                        headers={"X-Forwarded-For": client})[0]
                a, b = "192.0.2.1", "192.0.2.2"
                got = [login(a), login(a), login(a)]
                expect(got == [401, 401, 429], f"client a: {got}")
                got = [login(b), login(b), login(b)]
                expect(got == [401, 401, 429], f"client b apart: {got}")
                expect(login(a) == 429, "client a still limited")
                # the right password from a third client passes
                st = d.request("POST", "/api/v1/auth/login",
                               {"email": "admin@proxy.test",
                                "password": PASSWORD},
                               headers={"X-Forwarded-For":
                                        "192.0.2.3"})[0]
                expect(st == 200, f"third client: {st}")

            def an_open_websocket_has_the_forwarded_client():
                tok = d.request("POST", "/api/v1/auth/login",
                                {"email": "admin@proxy.test",
                                 "password": PASSWORD})[1]
                tok = tok["tokens"]["accessToken"]
                head = ("GET /api/v1/events HTTP/1.1\r\nHost: t\r\n"
                        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Version: 13\r\n"
                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                        "Sec-WebSocket-Protocol: vibebox.events.v1\r\n"
                        f"Authorization: Bearer {tok}\r\n"
                        "X-Forwarded-For: 203.0.113.99, 127.0.0.1\r\n"
                        "\r\n").encode()
                sock = socket.create_connection(("127.0.0.1", d.port),
                                                timeout=10)
                sock.sendall(head)
                got = sock.recv(4096)
                expect(got.startswith(b"HTTP/1.1 101"), f"upgrade: {got!r}")
                # Leave once the route has opened (its first frame), or
                # the access line may record a client that left first.
                while b'"subscribed"' not in got:
                    more = sock.recv(4096)
                    expect(more, f"closed before subscribed: {got!r}")
                    got += more
                sock.close()

                def find():
                    for line in d.loglines():
                        if line.get("msg") == "access" and \
                                line.get("path") == "/api/v1/events" and \
                                line.get("status") == 101:
                            return line
                    return None
                line = wait_for(find, "the access line of the WebSocket")
                expect(line["client"] == "203.0.113.99" and
                       line["peer"] == "127.0.0.1", f"{line}")

            s.run(audited_client)
            s.run(login_limit_per_forwarded_client)
            s.run(an_open_websocket_has_the_forwarded_client)
        finally:
            d.stop()


def main():
    global UNTRUSTED, TRUSTED
    s = Suite()
    UNTRUSTED = ProxyDaemon(["10.9.9.0/24"]).start()
    TRUSTED = ProxyDaemon(["127.0.0.1/32", "10.9.9.0/24"]).start()
    try:
        for fn in (test_xff_from_an_untrusted_peer_is_ignored,
                   test_xff_from_a_trusted_peer_names_the_client,
                   test_two_xff_lines_are_refused,
                   test_a_reload_applies_a_changed_list,
                   test_an_upgrade_gets_the_same_client,
                   test_a_client_of_its_own_address_is_not_trusted,
                   test_behind_nginx,
                   test_proxy_v1_names_the_client,
                   test_proxy_v2_names_the_client,
                   test_proxy_then_xff,
                   test_proxy_listener_closes_without_a_valid_header,
                   test_proxy_header_from_an_untrusted_peer_is_refused,
                   test_a_proxy_listener_needs_trusted_proxies):
            s.run(fn)
    finally:
        codes = (UNTRUSTED.stop(), TRUSTED.stop())

    def the_daemons_exit_cleanly():
        expect(codes == (0, 0), f"exit codes {codes}")
    s.run(the_daemons_exit_cleanly)
    try:
        skip_unless_ready()
        with_platform(s)
    except SystemExit as e:
        if e.code != 77:
            raise
        print("# the platform's checks (audit, login limit) skipped")
    s.finish()


if __name__ == "__main__":
    main()
