# SPDX-License-Identifier: Apache-2.0
"""docker-runtime with two real engines on this machine.

Engine node-a is the machine's own (tests/docker/docker.sh); node-b is a
second dockerd started here with its own --data-root, --exec-root,
--pidfile and socket (a default bridge of its own, no iptables of its
own, an address pool apart from node-a's, --live-restore so that its
containers outlive it), loaded with the test image saved from node-a.

node-b gets a bridge of its own (vbxe-<pid>, made here): dockerd
--bridge=none would delete the host's docker0, which node-a uses.

One vibeboxd with both engines: environments spread by free capacity;
one whose image only node-a allows goes to node-a; terminal, logs, stop
and start work on both; with node-b stopped its environments go to error
naming it while node-a's keep running and answering, and the health
check is degraded (readiness still passes) and says node-b is down; with node-b back they are
running again. node-b, its containers and directories are removed at the
end whatever happens; node-a's containers other than this test's are
never touched (fixture.py removes this daemon's by its instance label).
"""

import asyncio
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time

import websockets

from daemon import VIBEBOXD, Suite, expect
from fixture import CMD_IMAGE, IMAGE, Platform, skip_unless_ready

MAIN = "unix:///var/run/docker.sock"


class Engine:
    """A second dockerd on this machine, in a directory of its own."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="vbx-eng-")
        self.sock = os.path.join(self.dir, "docker.sock")
        self.endpoint = "unix://" + self.sock
        self.proc = None
        self.bridge = f"vbxe-{os.getpid() % 100000}"
        self.bip = f"10.214.{random.randrange(1, 250)}.1/24"
        with open(os.path.join(self.dir, "daemon.json"), "w") as f:
            f.write("{}\n")

    def make_bridge(self):
        if subprocess.run(["ip", "link", "show", self.bridge],
                          capture_output=True).returncode == 0:
            return
        for cmd in (["link", "add", "name", self.bridge, "type", "bridge"],
                    ["addr", "add", self.bip, "dev", self.bridge],
                    ["link", "set", self.bridge, "up"]):
            subprocess.run(["ip", *cmd], check=True, capture_output=True)

    def docker(self, *args, check=True):
        return subprocess.run(["docker", "-H", self.endpoint, *args],
                              check=check, capture_output=True,
                              text=True).stdout

    def start(self):
        d = self.dir
        self.make_bridge()
        log = open(os.path.join(d, "dockerd.log"), "ab")
        self.proc = subprocess.Popen(
            ["dockerd", "--data-root", f"{d}/data", "--exec-root",
             f"{d}/exec", "--pidfile", f"{d}/dockerd.pid", "-H",
             self.endpoint, "--config-file", f"{d}/daemon.json",
             "--bridge", self.bridge, "--iptables=false", "--ip-masq=false",
             "--live-restore", "--default-address-pool",
             "base=10.213.0.0/16,size=24"],
            stdout=log, stderr=log, start_new_session=True)
        log.close()
        deadline = time.time() + 30
        while time.time() < deadline:
            if subprocess.run(["docker", "-H", self.endpoint, "version"],
                              capture_output=True).returncode == 0:
                return
            expect(self.proc.poll() is None,
                   "dockerd exited: " + self.logtail())
            time.sleep(0.2)
        raise AssertionError("dockerd did not answer: " + self.logtail())

    def logtail(self):
        try:
            with open(os.path.join(self.dir, "dockerd.log")) as f:
                return f.read()[-1500:]
        except OSError:
            return ""

    def stop(self):
        """SIGTERM; with --live-restore its containers keep running."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def load_image(self, image):
        save = subprocess.Popen(["docker", "save", image],
                                stdout=subprocess.PIPE)
        subprocess.run(["docker", "-H", self.endpoint, "load"],
                       stdin=save.stdout, check=True, capture_output=True)
        save.stdout.close()
        expect(save.wait() == 0, f"docker save {image}")

    def destroy(self):
        """Everything on it, then it and its directory."""
        if not self.proc:
            try:
                self.start()
            except Exception:
                pass
        if self.proc:
            for ls, rm in ((["ps", "-aq"], ["rm", "-f"]),
                           (["network", "ls", "-q", "--filter",
                             "type=custom"], ["network", "rm"]),
                           (["volume", "ls", "-q"], ["volume", "rm", "-f"])):
                ids = self.docker(*ls, check=False).split()
                if ids:
                    self.docker(*rm, *ids, check=False)
            self.stop()
        for sub in ("data", "exec"):
            path = os.path.join(self.dir, sub)
            subprocess.run(["umount", "-R", path], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)
        subprocess.run(["ip", "link", "del", self.bridge],
                       capture_output=True)


B = Engine()
S = {}  # the daemon, token and environments shared by the steps


def runtime():
    return f"""engines = (
      {{ name = "node-a"; endpoint = "{MAIN}"; cpus = 2;
         memory = "2GiB"; }},
      {{ name = "node-b"; endpoint = "{B.endpoint}"; cpus = 2;
         memory = "2GiB"; images = [ "vibebox/test:*" ]; }} );"""


