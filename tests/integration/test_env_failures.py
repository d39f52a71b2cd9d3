# SPDX-License-Identifier: Apache-2.0
"""Failures of the engine reach the answer and the environment at once
(docs/api.md, "Status and actions"): a start or restart that the engine
cannot carry out answers 200 with the environment in `error` and the
engine's reason in statusReason, never 404 "environment not found" nor an
environment left in `starting` for the reconcile pass to time out.

Cases: an image no registry has, a bad digest, a restart after a PATCH to
a missing image, an engine that refuses the create (more CPUs than the
host has) and an engine that is down. There is no registry here: a pull
fails within a second (the engine cannot resolve registry-1.docker.io).
And the same class of fault next to it: a change of settings while the
engine is away (its container cannot be removed) still applies at the
next start, through a proxy of the engine's socket that can go down.
"""

import os
import socket
import subprocess
import tempfile
import time
import uuid

from daemon import Suite, expect
from fixture import IMAGE, Platform, skip_unless_ready
from relay import Relay

ENVS = "/api/v1/environments"
# A reconcile pass every second: an environment left in starting would
# be seen there, and its status must still be the engine's reason.
PLATFORM = """environments: { max_cpu = 64; stop_timeout = "1s";
  reconcile_interval = "1s"; };"""
BAD_DIGEST = "vibebox/test@sha256:" + "0" * 64
FAST = 15  # seconds an answer may take; a pull here fails in one
P = None
D = None
T = {}
MADE = []


def call(method, path, body=None, d=None, timeout=120):
    return (d or D).request(method, path, body, token=T["token"],
                            timeout=timeout)


def new_env(name, d=None, **over):
    body = {"projectId": T["project"], "name": name, "image": IMAGE,
            "cpuLimit": 0.5, "memoryLimit": 64}
    body.update(over)
    st, e, _ = call("POST", ENVS, body, d=d)
    expect(st == 201, f"create {name}: {st} {e}")
    MADE.append(e["id"])
    return e


def timed_action(env_id, what, d=None):
    t0 = time.monotonic()
    st, b, _ = call("POST", f"{ENVS}/{env_id}/{what}", d=d)
    took = time.monotonic() - t0
    expect(took < FAST, f"{what} took {took:.1f} s")
    return st, b


def expect_failed(st, b, env_id, *words, d=None):
    """200 with the environment in error naming every word; the same when
    read back, and still so after reconcile passes."""
    expect(st == 200 and isinstance(b, dict) and b.get("id") == env_id,
           f"answer {st} {b}")
    reason = b.get("statusReason") or ""
    expect(b["status"] == "error", f"status {b['status']}: {b}")
    for w in words:
        expect(w in reason, f"{w!r} not in the reason {reason!r}")
    time.sleep(1.5)  # a reconcile pass at least
    st, got, _ = call("GET", f"{ENVS}/{env_id}", d=d)
    expect(st == 200 and got["status"] == "error" and
           got["statusReason"] == reason, f"read back: {st} {got}")


def test_start_with_an_image_no_registry_has():
    image = f"vibebox/missing-{uuid.uuid4().hex[:8]}:1"
    e = new_env("missing", image=image)
    st, b = timed_action(e["id"], "start")
    expect_failed(st, b, e["id"], f"pull of {image} failed: ",
                  "registry-1.docker.io")
    # From error, a second start says the same again.
    st, b = timed_action(e["id"], "start")
    expect_failed(st, b, e["id"], f"pull of {image} failed: ")


def test_start_with_a_bad_digest():
    e = new_env("digest", image=BAD_DIGEST)
    st, b = timed_action(e["id"], "start")
    expect_failed(st, b, e["id"], f"pull of {BAD_DIGEST} failed: ")


def test_restart_after_a_change_to_a_missing_image():
    e = new_env("changed")
    st, b = timed_action(e["id"], "start")
    expect(st == 200 and b["status"] == "running", f"{st} {b}")
    image = f"vibebox/missing-{uuid.uuid4().hex[:8]}:2"
    st, b, _ = call("PATCH", f"{ENVS}/{e['id']}", {"image": image})
    expect(st == 200 and b["status"] == "running", f"patch: {st} {b}")
    st, b = timed_action(e["id"], "restart")
    expect_failed(st, b, e["id"], f"pull of {image} failed: ")
    gone = subprocess.run(["docker", "inspect", f"vbx-{e['id']}"],
                          capture_output=True).returncode != 0
    expect(gone, "the old container was removed by the restart")


