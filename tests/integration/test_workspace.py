# SPDX-License-Identifier: Apache-2.0
"""An environment's workspace (plugins/docker-runtime/workspace.c,
leftovers.c) and the reconcile pass's leftovers
(plugins/platform/lifecycle.c), in vibeboxd with postgres-store, auth,
docker-runtime and platform against a real PostgreSQL cluster and the
Docker engine (fixture.py):

  - a file written in the workspace is there after a restart, a change of
    image, and a container removed by hand then a start; deleting the
    environment removes its workspace volume and its network;
  - DELETE ?keepWorkspace=true keeps the volume (held by its keeper), and
    the reconcile pass leaves it alone;
  - an image with a USER: the workspace is its home, writable by it; a
    configured path the image lacks (workspace.paths) is made the user's;
  - workspace.size: a volume with that size where the engine can limit
    it, else a start that fails with the engine's reason;
  - this installation's orphaned volume and network, and the network a
    crashed start left behind, are removed after environments.orphan_grace
    and not before; another installation's are left alone; DELETE removes
    a network left behind by a crash.
"""

import os
import subprocess
import time
import uuid

from daemon import VIBEBOXD, Suite, expect
from fixture import CMD_IMAGE, IMAGE, Platform, skip_unless_ready

DEV_IMAGE = os.environ.get("VBX_TEST_DEV_IMAGE", "vibebox/test-dev:latest")
GRACE = 3  # seconds: environments.orphan_grace in these tests
FAST = ('environments: { reconcile_interval = "1s"; orphan_grace = "%ds"; };'
        % GRACE)
MADE = []  # environment ids and names this test made, for cleanup


def sh(*args, check=True):
    return subprocess.run(list(args), check=check, capture_output=True,
                          text=True)


def exists(kind, name):
    """Does the engine have this volume/network/container?"""
    return sh("docker", kind, "inspect", name, check=False).returncode == 0


def volume_of(env_id):
    return f"vbx-{env_id}-workspace"


def cleanup():
    for env_id in MADE:
        ids = sh("docker", "ps", "-aq", "--filter",
                 f"label=io.vibebox.environment={env_id}",
                 check=False).stdout.split()
        if ids:
            sh("docker", "rm", "-f", *ids, check=False)
        sh("docker", "network", "rm", "vbx-" + env_id, check=False)
        sh("docker", "volume", "rm", "-f", volume_of(env_id), check=False)


def wait_for(what, fn, timeout=20.0, step=0.2):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(step)
    raise AssertionError(f"{what}: not within {timeout} s (last: {last!r})")


def setup(p, d, name, image=IMAGE):
    token = p.user(d, f"{name}@workspace.test")
    proj = p.project(d, token, name)
    env = p.environment(d, token, proj["id"], name, image=image)
    MADE.append(env["id"])
    return token, env


def status(d, token, env_id):
    st, e, _ = d.get(f"/api/v1/environments/{env_id}", token=token)
    expect(st == 200, f"GET environment: {st} {e}")
    return e["status"]


def action(d, token, env_id, what):
    st, e, _ = d.request("POST", f"/api/v1/environments/{env_id}/{what}",
                         token=token, timeout=60)
    expect(st == 200, f"{what}: {st} {e}")
    return e


def start(d, token, env_id):
    action(d, token, env_id, "start")
    wait_for("running", lambda: status(d, token, env_id) == "running")


def container_of(env_id):
    out = sh("docker", "ps", "-q", "--no-trunc", "--filter",
             f"label=io.vibebox.environment={env_id}").stdout.split()
    expect(len(out) == 1, f"one running container for {env_id}, got {out}")
    return out[0]


def in_box(env_id, script, user=None):
    args = ["docker", "exec"] + (["-u", user] if user else [])
    return sh(*args, container_of(env_id), "sh", "-c", script, check=False)


def read_file(env_id, path):
    r = in_box(env_id, f"cat {path}")
    return r.stdout if r.returncode == 0 else None


def mounts(env_id):
    return sh("docker", "inspect", "-f",
              "{{range .Mounts}}{{.Name}}={{.Destination}} {{end}}",
              container_of(env_id)).stdout.split()


