# SPDX-License-Identifier: Apache-2.0
"""fixture.py - the whole platform for integration tests: a throwaway PostgreSQL
cluster, the Docker engine with the test image (tests/docker/docker.sh),
and vibeboxd with postgres-store, auth, docker-runtime and platform.

    with Platform() as p:
        d = p.start()                       # a daemon on a fresh database
        admin = p.user(d, "admin@x.test")   # register + login -> token
        proj = p.project(d, admin, "demo")  # a personal project
        env = p.environment(d, admin, proj["id"], "box")

Exit 77 (skipped) from skip_unless_ready() when there is no cluster
script or no Docker engine; CI always has both.
"""

import os
import shutil
import subprocess
import tempfile

from daemon import Daemon, expect

SRC = os.environ.get("VBX_SRCDIR", ".")
BUILD = os.environ.get("VBX_BUILDDIR", ".")
CLUSTER = os.path.join(SRC, "tests/postgres/pg_cluster.sh")
DOCKER = os.path.join(SRC, "tests/docker/docker.sh")
IMAGE = os.environ.get("VBX_TEST_IMAGE", "vibebox/test:latest")
# Like debian or python: CMD ["/bin/sh"], which exits at once without a
# TTY; root's login shell in its /etc/passwd (a symlink) is /bin/ash.
CMD_IMAGE = os.environ.get("VBX_TEST_CMD_IMAGE", "vibebox/test-cmd:latest")
SECRET = "k1:" + "0123456789abcdef" * 4
SECRETS_KEY = "0123456789abcdef" * 4
PASSWORD = "correct horse"
PLUGINS = ("postgres-store", "auth", "docker-runtime", "platform")


def skip_unless_ready():
    """Exit 77 (skip) without PostgreSQL or Docker; with
    VBX_REQUIRE_SERVICES=1 (scripts/test.sh as root) exit 1 instead."""
    missing = None
    if not os.path.exists(CLUSTER) or not shutil.which("runuser"):
        missing = "no PostgreSQL test cluster script"
    elif subprocess.run([DOCKER, "start"]).returncode != 0:
        missing = "no Docker engine"
    if missing:
        required = os.environ.get("VBX_REQUIRE_SERVICES") == "1"
        print(f"# {'FAILED' if required else 'skipped'}: {missing}")
        raise SystemExit(1 if required else 77)


class Platform:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="vbx-platform-")
        os.chmod(self.dir, 0o755)
        self.pg = os.path.join(self.dir, "pg")
        self.plugin_dir = os.path.join(self.dir, "plugins")
        self.dbs = 0
        self.instances = []  # installation ids of the daemons started

    def __enter__(self):
        subprocess.run([CLUSTER, "start", self.pg], check=True,
                       capture_output=True, text=True)
        os.mkdir(self.plugin_dir)
        for name in PLUGINS:
            os.symlink(os.path.join(BUILD, "plugins", name, ".libs",
                                    name + ".so"),
                       os.path.join(self.plugin_dir, name + ".so"))
        with open(os.path.join(self.dir, "secrets.key"), "w") as f:
            f.write(SECRETS_KEY + "\n")
        return self

    def __exit__(self, *exc):
        self.remove_engine_leftovers()
        subprocess.run([CLUSTER, "stop", self.pg], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)

    def start(self, runtime="", auth="", core="", platform="", wait=True,
              more=""):
        """A daemon on a database of its own. runtime/auth/platform: extra
        keys of those plugins' blocks; core: extra top-level config;
        more: further plugin blocks, each starting with a comma (their .so
        linked into plugin_dir by the caller)."""
        self.dbs += 1
        conninfo = subprocess.run(
            [CLUSTER, "createdb", self.pg, f"t{self.dbs}"], check=True,
            capture_output=True, text=True).stdout.strip()
        key = os.path.join(self.dir, "secrets.key")
        d = Daemon(plugin_dir=self.plugin_dir, extra=core, plugins=f"""
  {{ name = "postgres-store"; config = {{ conninfo = "{conninfo}";
      secrets_key_file = "{key}"; }}; }},
  {{ name = "auth"; config = {{ jwt_secret = "{SECRET}";
      registration = "open"; argon2_memory = "1MiB";
      argon2_iterations = 1; {auth} }}; }},
  {{ name = "docker-runtime"; config = {{ images = [ "vibebox/*" ];
      {runtime} }}; }},
  {{ name = "platform"; config = {{ {platform} }}; }}{more}""")
        d.conninfo = conninfo
        if not wait:
            return d
        d.start()
        self.instances.append(Platform.instance_id(d))
        return d

    def remove_engine_leftovers(self):
        """Remove what the daemons started here left on the engine: their
        databases go, so no reconcile pass would ever find them. Keepers
        (io.vibebox.kept-workspace) carry the instance label too."""
        for instance in self.instances:
            label = f"label=io.vibebox.instance={instance}"
            for ls, rm in ((["ps", "-aq"], ["rm", "-f"]),
                           (["network", "ls", "-q"], ["network", "rm"]),
                           (["volume", "ls", "-q"], ["volume", "rm", "-f"])):
                ids = subprocess.run(["docker", *ls, "--filter", label],
                                     capture_output=True,
                                     text=True).stdout.split()
                if ids:
                    subprocess.run(["docker", *rm, *ids],
                                   capture_output=True)

    @staticmethod
    def instance_id(d):
        """The installation id the daemon labels its containers with."""
        return subprocess.run(
            ["psql", "-qtA", "-d", d.conninfo, "-c",
             "SELECT id FROM instance"], check=True, capture_output=True,
            text=True).stdout.strip()

    @staticmethod
    def user(d, email, name="Dev"):
        """Register (the first user is the instance admin) and log in;
        returns the access token."""
        st, body, _ = d.request("POST", "/api/v1/auth/register",
                                {"email": email, "password": PASSWORD,
                                 "name": name})
        expect(st == 201, f"register {email}: {st} {body}")
        return body["tokens"]["accessToken"]

    @staticmethod
    def project(d, token, name, team_id=None):
        body = {"name": name}
        if team_id:
            body["teamId"] = team_id
        st, p, _ = d.request("POST", "/api/v1/projects", body, token=token)
        expect(st == 201, f"project {name}: {st} {p}")
        return p

    @staticmethod
    def environment(d, token, project_id, name, image=IMAGE, cpu=0.5,
                    memory=128):
        st, e, _ = d.request("POST", "/api/v1/environments",
                             {"projectId": project_id, "name": name,
                              "image": image, "cpuLimit": cpu,
                              "memoryLimit": memory}, token=token)
        expect(st == 201, f"environment {name}: {st} {e}")
        return e

    @staticmethod
    def docker(*args):
        """Run the docker CLI; returns stdout (raises on failure)."""
        return subprocess.run(["docker", *args], check=True,
                              capture_output=True, text=True).stdout
