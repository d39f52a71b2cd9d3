# SPDX-License-Identifier: Apache-2.0
"""The environment endpoints end to end: a throwaway PostgreSQL cluster, the
real Docker engine and vibeboxd with postgres-store, auth and
docker-runtime (fixture.py).

CRUD and validation, quotas, the lifecycle against `docker inspect`
(limits, the same container across stop/start, a new one on restart, gone
on delete), an image outside the allow-list refused by POST and PATCH,
an image's own command kept by keep_command, actions in the wrong state,
variables (secrets never returned, clear in the container), ports on
127.0.0.1, who may do what, env_status on /api/v1/events, and 503 without
a runtime. Every container it makes is named vbx-<environment id> by
docker-runtime; whatever is left is removed at the end.
"""

import asyncio
import json
import os
import subprocess
import time
import uuid

import websockets

from daemon import Daemon, Suite, error_of, expect
from fixture import (CLUSTER, CMD_IMAGE, IMAGE, SECRET, Platform,
                     skip_unless_ready)

ENVS = "/api/v1/environments"
# The statuses checked here come from the API's own actions; keep the
# reconcile pass (test_runtime_watch.py's subject) out of the way.
PLATFORM = """environments: { max_cpu = 2; max_memory = "1GiB";
  stop_timeout = "1s"; reconcile_interval = "1h"; };"""
LIMITS = 'register_limit = "1000/1m"; login_limit = "1000/1m";'
P = None   # the Platform
D = None   # the daemon most checks use
T = {}     # tokens
U = {}     # user ids
MADE = []  # environment ids, for the clean-up


def call(method, path, body=None, who="alice", **kw):
    token = T[who] if who else None
    return D.request(method, path, body, token=token, timeout=120, **kw)


def new_env(who, project, name, **over):
    body = {"projectId": project, "name": name, "image": IMAGE,
            "cpuLimit": 0.5, "memoryLimit": 128}
    body.update(over)
    st, e, _ = call("POST", ENVS, body, who=who)
    expect(st == 201, f"create {name}: {st} {e}")
    MADE.append(e["id"])
    return e


