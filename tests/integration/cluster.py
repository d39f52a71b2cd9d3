# SPDX-License-Identifier: Apache-2.0
"""cluster.py - N vibeboxd replicas behaving as one service, for the
integration tests: one redis-server, N daemons on one PostgreSQL database
(fixture.Platform's cluster), the Docker engine and that Redis, and
Debian's nginx in front, configured from packaging/nginx/vibebox.conf
(round robin for the API, a hash of the environment id for terminals).

    with Platform() as p, Cluster(p, 3, auth='login_limit = "5/1m";') as c:
        a, b, c3 = c.replicas          # fixture Daemons: .port, .request()
        c.front.request("GET", "/health/live")   # through nginx
        c.restart(0)                   # SIGTERM, wait for the exit, start
        c.kill(1)                      # SIGKILL
        c.redis.call("DBSIZE")     # tests/integration/redis.py

Everything listens on free 127.0.0.1 ports and lives in temporary
directories; nothing is persisted. Each replica keeps its own port and
state_dir across restarts, so nginx's upstreams stay valid.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from daemon import Daemon, expect, free_port
from fixture import BUILD, SECRET, SRC, Platform
from redis import Redis, wait_bridged

NGINX_EXAMPLE = os.path.join(SRC, "packaging/nginx/vibebox.conf")


def wait_for(pred, timeout, what, step=0.05):
    """pred() until it is true; AssertionError naming what after timeout."""
    end = time.monotonic() + timeout
    while True:
        try:
            v = pred()
            if v:
                return v
        except OSError:
            pass
        if time.monotonic() > end:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(step)


class Front:
    """The nginx in front, spoken to like a Daemon (request, get, port)."""

    request = Daemon.request
    get = Daemon.get

    def __init__(self, port):
        self.port = port


class Nginx:
    """Debian's nginx from the packaging example, on its own prefix."""

    def __init__(self, ports):
        self.dir = tempfile.mkdtemp(prefix="vbx-nginx-")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.conf = os.path.join(self.dir, "nginx.conf")
        with open(os.path.join(self.dir, "vibebox.conf"), "w") as f:
            f.write(Nginx.example(ports, self.port))
        with open(self.conf, "w") as f:
            f.write(f"""daemon off;
master_process on;
worker_processes 1;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log info;
events {{ worker_connections 1024; }}
http {{
    log_format upstreams '$remote_addr [$time_local] "$request" $status '
                         '$body_bytes_sent up=$upstream_addr '
                         'st=$upstream_status t=$upstream_response_time';
    access_log {self.dir}/access.log upstreams;
    client_body_temp_path {self.dir}/body;
    proxy_temp_path {self.dir}/proxy;
    include {self.dir}/vibebox.conf;
}}
""")
        self.proc = None
        self.front = Front(self.port)

    @staticmethod
    def example(ports, listen):
        """packaging/nginx/vibebox.conf with the replicas on ports and
        the listener on 127.0.0.1:listen."""
        with open(NGINX_EXAMPLE) as f:
            text = f.read()
        servers = re.compile(r"((?:[ \t]*server [0-9.]+:\d+([^;\n]*);\n)+)")

        def ours(m):
            indent = re.match(r"[ \t]*", m.group(1)).group(0)
            return "".join(f"{indent}server 127.0.0.1:{p}{m.group(2)};\n"
                           for p in ports)
        text, n = servers.subn(ours, text)
        expect(n == 2, f"{NGINX_EXAMPLE}: {n} upstream server lists, not 2")
        text, n = re.subn(r"listen 80;", f"listen 127.0.0.1:{listen};", text)
        expect(n == 1, f"{NGINX_EXAMPLE}: no 'listen 80;'")
        return text

    def start(self):
        self.proc = subprocess.Popen(
            ["nginx", "-p", self.dir, "-c", self.conf, "-e",
             os.path.join(self.dir, "error.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self.proc.poll() is not None or
                 socket.create_connection(("127.0.0.1", self.port), 1),
                 10, "nginx listens")
        expect(self.proc.poll() is None,
               f"nginx exited: {self.errors()}")
        return self

    def errors(self, tail=2000):
        try:
            with open(os.path.join(self.dir, "error.log")) as f:
                return f.read()[-tail:]
        except OSError:
            return "(no error.log)"

    def fail_timeout(self):
        """The example's fail_timeout, in seconds."""
        with open(NGINX_EXAMPLE) as f:
            m = re.search(r"fail_timeout=(\d+)s", f.read())
        expect(m, f"{NGINX_EXAMPLE}: no fail_timeout=Ns")
        return int(m.group(1))

    def statuses(self):
        """How many answers of each status the access log holds."""
        count = {}
        with open(os.path.join(self.dir, "access.log")) as f:
            for line in f:
                m = re.search(r'" (\d{3}) ', line)
                if m:
                    count[m.group(1)] = count.get(m.group(1), 0) + 1
        return count

    def retries(self):
        """The failures the error log shows that nginx met upstream
        (each one tried on the next replica, or answered 502)."""
        n = {}
        for line in self.errors(10**7).splitlines():
            m = re.search(r"\[(error|warn)\] [^:]*: \*\d+ (.*?)(,| while)",
                          line)
            if m:
                n[m.group(2)] = n.get(m.group(2), 0) + 1
        return n

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not os.environ.get("VBX_TEST_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)


def have_redis_cache():
    return os.path.exists(os.path.join(BUILD, "plugins", "redis-cache",
                                       ".libs", "redis-cache.so"))


class Cluster:
    """n replicas on one database, one Redis and nginx.

    auth, runtime, platform: extra keys of those plugins' blocks; core:
    extra top-level config; server: extra keys of the server block."""

    def __init__(self, platform, n=3, auth="", runtime="", platform_cfg="",
                 core="", server="", log="info"):
        self.p = platform
        self.n = n
        self.cfg = dict(auth=auth, runtime=runtime, platform=platform_cfg,
                        core=core, server=server, log=log)
        self.redis = Redis()
        self.replicas = []
        self.nginx = None
        self.front = None

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def start(self):
        self.redis.start()
        if have_redis_cache():
            link = os.path.join(self.p.plugin_dir, "redis-cache.so")
            if not os.path.lexists(link):
                os.symlink(os.path.join(BUILD, "plugins", "redis-cache",
                                        ".libs", "redis-cache.so"), link)
        self.p.dbs += 1
        self.conninfo = subprocess.run(
            [os.path.join(SRC, "tests/postgres/pg_cluster.sh"), "createdb",
             self.p.pg, f"t{self.p.dbs}"], check=True, capture_output=True,
            text=True).stdout.strip()
        for i in range(self.n):
            d = self.daemon(i)
            d.start()
            if have_redis_cache():
                wait_bridged(d)
            self.replicas.append(d)
        self.p.instances.append(Platform.instance_id(self.replicas[0]))
        self.nginx = Nginx([d.port for d in self.replicas]).start()
        self.front = self.nginx.front

    def daemon(self, i):
        key = os.path.join(self.p.dir, "secrets.key")
        cache = ""
        if have_redis_cache():
            cache = f"""{{ name = "redis-cache"; config = {{
      url = "{self.redis.url}"; }}; }},"""
        c = self.cfg
        d = Daemon(plugin_dir=self.p.plugin_dir, extra=c["core"],
                   log=f'level = "{c["log"]}";', server=c["server"],
                   plugins=f"""{cache}
  {{ name = "postgres-store"; config = {{ conninfo = "{self.conninfo}";
      secrets_key_file = "{key}"; }}; }},
  {{ name = "auth"; config = {{ jwt_secret = "{SECRET}";
      registration = "open"; argon2_memory = "1MiB";
      argon2_iterations = 1; {c["auth"]} }}; }},
  {{ name = "docker-runtime"; config = {{ images = [ "vibebox/*" ];
      {c["runtime"]} }}; }},
  {{ name = "platform"; config = {{ {c["platform"]} }}; }}""")
        d.name = "ABCDEFGHIJ"[i]
        d.conninfo = self.conninfo
        return d

    def stop(self, i, sig=signal.SIGTERM, timeout=30):
        """Signal replica i and wait for it to exit; its exit status."""
        d = self.replicas[i]
        d.proc.send_signal(sig)
        code = d.proc.wait(timeout)
        d.log.close()
        os.replace(d.logpath, d.logpath + f".{time.time_ns()}")
        return code

    def kill(self, i):
        return self.stop(i, signal.SIGKILL)

    def start_again(self, i):
        """Start replica i again, on its port and state_dir; returns once
        /health/startup answers 200."""
        self.replicas[i].start()
        return self.replicas[i]

    def restart(self, i):
        code = self.stop(i)
        self.start_again(i)
        return code

    def __exit__(self, *exc):
        if self.nginx:
            self.nginx.close()
        for d in self.replicas:
            d.stop()
        self.redis.stop()