def wait_for(what, fn, timeout=30.0, step=0.2):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(step)
    raise AssertionError(f"{what}: not within {timeout} s (last: {last!r})")


def engine_of(env_id):
    """Which engine holds the environment's container, asked of both."""
    where = []
    for name, args in (("node-a", []), ("node-b", ["-H", B.endpoint])):
        out = subprocess.run(
            ["docker", *args, "ps", "-aq", "--filter",
             f"label=io.vibebox.environment={env_id}"],
            capture_output=True, text=True).stdout.split()
        if out:
            where.append(name)
    return where


def env_get(env_id):
    d, token = S["d"], S["token"]
    st, e, _ = d.get(f"/api/v1/environments/{env_id}", token=token)
    expect(st == 200, f"GET environment: {st} {e}")
    return e


def action(env_id, what):
    d, token = S["d"], S["token"]
    st, e, _ = d.request("POST", f"/api/v1/environments/{env_id}/{what}",
                         token=token, timeout=90)
    expect(st == 200, f"{what}: {st} {e}")
    return e


def docker_check():
    st, body, _ = S["d"].get("/health/ready")
    checks = {c["name"]: c for c in body.get("checks", [])}
    return st, checks.get("docker", {})


async def echo(env_id, word):
    d, token = S["d"], S["token"]
    ws = await websockets.connect(
        f"ws://127.0.0.1:{d.port}/api/v1/environments/{env_id}/terminal",
        subprotocols=["vibebox.terminal.v1"],
        extra_headers={"Authorization": "Bearer " + token})
    hello = await asyncio.wait_for(ws.recv(), 10)
    expect(hello[:1] == b"\x82", f"hello first, got {hello[:1]!r}")
    half = len(word) // 2
    await ws.send(b"\x00echo " + word[:half] + b"''" + word[half:] + b"\n")
    got = b""
    while word not in got:
        f = await asyncio.wait_for(ws.recv(), 10)
        if f[:1] == b"\x80":
            got += f[9:]
    await ws.close()


def terminal(env_id, word):
    asyncio.run(echo(env_id, word))


def logs_answer(env_id):
    d, token = S["d"], S["token"]
    st, logs, _ = d.get(f"/api/v1/environments/{env_id}/logs",
                        token=token)
    expect(st == 200 and "data" in logs, f"logs: {st} {logs}")


# ---- the steps, in order ----

def test_both_engines_are_up_in_the_health_check():
    st, check = docker_check()
    detail = check.get("detail", "")
    expect(st == 200 and check.get("status") == "ok",
           f"/health/ready: {st} {check}")
    expect("node-a up" in detail and "node-b up" in detail,
           f"detail: {detail}")


def engines_api():
    st, body, _ = S["d"].get("/api/v1/x/docker-runtime/engines",
                             token=S["token"])
    expect(st == 200, f"engines: {st} {body}")
    return {e["name"]: e for e in body["data"]}


def test_environments_spread_by_free_capacity():
    p, d, token = S["p"], S["d"], S["token"]
    proj = p.project(d, token, "engines")
    S["proj"] = proj
    # equal and empty: the first engine; then the other has more room
    big = p.environment(d, token, proj["id"], "big", cpu=1, memory=256)
    action(big["id"], "start")
    expect(engine_of(big["id"]) == ["node-a"],
           f"big on {engine_of(big['id'])}")
    small = p.environment(d, token, proj["id"], "small", cpu=0.5,
                          memory=128)
    action(small["id"], "start")
    expect(engine_of(small["id"]) == ["node-b"],
           f"small on {engine_of(small['id'])}")
    S["a"], S["b"] = big["id"], small["id"]
    eng = engines_api()
    expect(eng["node-a"]["state"] == "up" and
           eng["node-a"]["cpus"] == {"capacity": 2, "reserved": 1} and
           eng["node-b"]["cpus"]["reserved"] == 0.5 and
           eng["node-b"]["memory"]["reserved"] == 128 << 20 and
           eng["node-b"]["environments"] == 1, f"engines: {eng}")
    for env_id in (S["a"], S["b"]):
        expect(env_get(env_id)["status"] == "running",
               f"{env_id}: {env_get(env_id)}")


def test_an_image_only_node_a_allows_goes_there():
    p, d, token = S["p"], S["d"], S["token"]
    # by capacity node-b (1.5 CPUs free) would win over node-a (1)
    only_a = p.environment(d, token, S["proj"]["id"], "only-a",
                           image=CMD_IMAGE, cpu=0.5, memory=128)
    e = action(only_a["id"], "start")
    expect(e["status"] == "running", f"start: {e}")
    expect(engine_of(only_a["id"]) == ["node-a"],
           f"only-a on {engine_of(only_a['id'])}")
    S["c"] = only_a["id"]


