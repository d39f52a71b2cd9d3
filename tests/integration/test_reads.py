# SPDX-License-Identifier: Apache-2.0
"""One read per row (issue 9, section 7): the statements PostgreSQL runs
for a request on a project, counted from the server's own log.

The daemon's database logs every statement it executes
(ALTER DATABASE ... SET log_statement = 'all', set before the daemon opens
its pool), so a request's statements are the lines the log grew by while
it ran: a backend writes its line before it executes the statement, and
the answer comes after the last one. Only the daemon uses that database
while a request is measured, and these plugins have no timer that touches
the store (no docker-runtime, no platform lifecycle pass without one).

Authentication is accounted for explicitly: the access token is a JWT
checked without the store, and auth reads the caller's user row once per
`user_cache` (here a minute; the default is 2 s). Each count is preceded
by a GET /users/me of the same caller, outside the window, which puts the
row in the cache; the count then asserts that no user_* statement ran, so
a cold cache fails loudly rather than being mistaken for the request's
own reads."""

import os
import re
import shutil
import subprocess
import time

from daemon import Daemon, Suite, error_of, expect
from test_auth import CLUSTER, Cluster, register
import test_auth

# "... LOG:  execute project_get: SELECT ..." (a prepared statement) or
# "... LOG:  statement: BEGIN" (a simple query).
STATEMENT = re.compile(r"LOG:\s+(?:execute (\S+?)(?:/\S+)?:|statement:)\s*(.*)")


def log_file():
    return os.path.join(test_auth.PG.dir, "pg", "server.log")


def db_name(d):
    return re.search(r"dbname=(\S+)", d.conninfo).group(1)


def daemon():
    """A daemon whose database logs every statement."""
    n = test_auth.DB_COUNT[0] + 1
    conninfo = test_auth.PG.createdb(f"r{n}")
    subprocess.run(["psql", "-X", "-q", "-d", conninfo, "-c",
                    f"ALTER DATABASE r{n} SET log_statement = 'all'"],
                   check=True, capture_output=True)
    test_auth.DB_COUNT[0] = n
    d = start_on(conninfo)
    d.conninfo = conninfo
    return d


def start_on(conninfo):
    return Daemon(plugin_dir=test_auth.PLUGINS, plugins=f"""
  {{ name = "postgres-store"; config = {{ conninfo = "{conninfo}"; }}; }},
  {{ name = "auth"; config = {{ jwt_secret = "{test_auth.SECRET}";
      registration = "open"; argon2_memory = "1MiB";
      argon2_iterations = 1; user_cache = "1m"; }}; }},
  {{ name = "platform"; }}""").start()


def statements(d, method, path, body=None, token=None):
    """(status, body, [(name, sql)]) of one request: every statement the
    server logged while it ran. The caller's user row is put in auth's
    cache just before, so that authentication costs no statement."""
    st, _, _ = d.request("GET", "/api/v1/users/me", token=token)
    expect(st == 200, f"users/me: {st}")
    with open(log_file(), "rb") as f:
        f.seek(0, os.SEEK_END)
        start_at = f.tell()
    st, answer, _ = d.request(method, path, body, token=token)
    time.sleep(0.2)  # nothing more may come: prove it
    with open(log_file(), "rb") as f:
        f.seek(start_at)
        text = f.read().decode(errors="replace")
    found = []
    for line in text.splitlines():
        m = STATEMENT.search(line)
        if m:
            found.append((m.group(1) or "", m.group(2)))
    return st, answer, found


def names(found):
    return [n or sql.split()[0].upper() for n, sql in found]