def test_an_engine_that_refuses_the_create():
    cpus = os.cpu_count() + 1
    e = new_env("too-big", cpuLimit=cpus)
    st, b = timed_action(e["id"], "start")
    # The engine's own words: "Range of CPUs is from 0.01 to N".
    expect_failed(st, b, e["id"], "creating the container: ", "CPUs")


def other_daemon(endpoint, check):
    """check() against a daemon of its own on endpoint, with a user and a
    project in its fresh database (T's while it runs)."""
    d = P.start(platform=PLATFORM, runtime=f'endpoint = "unix://{endpoint}";')
    saved = dict(T)
    try:
        T["token"] = P.user(d, "other@fail.test")
        T["project"] = P.project(d, T["token"], "Other")["id"]
        check(d)
    finally:
        T.update(saved)
        code = d.stop()
    expect(code == 0, f"exit {code}: {d.logtext()[-2000:]}")


def test_an_engine_that_is_down():
    sock = os.path.join(tempfile.mkdtemp(prefix="vbx-nodocker-"), "no.sock")

    def check(d):
        e = new_env("down", d=d)
        st, b = timed_action(e["id"], "start", d=d)
        expect_failed(st, b, e["id"], sock, "did not answer", d=d)
    other_daemon(sock, check)


def engine_relay():
    """The engine's socket passed through a socket of our own, which can
    go down and up."""
    def engine():
        e = socket.socket(socket.AF_UNIX)
        e.connect("/var/run/docker.sock")
        return e
    path = os.path.join(tempfile.mkdtemp(prefix="vbx-proxy-"), "docker.sock")
    return Relay(engine, unix_path=path)


def test_a_change_while_the_engine_is_away_applies_at_the_next_start():
    proxy = engine_relay()

    def check(d):
        e = new_env("away", d=d)
        for what in ("start", "stop"):
            st, b = timed_action(e["id"], what, d=d)
            expect(st == 200, f"{what}: {st} {b}")
        proxy.down()
        st, b, _ = call("PATCH", f"{ENVS}/{e['id']}", {"memoryLimit": 96},
                        d=d)
        expect(st == 200 and b["memoryLimit"] == 96, f"patch: {st} {b}")
        proxy.up()
        st, b = timed_action(e["id"], "start", d=d)
        expect(st == 200 and b["status"] == "running", f"start: {st} {b}")
        out = subprocess.run(["docker", "inspect", "-f",
                              "{{.HostConfig.Memory}}", f"vbx-{e['id']}"],
                             capture_output=True, text=True).stdout
        expect(out.strip() == str(96 << 20), f"memory {out!r}")
    try:
        other_daemon(proxy.path, check)
    finally:
        proxy.close()


def cleanup():
    for env_id in MADE:
        subprocess.run(["docker", "rm", "-f", f"vbx-{env_id}"],
                       capture_output=True)
        subprocess.run(["docker", "network", "rm", f"vbx-{env_id}"],
                       capture_output=True)


def main():
    global P, D
    skip_unless_ready()
    s = Suite()
    with Platform() as p:
        P = p
        try:
            D = p.start(platform=PLATFORM)
            T["token"] = p.user(D, "fail@fail.test")
            T["project"] = p.project(D, T["token"], "Failures")["id"]
            for fn in (test_start_with_an_image_no_registry_has,
                       test_start_with_a_bad_digest,
                       test_restart_after_a_change_to_a_missing_image,
                       test_an_engine_that_refuses_the_create,
                       test_an_engine_that_is_down,
                       test_a_change_while_the_engine_is_away_applies_at_the_next_start):
                s.run(fn)
        finally:
            code = D.stop() if D else None
            cleanup()
        if D:
            def test_the_daemon_exits_cleanly():
                expect(code == 0, f"exit {code}: {D.logtext()[-3000:]}")
            s.run(test_the_daemon_exits_cleanly)
    s.finish()


if __name__ == "__main__":
    main()
