# SPDX-License-Identifier: Apache-2.0
"""PostgreSQL failover under a running vibeboxd (issue 11): a primary and
a streaming standby made with pg_basebackup, both on loopback, and
daemons (postgres-store and auth) on one database:

- A host list libpq would refuse (3 hosts, 2 ports) fails `vibeboxd -t`.
- A lists both servers with target_session_attrs=read-write (the way the
  admin guide recommends), B lists both without it (a warning at start).
- Writes pass.
- A transaction cut at its COMMIT (daemon R goes through a relay that
  drops the connection before the COMMIT reaches the server, or drops
  the server's answer) answers 503: nothing is left of the first, the
  second is there to be re-read.
- The primary is stopped with `pg_ctl stop -m immediate`:
  while no server takes writes, a write answers 503 (not 500, and in
  less than the store's timeout) and /health/ready answers 503 saying why.
- The standby is promoted: A serves writes again within seconds (the
  time is printed), the data written before the failover is there and
  readiness is 200.
- The old primary comes back as a standby of the new one (demoted), and
  every daemon session is cut: A reconnects past it to the new primary;
  B, which takes the first server that answers, lands on the standby and
  answers 503 (SQLSTATE 25006, not 500) with readiness 503 naming the
  standby, never writing there.
- A first host that accepts connections and never answers is passed
  over after its share of connect_timeout (daemon C).
"""

import glob
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

from daemon import VIBEBOXD, Daemon, Suite, expect, free_port
from relay import Relay

SRC = os.environ.get("VBX_SRCDIR", ".")
BUILD = os.environ.get("VBX_BUILDDIR", ".")
SECRET = "k1:" + "0123456789abcdef" * 4
PASSWORD = "correct horse"
ROOT = os.getuid() == 0
USER = "postgres" if ROOT else None
FAILOVER_MAX = 10.0  # seconds from promote to the first write that passes
DIR = None
BIN = None
P1 = P2 = None
A = B = C = R = None
TOKEN = None
KEYS = "/api/v1/keys"


def bindir():
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                  key=lambda d: int(d.split("/")[-2]))
    return dirs[-1] if dirs else None


def skip_unless_ready():
    missing = None
    if not BIN or not os.path.exists(os.path.join(BIN, "pg_basebackup")):
        missing = "no PostgreSQL server binaries in /usr/lib/postgresql"
    elif ROOT and not shutil.which("runuser"):
        missing = "no runuser to run PostgreSQL as postgres"
    if missing:
        required = os.environ.get("VBX_REQUIRE_SERVICES") == "1"
        print(f"# {'FAILED' if required else 'skipped'}: {missing}")
        raise SystemExit(1 if required else 77)


def pg(tool, *args, check=True, timeout=60):
    """Run a PostgreSQL tool as the cluster's owner."""
    cmd = [os.path.join(BIN, tool), *args]
    if ROOT:
        cmd = ["runuser", "-u", USER, "--", *cmd]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{tool} {' '.join(args)}: {r.stdout}"
                             f"{r.stderr}")
    return r.stdout.strip()


def sql(port, query):
    return pg("psql", "-X", "-qtA", "-h", "127.0.0.1", "-p", str(port),
              "-d", "vibebox", "-c", query)


def data(name):
    return os.path.join(DIR, name)


def server_opts(port, extra=""):
    return (f"-c listen_addresses=127.0.0.1 -c port={port} "
            f"-c unix_socket_directories='{DIR}' -c fsync=off "
            f"-c wal_level=replica -c max_wal_senders=8 -c hot_standby=on "
            f"{extra}")


def server_start(name, port, extra=""):
    pg("pg_ctl", "-D", data(name), "-l", data(name + ".log"), "-w", "-t",
       "30", "-o", server_opts(port, extra), "start")


def clusters():
    """The primary (initdb) on P1 and its standby (pg_basebackup -R) on
    P2; initdb's pg_hba trusts replication from 127.0.0.1."""
    global P1, P2
    P1, P2 = free_port(), free_port()
    pg("initdb", "-D", data("p1"), "-A", "trust", "-E", "UTF8",
       "--no-locale")
    server_start("p1", P1)
    pg("createdb", "-h", "127.0.0.1", "-p", str(P1), "vibebox")
    pg("pg_basebackup", "-h", "127.0.0.1", "-p", str(P1), "-D", data("p2"),
       "-R", "-X", "stream", "-c", "fast")
    server_start("p2", P2)
    expect(sql(P2, "SELECT pg_is_in_recovery()") == "t",
           "the copy runs as a standby")