def test_terminal_logs_stop_and_start_on_both():
    for env_id, word in ((S["a"], b"on-node-a"), (S["b"], b"on-node-b")):
        terminal(env_id, word)
        logs_answer(env_id)
    e = action(S["b"], "stop")
    expect(e["status"] == "stopped", f"stop on node-b: {e}")
    e = action(S["b"], "start")
    expect(e["status"] == "running", f"start on node-b: {e}")
    terminal(S["b"], b"again-on-node-b")
    expect(engine_of(S["b"]) == ["node-b"], "stays on node-b")


def test_node_b_away_its_environments_go_to_error():
    B.stop()
    e = wait_for("node-b's environment in error",
                 lambda: (lambda x: x if x["status"] == "error" else None)(
                     env_get(S["b"])))
    expect("engine node-b unreachable" in e.get("statusReason", ""),
           f"reason: {e}")
    # node-a's are untouched and answer
    for env_id in (S["a"], S["c"]):
        expect(env_get(env_id)["status"] == "running",
               f"{env_id}: {env_get(env_id)}")
    terminal(S["a"], b"node-a-still")
    logs_answer(S["a"])
    st, check = docker_check()
    expect(st == 200 and check.get("status") == "degraded",
           f"one engine up is enough: {st} {check}")
    expect("node-b down" in check.get("detail", ""), f"detail: {check}")
    eng = engines_api()["node-b"]
    expect(eng["state"] == "down" and eng["since"] and eng["reason"] and
           eng["environments"] is None, f"node-b: {eng}")
    # a new environment goes where there is an engine: node-a
    p, d, token = S["p"], S["d"], S["token"]
    late = p.environment(d, token, S["proj"]["id"], "late", cpu=0.25,
                         memory=64)
    e = action(late["id"], "start")
    expect(e["status"] == "running" and engine_of(late["id"]) == ["node-a"],
           f"late: {e} on {engine_of(late['id'])}")


def test_node_b_back_its_environments_recover():
    B.start()
    e = wait_for("node-b's environment running again",
                 lambda: (lambda x: x if x["status"] == "running" else None)(
                     env_get(S["b"])))
    expect(not e.get("statusReason"), f"reason cleared: {e}")
    terminal(S["b"], b"node-b-is-back")
    st, check = docker_check()
    expect(st == 200 and check.get("status") == "ok" and
           "node-b up" in check.get("detail", ""), f"{st} {check}")


def config_test(runtime_keys, *messages):
    """vibeboxd -t fails, saying each message."""
    d = S["p"].start(runtime=runtime_keys, wait=False)
    r = subprocess.run([VIBEBOXD, "-t", "-c", d.conf],
                       capture_output=True, text=True)
    out = r.stdout + r.stderr
    expect(r.returncode != 0, f"vibeboxd -t passed: {out}")
    for m in messages:
        expect("plugins.docker-runtime." + m in out, f"{m!r} in: {out}")


def test_config_errors_name_the_engine_and_key():
    config_test(f'endpoint = "{MAIN}"; ' + runtime(),
                "endpoint: set either endpoint (one engine) or engines")
    config_test(f"""engines = (
      {{ name = "x"; endpoint = "{MAIN}"; cpus = 1; memory = "1GiB"; }},
      {{ name = "x"; endpoint = "tcp://h:0"; memory = "1GiB"; }},
      {{ endpoint = "{MAIN}"; cpus = 1; memory = "1GiB"; }} );""",
                'engines.1.name: "x" names engine 0 already',
                "engines.1.endpoint: expected a port",
                "engines.1.cpus: each engine needs its capacity",
                "engines.2.name: each engine needs a name")
    config_test(f"""engines = (
      {{ name = "x"; endpoint = "{MAIN}"; cpus = 1; memory = "1GiB";
         cpu = 2; }}, 5 );""",
                "engines.0.cpu: unknown key",
                "engines.1: expected a group")


def named(fn):
    def check():
        fn()
    check.__name__ = fn.__name__
    return check


def main():
    skip_unless_ready()
    missing = [t for t in ("dockerd", "ip") if not shutil.which(t)]
    if missing or os.geteuid() != 0:
        why = f"no {' '.join(missing)}" if missing else "not root"
        required = os.environ.get("VBX_REQUIRE_SERVICES") == "1"
        print(f"# {'FAILED' if required else 'skipped'}: a second "
              f"dockerd needs root and dockerd, ip ({why})")
        raise SystemExit(1 if required else 77)
    s = Suite()
    try:
        B.start()
        B.load_image(IMAGE)
        with Platform() as p:
            S["p"] = p
            d = p.start(runtime=runtime())
            S["d"] = d
            try:
                S["token"] = p.user(d, "engines@example.test")
                for t in (test_both_engines_are_up_in_the_health_check,
                          test_environments_spread_by_free_capacity,
                          test_an_image_only_node_a_allows_goes_there,
                          test_terminal_logs_stop_and_start_on_both,
                          test_node_b_away_its_environments_go_to_error,
                          test_node_b_back_its_environments_recover,
                          test_config_errors_name_the_engine_and_key):
                    s.run(named(t))
            finally:
                code = d.stop()
            expect(code == 0, f"exit {code}: {d.logtext()[-2000:]}")
    finally:
        B.destroy()
    s.finish()


if __name__ == "__main__":
    main()