def test_files_survive_every_new_container(p):
    d = p.start(platform=FAST)
    try:
        token, env = setup(p, d, "survive")
        eid = env["id"]
        start(d, token, eid)
        # vibebox/test runs as root: the workspace is root's home
        expect(mounts(eid) == [f"{volume_of(eid)}=/root"],
               f"the workspace is mounted at /root: {mounts(eid)}")
        r = in_box(eid, "echo my work > /root/notes.txt")
        expect(r.returncode == 0, f"write: {r.stderr}")

        action(d, token, eid, "restart")
        wait_for("running", lambda: status(d, token, eid) == "running")
        expect(read_file(eid, "/root/notes.txt") == "my work\n",
               "the file survives a restart")

        action(d, token, eid, "stop")
        st, e, _ = d.request("PATCH", f"/api/v1/environments/{eid}",
                             {"image": CMD_IMAGE}, token=token)
        expect(st == 200 and e["image"] == CMD_IMAGE, f"PATCH: {st} {e}")
        start(d, token, eid)
        expect(read_file(eid, "/root/notes.txt") == "my work\n",
               "the file survives a change of image")

        sh("docker", "rm", "-f", container_of(eid))
        wait_for("error after the removal",
                 lambda: status(d, token, eid) == "error")
        start(d, token, eid)
        expect(read_file(eid, "/root/notes.txt") == "my work\n",
               "the file survives a container removed by hand")

        time.sleep(GRACE + 2)  # passes past the grace: a live one stays
        expect(exists("volume", volume_of(eid)),
               "a live environment's workspace survives the passes")
        st, _, _ = d.request("DELETE", f"/api/v1/environments/{eid}",
                             token=token, timeout=60)
        expect(st == 204, f"DELETE: {st}")
        expect(not exists("volume", volume_of(eid)),
               "deleting the environment removes its workspace")
        expect(not exists("network", "vbx-" + eid),
               "deleting the environment removes its network")
    finally:
        d.stop()


def test_keep_workspace_on_delete(p):
    d = p.start(platform=FAST)
    try:
        token, env = setup(p, d, "keepws")
        eid = env["id"]
        start(d, token, eid)
        in_box(eid, "echo keep me > /root/kept.txt")
        st, body, _ = d.request(
            "DELETE", f"/api/v1/environments/{eid}?keepWorkspace=maybe",
            token=token)
        expect(st == 400, f"a bad keepWorkspace is refused: {st} {body}")
        st, _, _ = d.request(
            "DELETE", f"/api/v1/environments/{eid}?keepWorkspace=true",
            token=token, timeout=60)
        expect(st == 204, f"DELETE: {st}")
        st, _, _ = d.get(f"/api/v1/environments/{eid}", token=token)
        expect(st == 404, "the environment is gone")
        time.sleep(GRACE + 3)  # passes past the grace
        expect(exists("volume", volume_of(eid)), "the workspace is kept")
        expect(exists("container", f"vbx-{eid}-kept"), "held by a keeper")
        out = sh("docker", "run", "--rm", "-v",
                 f"{volume_of(eid)}:/w", IMAGE, "cat", "/w/kept.txt").stdout
        expect(out == "keep me\n", f"with the files in it: {out!r}")
    finally:
        sh("docker", "rm", "-f", f"vbx-{env['id']}-kept", check=False)
        d.stop()


def test_user_image_owns_its_workspace(p):
    d = p.start(platform=FAST)
    try:
        token, env = setup(p, d, "devuser", image=DEV_IMAGE)
        eid = env["id"]
        start(d, token, eid)
        expect(mounts(eid) == [f"{volume_of(eid)}=/home/dev"],
               f"the workspace is dev's home: {mounts(eid)}")
        r = in_box(eid, "echo x > /home/dev/a && id -u")
        expect(r.returncode == 0 and r.stdout == "1000\n",
               f"dev writes in its home: {r.stdout!r} {r.stderr!r}")
    finally:
        d.stop()


def test_user_gets_a_configured_path(p):
    d = p.start(platform=FAST, runtime='workspace = { paths = [ '
                '"vibebox/test-dev*=/work/here" ]; };')
    try:
        token, env = setup(p, d, "devcfg", image=DEV_IMAGE)
        eid = env["id"]
        start(d, token, eid)
        expect(mounts(eid) == [f"{volume_of(eid)}=/work/here"],
               f"workspace.paths decides: {mounts(eid)}")
        r = in_box(eid, "echo z > /work/here/c && stat -c %u /work/here")
        expect(r.returncode == 0 and r.stdout == "1000\n",
               f"the image's user owns a path the image lacks: "
               f"{r.stdout!r} {r.stderr!r}")
    finally:
        d.stop()


def engine_has_quota():
    """Can this engine's local driver limit a volume (XFS + pquota)?"""
    name = "vbx-workspace-test-quota"
    ok = sh("docker", "volume", "create", "-o", "size=8m", name,
            check=False).returncode == 0
    sh("docker", "volume", "rm", "-f", name, check=False)
    return ok


