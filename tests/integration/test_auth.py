# SPDX-License-Identifier: Apache-2.0
"""Users, tokens and keys end to end: vibeboxd with postgres-store and auth
against a real throwaway PostgreSQL cluster."""

import asyncio
import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.parse

from daemon import VIBEBOXD, Daemon, Suite, error_of, expect

SRC = os.environ.get("VBX_SRCDIR", ".")
BUILD = os.environ.get("VBX_BUILDDIR", ".")
CLUSTER = os.path.join(SRC, "tests/postgres/pg_cluster.sh")
SECRET = "k1:" + "0123456789abcdef" * 4


def plugin_dir():
    """A directory with the real plugins, as plugin_dir wants one."""
    d = tempfile.mkdtemp(prefix="vbx-plugins-")
    for name in ("postgres-store", "auth", "platform"):
        os.symlink(os.path.join(BUILD, "plugins", name, ".libs",
                                name + ".so"),
                   os.path.join(d, name + ".so"))
    return d


class Cluster:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="vbx-pg-")
        os.chmod(self.dir, 0o755)
        self.conninfo = subprocess.run(
            [CLUSTER, "start", os.path.join(self.dir, "pg")], check=True,
            capture_output=True, text=True).stdout.strip()

    def createdb(self, name):
        return subprocess.run(
            [CLUSTER, "createdb", os.path.join(self.dir, "pg"), name],
            check=True, capture_output=True, text=True).stdout.strip()

    def pg_ctl(self, cmd):
        subprocess.run([CLUSTER, cmd, os.path.join(self.dir, "pg")],
                       check=True, capture_output=True)

    def stop(self):
        subprocess.run([CLUSTER, "stop", os.path.join(self.dir, "pg")],
                       capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


PG = None
PLUGINS = None
DB_COUNT = [0]


def start(registration="open", extra=""):
    """A daemon with the store, auth and platform plugins on a database of
    its own."""
    DB_COUNT[0] += 1
    conninfo = PG.createdb(f"t{DB_COUNT[0]}")
    return Daemon(plugin_dir=PLUGINS, plugins=f"""
  {{ name = "postgres-store"; config = {{ conninfo = "{conninfo}"; }}; }},
  {{ name = "auth"; config = {{ jwt_secret = "{SECRET}";
      registration = "{registration}"; argon2_memory = "1MiB";
      argon2_iterations = 1; {extra} }}; }},
  {{ name = "platform"; }}""").start()


def register(d, email, password="correct horse", name="A"):
    return d.request("POST", "/api/v1/auth/register",
                     {"email": email, "password": password, "name": name})


def login(d, email, password="correct horse", source=None):
    return d.request("POST", "/api/v1/auth/login",
                     {"email": email, "password": password}, source=source)


def with_daemon(check, **kw):
    d = start(**kw)
    try:
        check(d)
    finally:
        code = d.stop()
    expect(code == 0, f"exit {code}: {d.logtext()[-2000:]}")


def test_register_login_me():
    def check(d):
        st, body, _ = register(d, "Ann@Example.test")
        expect(st == 201, f"{st} {body}")
        user, tokens = body["user"], body["tokens"]
        expect(user["email"] == "ann@example.test" and user["admin"],
               "the first user is the instance admin")
        expect(tokens["expiresIn"] == 900, tokens)
        st, me, _ = d.get("/api/v1/users/me", token=tokens["accessToken"])
        expect(st == 200 and me["id"] == user["id"], me)
        st, body, _ = register(d, "ann@example.test")
        expect(st == 409 and error_of(body)["code"] == "CONFLICT", body)
        st, body, _ = register(d, "bob@example.test")
        expect(st == 201 and not body["user"]["admin"], body)
        st, body, _ = login(d, "bob@example.test")
        expect(st == 200 and body["user"]["email"] == "bob@example.test",
               body)
        st, body, _ = d.get("/api/v1/plugins",
                            token=body["tokens"]["accessToken"])
        expect(st == 403, "bob is not an admin")
    with_daemon(check)


def test_wrong_password_and_unknown_email_look_the_same():
    def check(d):
        register(d, "ann@example.test")
        a = login(d, "ann@example.test", "wrong password")
        b = login(d, "nobody@example.test", "wrong password")
        expect(a[0] == b[0] == 401, (a[0], b[0]))
        expect(error_of(a[1])["message"] == error_of(b[1])["message"],
               (a[1], b[1]))
    with_daemon(check)


def test_refresh_rotates_and_reuse_revokes_the_family():
    def check(d):
        _, body, _ = register(d, "ann@example.test")
        r1 = body["tokens"]["refreshToken"]
        st, body, _ = d.request("POST", "/api/v1/auth/refresh",
                                {"refreshToken": r1})
        expect(st == 200, f"{st} {body}")
        r2 = body["tokens"]["refreshToken"]
        expect(r2 != r1, "rotated")
        st, _, _ = d.request("POST", "/api/v1/auth/refresh",
                             {"refreshToken": r1})
        expect(st == 401, f"reuse: {st}")
        st, _, _ = d.request("POST", "/api/v1/auth/refresh",
                             {"refreshToken": r2})
        expect(st == 401, f"the family is revoked: {st}")
        _, body, _ = login(d, "ann@example.test")
        r3 = body["tokens"]["refreshToken"]
        st, _, _ = d.request("POST", "/api/v1/auth/logout",
                             {"refreshToken": r3})
        expect(st == 204, st)
        st, _, _ = d.request("POST", "/api/v1/auth/refresh",
                             {"refreshToken": r3})
        expect(st == 401, f"logged out: {st}")
        admin = body["tokens"]["accessToken"]
        st, audit, _ = d.get("/api/v1/audit?limit=50", token=admin)
        expect(st == 200, audit)
        actions = [a["action"] for a in audit["data"]]
        expect("auth.refresh.reuse" in actions and
               "user.register" in actions, actions)
    with_daemon(check)


def test_api_keys():
    def check(d):
        _, body, _ = register(d, "ann@example.test")
        jwt = body["tokens"]["accessToken"]
        st, key, _ = d.request("POST", "/api/v1/keys",
                               {"name": "ci", "scopes": ["read"]}, token=jwt)
        expect(st == 201 and key["key"].startswith("vbx_"), key)
        st, me, _ = d.get("/api/v1/users/me", token=key["key"])
        expect(st == 200 and me["email"] == "ann@example.test", me)
        st, keys, _ = d.get("/api/v1/keys", token=jwt)
        expect(st == 200 and len(keys["data"]) == 1, keys)
        expect("key" not in keys["data"][0], "the secret is shown once")
        st, _, _ = d.request("DELETE", f"/api/v1/keys/{key['id']}", token=jwt)
        expect(st == 204, st)
        st, _, _ = d.get("/api/v1/users/me", token=key["key"])
        expect(st == 401, f"revoked key: {st}")
    with_daemon(check)


def test_first_user_registration_closes_after_the_first():
    def check(d):
        st, _, _ = register(d, "ann@example.test")
        expect(st == 201, st)
        st, body, _ = register(d, "bob@example.test")
        expect(st == 403, f"{st} {body}")
    with_daemon(check, registration="first-user")


def test_concurrent_registrations_of_one_email():
    def check(d):
        results = []
        lock = threading.Lock()

        def one():
            st = register(d, "race@example.test")[0]
            with lock:
                results.append(st)
        threads = [threading.Thread(target=one) for _ in range(100)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        expect(results.count(201) == 1, sorted(results))
        expect(results.count(409) == 99, sorted(results))
    with_daemon(check, extra='register_limit = "1000/1m";')


def test_hostile_strings_and_broken_bodies():
    def check(d):
        evil = "x'); DROP TABLE users; --@example.test"
        st, body, _ = register(d, evil)
        expect(st in (201, 400), f"{st} {body}")
        st, body, _ = register(d, "ok@example.test", name="'; DELETE FROM "
                               "users WHERE ''='")
        expect(st == 201, f"{st} {body}")
        st, me, _ = d.get("/api/v1/users/me",
                          token=body["tokens"]["accessToken"])
        expect(me["name"] == "'; DELETE FROM users WHERE ''='", me)
        st, body, _ = d.request("POST", "/api/v1/auth/register", b"{",)
        expect(st == 400, st)
        st, body, _ = d.request("POST", "/api/v1/auth/register",
                                {"email": 5, "password": []})
        expect(st == 400 and error_of(body)["code"] == "VALIDATION_ERROR",
               body)
        st, body, _ = register(d, "short@example.test", password="short")
        expect(st == 400 and "password" in error_of(body)["fields"], body)
        st, _, _ = login(d, "ok@example.test", "correct horse")
        expect(st == 200, "the users table is still there")
    with_daemon(check)


def test_unknown_body_fields_are_refused():
    def check(d):
        st, body, _ = d.request("POST", "/api/v1/auth/register",
                                {"email": "ann@example.test",
                                 "password": "correct horse",
                                 "admin": True})
        err = error_of(body)
        expect(st == 400 and err["code"] == "VALIDATION_ERROR" and
               err["fields"] == {"admin": "is not a known field"},
               f"{st} {body}")
        expect(login(d, "ann@example.test")[0] == 401, "no user was made")
    with_daemon(check)


def test_password_change_revokes_the_other_sessions():
    def check(d):
        _, one, _ = register(d, "ann@example.test")
        _, two, _ = login(d, "ann@example.test")
        _, bob, _ = register(d, "bob@example.test")
        st, body, _ = d.request("PATCH", "/api/v1/users/me",
                                {"password": "a new horse",
                                 "currentPassword": "correct horse"},
                                token=one["tokens"]["accessToken"])
        expect(st == 200, f"{st} {body}")
        for name, s in (("the second login", two), ("the first", one)):
            st, body, _ = d.request("POST", "/api/v1/auth/refresh",
                                    {"refreshToken":
                                     s["tokens"]["refreshToken"]})
            expect(st == 401, f"{name}'s refresh token: {st} {body}")
        st, body, _ = d.request("POST", "/api/v1/auth/refresh",
                                {"refreshToken":
                                 bob["tokens"]["refreshToken"]})
        expect(st == 200, f"another user's session lives: {st} {body}")
        st, body, _ = login(d, "ann@example.test", "a new horse")
        expect(st == 200, f"{st} {body}")
        st, body, _ = d.request("POST", "/api/v1/auth/refresh",
                                {"refreshToken":
                                 body["tokens"]["refreshToken"]})
        expect(st == 200, f"a login after the change works: {st} {body}")
    with_daemon(check)


def test_email_change_needs_the_current_password():
    def check(d):
        tok = register(d, "ann@example.test")[1]["tokens"]["accessToken"]
        me = "/api/v1/users/me"
        st, body, _ = d.request("PATCH", me, {"email": "eve@example.test"},
                                token=tok)
        expect(st == 400 and "currentPassword" in
               error_of(body).get("fields", {}), f"without: {st} {body}")
        st, body, _ = d.request("PATCH", me, {"email": "eve@example.test",
                                              "currentPassword": "wrong"},
                                token=tok)
        expect(st == 400, f"with a wrong one: {st} {body}")
        st, me_now, _ = d.get(me, token=tok)
        expect(me_now["email"] == "ann@example.test", me_now)
        st, body, _ = d.request("PATCH", me, {"email": "ann@example.test",
                                              "name": "Ann"}, token=tok)
        expect(st == 200, f"the same email again is no change: {st} {body}")
        st, body, _ = d.request("PATCH", me,
                                {"email": "new@example.test",
                                 "currentPassword": "correct horse"},
                                token=tok)
        expect(st == 200 and body["email"] == "new@example.test",
               f"with the right one: {st} {body}")
        expect(login(d, "new@example.test")[0] == 200, "login as new")
    with_daemon(check)


def test_login_rate_limit():
    def check(d):
        register(d, "ann@example.test")
        codes = [login(d, "ann@example.test", "nope")[0] for _ in range(4)]
        expect(codes[:3] == [401] * 3 and codes[3] == 429, codes)
        _, _, r = login(d, "ann@example.test", "nope")
        expect(int(r.getheader("Retry-After")) > 0, "Retry-After")
    with_daemon(check, extra='login_limit = "3/15m";')


def test_a_guesser_never_locks_the_owner_out():
    def check(d):
        register(d, "ann@example.test")
        register(d, "bob@example.test")
        guesser, owner = "127.0.0.2", "127.0.0.3"
        codes = [login(d, "ann@example.test", "nope", guesser)[0]
                 for _ in range(12)]
        expect(codes[:10] == [401] * 10 and codes[10:] == [429] * 2, codes)
        st, _, r = login(d, "ann@example.test", source=guesser)
        expect(st == 429 and r.getheader("Retry-After") == "60",
               f"the right password from the guesser's address waits: "
               f"{st} {r.getheader('Retry-After')}")
        st, body, _ = login(d, "ann@example.test", source=owner)
        expect(st == 200, f"the owner on another address: {st} {body}")
        st, body, _ = login(d, "bob@example.test", source=guesser)
        expect(st == 200, f"another account from the guesser: {st} {body}")
    with_daemon(check)


def test_login_backoff_doubles():
    def check(d):
        register(d, "ann@example.test")
        src = "127.0.0.4"
        waits = []
        for _ in range(3):
            while True:
                st, _, r = login(d, "ann@example.test", "nope", src)
                if st == 429:
                    break
                expect(st == 401, st)
            waits.append(int(r.getheader("Retry-After")))
            time.sleep(waits[-1] + 0.1)
        expect(waits == [1, 2, 4], f"Retry-After after each lock: {waits}")
        st, body, _ = login(d, "ann@example.test", source=src)
        expect(st == 200, f"after the lock, the right password: {st}")
    with_daemon(check, extra='login_limit = "3/15m"; login_backoff = "1s";')


def test_teams_members_and_projects():
    def check(d):
        ann = register(d, "ann@example.test")[1]["tokens"]["accessToken"]
        bob_body = register(d, "bob@example.test")[1]
        bob = bob_body["tokens"]["accessToken"]
        cat = register(d, "cat@example.test")[1]["tokens"]["accessToken"]
        st, team, _ = d.request("POST", "/api/v1/teams",
                                {"name": "Core Team"}, token=bob)
        expect(st == 201 and team["slug"] == "core-team", team)
        st, body, _ = d.request("POST", "/api/v1/teams",
                                {"name": "Other", "slug": "core-team"},
                                token=cat)
        expect(st == 409 and error_of(body)["code"] == "CONFLICT", body)
        tid = team["id"]
        st, _, _ = d.get(f"/api/v1/teams/{tid}", token=cat)
        expect(st == 404, f"not a member sees 404: {st}")
        st, m, _ = d.request("POST", f"/api/v1/teams/{tid}/members",
                             {"email": "cat@example.test", "role": "viewer"},
                             token=bob)
        expect(st == 201 and m["role"] == "viewer", m)
        st, _, _ = d.get(f"/api/v1/teams/{tid}", token=cat)
        expect(st == 200, "a viewer reads the team")
        st, _, _ = d.request("PATCH", f"/api/v1/teams/{tid}",
                             {"name": "Renamed"}, token=cat)
        expect(st == 403, f"a viewer cannot rename: {st}")
        st, p, _ = d.request("POST", "/api/v1/projects",
                             {"name": "Web App", "teamId": tid}, token=bob)
        expect(st == 201 and p["teamId"] == tid and p["slug"] == "web-app",
               p)
        st, _, _ = d.request("POST", "/api/v1/projects",
                             {"name": "Web App", "teamId": tid}, token=cat)
        expect(st == 403, f"a viewer cannot create projects: {st}")
        st, mine, _ = d.request("POST", "/api/v1/projects",
                                {"name": "Mine"}, token=cat)
        expect(st == 201 and mine["ownerId"], mine)
        st, lst, _ = d.get("/api/v1/projects?page=1&limit=1", token=cat)
        expect(st == 200 and lst["pagination"]["total"] == 2 and
               len(lst["data"]) == 1, lst)
        st, _, _ = d.get(f"/api/v1/projects/{mine['id']}", token=bob)
        expect(st == 404, "bob cannot see cat's personal project")
        st, lst, _ = d.get("/api/v1/projects", token=ann)
        expect(lst["pagination"]["total"] == 2, "the admin sees all")
        uid = bob_body["user"]["id"]
        st, body, _ = d.request("DELETE", f"/api/v1/teams/{tid}/members/{uid}",
                                token=bob)
        expect(st == 409, f"the last admin stays: {st} {body}")
        st, audit, _ = d.get("/api/v1/audit?limit=100", token=ann)
        acts = [(a["action"], a["targetId"]) for a in audit["data"]]
        expect(("team.member.add", tid) in acts, acts)
        st, _, _ = d.request("DELETE", f"/api/v1/teams/{tid}", token=bob)
        expect(st == 204, st)
        st, _, _ = d.get(f"/api/v1/projects/{p['id']}", token=bob)
        expect(st == 404, "the team's projects went with it")
    with_daemon(check)


def test_database_down_then_back_without_a_restart():
    def check(d):
        tok = register(d, "ann@example.test")[1]["tokens"]["accessToken"]
        st, _, _ = d.get("/api/v1/projects", token=tok)
        expect(st == 200, st)
        PG.pg_ctl("stop")
        try:
            st, body, _ = d.get("/api/v1/projects", token=tok)
            expect(st == 503 and error_of(body)["code"] == "UNAVAILABLE",
                   f"{st} {body}")
            st, body, _ = d.get("/health/ready")
            expect(st == 503, f"ready while the database is down: {st}")
            expect(d.get("/health/live")[0] == 200, "live")
        finally:
            PG.pg_ctl("start")
        st, _, _ = d.get("/api/v1/projects", token=tok)
        if st != 200:  # the first use of a dropped connection may fail
            st, _, _ = d.get("/api/v1/projects", token=tok)
        expect(st == 200, f"back without a restart: {st}")
        expect(d.get("/health/ready")[0] == 200, "ready again")
    with_daemon(check)


def test_access_tokens_expire():
    def check(d):
        body = register(d, "ann@example.test")[1]
        tok = body["tokens"]["accessToken"]
        expect(body["tokens"]["expiresIn"] == 10, body["tokens"])
        expect(d.get("/api/v1/users/me", token=tok)[0] == 200, "fresh")
        time.sleep(11)
        st, _, _ = d.get("/api/v1/users/me", token=tok)
        expect(st == 401, f"expired: {st}")
        st, body, _ = d.request("POST", "/api/v1/auth/refresh",
                                {"refreshToken": body["tokens"]
                                 ["refreshToken"]})
        expect(st == 200, "the refresh token still works")
        st, _, _ = d.get("/api/v1/users/me",
                         token=body["tokens"]["accessToken"])
        expect(st == 200, st)
    with_daemon(check, extra='access_ttl = "10s";')


def kid_of(token):
    head = token.split(".")[0]
    head += "=" * (-len(head) % 4)
    return json.loads(base64.urlsafe_b64decode(head))["kid"]


def test_signing_keys_reload_on_sighup():
    """A key rotation without a restart: new first key, old one kept to
    verify, then dropped; a broken key file keeps the running keys."""
    DB_COUNT[0] += 1
    conninfo = PG.createdb(f"t{DB_COUNT[0]}")
    keys = tempfile.NamedTemporaryFile("w", delete=False, prefix="vbx-jwt-")
    old, new = "k1:" + "11" * 32, "k2:" + "22" * 32

    def write_keys(text):
        with open(keys.name, "w") as f:
            f.write(text)

    def reload(d, marker):
        d.signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while marker not in d.logtext() and time.monotonic() < deadline:
            time.sleep(0.05)
        expect(marker in d.logtext(), f"no '{marker}' in the log")

    write_keys(old + "\n")
    d = Daemon(plugin_dir=PLUGINS, plugins=f"""
  {{ name = "postgres-store"; config = {{ conninfo = "{conninfo}"; }}; }},
  {{ name = "auth"; config = {{ jwt_secret_file = "{keys.name}";
      registration = "open"; argon2_memory = "1MiB";
      argon2_iterations = 1; }}; }},
  {{ name = "platform"; }}""").start()
    try:
        t1 = register(d, "ann@example.test")[1]["tokens"]["accessToken"]
        expect(kid_of(t1) == "k1", kid_of(t1))
        write_keys(new + "\n" + old + "\n")
        reload(d, "signing keys reloaded: 2, new tokens use k2")
        t2 = login(d, "ann@example.test")[1]["tokens"]["accessToken"]
        expect(kid_of(t2) == "k2", kid_of(t2))
        for t in (t1, t2):
            expect(d.get("/api/v1/users/me", token=t)[0] == 200, "both")
        write_keys(new + "\n")
        reload(d, "signing keys reloaded: 1, new tokens use k2")
        expect(d.get("/api/v1/users/me", token=t1)[0] == 401, "k1 gone")
        expect(d.get("/api/v1/users/me", token=t2)[0] == 200, "k2 stays")
        # the daemon checks the key file before the reload: refused whole
        write_keys("k3:tooshort\n")
        reload(d, "keeping the running configuration")
        expect(f"{d.conf}:" in d.logtext()
               and "plugins.auth.jwt_secret: " in d.logtext(), "named")
        expect(d.get("/api/v1/users/me", token=t2)[0] == 200, "kept")
        t3 = login(d, "ann@example.test")[1]["tokens"]["accessToken"]
        expect(kid_of(t3) == "k2", kid_of(t3))
    finally:
        code = d.stop()
        os.unlink(keys.name)
    expect(code == 0, f"exit {code}: {d.logtext()[-2000:]}")


def test_sighup_checks_the_auth_block_before_applying_it():
    """A bad value, an unknown key, a removed required key and a syntax
    error each refuse the whole reload (the running signing key stays);
    the good file after each is applied (new tokens use its key)."""
    DB_COUNT[0] += 1
    conninfo = PG.createdb(f"t{DB_COUNT[0]}")

    def key(n):
        return f"k{n}:" + f"{n}{n}" * 32

    def write(n, extra="", secret=True):
        jwt = f'jwt_secret = "{key(n)}";' if secret else ""
        d.write_conf(plugins=f"""
  {{ name = "postgres-store"; config = {{ conninfo = "{conninfo}"; }}; }},
  {{ name = "auth"; config = {{
      {jwt}
      registration = "open"; argon2_memory = "1MiB";
      argon2_iterations = 1;
      {extra} }}; }}""")

    def sighup(marker):
        before = d.logtext().count(marker)
        d.signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while (d.logtext().count(marker) == before
               and time.monotonic() < deadline):
            time.sleep(0.05)
        expect(d.logtext().count(marker) > before,
               f"no new '{marker}' in the log")

    def line_of(text):
        with open(d.conf) as f:
            for n, line in enumerate(f, 1):
                if text in line:
                    return n
        raise AssertionError(text)

    def kid_now():
        st, body, _ = login(d, "ann@example.test")
        expect(st == 200, body)
        return kid_of(body["tokens"]["accessToken"])

    d = Daemon(plugin_dir=PLUGINS, plugins="")
    write(1)
    d.start()
    cases = [
        ('access_ttl = "2d";', True, 'access_ttl = "2d"',
         'plugins.auth.access_ttl: expected a duration 10s..1d, got "2d"'),
        ('acces_ttl = "5m";', True, "acces_ttl",
         "plugins.auth.acces_ttl: unknown key"),
        ("", False, '"auth"', "plugins.auth.jwt_secret: required"),
        ("argon2_parallelism = ;", True, "argon2_parallelism", "syntax"),
    ]
    try:
        register(d, "ann@example.test")
        expect(kid_now() == "k1", "k1 at start")
        for n, (extra, secret, where, what) in enumerate(cases, 2):
            write(n, extra, secret)
            sighup("keeping the running configuration")
            want = f"{d.conf}:{line_of(where)}: "
            expect(any(x["msg"].startswith(want) and what in x["msg"]
                       for x in d.loglines()),
                   f"no '{want}...{what}' in the log")
            expect(kid_now() == f"k{n - 1}", "the running key stays")
            write(n)
            sighup(f"signing keys reloaded: 1, new tokens use k{n}")
            expect(kid_now() == f"k{n}", f"k{n} applied")
    finally:
        code = d.stop()
    expect(code == 0, f"exit {code}: {d.logtext()[-2000:]}")


INJECTIONS = ["' OR '1'='1", "'; DROP TABLE teams; --", "\\' UNION SELECT 1--",
              "$1", "%s%s%n", "Robert'); DELETE FROM users;--"]


def test_sql_injection_in_every_string_field():
    def check(d):
        tok = register(d, "ann@example.test")[1]["tokens"]["accessToken"]
        for evil in INJECTIONS:
            for path, body in (
                    ("/api/v1/teams", {"name": evil}),
                    ("/api/v1/teams", {"name": "t", "slug": evil}),
                    ("/api/v1/projects", {"name": evil}),
                    ("/api/v1/projects", {"name": "p", "slug": evil}),
                    ("/api/v1/projects", {"name": "p", "teamId": evil}),
                    ("/api/v1/keys", {"name": evil}),
                    ("/api/v1/auth/login", {"email": evil,
                                            "password": evil}),
                    ("/api/v1/auth/register", {"email": evil + "@x.test",
                                               "password": "long enough",
                                               "name": evil})):
                st, resp, _ = d.request("POST", path, body, token=tok)
                expect(st in (201, 400, 401, 403, 404, 409),
                       f"{path} {body}: {st} {resp}")
                if st == 201 and "name" in body and "name" in resp:
                    expect(resp["name"] == body["name"], "stored verbatim")
            q = urllib.parse.quote(evil, safe="")
            for path in (f"/api/v1/teams/{q}", f"/api/v1/projects/{q}",
                         f"/api/v1/keys/{q}"):
                st, _, _ = d.request("GET" if "keys" not in path
                                     else "DELETE", path, token=tok)
                expect(st in (400, 404), f"{path}: {st}")
        st, lst, _ = d.get("/api/v1/teams?limit=100", token=tok)
        names = {t["name"] for t in lst["data"]}
        expect(set(INJECTIONS) <= names, names)
        expect(login(d, "ann@example.test")[0] == 200, "users intact")
    with_daemon(check, extra='register_limit = "1000/1m";')


def ws_ticket(d, token, body=None):
    st, resp, _ = d.request("POST", "/api/v1/auth/ws-ticket", body,
                            token=token)
    expect(st == 201, f"ws-ticket: {st} {resp}")
    return resp


async def events_close_code(d, ticket, wait):
    """Open /api/v1/events with the ticket as a subprotocol, as a browser
    does; the close code within wait seconds, or None if still open."""
    import websockets
    ws = await websockets.connect(
        f"ws://127.0.0.1:{d.port}/api/v1/events",
        subprotocols=["vibebox.events.v1", "bearer." + ticket])
    try:
        expect(ws.subprotocol == "vibebox.events.v1", ws.subprotocol)
        await asyncio.wait_for(ws.recv(), wait)
        return None  # an event: open and authenticated
    except asyncio.TimeoutError:
        return None
    except websockets.ConnectionClosed as e:
        return e.code
    finally:
        await ws.close()


def test_ws_ticket():
    def check(d):
        tok = register(d, "ann@example.test")[1]["tokens"]["accessToken"]
        t = ws_ticket(d, tok)
        expect(t["ticket"].startswith("vbt_") and len(t["ticket"]) < 80,
               t)
        expect(t["expiresIn"] == 30, t)
        expect(ws_ticket(d, tok, {})["ticket"].startswith("vbt_"), "{}")
        st, body, _ = d.request("POST", "/api/v1/auth/ws-ticket",
                                {"ttl": 60}, token=tok)
        expect(st == 400 and "ttl" in error_of(body)["fields"], body)
        # The ticket fits where an access token does not.
        protos = "vibebox.events.v1, bearer." + t["ticket"]
        expect(len(protos) < 126 < len("vibebox.events.v1, bearer." + tok),
               len(protos))
        code = asyncio.run(events_close_code(d, t["ticket"], 1.0))
        expect(code is None, f"the events socket closed with {code}")
        st, me, _ = d.get("/api/v1/users/me", token=t["ticket"])
        expect(st == 200 and me["email"] == "ann@example.test", me)
        # A ticket does not issue the next one.
        st, body, _ = d.request("POST", "/api/v1/auth/ws-ticket",
                                token=t["ticket"])
        expect(st == 403, f"{st} {body}")
        for bad in ("vbt_garbage", "vbt_" + "A" * 50,
                    t["ticket"][:-2] + ("AA" if t["ticket"][-2:] != "AA"
                                        else "BA")):
            st, body, hdr = d.get("/api/v1/users/me", token=bad)
            expect(st == 401, f"{bad}: {st} {body}")
    with_daemon(check)


def test_ws_ticket_expires():
    def check(d):
        tok = register(d, "ann@example.test")[1]["tokens"]["accessToken"]
        t = ws_ticket(d, tok)
        expect(t["expiresIn"] == 5, t)
        time.sleep(6)
        code = asyncio.run(events_close_code(d, t["ticket"], 5.0))
        expect(code == 4401, f"an expired ticket: close {code}")
        st, _, _ = d.get("/api/v1/users/me", token=t["ticket"])
        expect(st == 401, st)
    with_daemon(check, extra='ws_ticket_ttl = "5s";')


def test_check_refuses_a_broken_api_limit():
    """api_limit is "N/period" and nothing else: vibeboxd -t names it."""
    conninfo = PG.createdb("apilimit")
    for bad in ("5/ 1m", "+5/1m", "5/1x", "0/1m", "5", "05/1m"):
        d = Daemon(plugin_dir=PLUGINS, plugins=f"""
  {{ name = "postgres-store"; config = {{ conninfo = "{conninfo}"; }}; }},
  {{ name = "auth"; config = {{ jwt_secret = "{SECRET}";
      api_limit = "{bad}"; }}; }}""")
        out = subprocess.run([VIBEBOXD, "-t", "-c", d.conf],
                             capture_output=True, text=True)
        expect(out.returncode != 0, f"{bad!r} accepted: {out.stdout}")
        expect("plugins.auth.api_limit" in out.stderr,
               f"{bad!r}: {out.stderr}")
    d = Daemon(plugin_dir=PLUGINS, plugins=f"""
  {{ name = "postgres-store"; config = {{ conninfo = "{conninfo}"; }}; }},
  {{ name = "auth"; config = {{ jwt_secret = "{SECRET}";
      api_limit = "600/1m"; }}; }}""")
    out = subprocess.run([VIBEBOXD, "-t", "-c", d.conf],
                         capture_output=True, text=True)
    expect(out.returncode == 0, f"600/1m refused: {out.stderr}")


if __name__ == "__main__":
    s = Suite()
    if not os.path.exists(CLUSTER) or not shutil.which("runuser"):
        print("# skipped: no PostgreSQL test cluster script")
        raise SystemExit(77)
    PG = Cluster()
    PLUGINS = plugin_dir()
    try:
        for name, fn in list(globals().items()):
            if name.startswith("test_"):
                s.run(fn)
    finally:
        PG.stop()
        shutil.rmtree(PLUGINS, ignore_errors=True)
    s.finish()