def setup(d):
    """An admin with a personal project, and a team project that a viewer
    and a stranger may not change. Returns tokens and ids."""
    _, a, _ = register(d, "ann@example.test")
    admin = a["tokens"]["accessToken"]
    _, b, _ = register(d, "bob@example.test")
    bob = b["tokens"]["accessToken"]
    _, c, _ = register(d, "cat@example.test")
    cat = c["tokens"]["accessToken"]
    _, dd, _ = register(d, "dan@example.test")
    dan = dd["tokens"]["accessToken"]
    st, own, _ = d.request("POST", "/api/v1/projects", {"name": "Mine"},
                           token=bob)
    expect(st == 201, own)
    st, team, _ = d.request("POST", "/api/v1/teams", {"name": "Crew"},
                            token=admin)
    expect(st == 201, team)
    st, m, _ = d.request("POST", f"/api/v1/teams/{team['id']}/members",
                         {"email": "cat@example.test", "role": "viewer"},
                         token=admin)
    expect(st == 201, m)
    st, shared, _ = d.request("POST", "/api/v1/projects",
                              {"name": "Shared", "teamId": team["id"]},
                              token=admin)
    expect(st == 201, shared)
    # Warm auth's user cache for each caller: a later request then costs
    # no users read (asserted below).
    for t in (admin, bob, cat, dan):
        st, _, _ = d.request("GET", "/api/v1/users/me", token=t)
        expect(st == 200, "me")
    # No runtime is loaded: an environment is only a row here.
    st, env, _ = d.request("POST", "/api/v1/environments",
                           {"projectId": own["id"], "name": "box",
                            "image": "debian:12", "cpuLimit": 0.5,
                            "memoryLimit": 128}, token=bob)
    expect(st == 201, env)
    return {"ann": admin, "bob": bob, "cat": cat, "dan": dan,
            "own": own["id"], "shared": shared["id"], "env": env["id"],
            "team": team["id"]}


def authentication_free(found):
    """Authentication is accounted for explicitly: with the user cache warm
    (statements()) it runs no statement, so every statement counted is the
    request's own."""
    expect(not any(n.startswith("user_") for n, _ in found),
           f"authentication read the store (the user cache is cold): "
           f"{found}")


def check_patch_is_one_read_and_one_write(d, s):
    path = f"/api/v1/projects/{s['own']}"
    st, before, _ = d.request("GET", path, token=s["bob"])
    expect(st == 200, before)
    st, p, found = statements(d, "PATCH", path, {"name": "Renamed"},
                              token=s["bob"])
    expect(st == 200 and p["name"] == "Renamed", f"{st} {p}")
    # The answer is the row as written: updatedAt moved with it.
    expect(p["updatedAt"] >= before["updatedAt"] and
           p["createdAt"] == before["createdAt"], (before, p))
    authentication_free(found)
    expect(names(found) == ["project_get", "project_update"],
           f"a PATCH is one read and one write, PostgreSQL ran "
           f"{names(found)}: {found}")
    st, again, _ = d.request("GET", path, token=s["bob"])
    expect(again == p, ("the answer is the stored row", again, p))


def check_get_is_one_read(d, s):
    st, p, found = statements(d, "GET", f"/api/v1/projects/{s['own']}",
                              token=s["bob"])
    expect(st == 200, p)
    authentication_free(found)
    expect(names(found) == ["project_get"], found)


def check_denied_patch_runs_authorize_once(d, s):
    """A viewer may read the team's project, not change it: 403, decided
    by one authorize run on the row the handler read (the project once,
    the viewer's membership once). A stranger may not even read it: 404,
    the same two reads."""
    path = f"/api/v1/projects/{s['shared']}"
    for who, status, code in (("cat", 403, "FORBIDDEN"),
                              ("dan", 404, "NOT_FOUND")):
        st, b, found = statements(d, "PATCH", path, {"name": "X"},
                                  token=s[who])
        expect(st == status and error_of(b)["code"] == code, (who, b))
        authentication_free(found)
        expect(names(found) == ["project_get", "member_get"],
               f"one authorize run for {who}'s PATCH, PostgreSQL ran "
               f"{names(found)}: {found}")


