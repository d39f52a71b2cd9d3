# SPDX-License-Identifier: Apache-2.0
"""redis-cache in a running vibeboxd against real redis-servers on
loopback (tests/integration/redis.py), driven through the cachekit test
plugin (tests/plugins/cachekit.c):

- the hooks work, /health/ready shows the "redis" check;
- Redis stopped: every hook answers VBX_EUNAVAIL at once, one warning for
  the outage, /health/ready 200 with redis "degraded" (503 with
  required = true); a hung Redis (SIGSTOP) costs one timeout, then calls
  fail fast; Redis back: everything works again, one line says so, the
  subscriber is told it reconnected; no daemon restart;
- Sentinel: a failover (SENTINEL FAILOVER) is followed within seconds.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from daemon import Daemon, Suite, expect  # noqa: E402
from redis import Redis, SentinelSet, skip_unless_redis  # noqa: E402

BUILD = os.environ.get("VBX_BUILDDIR", ".")
RC_SO = os.environ.get(
    "VBX_TEST_REDIS_PLUGIN",
    os.path.join(BUILD, "plugins/redis-cache/.libs/redis-cache.so"))
KIT_SO = os.path.join(os.environ.get("VBX_TEST_PLUGIN_DIR",
                                     os.path.join(BUILD, "tests/plugins/.libs")),
                      "cachekit.so")
EUNAVAIL, EAGAIN, ENOTFOUND, EEXIST = -9, -10, -5, -6
KIT = "/api/v1/x/cachekit"


def daemon(block):
    """A daemon with redis-cache (block: its config) and cachekit."""
    d = Daemon(plugins=f"""
        {{ name = "redis-cache"; config = {{ {block} }}; }},
        {{ name = "cachekit"; }}""")
    pdir = os.path.join(d.dir, "plugins")
    os.mkdir(pdir)
    os.symlink(RC_SO, os.path.join(pdir, "redis-cache.so"))
    os.symlink(KIT_SO, os.path.join(pdir, "cachekit.so"))
    d.plugin_dir = pdir
    d.write_conf(plugins=f"""
        {{ name = "redis-cache"; config = {{ {block} }}; }},
        {{ name = "cachekit"; }}""")
    return d.start()


def stop(d):
    """Stop d; it must exit 0 (a sanitizer build's report fails it)."""
    rc = d.stop()
    expect(rc == 0, f"vibeboxd exited {rc}: {d.logtext()[-2000:]}")


def kit(d, method, path, body=None):
    st, b, _ = d.request(method, KIT + path, body=body)
    expect(st == 200, f"{method} {path}: {st} {b}")
    return b


def ready(d):
    st, b, _ = d.get("/health/ready")
    checks = {c["name"]: c for c in b.get("checks", [])}
    return st, checks.get("redis")


def wait(cond, what, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out: " + what)


def warnings(d, words):
    return [ln for ln in d.loglines() if words in ln.get("msg", "")]


R = None
D = None


def test_hooks_through_the_daemon():
    expect(kit(D, "PUT", "/kv/a?ttl=60000", "one")["rc"] == 0, "set")
    b = kit(D, "GET", "/kv/a")
    expect(b["rc"] == 0 and b["value"] == "one", f"get: {b}")
    expect(R.call("GET", "it:a") == "one", "stored under the prefix")
    expect(kit(D, "GET", "/kv/nope")["rc"] == ENOTFOUND, "absent")
    for i in range(3):
        expect(kit(D, "POST", "/rate/r?limit=3&window=60000")["rc"] == 0,
               f"hit {i}")
    b = kit(D, "POST", "/rate/r?limit=3&window=60000")
    expect(b["rc"] == EAGAIN and b["retryAfter"] > 0, f"4th: {b}")
    b = kit(D, "POST", "/lock/job?ttl=5000")
    expect(b["rc"] == 0 and b["fence"] >= 1, f"lock: {b}")
    st, check = ready(D)
    expect(st == 200 and check and check["status"] == "ok",
           f"ready: {st} {check}")


def test_pubsub_through_the_daemon():
    wait(lambda: kit(D, "GET", "/sub")["connects"] >= 1, "subscribed")
    expect(kit(D, "POST", "/publish/kit", "hi")["rc"] == 0, "publish")
    wait(lambda: kit(D, "GET", "/sub")["last"] == "hi", "delivered")
    R.call("PUBLISH", "it:kit", "from-elsewhere")
    wait(lambda: kit(D, "GET", "/sub")["last"] == "from-elsewhere",
         "another client's message delivered")


def test_redis_down_and_back():
    connects = kit(D, "GET", "/sub")["connects"]
    R.halt()
    # Every hook answers EUNAVAIL, and fast (no timeout per call).
    for i in range(30):
        for method, path in (("GET", "/kv/a"), ("PUT", "/kv/a"),
                             ("POST", "/rate/r"), ("POST", "/lock/job"),
                             ("POST", "/publish/kit")):
            b = kit(D, method, path, body="x" if method == "PUT" else None)
            expect(b["rc"] == EUNAVAIL, f"{method} {path} while down: {b}")
            expect(b["ms"] < 100, f"{method} {path} took {b['ms']} ms")
    st, check = ready(D)
    expect(st == 200, f"ready while down (not required): {st}")
    expect(check["status"] == "degraded" and "unreachable" in
           check.get("detail", ""), f"redis check: {check}")
    warn = warnings(D, "unreachable")
    expect(len(warn) == 1, f"one warning per outage, got {warn}")
    expect("cache bypassed" in warn[0]["msg"], warn[0]["msg"])
    R.start()  # the same port, empty
    wait(lambda: kit(D, "PUT", "/kv/b", "two")["rc"] == 0,
         "the hooks work again", 15)
    expect(kit(D, "GET", "/kv/b")["value"] == "two", "get after")
    wait(lambda: warnings(D, "is back"), "one line when it is back")
    expect(len(warnings(D, "is back")) == 1, "one 'back' line")
    wait(lambda: kit(D, "GET", "/sub")["connects"] > connects,
         "the subscriber reconnected and was told")
    expect(kit(D, "POST", "/publish/kit", "after")["rc"] == 0, "publish")
    wait(lambda: kit(D, "GET", "/sub")["last"] == "after",
         "delivered after the outage")
    st, check = ready(D)
    expect(st == 200 and check["status"] == "ok", f"ready: {check}")
    expect(len(warnings(D, "unreachable")) == 1, "still one warning")


def test_hung_redis_costs_one_timeout():
    R.proc.send_signal(signal.SIGSTOP)
    try:
        first = kit(D, "GET", "/kv/b")
        expect(first["rc"] == EUNAVAIL, f"hung: {first}")
        expect(first["ms"] < 1500, f"bounded by the timeout: {first}")
        for _ in range(20):
            b = kit(D, "GET", "/kv/b")
            expect(b["rc"] == EUNAVAIL and b["ms"] < 100,
                   f"fails fast after the first: {b}")
    finally:
        R.proc.send_signal(signal.SIGCONT)
    wait(lambda: kit(D, "GET", "/kv/b")["rc"] == 0, "back after SIGCONT",
         15)


def test_required_fails_readiness():
    dead = Redis()  # never started: nothing listens on its port
    d = daemon(f'url = "{dead.url}"; required = true;')
    try:
        st, check = ready(d)
        expect(st == 503 and check["status"] == "fail",
               f"required and down: {st} {check}")
        dead.start()
        wait(lambda: ready(d)[0] == 200, "ready once Redis answers", 15)
    finally:
        stop(d)
        dead.stop()


def test_sentinel_failover():
    s = SentinelSet().start()
    d = None
    try:
        sentinels = ", ".join(f'"{a}"' for a in s.sentinels)
        d = daemon(f'sentinels = [ {sentinels} ]; master_name = '
                   f'"{s.master_name}"; prefix = "sf:";')
        expect(kit(d, "PUT", "/kv/x", "before")["rc"] == 0, "set")
        expect(s.master.call("GET", "sf:x") == "before", "on the master")
        new = s.failover()
        t0 = time.time()
        wait(lambda: kit(d, "PUT", "/kv/y", "after")["rc"] == 0,
             "writes work against the new master", 15)
        print(f"# writes back {time.time() - t0:.1f}s after the failover")
        expect(new.call("GET", "sf:y") == "after", "on the new master")
        expect(kit(d, "GET", "/kv/x")["value"] == "before",
               "replicated data read from the new master")
        # The master dies: the sentinels promote the other one.
        wait(lambda: "connected_slaves:1" in new.call("INFO", "replication"),
             "the old master to follow the new one", 15)
        other = s.master if new is s.replica else s.replica
        new.kill()
        t0 = time.time()
        wait(lambda: kit(d, "PUT", "/kv/z", "killed")["rc"] == 0,
             "writes work after the master was killed", 30)
        print(f"# writes back {time.time() - t0:.1f}s after the kill")
        expect(other.call("GET", "sf:z") == "killed", "on the survivor")
    finally:
        if d:
            stop(d)
        s.stop()


def served(block, check):
    """A daemon with block; check(d) runs against it."""
    d = daemon(block)
    try:
        check(d)
    finally:
        stop(d)


def test_unix_socket_and_db():
    r = Redis(unix=True).start()
    try:
        def check(d):
            expect(kit(d, "PUT", "/kv/u", "sock")["rc"] == 0, "set")
            expect(r.call("GET", "x:u", db=2) == "sock", "in db 2")
            expect(r.call("EXISTS", "x:u") == 0, "not in db 0")
        served(f'url = "unix://{r.unix_path}?db=2"; prefix = "x:";', check)
    finally:
        r.stop()


def test_acl_user_and_password_file():
    r = Redis(password="adminpw").start()
    try:
        r.call("ACL", "SETUSER", "app", "on", ">apppw", "~*", "&*", "+@all")
        pw = os.path.join(r.dir, "pw")
        with open(pw, "w") as f:
            f.write("apppw\n")
        block = (f'url = "redis://app@127.0.0.1:{r.port}/0"; '
                 f'password_file = "{pw}"; prefix = "a:";')

        def check(d):
            expect(kit(d, "PUT", "/kv/k", "acl")["rc"] == 0, "set as app")
            expect(r.call("GET", "a:k") == "acl", "stored")
            for ln in d.loglines():
                expect("apppw" not in ln.get("msg", ""), "password logged")
        served(block, check)
        with open(pw, "w") as f:
            f.write("wrong\n")

        def refused(d):
            b = kit(d, "PUT", "/kv/k", "x")
            expect(b["rc"] == EUNAVAIL, f"wrong password: {b}")
            w = warnings(d, "unreachable")
            expect(len(w) == 1 and "AUTH refused" in w[0]["msg"], f"{w}")
        served(block, refused)
    finally:
        r.stop()


def make_certs(where):
    """A CA and a server certificate for IP 127.0.0.1, made by openssl."""
    def run(*args):
        subprocess.run(["openssl"] + list(args), check=True,
                       capture_output=True, cwd=where)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", "/CN=vbx test CA", "-keyout", "ca.key", "-out", "ca.pem")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", "server.key", "-out", "server.csr")
    with open(os.path.join(where, "ext.cnf"), "w") as f:
        f.write("subjectAltName = IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey",
        "ca.key", "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf",
        "-out", "server.pem")
    return [os.path.join(where, n) for n in ("server.pem", "server.key",
                                              "ca.pem")]


def test_tls():
    certs = tempfile.mkdtemp(prefix="vbx-redis-tls-")
    try:
        cert, key, ca = make_certs(certs)
        r = Redis(tls=(cert, key, ca)).start()
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"# TLS not checked: {e}")
        shutil.rmtree(certs, ignore_errors=True)
        return
    try:
        def check(d):
            expect(kit(d, "PUT", "/kv/t", "tls")["rc"] == 0, "set over TLS")
            expect(r.call("GET", "s:t") == "tls", "stored")
        served(f'url = "rediss://127.0.0.1:{r.port}/0"; prefix = "s:"; '
               f'tls_ca_file = "{ca}";', check)

        def unverified(d):
            b = kit(d, "PUT", "/kv/t", "x")
            expect(b["rc"] == EUNAVAIL, f"unknown CA accepted: {b}")
            w = warnings(d, "unreachable")
            expect(w and "certificate" in w[0]["msg"], f"{w}")
        # The system's roots do not know the test CA: refused.
        served(f'url = "rediss://127.0.0.1:{r.port}/0";', unverified)
    finally:
        r.stop()
        shutil.rmtree(certs, ignore_errors=True)