def test_size_where_the_engine_can(p):
    d = p.start(platform=FAST, runtime='workspace = { size = "64MiB"; };')
    try:
        token, env = setup(p, d, "sized")
        eid = env["id"]
        e = action(d, token, eid, "start")
        if engine_has_quota():
            wait_for("running", lambda: status(d, token, eid) == "running")
            opts = sh("docker", "volume", "inspect", "-f",
                      "{{.Options.size}}", volume_of(eid)).stdout.strip()
            expect(opts == str(64 << 20), f"the size is asked: {opts}")
        else:
            expect(e["status"] == "error" and
                   "quota" in (e.get("statusReason") or ""),
                   f"an engine that cannot limit says so: {e}")
    finally:
        d.stop()


def labelled(kind, name, instance, env_id):
    args = ["docker", kind, "create"]
    for label in ("io.vibebox.managed=true", f"io.vibebox.instance={instance}",
                  f"io.vibebox.environment={env_id}",
                  f"io.vibebox.project={env_id}"):
        args += ["--label", label]
    sh(*args, name)


def test_orphans_go_after_the_grace(p):
    d = p.start(platform=FAST)
    ghost, alien = str(uuid.uuid4()), str(uuid.uuid4())
    MADE.extend([ghost, alien])
    try:
        instance = Platform.instance_id(d)
        # ours: an environment that does not exist
        labelled("volume", volume_of(ghost), instance, ghost)
        labelled("network", "vbx-" + ghost, instance, ghost)
        # another installation's, on the same engine
        labelled("volume", volume_of(alien), str(uuid.uuid4()), alien)
        labelled("network", "vbx-" + alien, str(uuid.uuid4()), alien)
        # a crashed start: a live (stopped) environment's network and no
        # container
        token, env = setup(p, d, "crashed")
        labelled("network", "vbx-" + env["id"], instance, env["id"])
        made = time.time()

        time.sleep(1.5)  # a pass or two, inside the grace
        expect(time.time() - made < GRACE, "checked within the grace")
        expect(exists("volume", volume_of(ghost)) and
               exists("network", "vbx-" + ghost) and
               exists("network", "vbx-" + env["id"]),
               "nothing is removed before orphan_grace")
        wait_for("the orphaned volume removed",
                 lambda: not exists("volume", volume_of(ghost)), 15)
        wait_for("the orphaned network removed",
                 lambda: not exists("network", "vbx-" + ghost), 15)
        wait_for("the crashed start's network removed",
                 lambda: not exists("network", "vbx-" + env["id"]), 15)
        expect(exists("volume", volume_of(alien)) and
               exists("network", "vbx-" + alien),
               "another installation's volume and network are untouched")
        expect("orphaned network and workspace of environment " + ghost
               in d.logtext(), "the removal is logged")

        # DELETE removes a network a crash left behind
        labelled("network", "vbx-" + env["id"], instance, env["id"])
        st, _, _ = d.request("DELETE", f"/api/v1/environments/{env['id']}",
                             token=token, timeout=60)
        expect(st == 204, f"DELETE: {st}")
        expect(not exists("network", "vbx-" + env["id"]),
               "DELETE removes the environment's leftover network")
    finally:
        d.stop()


def check_names(d, keys):
    """vibeboxd -t fails on d's config, naming each key."""
    out = sh(VIBEBOXD, "-t", "-c", d.conf, check=False)
    expect(out.returncode == 1, f"-t fails: {out.returncode}")
    for key in keys:
        expect(key in out.stderr, f"{key} named in: {out.stderr}")
    return out.stderr


def test_bad_settings_are_named(p):
    err = check_names(p.start(runtime='workspace = { paths = [ "node:*" ]; '
                              'size = "lots"; };', wait=False),
                      ("plugins.docker-runtime.workspace.paths",
                       "plugins.docker-runtime.workspace.size"))
    expect("IMAGE-PATTERN=/absolute/path" in err,
           "the error says what a paths entry looks like")
    check_names(p.start(runtime='workspace = { paths = [ "a=relative" ]; };',
                        wait=False),
                ("plugins.docker-runtime.workspace.paths",))
    check_names(p.start(platform='environments: { orphan_grace = "soon"; };',
                        wait=False),
                ("plugins.platform.environments.orphan_grace",))


def named(fn, p):
    def check():
        fn(p)
    check.__name__ = fn.__name__
    return check


def main():
    skip_unless_ready()
    if not exists("image", DEV_IMAGE):
        here = os.path.dirname(os.path.abspath(__file__))
        sh(os.path.join(here, "..", "docker", "docker.sh"), "start")
    s = Suite()
    try:
        with Platform() as p:
            for t in (test_files_survive_every_new_container,
                      test_keep_workspace_on_delete,
                      test_user_image_owns_its_workspace,
                      test_user_gets_a_configured_path,
                      test_size_where_the_engine_can,
                      test_orphans_go_after_the_grace,
                      test_bad_settings_are_named):
                s.run(named(t, p))
    finally:
        cleanup()
    s.finish()


if __name__ == "__main__":
    main()