def docker(*args, check=True):
    r = subprocess.run(["docker", *args], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {r.stderr}")
    return r


def inspect(env_id):
    """docker inspect of the environment's container, or None."""
    r = docker("inspect", f"vbx-{env_id}", check=False)
    if r.returncode != 0:
        return None
    return json.loads(r.stdout)[0]


def user_id(token):
    st, me, _ = D.request("GET", "/api/v1/users/me", token=token)
    expect(st == 200, f"me: {st} {me}")
    return me["id"]


def setup():
    global D
    D = P.start(platform=PLATFORM, auth=LIMITS)
    for who in ("admin", "alice", "bob", "carol", "dave", "eve"):
        T[who] = P.user(D, f"{who}@envs.test", who.capitalize())
        U[who] = user_id(T[who])
    T["alice_project"] = P.project(D, T["alice"], "Alice's")["id"]
    st, team, _ = D.request("POST", "/api/v1/teams",
                            {"name": "Envs team"}, token=T["bob"])
    expect(st == 201, f"team {st} {team}")
    for who, role in (("carol", "developer"), ("dave", "viewer")):
        st, b, _ = D.request("POST", f"/api/v1/teams/{team['id']}/members",
                             {"userId": U[who], "role": role},
                             token=T["bob"])
        expect(st == 201, f"member {who}: {st} {b}")
    T["team_project"] = P.project(D, T["bob"], "Team's", team["id"])["id"]


# ---- CRUD and validation ----

def test_create_read_list_update():
    proj = T["alice_project"]
    e = new_env("alice", proj, "My Box!")
    expect(e["slug"] == "my-box" and e["status"] == "stopped" and
           e["projectId"] == proj and e["image"] == IMAGE and
           e["cpuLimit"] == 0.5 and e["memoryLimit"] == 128 and
           e["statusReason"] is None and e["startedAt"] is None and
           e["stoppedAt"] is None and e["createdAt"].endswith("Z"), e)
    st, got, _ = call("GET", f"{ENVS}/{e['id']}")
    expect(st == 200 and got == e, f"{st} {got}")
    st, b, _ = call("POST", ENVS, {"projectId": proj, "name": "other",
                                   "slug": "my-box", "image": IMAGE,
                                   "cpuLimit": 1, "memoryLimit": 64})
    expect(st == 409 and "slug" in error_of(b)["message"], f"{st} {b}")
    st, b, _ = call("GET", f"{ENVS}?projectId={proj}")
    expect(st == 200 and [x["id"] for x in b["data"]] == [e["id"]] and
           b["pagination"]["total"] == 1, b)
    st, b, _ = call("GET", ENVS)
    expect(st == 200 and e["id"] in [x["id"] for x in b["data"]], b)
    st, b, _ = call("GET", ENVS, who="eve")
    expect(st == 200 and b["data"] == [] and b["pagination"]["total"] == 0,
           b)
    st, b, _ = call("GET", ENVS, who="admin")
    expect(st == 200 and e["id"] in [x["id"] for x in b["data"]], b)
    st, b, _ = call("PATCH", f"{ENVS}/{e['id']}",
                    {"name": "Renamed", "cpuLimit": 1.25})
    expect(st == 200 and b["name"] == "Renamed" and b["slug"] == "my-box"
           and b["cpuLimit"] == 1.25, f"{st} {b}")
    st, b, _ = call("PATCH", f"{ENVS}/{e['id']}", {"projectId": proj})
    expect(st == 400 and "projectId" in error_of(b)["fields"], b)
    for method in ("GET", "PATCH", "DELETE"):
        st, b, _ = call(method, f"{ENVS}/{e['id']}",
                        {"name": "x"} if method == "PATCH" else None,
                        who="eve")
        expect(st == 404, f"eve {method}: {st} {b}")
    st, b, _ = call("GET", f"{ENVS}/not-a-uuid")
    expect(st == 404, f"{st} {b}")
    st, b, _ = call("GET", f"{ENVS}/{uuid.uuid4()}")
    expect(st == 404, f"{st} {b}")
    st, b, _ = call("GET", f"{ENVS}?projectId=nope")
    expect(st == 400 and "projectId" in error_of(b)["fields"], b)
    st, b, _ = call("GET", f"{ENVS}?projectId={proj}", who="eve")
    expect(st == 404, f"{st} {b}")
    st, _, _ = call("DELETE", f"{ENVS}/{e['id']}")
    expect(st == 204, st)
    st, _, _ = call("GET", f"{ENVS}/{e['id']}")
    expect(st == 404, st)


def fields_of(body):
    return error_of(body).get("fields", {})


def test_validation_errors():
    proj = T["alice_project"]
    good = {"projectId": proj, "name": "v", "image": IMAGE,
            "cpuLimit": 0.5, "memoryLimit": 128}
    cases = [
        ({"name": None}, "name", "required"),
        ({"name": ""}, "name", ""),
        ({"name": "x" * 200}, "name", ""),
        ({"name": 5}, "name", "string"),
        ({"name": "   "}, "name", "blank"),
        ({"slug": "Bad Slug"}, "slug", ""),
        ({"projectId": "nope"}, "projectId", "UUID"),
        ({"projectId": None}, "projectId", "required"),
        ({"image": None}, "image", "required"),
        ({"image": "has space"}, "image", "image"),
        ({"image": "x" * 300}, "image", ""),
        ({"image": ["a"]}, "image", "string"),
        ({"cpuLimit": None}, "cpuLimit", "required"),
        ({"cpuLimit": 0}, "cpuLimit", "more than 0"),
        ({"cpuLimit": -1}, "cpuLimit", "more than 0"),
        ({"cpuLimit": "1"}, "cpuLimit", "number"),
        ({"cpuLimit": 0.125}, "cpuLimit", "hundredths"),
        ({"cpuLimit": 3}, "cpuLimit", "environments.max_cpu"),
        ({"cpuLimit": 1e300}, "cpuLimit", "environments.max_cpu"),
        ({"memoryLimit": None}, "memoryLimit", "required"),
        ({"memoryLimit": 8}, "memoryLimit", "at least"),
        ({"memoryLimit": 1.5}, "memoryLimit", "integer"),
        ({"memoryLimit": "128"}, "memoryLimit", "integer"),
        ({"memoryLimit": 2048}, "memoryLimit", "environments.max_memory"),
        ({"color": "red"}, "color", "not a known field"),
    ]
    for change, field, words in cases:
        body = dict(good)
        for k, v in change.items():
            if v is None:
                body.pop(k, None)
            else:
                body[k] = v
        st, b, _ = call("POST", ENVS, body)
        f = fields_of(b) if st == 400 else {}
        expect(st == 400 and error_of(b)["code"] == "VALIDATION_ERROR" and
               field in f and words in f[field],
               f"{change}: {st} {b}")
    st, b, _ = call("POST", ENVS, {**good, "cpuLimit": 3, "memoryLimit": 8,
                                   "x": 1})
    expect(set(fields_of(b)) == {"cpuLimit", "memoryLimit", "x"}, b)
    st, b, _ = call("POST", ENVS, b"[1]")
    expect(st == 400 and error_of(b)["code"] == "BAD_REQUEST", b)
    st, b, _ = call("POST", ENVS, b"{nope")
    expect(st == 400, b)
    st, b, _ = call("POST", ENVS, {**good, "projectId": str(uuid.uuid4())})
    expect(st == 404, f"unknown project: {st} {b}")
    st, b, _ = call("POST", ENVS, {**good, "projectId": T["team_project"]})
    expect(st == 404, f"a project alice cannot see: {st} {b}")
    st, b, _ = call("POST", ENVS, {**good, "projectId": T["team_project"]},
                    who="dave")
    expect(st == 403, f"a viewer: {st} {b}")
    st, b, _ = call("POST", ENVS, {**good, "name": "n" * 5000})
    expect(st in (400, 413), f"oversize: {st} {b}")
    e = new_env("alice", T["alice_project"], "patchme")
    for change, field in (({"cpuLimit": 0}, "cpuLimit"),
                          ({"memoryLimit": 4096}, "memoryLimit"),
                          ({"image": ""}, "image"), ({"name": 1}, "name"),
                          ({"status": "running"}, "status")):
        st, b, _ = call("PATCH", f"{ENVS}/{e['id']}", change)
        expect(st == 400 and field in fields_of(b), f"{change}: {st} {b}")
    call("DELETE", f"{ENVS}/{e['id']}")


def test_quotas():
    d = P.start(platform="""environments: { max_per_user = 2;
        max_per_team = 3; reconcile_interval = "1h"; };""", auth=LIMITS)
    try:
        a = P.user(d, "q-admin@envs.test")
        b = P.user(d, "q-bob@envs.test")
        c = P.user(d, "q-carol@envs.test")
        st, me, _ = d.request("GET", "/api/v1/users/me", token=c)
        mine = P.project(d, b, "mine")["id"]
        st, team, _ = d.request("POST", "/api/v1/teams", {"name": "Q"},
                                token=b)
        d.request("POST", f"/api/v1/teams/{team['id']}/members",
                  {"userId": me["id"], "role": "developer"}, token=b)
        tp = P.project(d, b, "tp", team["id"])["id"]
        body = {"image": IMAGE, "cpuLimit": 0.5, "memoryLimit": 64}
        for n in ("one", "two"):
            st, e, _ = d.request("POST", ENVS, {**body, "projectId": mine,
                                               "name": n}, token=b)
            expect(st == 201, f"{st} {e}")
        st, e, _ = d.request("POST", ENVS, {**body, "projectId": tp,
                                           "name": "three"}, token=b)
        expect(st == 409 and "environments.max_per_user" in
               error_of(e)["message"], f"{st} {e}")
        for n in ("c1", "c2"):
            st, e, _ = d.request("POST", ENVS, {**body, "projectId": tp,
                                               "name": n}, token=c)
            expect(st == 201, f"{st} {e}")
        st, e, _ = d.request("POST", ENVS, {**body, "projectId": tp,
                                           "name": "c3"}, token=a)
        expect(st == 201, f"admin, team at 2 of 3: {st} {e}")
        st, e, _ = d.request("POST", ENVS, {**body, "projectId": tp,
                                           "name": "c4"}, token=a)
        expect(st == 409 and "environments.max_per_team" in
               error_of(e)["message"], f"{st} {e}")
    finally:
        code = d.stop()
    expect(code == 0, f"exit {code}: {d.logtext()[-2000:]}")


# ---- the lifecycle ----

def action(env_id, what, who="alice"):
    return call("POST", f"{ENVS}/{env_id}/{what}", who=who)


def test_lifecycle():
    e = new_env("alice", T["alice_project"], "life")
    st, b, _ = action(e["id"], "start")
    expect(st == 200 and b["status"] == "running" and
           b["statusReason"] is None and b["startedAt"], f"{st} {b}")
    c = inspect(e["id"])
    expect(c and c["State"]["Running"], f"inspect {c and c['State']}")
    expect(c["HostConfig"]["NanoCpus"] == 500000000 and
           c["HostConfig"]["Memory"] == 128 << 20, c["HostConfig"])
    cid = c["Id"]

    st, s, _ = call("GET", f"{ENVS}/{e['id']}/stats")
    expect(st == 200 and s["memoryLimitBytes"] == 128 << 20 and
           s["pids"] >= 1 and s["memoryBytes"] > 0 and
           s["cpuPercent"] >= 0 and s["at"].endswith("Z"), f"{st} {s}")

    docker("exec", cid, "sh", "-c", "echo hello out > /proc/1/fd/1; "
           "echo hello err > /proc/1/fd/2; echo kept > /tmp/kept")
    time.sleep(0.5)
    st, lg, _ = call("GET", f"{ENVS}/{e['id']}/logs?tail=10")
    expect(st == 200 and lg["truncated"] is False, f"{st} {lg}")
    lines = [(x["stream"], x["line"]) for x in lg["data"]]
    expect(("stdout", "hello out") in lines and
           ("stderr", "hello err") in lines, lg)
    expect(all(x["time"] and x["time"].endswith("Z") for x in lg["data"]),
           lg)
    st, lg, _ = call("GET", f"{ENVS}/{e['id']}/logs?tail=1")
    expect(st == 200 and len(lg["data"]) == 1, lg)
    st, lg, _ = call("GET", f"{ENVS}/{e['id']}/logs?since=4000000000")
    expect(st == 200 and lg["data"] == [], lg)
    st, lg, _ = call("GET", f"{ENVS}/{e['id']}/logs?since=2000-01-01T00:00:00Z")
    expect(st == 200 and len(lg["data"]) == 2, lg)
    for q in ("tail=abc", "tail=10001", "tail=-1", "since=yesterday",
              "since=2026-13-01T00:00:00Z"):
        st, b, _ = call("GET", f"{ENVS}/{e['id']}/logs?{q}")
        expect(st == 400 and error_of(b)["code"] == "VALIDATION_ERROR",
               f"{q}: {st} {b}")

    st, b, _ = action(e["id"], "stop")
    expect(st == 200 and b["status"] == "stopped" and b["stoppedAt"],
           f"{st} {b}")
    c = inspect(e["id"])
    expect(c and not c["State"]["Running"] and c["Id"] == cid,
           "stopped, kept")
    st, b, _ = action(e["id"], "start")
    expect(st == 200 and b["status"] == "running", f"{st} {b}")
    expect(inspect(e["id"])["Id"] == cid, "the same container")
    out = docker("exec", cid, "cat", "/tmp/kept").stdout
    expect(out.strip() == "kept", f"file survived: {out!r}")

    st, b, _ = action(e["id"], "restart")
    expect(st == 200 and b["status"] == "running", f"{st} {b}")
    c = inspect(e["id"])
    expect(c and c["State"]["Running"] and c["Id"] != cid,
           "restart creates a new container")

    st, _, _ = call("DELETE", f"{ENVS}/{e['id']}")
    expect(st == 204, st)
    expect(inspect(e["id"]) is None, "container removed")
    st, _, _ = call("GET", f"{ENVS}/{e['id']}")
    expect(st == 404, st)


def test_settings_of_a_stopped_env_recreate_its_container():
    e = new_env("alice", T["alice_project"], "resize")
    st, b, _ = action(e["id"], "start")
    expect(st == 200 and b["status"] == "running", b)
    cid = inspect(e["id"])["Id"]
    st, b, _ = call("PATCH", f"{ENVS}/{e['id']}", {"memoryLimit": 256})
    expect(st == 200, b)
    expect(inspect(e["id"])["HostConfig"]["Memory"] == 128 << 20,
           "a running env keeps its container")
    action(e["id"], "stop")
    st, b, _ = call("PATCH", f"{ENVS}/{e['id']}", {"memoryLimit": 192})
    expect(st == 200 and b["memoryLimit"] == 192, b)
    expect(inspect(e["id"]) is None, "the stopped env's container is gone")
    st, b, _ = action(e["id"], "start")
    c = inspect(e["id"])
    expect(st == 200 and c["Id"] != cid and
           c["HostConfig"]["Memory"] == 192 << 20, c and c["HostConfig"])
    call("DELETE", f"{ENVS}/{e['id']}")


def test_actions_in_the_wrong_state():
    e = new_env("alice", T["alice_project"], "states")
    for what in ("stop", "restart"):
        st, b, _ = action(e["id"], what)
        expect(st == 409 and error_of(b)["code"] == "CONFLICT" and
               "stopped" in error_of(b)["message"], f"{what}: {st} {b}")
    for path in ("stats",):
        st, b, _ = call("GET", f"{ENVS}/{e['id']}/{path}")
        expect(st == 409 and "stopped" in error_of(b)["message"],
               f"{path}: {st} {b}")
    st, b, _ = call("GET", f"{ENVS}/{e['id']}/logs")
    expect(st == 200 and b["data"] == [], f"logs before a start: {b}")
    st, b, _ = action(e["id"], "start")
    expect(st == 200, b)
    st, b, _ = action(e["id"], "start")
    expect(st == 409 and "running" in error_of(b)["message"], f"{st} {b}")
    st, b, _ = action(e["id"], "nope")
    expect(st in (404, 405), f"{st} {b}")
    call("DELETE", f"{ENVS}/{e['id']}")
    expect(inspect(e["id"]) is None, "a running env's container removed")


def expect_image_refused(st, b, image):
    f = fields_of(b) if st == 400 else {}
    msg = f.get("image", "")
    expect(st == 400 and error_of(b)["code"] == "VALIDATION_ERROR" and
           image in msg and "plugins.docker-runtime.images" in msg and
           "allowed: vibebox/*" in msg, f"{image}: {st} {b}")


def test_an_image_outside_the_allow_list():
    proj = T["alice_project"]
    body = {"projectId": proj, "name": "forbidden", "cpuLimit": 0.5,
            "memoryLimit": 128}
    for image in ("busybox:latest", "debian", "vibebox"):
        st, b, _ = call("POST", ENVS, {**body, "image": image})
        expect_image_refused(st, b, image)
    st, b, _ = call("GET", f"{ENVS}?projectId={proj}")
    expect("forbidden" not in [x["name"] for x in b["data"]], b)
    e = new_env("alice", proj, "allowed")
    st, b, _ = call("PATCH", f"{ENVS}/{e['id']}", {"image": "debian:12"})
    expect_image_refused(st, b, "debian:12")
    st, b, _ = call("GET", f"{ENVS}/{e['id']}")
    expect(st == 200 and b["image"] == IMAGE, f"unchanged: {b}")
    st, b, _ = call("PATCH", f"{ENVS}/{e['id']}", {"image": CMD_IMAGE})
    expect(st == 200 and b["image"] == CMD_IMAGE, f"allowed: {st} {b}")
    call("DELETE", f"{ENVS}/{e['id']}")


def test_keep_command_runs_the_images_own_command():
    """An image matched by keep_command runs its CMD ["/bin/sh"], which
    exits without a TTY; the watcher reports it. (The keep-alive that
    other images get: test_terminal.py.)"""
    d = P.start(platform=PLATFORM, auth=LIMITS,
                runtime='keep_command = [ "vibebox/test-cmd:*" ];')
    env = None
    try:
        t = P.user(d, "keep@envs.test")
        proj = P.project(d, t, "keep")["id"]
        e = P.environment(d, t, proj, "svc", image=CMD_IMAGE)
        env = e["id"]
        st, b, _ = d.request("POST", f"{ENVS}/{env}/start", token=t,
                             timeout=120)
        expect(st == 200, f"start: {st} {b}")
        end = time.monotonic() + 20
        while b["status"] == "running" and time.monotonic() < end:
            time.sleep(0.2)
            st, b, _ = d.request("GET", f"{ENVS}/{env}", token=t)
        expect(b["status"] in ("stopped", "error"), f"it exited: {b}")
        c = inspect(env)
        expect(c and c["Config"]["Cmd"] == ["/bin/sh"] and
               not c["Config"]["Entrypoint"] and
               not c["State"]["Running"], c and c["Config"])
        d.request("DELETE", f"{ENVS}/{env}", token=t)
    finally:
        code = d.stop()
        if env:
            MADE.append(env)
    expect(code == 0, f"exit {code}: {d.logtext()[-2000:]}")


# ---- variables and ports ----

def test_variables():
    e = new_env("alice", T["alice_project"], "vars")
    base = f"{ENVS}/{e['id']}/variables"
    st, v, _ = call("PUT", f"{base}/GREETING", {"value": "hello world"})
    expect(st == 201 and v == {"key": "GREETING", "value": "hello world",
                               "secret": False,
                               "updatedAt": v["updatedAt"]}, f"{st} {v}")
    st, v, _ = call("PUT", f"{base}/API_TOKEN", {"value": "s3cr3t-value",
                                                 "secret": True})
    expect(st == 201 and v["secret"] is True and "value" not in v,
           f"{st} {v}")
    st, v, _ = call("PUT", f"{base}/GREETING", {"value": "hi"})
    expect(st == 200 and v["value"] == "hi", f"{st} {v}")
    st, b, _ = call("GET", base)
    by = {x["key"]: x for x in b["data"]}
    expect(set(by) == {"GREETING", "API_TOKEN"} and
           "value" not in by["API_TOKEN"] and by["GREETING"]["value"] ==
           "hi", b)
    expect("s3cr3t" not in json.dumps(b), "the secret never leaves")
    st, v, _ = call("GET", f"{base}/API_TOKEN")
    expect(st == 200 and "value" not in v and v["secret"], v)
    for key, body, field in (("1BAD", {"value": "x"}, "key"),
                             ("OK", {}, "value"),
                             ("OK", {"value": 5}, "value"),
                             ("OK", {"value": "x" * 5000}, "value"),
                             ("OK", {"value": "x", "secret": "yes"},
                              "secret"),
                             ("OK", {"value": "x", "extra": 1}, "extra")):
        st, b, _ = call("PUT", f"{base}/{key}", body)
        expect(st in (400, 413) and (st == 413 or field in fields_of(b)),
               f"{key} {body}: {st} {b}")
    st, b, _ = call("GET", f"{base}/MISSING")
    expect(st == 404, f"{st} {b}")
    st, b, _ = call("GET", f"{base}/bad-key")
    expect(st == 404, f"{st} {b}")
    st, b, _ = call("PUT", f"{base}/TEMP", {"value": "t"})
    st, _, _ = call("DELETE", f"{base}/TEMP")
    expect(st == 204, st)
    st, _, _ = call("DELETE", f"{base}/TEMP")
    expect(st == 404, st)

    st, b, _ = action(e["id"], "start")
    expect(st == 200 and b["status"] == "running", b)
    env = docker("exec", f"vbx-{e['id']}", "env").stdout.splitlines()
    expect("GREETING=hi" in env and "API_TOKEN=s3cr3t-value" in env, env)
    expect(not any(x.startswith("TEMP=") for x in env), env)
    call("DELETE", f"{ENVS}/{e['id']}")


def test_ports():
    e = new_env("alice", T["alice_project"], "ports")
    base = f"{ENVS}/{e['id']}/ports"
    st, p, _ = call("POST", base, {"port": 8080})
    expect(st == 201 and p == {"port": 8080, "protocol": "tcp",
                               "hostPort": None}, f"{st} {p}")
    st, p, _ = call("POST", base, {"port": 5353, "protocol": "udp"})
    expect(st == 201 and p["protocol"] == "udp", f"{st} {p}")
    st, b, _ = call("POST", base, {"port": 8080})
    expect(st == 409, f"{st} {b}")
    for body, field in (({"port": 0}, "port"), ({"port": 70000}, "port"),
                        ({"port": "80"}, "port"), ({}, "port"),
                        ({"port": 80, "protocol": "sctp"}, "protocol"),
                        ({"port": 80, "host": 1}, "host")):
        st, b, _ = call("POST", base, body)
        expect(st == 400 and field in fields_of(b), f"{body}: {st} {b}")
    st, b, _ = action(e["id"], "start")
    expect(st == 200 and b["status"] == "running", b)
    st, b, _ = call("GET", base)
    by = {(x["port"], x["protocol"]): x["hostPort"] for x in b["data"]}
    expect(by.get((8080, "tcp")) and by.get((5353, "udp")), b)
    out = docker("port", f"vbx-{e['id']}", "8080/tcp").stdout
    expect(f"127.0.0.1:{by[(8080, 'tcp')]}" in out, out)
    expect("0.0.0.0" not in out, out)
    st, _, _ = call("DELETE", f"{base}/5353?protocol=udp")
    expect(st == 204, st)
    st, b, _ = call("DELETE", f"{base}/5353?protocol=udp")
    expect(st == 404, f"{st} {b}")
    st, b, _ = call("DELETE", f"{base}/http")
    expect(st == 404, f"{st} {b}")
    st, b, _ = call("DELETE", f"{base}/8080?protocol=icmp")
    expect(st == 400, f"{st} {b}")
    action(e["id"], "stop")
    st, b, _ = call("GET", base)
    expect([x["hostPort"] for x in b["data"]] == [None], b)
    call("DELETE", f"{ENVS}/{e['id']}")


# ---- who may do what ----

def test_permissions():
    e = new_env("carol", T["team_project"], "team box")
    eid = e["id"]
    st, b, _ = call("GET", f"{ENVS}/{eid}", who="dave")
    expect(st == 200, f"a viewer reads: {st} {b}")
    for path in ("variables", "ports", "logs"):
        st, b, _ = call("GET", f"{ENVS}/{eid}/{path}", who="dave")
        expect(st == 200, f"a viewer reads {path}: {st} {b}")
    st, b, _ = call("GET", f"{ENVS}?projectId={T['team_project']}",
                    who="dave")
    expect(st == 200 and [x["id"] for x in b["data"]] == [eid], b)
    st, b, _ = action(eid, "start", who="dave")
    expect(st == 403 and error_of(b)["code"] == "FORBIDDEN", f"{st} {b}")
    for method, path, body in (
            ("PATCH", "", {"name": "x"}),
            ("PUT", "/variables/A", {"value": "1"}),
            ("POST", "/ports", {"port": 80}),
            ("DELETE", "", None)):
        for who in ("dave", "carol"):
            st, b, _ = call(method, f"{ENVS}/{eid}{path}", body, who=who)
            expect(st == 403, f"{who} {method} {path}: {st} {b}")
    st, b, _ = action(eid, "start", who="carol")
    expect(st == 200 and b["status"] == "running", f"developer: {st} {b}")
    st, b, _ = action(eid, "stop", who="bob")
    expect(st == 200 and b["status"] == "stopped", f"team admin: {st} {b}")
    st, b, _ = call("PUT", f"{ENVS}/{eid}/variables/A", {"value": "1"},
                    who="bob")
    expect(st == 201, f"team admin updates: {st} {b}")
    for who in ("eve", "alice"):
        st, b, _ = call("GET", f"{ENVS}/{eid}", who=who)
        expect(st == 404, f"{who} cannot see it: {st} {b}")
        st, b, _ = action(eid, "start", who=who)
        expect(st == 404, f"{who} cannot start it: {st} {b}")
    mine = new_env("alice", T["alice_project"], "private")
    for who in ("bob", "carol", "dave"):
        st, b, _ = call("GET", f"{ENVS}/{mine['id']}", who=who)
        expect(st == 404, f"{who} on alice's: {st} {b}")
    st, b, _ = call("GET", f"{ENVS}/{mine['id']}", who="admin")
    expect(st == 200, f"instance admin: {st} {b}")
    st, _, _ = call("DELETE", f"{ENVS}/{eid}", who="bob")
    expect(st == 204, st)
    call("DELETE", f"{ENVS}/{mine['id']}")


# ---- events ----

async def events_socket(token):
    """A socket on /api/v1/events, once the daemon has subscribed it."""
    ws = await websockets.connect(
        f"ws://127.0.0.1:{D.port}/api/v1/events",
        subprotocols=["vibebox.events.v1"],
        extra_headers={"Authorization": "Bearer " + token})
    hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
    expect(hello == {"type": "subscribed"}, hello)
    return ws


async def statuses(ws, env_id, want, timeout=60):
    seen = []
    deadline = time.time() + timeout
    while len(seen) < len(want) and time.time() < deadline:
        m = json.loads(await asyncio.wait_for(ws.recv(),
                                              deadline - time.time()))
        if m.get("environmentId") == env_id:
            expect(m["type"] == "environment.status", m)
            seen.append(m["status"])
    return seen


def test_env_status_events():
    e = new_env("carol", T["team_project"], "evented")

    async def go():
        dave = await events_socket(T["dave"])
        eve = await events_socket(T["eve"])
        loop = asyncio.get_running_loop()
        st, b, _ = await loop.run_in_executor(
            None, lambda: action(e["id"], "start", who="carol"))
        expect(st == 200 and b["status"] == "running", b)
        st, b, _ = await loop.run_in_executor(
            None, lambda: action(e["id"], "stop", who="carol"))
        expect(st == 200, b)
        got = await statuses(dave, e["id"],
                             ["starting", "running", "stopping", "stopped"])
        expect(got == ["starting", "running", "stopping", "stopped"], got)
        try:
            m = await asyncio.wait_for(eve.recv(), 1)
            expect(e["id"] not in m, f"eve saw {m}")
        except asyncio.TimeoutError:
            pass
        await dave.close()
        await eve.close()
    asyncio.run(go())
    call("DELETE", f"{ENVS}/{e['id']}", who="bob")


# ---- without a runtime ----

def test_without_a_runtime():
    P.dbs += 1
    conninfo = subprocess.run([CLUSTER, "createdb", P.pg, f"t{P.dbs}"],
                              check=True, capture_output=True,
                              text=True).stdout.strip()
    key = os.path.join(P.dir, "secrets.key")
    d = Daemon(plugin_dir=P.plugin_dir, plugins=f"""
  {{ name = "postgres-store"; config = {{ conninfo = "{conninfo}";
      secrets_key_file = "{key}"; }}; }},
  {{ name = "auth"; config = {{ jwt_secret = "{SECRET}";
      registration = "open"; argon2_memory = "1MiB";
      argon2_iterations = 1; }}; }},
  {{ name = "platform"; }}""").start()
    try:
        t = P.user(d, "norun@envs.test")
        proj = P.project(d, t, "p")["id"]
        st, e, _ = d.request("POST", ENVS, {
            "projectId": proj, "name": "n", "image": IMAGE,
            "cpuLimit": 0.5, "memoryLimit": 64}, token=t)
        expect(st == 201, f"create needs no runtime: {st} {e}")
        st, b, _ = d.request("POST", ENVS, {
            "projectId": proj, "name": "any", "image": "busybox:latest",
            "cpuLimit": 0.5, "memoryLimit": 64}, token=t)
        expect(st == 201, f"no runtime, no allow-list: {st} {b}")
        for what in ("start", "stop", "restart"):
            st, b, _ = d.request("POST", f"{ENVS}/{e['id']}/{what}",
                                 token=t)
            expect(st == 503 and "runtime" in error_of(b)["message"],
                   f"{what}: {st} {b}")
        for what in ("stats", "logs"):
            st, b, _ = d.request("GET", f"{ENVS}/{e['id']}/{what}",
                                 token=t)
            expect(st == 503, f"{what}: {st} {b}")
        st, _, _ = d.request("DELETE", f"{ENVS}/{e['id']}", token=t)
        expect(st == 204, f"delete without a container: {st}")
    finally:
        code = d.stop()
    expect(code == 0, f"exit {code}: {d.logtext()[-2000:]}")


def cleanup():
    for env_id in MADE:
        docker("rm", "-f", f"vbx-{env_id}", check=False)
        docker("network", "rm", f"vbx-{env_id}", check=False)


def main():
    global P
    skip_unless_ready()
    s = Suite()
    with Platform() as p:
        P = p
        try:
            setup()
            for fn in (test_create_read_list_update, test_validation_errors,
                       test_quotas, test_lifecycle,
                       test_settings_of_a_stopped_env_recreate_its_container,
                       test_actions_in_the_wrong_state,
                       test_an_image_outside_the_allow_list,
                       test_keep_command_runs_the_images_own_command,
                       test_variables, test_ports, test_permissions,
                       test_env_status_events, test_without_a_runtime):
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