def block_of(url, more=""):
    return f"""
        {{ name = "redis-cache"; config = {{ url = "{url}"; {more} }}; }},
        {{ name = "cachekit"; }}"""


def check_mode(url, more):
    """vibeboxd -t on the daemon's file with this redis-cache block."""
    D.write_conf(plugins=block_of(url, more))
    try:
        out = subprocess.run([os.environ.get("VIBEBOXD", "vibeboxd"), "-t",
                              "-c", D.conf], capture_output=True, text=True,
                             timeout=30)
    finally:
        D.write_conf(plugins=block_of(R.url, 'prefix = "it:";'))
    return out.returncode, out.stdout + out.stderr


def test_check_mode_names_the_key():
    """vibeboxd -t refuses a password in the url, a bad value and an
    unknown key, and names each; it accepts a good block."""
    rc, text = check_mode("redis://app:secret@127.0.0.1:1/0", "pool = 0;")
    expect(rc != 0, f"-t accepted: {text}")
    for words in ("plugins.redis-cache.url: a password in the url",
                  "plugins.redis-cache.pool"):
        expect(words in text, f"{words!r} not in: {text}")
    expect("secret" not in text, f"the password is echoed: {text}")
    rc, text = check_mode(R.url, 'colour = "red";')
    expect(rc != 0 and "plugins.redis-cache.colour" in text, text)
    rc, text = check_mode(R.url, 'timeout = "250ms";')
    expect(rc == 0 and "plugins.redis-cache.timeout = 250ms" in text,
           f"-t: {rc} {text}")