def plugin_dir():
    d = os.path.join(DIR, "plugins")
    os.mkdir(d)
    for name in ("postgres-store", "auth"):
        os.symlink(os.path.join(BUILD, "plugins", name, ".libs",
                                name + ".so"),
                   os.path.join(d, name + ".so"))
    return d


class CommitCutter(Relay):
    """A relay to PostgreSQL that cuts the connection on the first COMMIT
    of a transaction (the Bind of the pool's "pool_commit" statement)
    once armed: "before" it reaches the server, or "after" the server
    has done it, dropping its answer."""
    BIND = re.compile(rb"B....\x00pool_commit\x00", re.S)

    def __init__(self, port):
        super().__init__(lambda: socket.create_connection(("127.0.0.1",
                                                           port)))
        self.mode = None
        self.done = threading.Event()

    def accept(self):
        while True:
            try:
                c, _ = self.srv.accept()
                u = self.connect()
            except OSError:
                return
            with self.lock:
                self.conns += [c, u]
            state = {"committing": False}
            threading.Thread(target=self.to_server, args=(c, u, state),
                             daemon=True).start()
            threading.Thread(target=self.to_client, args=(u, c, state),
                             daemon=True).start()

    def to_server(self, c, u, state):
        try:
            while data := c.recv(65536):
                if self.mode and self.BIND.search(data):
                    mode, self.mode = self.mode, None
                    if mode == "before":
                        break
                    state["committing"] = True
                u.sendall(data)
        except OSError:
            pass
        self.hang_up(c, u)

    def to_client(self, u, c, state):
        try:
            while data := u.recv(65536):
                if state["committing"]:
                    break  # the COMMIT's answer: done, and dropped
                c.sendall(data)
        except OSError:
            pass
        self.hang_up(c, u)

    def hang_up(self, c, u):
        for s in (c, u):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.done.set()

    def arm(self, mode):
        self.done.clear()
        self.mode = mode


def daemon(pdir, name, attrs, ports=None, store=""):
    ports = ports or [P1, P2]
    user = USER or subprocess.run(["id", "-un"], capture_output=True,
                                  text=True).stdout.strip()
    hosts = ",".join(["127.0.0.1"] * len(ports))
    ci = (f"host={hosts} port={','.join(map(str, ports))} user={user} "
          f"dbname=vibebox application_name=vibeboxd-{name} {attrs}")
    d = Daemon(plugin_dir=pdir, plugins=f"""
  {{ name = "postgres-store"; config = {{ conninfo = "{ci}";
      timeout = "3s"; {store} }}; }},
  {{ name = "auth"; config = {{ jwt_secret = "{SECRET}";
      registration = "open"; argon2_memory = "1MiB";
      argon2_iterations = 1; }}; }}""")
    return d.start()


def timed(fn, *args, **kw):
    t0 = time.monotonic()
    try:
        r = fn(*args, **kw)
    except OSError as e:  # a read timeout: the daemon hung
        r = (None, repr(e), None)
    return r, time.monotonic() - t0


def write(d, name):
    return d.request("POST", KEYS, {"name": name}, token=TOKEN, timeout=20)


def key_names(d):
    st, body, _ = d.get(KEYS, token=TOKEN)
    expect(st == 200, f"list keys: {st} {body}")
    return {k["name"] for k in body["data"]} \
        if isinstance(body, dict) and "data" in body \
        else {k["name"] for k in body}


def postgres_check(d):
    st, body, _ = d.get("/health/ready", timeout=10)
    checks = body.get("checks", []) if isinstance(body, dict) else []
    pgc = [c for c in checks if c.get("name") == "postgres"]
    return st, pgc[0] if pgc else {}


def until(pred, seconds, what):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            if pred():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{what} within {seconds} s")


def caught_up():
    """The standby has replayed everything the primary wrote so far."""
    lsn = sql(P1, "SELECT pg_current_wal_lsn()")
    until(lambda: sql(P2, f"SELECT pg_last_wal_replay_lsn() >= "
                          f"'{lsn}'::pg_lsn") == "t", 10,
          "the standby catches up")


# ---- checks ----

def test_a_host_list_libpq_refuses_is_a_config_error():
    d = Daemon(plugin_dir=A.plugin_dir, plugins="""
  { name = "postgres-store"; config = {
      conninfo = "host=a,b,c port=1,2 target_session_attrs=read-write"; };
  }""")
    try:
        out = subprocess.run([VIBEBOXD, "-t", "-c", d.conf],
                             capture_output=True, text=True, timeout=30)
        text = out.stdout + out.stderr
        expect(out.returncode != 0 and
               "plugins.postgres-store.conninfo" in text and
               "2 ports for 3 hosts" in text, f"{out.returncode}: {text}")
    finally:
        shutil.rmtree(d.dir, ignore_errors=True)