def check_a_missing_project_is_one_read(d, s):
    missing = "00000000-0000-4000-8000-000000000000"
    st, b, found = statements(d, "PATCH", f"/api/v1/projects/{missing}",
                              {"name": "X"}, token=s["bob"])
    expect(st == 404 and error_of(b)["code"] == "NOT_FOUND", b)
    authentication_free(found)
    expect(names(found) == ["project_get"], found)


def check_environment_patch_is_one_read_and_one_write(d, s):
    path = f"/api/v1/environments/{s['env']}"
    st, e, found = statements(d, "PATCH", path, {"name": "Crate"},
                              token=s["bob"])
    expect(st == 200 and e["name"] == "Crate", f"{st} {e}")
    authentication_free(found)
    # ... and its audit row (docs/api.md, "Audit log").
    expect(names(found) == ["env_get", "env_update", "audit_add"],
           f"an environment's PATCH is one read and one write, PostgreSQL "
           f"ran {names(found)}: {found}")
    st, b, found = statements(d, "PATCH", path, {"name": "X"},
                              token=s["dan"])
    expect(st == 404 and error_of(b)["code"] == "NOT_FOUND", b)
    expect(names(found) == ["env_get"], found)


def check_environment_create_reads_its_project_once(d, s):
    st, e, found = statements(d, "POST", "/api/v1/environments",
                              {"projectId": s["own"], "name": "other",
                               "image": "debian:12", "cpuLimit": 0.5,
                               "memoryLimit": 128}, token=s["bob"])
    expect(st == 201, e)
    authentication_free(found)
    expect(names(found).count("project_get") == 1 and
           names(found)[-2:] == ["env_create", "audit_add"],
           f"the project is read once, PostgreSQL ran {names(found)}")


def check_team_reads_its_rows_once(d, s):
    """A team's authorization is the caller's membership: read once, for
    authorize and for the answer's role alike."""
    path = f"/api/v1/teams/{s['team']}"
    st, t, found = statements(d, "GET", path, token=s["cat"])
    expect(st == 200 and t["role"] == "viewer", t)
    authentication_free(found)
    expect(names(found) == ["member_get", "team_get"], found)
    st, t, found = statements(d, "PATCH", path, {"name": "Band"},
                              token=s["ann"])
    expect(st == 200 and t["name"] == "Band" and t["role"] == "admin", t)
    authentication_free(found)
    expect(names(found) == ["member_get", "team_get", "team_update"],
           f"a team's PATCH, PostgreSQL ran {names(found)}: {found}")
    st, b, found = statements(d, "PATCH", path, {"name": "X"},
                              token=s["cat"])
    expect(st == 403 and error_of(b)["code"] == "FORBIDDEN", b)
    expect(names(found) == ["member_get"], found)


CHECKS = (check_patch_is_one_read_and_one_write, check_get_is_one_read,
          check_denied_patch_runs_authorize_once,
          check_a_missing_project_is_one_read,
          check_environment_patch_is_one_read_and_one_write,
          check_environment_create_reads_its_project_once,
          check_team_reads_its_rows_once)


def main():
    if not os.path.exists(CLUSTER) or not shutil.which("runuser"):
        print("# skipped: no PostgreSQL test cluster script")
        raise SystemExit(77)
    test_auth.PG = Cluster()
    test_auth.PLUGINS = test_auth.plugin_dir()
    s = Suite()
    try:
        d = daemon()
        try:
            state = setup(d)
            for check in CHECKS:
                # Suite names a test after its function.
                def run(check=check):
                    check(d, state)
                run.__name__ = check.__name__.replace("check_", "test_")
                s.run(run)
        finally:
            code = d.stop()
            if code != 0:
                print(f"not ok - the daemon exits 0 (exit {code})")
                s.failed += 1
    finally:
        test_auth.PG.stop()
        shutil.rmtree(test_auth.PLUGINS, ignore_errors=True)
    s.finish()


if __name__ == "__main__":
    main()
