# SPDX-License-Identifier: Apache-2.0
"""redis.py - real Redis servers and Sentinels on loopback for the tests.

    from redis import Redis, SentinelSet, skip_unless_redis
    skip_unless_redis()                  # exit 77 without redis-server
    r = Redis().start()                  # a free port, its own directory
    r.url                                # "redis://127.0.0.1:PORT/0"
    r.call("SET", "k", "v")              # one command: str, int, list, None
    r.stop(); r.start()                  # down and back on the same port
    r.stop()

    s = SentinelSet().start()            # a master, a replica (replicaof)
    s.sentinels                          # ["127.0.0.1:P1", ...] (three)
    s.master_name                        # "vbx"
    s.failover()                         # SENTINEL FAILOVER; waits until
                                         # the sentinels name the new master
    s.stop()

Everything listens on 127.0.0.1 only, in a temporary directory removed by
stop(); persistence is off. `python3 redis.py run -- PROG ARGS` runs PROG
with a server started for it: VBX_TEST_REDIS_URL and VBX_TEST_REDIS_PORT
in its environment; it exits with PROG's status (77 without redis-server).
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
SENTINEL = shutil.which("redis-sentinel") or "/usr/bin/redis-sentinel"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def skip_unless_redis(sentinel=False):
    """Exit 77 (skip) without the binaries; 1 with VBX_REQUIRE_SERVICES=1."""
    need = [SERVER] + ([SENTINEL] if sentinel else [])
    missing = [b for b in need if not os.access(b, os.X_OK)]
    if missing:
        required = os.environ.get("VBX_REQUIRE_SERVICES") == "1"
        print(f"# {'FAILED' if required else 'skipped'}: no "
              f"{', '.join(missing)} (apt-get install redis-server "
              "redis-sentinel)", flush=True)
        raise SystemExit(1 if required else 77)


def _reply(f):
    line = f.readline()
    if not line:
        raise ConnectionError("connection closed")
    kind, rest = line[:1], line[1:-2].decode()
    if kind == b"+":
        return rest
    if kind == b"-":
        raise RedisError(rest)
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        try:
            return data.decode()
        except UnicodeDecodeError:
            return data
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_reply(f) for _ in range(n)]
    raise RedisError("bad reply " + repr(line))


class RedisError(Exception):
    pass


def _encode(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def call(port, *args, timeout=5, host="127.0.0.1", auth=None, db=0,
         tls=None):
    """One command to host:port; the decoded reply. auth: a password or
    (user, password); db: SELECT it first; tls: an ssl.SSLContext.
    Raises RedisError for an error reply, OSError when nothing answers."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        if tls:
            s = tls.wrap_socket(s, server_hostname=host)
        f = s.makefile("rb")
        if auth:
            s.sendall(_encode(["AUTH"] + ([auth] if isinstance(auth, str)
                                          else list(auth))))
            _reply(f)
        if db:
            s.sendall(_encode(["SELECT", db]))
            _reply(f)
        s.sendall(_encode(args))
        return _reply(f)