def test_several_hosts_without_read_write_are_warned_about():
    expect("without target_session_attrs=read-write" in B.logtext(),
           f"B warns: {B.logtext()[-1500:]}")
    expect("without target_session_attrs" not in A.logtext(),
           "A, with read-write, does not")
    expect("a failover is followed" in A.logtext(), "A says it follows")


def test_writes_pass_on_the_primary():
    global TOKEN
    st, body, _ = A.request("POST", "/api/v1/auth/register",
                            {"email": "a@failover.test",
                             "password": PASSWORD, "name": "A"})
    expect(st == 201, f"register: {st} {body}")
    TOKEN = body["tokens"]["accessToken"]
    st, body, _ = write(A, "before")
    expect(st == 201, f"write: {st} {body}")
    st, body, _ = write(B, "before-b")
    expect(st == 201, f"write through B: {st} {body}")
    expect(postgres_check(A)[0] == 200, "ready")
    caught_up()


def register(d, email):
    return d.request("POST", "/api/v1/auth/register",
                     {"email": email, "password": PASSWORD, "name": "R"},
                     timeout=20)[:2]


def test_a_transaction_cut_at_commit_answers_503():
    """Registration runs in a transaction (an advisory lock and the
    insert). Cut before its COMMIT reaches the server: 503 and nothing
    of it stays. Cut after the server committed, its answer lost: 503
    too (the outcome is unknown to the daemon, never retried), and a
    re-read finds the user, as the docs tell clients to check."""
    relay = CommitCutter(P1)
    global R
    R = daemon(A.plugin_dir, "r", "", ports=[relay.port])
    try:
        relay.arm("before")
        st, body = register(R, "cut-before@failover.test")
        expect(relay.done.wait(5), "the relay cut a COMMIT")
        expect(st == 503, f"cut before COMMIT: {st} {body}")
        st, body = register(R, "cut-before@failover.test")
        expect(st == 201, f"nothing was left, so it registers: {st} {body}")

        relay.arm("after")
        st, body = register(R, "cut-after@failover.test")
        expect(relay.done.wait(5), "the relay cut a COMMIT")
        expect(st == 503, f"cut after COMMIT: {st} {body}")
        expect("outcome is unknown" in R.logtext(), "logged as unknown")
        st, body, _ = R.request("POST", "/api/v1/auth/login",
                                {"email": "cut-after@failover.test",
                                 "password": PASSWORD})
        expect(st == 200, f"the committed user is there: {st} {body}")
    finally:
        code = R.stop()
        relay.close()
    expect(code == 0, f"R exits 0: {code}: {R.logtext()[-2000:]}")


def test_writes_answer_503_while_no_server_takes_them():
    pg("pg_ctl", "-D", data("p1"), "-w", "-m", "immediate", "stop")
    (st, body, _), took = timed(write, A, "during")
    print(f"# write with the primary down: {st} in {took:.2f} s")
    expect(st == 503 and took < 3.5, f"write: {st} {body} {took:.2f}")
    expect(body["error"]["code"] == "UNAVAILABLE", f"{body}")
    (st, check), took = timed(postgres_check, A)
    print(f"# /health/ready with the primary down: {st} in {took:.2f} s: "
          f"{check.get('detail')}")
    expect(st == 503 and check.get("status") != "ok",
           f"ready: {st} {check}")
    expect("read-only" in str(check.get("detail")) or
           "standby" in str(check.get("detail")),
           f"the detail says the server left takes no writes: {check}")


def test_writes_pass_again_soon_after_the_promotion():
    t0 = time.monotonic()
    pg("pg_ctl", "-D", data("p2"), "-w", "promote")
    n = 0
    while True:
        n += 1
        st, body, _ = write(A, f"after-{n}")
        took = time.monotonic() - t0
        if st == 201:
            break
        expect(st == 503, f"a write during the failover: {st} {body}")
        expect(took < FAILOVER_MAX, f"no write passed in {took:.1f} s")
        time.sleep(0.1)
    print(f"# writes pass {took:.2f} s after pg_ctl promote "
          f"(attempt {n})")
    expect(took < FAILOVER_MAX, f"{took:.1f} s")
    names = key_names(A)
    expect({"before", "before-b", f"after-{n}"} <= names,
           f"data written before the failover is there: {names}")
    expect("during" not in names, f"the write answered 503 left nothing: "
           f"{names}")
    until(lambda: postgres_check(A)[0] == 200, 5, "readiness 200")