def test_reload_validates_the_block():
    """SIGHUP with a bad redis-cache block keeps the running one."""
    D.write_conf(plugins=block_of("unix://relative.sock", 'prefix = "it:";'))
    try:
        n = len(warnings(D, "keeping the running configuration"))
        D.signal(signal.SIGHUP)
        wait(lambda: len(warnings(D, "keeping the running configuration"))
             > n, "the reload refused")
        errs = [ln["msg"] for ln in D.loglines()
                if "plugins.redis-cache.url" in ln.get("msg", "")]
        expect(errs and "absolute" in errs[-1], f"errors: {errs}")
        expect(kit(D, "PUT", "/kv/r", "still")["rc"] == 0, "still serving")
    finally:
        D.write_conf(plugins=block_of(R.url, 'prefix = "it:";'))


def test_exits_cleanly():
    stop(D)


def main():
    global R, D
    skip_unless_redis(sentinel=True)
    if not os.path.exists(RC_SO):
        print("# skipped: redis-cache.so not built (no hiredis)")
        raise SystemExit(77)
    R = Redis().start()
    D = daemon(f'url = "{R.url}"; prefix = "it:"; timeout = "500ms";')
    suite = Suite()
    try:
        for t in (test_hooks_through_the_daemon,
                  test_pubsub_through_the_daemon, test_redis_down_and_back,
                  test_hung_redis_costs_one_timeout,
                  test_required_fails_readiness, test_check_mode_names_the_key,
                  test_reload_validates_the_block, test_unix_socket_and_db,
                  test_acl_user_and_password_file, test_tls,
                  test_sentinel_failover):
            suite.run(t)
        suite.run(test_exits_cleanly)
    finally:
        D.stop()
        R.stop()
    suite.finish()


if __name__ == "__main__":
    main()