def wait_for(cond, what, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if cond():
                return
        except (OSError, RedisError):
            pass
        time.sleep(0.05)
    raise TimeoutError("timed out waiting for " + what)


def wait_bridged(d, timeout=10.0):
    """Wait until daemon d's event bridge has been subscribed by redis-cache
    (/health/ready's "events" check stops saying "not subscribed yet"), so
    that events published on other replicas from now on reach d."""
    import json
    import urllib.request

    def listening():
        with urllib.request.urlopen(
                f"http://127.0.0.1:{d.port}/health/ready", timeout=5) as r:
            body = json.loads(r.read())
        return all("not subscribed" not in (c.get("detail") or "")
                   for c in body["checks"] if c["name"] == "events")
    wait_for(listening, f"the event bridge of :{d.port} subscribed", timeout)


class Redis:
    """One redis-server. port: a free one unless given; replicaof:
    another Redis to replicate; password: requirepass; unix: listen on a
    Unix socket too (self.unix_path); tls: (cert, key, ca) files, then
    port is TLS only and self.tls the client context the tests use."""

    def __init__(self, port=None, replicaof=None, password=None, unix=False,
                 extra=(), tls=None):
        self.dir = tempfile.mkdtemp(prefix="vbx-redis-")
        self.port = port or free_port()
        self.replicaof = replicaof
        self.password = password
        self.unix_path = os.path.join(self.dir, "redis.sock") if unix else None
        self.extra = list(extra)
        self.tls_files = tls
        self.tls = None
        if tls:
            import ssl
            self.tls = ssl.create_default_context(cafile=tls[2])
        self.proc = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def addr(self):
        return f"127.0.0.1:{self.port}"

    def _args(self):
        port = ["--port", str(self.port)]
        if self.tls_files:
            cert, key, ca = self.tls_files
            port = ["--port", "0", "--tls-port", str(self.port),
                    "--tls-cert-file", cert, "--tls-key-file", key,
                    "--tls-ca-cert-file", ca, "--tls-auth-clients", "no"]
        a = [SERVER] + port + ["--bind", "127.0.0.1",
             "--dir", self.dir, "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--protected-mode", "no",
             "--logfile", os.path.join(self.dir, "redis.log")]
        if self.unix_path:
            a += ["--unixsocket", self.unix_path, "--unixsocketperm", "700"]
        if self.password:
            a += ["--requirepass", self.password,
                  "--masterauth", self.password]
        if self.replicaof:
            a += ["--replicaof", "127.0.0.1", str(self.replicaof.port)]
        return a + self.extra

    def start(self):
        self.proc = subprocess.Popen(self._args(), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_for(lambda: self.ping(), f"redis-server on {self.port}")
        return self

    def ping(self):
        return self.call("PING") == "PONG"

    def call(self, *args, timeout=5, db=0):
        return call(self.port, *args, timeout=timeout, db=db,
                    auth=self.password, tls=self.tls)

    def kill(self):
        """Stop the server at once (SIGKILL), keeping its directory."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def halt(self):
        """Stop the server (SIGTERM), keeping its directory, so that
        start() brings it back on the same port."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def stop(self):
        self.halt()
        shutil.rmtree(self.dir, ignore_errors=True)


class SentinelSet:
    """A master and a replica watched by three sentinels (quorum 2)."""

    def __init__(self, master_name="vbx"):
        self.master_name = master_name
        self.master = Redis()
        self.replica = Redis(replicaof=self.master)
        self.ports = [free_port() for _ in range(3)]
        self.procs = []
        self.dir = tempfile.mkdtemp(prefix="vbx-sentinel-")

    @property
    def sentinels(self):
        return [f"127.0.0.1:{p}" for p in self.ports]

    def start(self):
        self.master.start()
        self.replica.start()
        wait_for(lambda: "master_link_status:up" in
                 self.replica.call("INFO", "replication"),
                 "the replica to sync")
        for i, port in enumerate(self.ports):
            conf = os.path.join(self.dir, f"sentinel{i}.conf")
            with open(conf, "w") as f:
                f.write(f"port {port}\nbind 127.0.0.1\n"
                        f"dir {self.dir}\n"
                        f"logfile {self.dir}/sentinel{i}.log\n"
                        f"sentinel monitor {self.master_name} 127.0.0.1 "
                        f"{self.master.port} 2\n"
                        f"sentinel down-after-milliseconds "
                        f"{self.master_name} 1000\n"
                        f"sentinel failover-timeout {self.master_name} "
                        f"5000\n")
            self.procs.append(subprocess.Popen(
                [SENTINEL, conf], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL))
        for port in self.ports:
            wait_for(lambda port=port: self.known(port) >= 2,
                     f"sentinel {port} to see the others and the replica")
        return self

    def known(self, port):
        """How many others sentinel port knows (sentinels + replicas)."""
        m = call(port, "SENTINEL", "master", self.master_name)
        d = dict(zip(m[::2], m[1::2]))
        return int(d.get("num-other-sentinels", 0)) + \
            len(call(port, "SENTINEL", "replicas", self.master_name))

    def master_port(self, sentinel=0):
        return int(call(self.ports[sentinel], "SENTINEL",
                        "get-master-addr-by-name", self.master_name)[1])

    def failover(self, timeout=20):
        """Promote the replica; returns the new master's Redis."""
        old = self.master_port()
        call(self.ports[0], "SENTINEL", "FAILOVER", self.master_name)
        wait_for(lambda: all(self.master_port(i) != old for i in range(3)),
                 "the sentinels to name a new master", timeout)
        new = self.replica if self.replica.port != old else self.master
        wait_for(lambda: new.call("ROLE")[0] == "master",
                 "the new master to take the role", timeout)
        return new

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        self.replica.stop()
        self.master.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def main(argv):
    if len(argv) < 3 or argv[1] != "run" or "--" not in argv:
        print("usage: redis.py run -- PROG [ARGS...]", file=sys.stderr)
        return 2
    skip_unless_redis()
    prog = argv[argv.index("--") + 1:]
    r = Redis().start()
    try:
        env = dict(os.environ, VBX_TEST_REDIS_URL=r.url,
                   VBX_TEST_REDIS_PORT=str(r.port))
        return subprocess.call(prog, env=env)
    finally:
        r.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