def test_a_demoted_primary_is_not_written_to():
    signal_file = data("p1/standby.signal")
    open(signal_file, "w").close()
    if ROOT:
        shutil.chown(signal_file, USER, USER)
    server_start("p1", P1,
                 f"-c primary_conninfo='host=127.0.0.1 port={P2}'")
    expect(sql(P1, "SELECT pg_is_in_recovery()") == "t",
           "the old primary runs as a standby")
    # Cut every daemon session: the next ones walk the host list anew.
    sql(P2, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name LIKE 'vibeboxd-%'")
    until(lambda: sql(P2, "SELECT count(*) FROM pg_stat_activity WHERE "
                          "application_name LIKE 'vibeboxd-%'") == "0",
          5, "the daemons' sessions end")
    st, body, _ = write(A, "after-demotion")
    expect(st == 201, f"A writes past the standby: {st} {body}")
    until(lambda: postgres_check(A)[0] == 200, 5, "A ready")
    st, body, _ = write(B, "b-on-standby")
    expect(st == 503, f"B on the standby answers 503: {st} {body}")
    st, check = postgres_check(B)
    expect(st == 503 and "standby" in str(check.get("detail")),
           f"B not ready, naming the standby: {st} {check}")
    expect("read-only" in B.logtext(), "B's log says read-only")
    keys = sql(P2, "SELECT string_agg(name, ',' ORDER BY name) FROM "
                   "api_keys")
    expect("after-demotion" in keys and "b-on-standby" not in keys,
           f"the new primary's keys: {keys}")


def test_a_host_that_does_not_answer_is_passed_over():
    """A first host that accepts TCP and never answers (a hung server; a
    dead machine behind a firewall is the same to libpq) costs its share
    of connect_timeout, then the next hosts are tried."""
    global C
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(64)  # the kernel completes the handshakes; nobody reads
    try:
        C = daemon(A.plugin_dir, "c", "target_session_attrs=read-write",
                   ports=[hung.getsockname()[1], P1, P2],
                   store='connect_timeout = "3s";')
        (st, body, _), took = timed(write, C, "past-a-hung-host")
        print(f"# a write past a hung first host: {st} in {took:.2f} s")
        expect(st == 201 and took < 2.5, f"write: {st} {body} {took:.2f}")
        expect("no answer within" in C.logtext(),
               "the hung host is logged")
    finally:
        hung.close()


def test_the_daemons_exit_cleanly():
    """SIGTERM: each exits 0 (a sanitizer build's leak report fails)."""
    for name, d in (("A", A), ("B", B), ("C", C)):
        expect(d is not None, f"{name} never started")
        code = d.stop()
        expect(code == 0, f"{name} exits {code}: {d.logtext()[-2000:]}")


def cleanup():
    for d in (A, B, C, R):
        if d:
            d.stop()
    for name in ("p1", "p2"):
        if os.path.exists(data(name + "/postmaster.pid")):
            pg("pg_ctl", "-D", data(name), "-w", "-m", "immediate", "stop",
               check=False)
    if A:
        shutil.rmtree(A.dir, ignore_errors=True)
    for d in (B, C, R):
        if d:
            shutil.rmtree(d.dir, ignore_errors=True)
    shutil.rmtree(DIR, ignore_errors=True)


def main():
    global DIR, BIN, A, B
    BIN = bindir()
    skip_unless_ready()
    s = Suite()
    DIR = tempfile.mkdtemp(prefix="vbx-pgfail-")
    os.chmod(DIR, 0o755)
    if ROOT:
        shutil.chown(DIR, USER, USER)
    t0 = time.monotonic()
    try:
        clusters()
        pdir = plugin_dir()
        A = daemon(pdir, "a", "target_session_attrs=read-write")
        B = daemon(pdir, "b", "")
        for fn in (test_a_host_list_libpq_refuses_is_a_config_error,
                   test_several_hosts_without_read_write_are_warned_about,
                   test_writes_pass_on_the_primary,
                   test_a_transaction_cut_at_commit_answers_503,
                   test_writes_answer_503_while_no_server_takes_them,
                   test_writes_pass_again_soon_after_the_promotion,
                   test_a_demoted_primary_is_not_written_to,
                   test_a_host_that_does_not_answer_is_passed_over,
                   test_the_daemons_exit_cleanly):
            s.run(fn)
    except Exception as e:
        print(f"not ok - set up: {e}")
        s.failed += 1
    finally:
        if s.failed:
            for d in (A, B, C, R):
                if d:
                    print(f"# log of {d.dir}: {d.logtext()[-3000:]}")
            for name in ("p1", "p2"):
                try:
                    with open(data(name + ".log")) as f:
                        print(f"# {name}.log: {f.read()[-1500:]}")
                except OSError:
                    pass
        cleanup()
    print(f"# {time.monotonic() - t0:.1f} s")
    s.finish()


if __name__ == "__main__":
    sys.exit(main())
