# SPDX-License-Identifier: Apache-2.0
"""The backup-s3 plugin in vibeboxd (issue 14) with postgres-store and
auth on a real PostgreSQL, against an S3 server that verifies SigV4
(s3.py); s3cmd and vibebox-backup-decrypt check the result independently.

`vibeboxd --backup-now -c FILE` takes one backup and exits 0, the object
carries its metadata and decrypts into a dump pg_restore reads; with the
S3 server gone it exits 1 with the reason and leaves nothing. Through the
API, POST /api/v1/admin/backups answers 202 and the backup appears in
GET /api/v1/admin/backups with its key id; a non-admin gets 403. Every
answer of the backup routes must match docs/openapi.yaml (test_openapi's
checker).
Retention deletes exactly the backups past `retention` beyond the
`keep_min` newest, and leaves other objects under the prefix alone.
Restore round trip through the API: rows in, backup, table dropped,
POST .../latest/restore, the same rows; verify answers 200; a backup with
a flipped byte is refused (422) and the database is left as it was; an
unknown id is 404. On the schedule ("* * * * *") with the S3 server down,
the slot's attempt fails, leaves nothing and is counted
(vibebox_backup_failures_total), and a retry succeeds under the slot's
name once the server is back. The other metrics are checked on the
metrics plugin's scrape after the API's backup.
"""

import hashlib
import http.client
import os
import shutil
import subprocess
import tempfile
import time

from daemon import Daemon, Suite, expect, free_port
from s3 import ACCESS, S3, SECRET, skip_unless_s3

try:  # every answer of the backup routes checked against docs/openapi.yaml
    import test_openapi as OA
except SystemExit:  # no python3-yaml or python3-jsonschema
    OA = None

SRC = os.environ.get("VBX_SRCDIR", ".")
BUILD = os.environ.get("VBX_BUILDDIR", ".")
VIBEBOXD = os.environ.get("VIBEBOXD", os.path.join(BUILD, "vibeboxd"))
VIBEBOX = os.path.join(BUILD, "vibebox")
DECRYPT = os.path.join(BUILD, "vibebox-backup-decrypt")
CLUSTER = os.path.join(SRC, "tests/postgres/pg_cluster.sh")
KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
JWT = "k1:" + "0123456789abcdef" * 4
TMP = tempfile.mkdtemp(prefix="vbx-bkd-")
PLUGINS = ("metrics", "postgres-store", "auth", "backup-s3")
S = None
PG = None
DBS = iter(range(1, 100))


def files():
    """The plugin directory and the secret files the config names."""
    pdir = os.path.join(TMP, "plugins")
    os.makedirs(pdir, exist_ok=True)
    for name in PLUGINS:
        link = os.path.join(pdir, name + ".so")
        if not os.path.exists(link):
            os.symlink(os.path.join(BUILD, "plugins", name, ".libs",
                                    name + ".so"), link)
    for name, text in (("backup.key", KEY), ("s3.id", ACCESS),
                       ("s3.secret", SECRET)):
        with open(os.path.join(TMP, name), "w") as f:
            f.write(text + "\n")
    return pdir


def database():
    return subprocess.run(["sh", CLUSTER, "createdb", PG, f"d{next(DBS)}"],
                          check=True, capture_output=True,
                          text=True).stdout.strip()


def daemon(conninfo, endpoint=None, backup="", schedule='"off"'):
    pdir = files()
    mport = free_port()
    d = Daemon(plugin_dir=pdir, plugins=f"""
  {{ name = "metrics"; config = {{ listen = "127.0.0.1:{mport}"; }}; }},
  {{ name = "postgres-store"; config = {{ conninfo = "{conninfo}"; }}; }},
  {{ name = "auth"; config = {{ jwt_secret = "{JWT}";
      registration = "open"; argon2_memory = "1MiB";
      argon2_iterations = 1; }}; }},
  {{ name = "backup-s3"; config = {{
      endpoint = "{endpoint or S.endpoint}"; region = "us-east-1";
      bucket = "{S.bucket}"; prefix = "db/";
      access_key_id_file = "{TMP}/s3.id";
      secret_access_key_file = "{TMP}/s3.secret";
      encryption_key_file = "{TMP}/backup.key";
      schedule = {schedule}; {backup} }}; }}""")
    d.metrics_port = mport
    return d


def metric(d, name):
    """The value of an unlabelled family on the metrics plugin's scrape."""
    c = http.client.HTTPConnection("127.0.0.1", d.metrics_port, timeout=10)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    c.close()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in the scrape")


def backup_now(d):
    return subprocess.run([VIBEBOXD, "--backup-now", "-c", d.conf],
                          capture_output=True, text=True, timeout=120)


def test_backup_now():
    conninfo = database()
    subprocess.run(["psql", "-X", "-q", conninfo, "-c",
                    "CREATE TABLE marker (v text); "
                    "INSERT INTO marker VALUES ('backed up')"], check=True)
    d = daemon(conninfo)
    r = backup_now(d)
    expect(r.returncode == 0, f"exit {r.returncode}: {r.stderr}")
    name = r.stdout.strip()
    expect(name.startswith("db/") and name.endswith("Z.dump.gz.enc") and
           len(name) == len("db/20261207T030000Z.dump.gz.enc"), name)
    expect(S.exists(name), f"{name} is not in the bucket")
    meta = S.metadata(name)
    want_id = hashlib.sha256(bytes.fromhex(KEY)).hexdigest()[:16]
    expect(meta.get("key-id") == want_id, meta)
    path = os.path.join(TMP, "now.enc")
    S.get(name, path)
    keyfile = os.path.join(TMP, "backup.key")
    dump = subprocess.run(f"set -o pipefail; {DECRYPT} -k {keyfile} {path}"
                          " | gunzip", shell=True, executable="/bin/bash",
                          capture_output=True, timeout=60)
    expect(dump.returncode == 0, dump.stderr)
    expect(hashlib.sha256(dump.stdout).hexdigest() == meta.get("sha256"),
           "the dump's SHA-256 is not the object's x-amz-meta-sha256")
    listing = subprocess.run(["pg_restore", "-l"], input=dump.stdout,
                             capture_output=True, timeout=60)
    expect(listing.returncode == 0 and b"TABLE public marker" in
           listing.stdout, listing.stderr)
    S.s3cmd("del", S.url(name))


def test_backup_now_s3_down():
    d = daemon(database(), endpoint=f"http://127.0.0.1:{free_port()}")
    r = backup_now(d)
    expect(r.returncode == 1, f"exit {r.returncode}")
    expect("failed" in r.stderr and "connect" in r.stderr.lower(),
           r.stderr)


def test_api_and_retention():
    old = ["db/20200101T030000Z.dump.gz.enc",
           "db/20200102T030000Z.dump.gz.enc",
           "db/20200103T030000Z.dump.gz.enc",
           "db/20200104T030000Z.dump.gz.enc"]
    other = "db/notes.txt"
    blob = os.path.join(TMP, "blob")
    with open(blob, "w") as f:
        f.write("not a backup\n")
    for key in old + [other]:
        S.put(blob, key)
    d = daemon(database(), backup='retention = "30d"; keep_min = 3;')
    d.start()
    try:
        st, b, _ = d.request("POST", "/api/v1/auth/register",
                             {"email": "admin@bk.test", "password":
                              "correct horse", "name": "Admin"})
        expect(st == 201, f"register: {st} {b}")
        admin = b["tokens"]["accessToken"]
        st, b, _ = d.request("POST", "/api/v1/auth/register",
                             {"email": "dev@bk.test", "password":
                              "correct horse", "name": "Dev"})
        dev = b["tokens"]["accessToken"]
        c = Checked(d)
        st, _ = c.request("POST", "/api/v1/admin/backups", token=dev)
        expect(st == 403, f"a non-admin started a backup: {st}")
        st, _ = c.request("GET", "/api/v1/admin/backups", token=dev)
        expect(st == 403, f"a non-admin listed backups: {st}")
        st, b = c.request("POST", "/api/v1/admin/backups", token=admin)
        expect(st == 202 and b["status"] == "running" and b["id"], b)
        name = b["name"]
        listed = wait_listed(c, admin, name)
        # retention ran after the backup: the 3 newest stay
        keys = [x["name"] for x in listed["backups"]]
        expect(keys == old[2:] + [name], keys)
        for x in listed["backups"]:
            expect(x["time"].endswith("Z") and x["size"] > 0, x)
        mine = listed["backups"][-1]
        expect(mine["status"] == "ok" and len(mine["keyId"]) == 16, mine)
        expect(not S.exists(old[0]) and not S.exists(old[1]),
               "old backups past keep_min were kept")
        expect(S.exists(old[2]) and S.exists(other),
               "retention deleted what it must keep")
        c.check()
        t = metric(d, "vibebox_backup_last_success_timestamp_seconds")
        expect(abs(t - time.time()) < 120, f"last success {t}")
        expect(metric(d, "vibebox_backup_size_bytes") == mine["size"],
               "vibebox_backup_size_bytes is not the object's size")
        expect(metric(d, "vibebox_backup_duration_seconds") > 0, "duration")
        expect(metric(d, "vibebox_backup_failures_total") == 0, "failures")
    finally:
        code = d.stop()
    expect(code == 0, f"vibeboxd exit {code}: {d.logtext()[-1500:]}")


class Checked:
    """d.request, with each answer of the API checked against the
    document (when python3-yaml and python3-jsonschema are there)."""

    def __init__(self, d):
        self.d = d
        self.api = OA.Api(d) if OA else None

    def request(self, method, path, token=None, timeout=60):
        if not self.api:
            st, b, _ = self.d.request(method, path, token=token,
                                      timeout=timeout)
            return st, b
        st, b, _ = self.api.call(method, path, token=token)
        return st, b

    def check(self):
        if self.api:
            expect(not self.api.violations, "answers that differ from "
                   "docs/openapi.yaml:\n  " +
                   "\n  ".join(self.api.violations))


def psql(conninfo, sql):
    r = subprocess.run(["psql", "-X", "-q", "-At", conninfo, "-c", sql],
                       capture_output=True, text=True, timeout=60)
    expect(r.returncode == 0, f"{sql}: {r.stderr}")
    return r.stdout.strip()


def cli_run(d, token, *args):
    env = dict(os.environ, VIBEBOX_SERVER=f"http://127.0.0.1:{d.port}",
               VIBEBOX_TOKEN=token, XDG_CONFIG_HOME=TMP)
    return subprocess.run([VIBEBOX, *args], env=env, capture_output=True,
                          text=True, timeout=120)


def register(d, email):
    st, b, _ = d.request("POST", "/api/v1/auth/register",
                         {"email": email, "password": "correct horse",
                          "name": "Admin"})
    expect(st == 201, f"register: {st} {b}")
    return b["tokens"]["accessToken"]


def test_restore_round_trip():
    conninfo = database()
    d = daemon(conninfo)
    d.start()
    try:
        admin = register(d, "admin@restore.test")
        c = Checked(d)
        psql(conninfo, "CREATE TABLE rows (id int PRIMARY KEY, v text); "
             "INSERT INTO rows SELECT g, md5(g::text) FROM "
             "generate_series(1, 5000) g")
        q = "SELECT count(*) || ':' || md5(string_agg(v, ',' ORDER BY id))" \
            " FROM rows"
        before = psql(conninfo, q)
        st, b = c.request("POST", "/api/v1/admin/backups", token=admin)
        expect(st == 202, f"{st} {b}")
        name = b["name"]
        wait_listed(c, admin, name)
        stamp = name[len("db/"):-len(".dump.gz.enc")]
        st, b = c.request("POST", f"/api/v1/admin/backups/{stamp}/verify",
                             token=admin)
        expect(st == 200 and b["status"] == "verified" and
               len(b["sha256"]) == 64, f"{st} {b}")
        # the same through the CLI
        cli = cli_run(d, admin, "admin", "backup", "verify", "latest")
        expect(cli.returncode == 0 and "verified" in cli.stdout,
               cli.stdout + cli.stderr)
        cli = cli_run(d, admin, "admin", "backup", "ls")
        expect(cli.returncode == 0 and name in cli.stdout and
               " ok" in cli.stdout, cli.stdout + cli.stderr)
        psql(conninfo, "DROP TABLE rows")
        st, b = c.request("POST", "/api/v1/admin/backups/latest/restore",
                             token=admin)
        expect(st == 200 and b["status"] == "restored" and
               b["name"] == name, f"{st} {b}")
        expect(psql(conninfo, q) == before, "the rows differ")
        # a flipped byte: refused, and the database stays as it is
        path = os.path.join(TMP, "flip.enc")
        S.get(name, path)
        with open(path, "r+b") as f:
            f.seek(os.path.getsize(path) // 2)
            byte = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([byte[0] ^ 0x10]))
        S.put(path, "db/20300101T000000Z.dump.gz.enc")
        psql(conninfo, "INSERT INTO rows VALUES (0, 'after the backup')")
        st, b = c.request(
            "POST", "/api/v1/admin/backups/20300101T000000Z/restore",
            token=admin)
        expect(st == 422 and "failed authentication" in
               b["error"]["message"], f"{st} {b}")
        expect(psql(conninfo, "SELECT v FROM rows WHERE id = 0") ==
               "after the backup", "the refused backup touched the data")
        cli = cli_run(d, admin, "admin", "backup", "restore",
                      "db/20300101T000000Z.dump.gz.enc")
        expect(cli.returncode == 4 and "failed authentication" in
               cli.stderr, f"{cli.returncode} {cli.stderr}")
        st, b = c.request(
            "POST", "/api/v1/admin/backups/20990101T000000Z/verify",
            token=admin)
        expect(st == 404, f"{st} {b}")
        st, b = c.request("POST", "/api/v1/admin/backups/nope/verify",
                             token=admin)
        expect(st == 400, f"{st} {b}")
        S.s3cmd("del", S.url("db/20300101T000000Z.dump.gz.enc"))
        c.check()
    finally:
        code = d.stop()
    expect(code == 0, f"vibeboxd exit {code}: {d.logtext()[-1500:]}")


def log_match(d, *words):
    """The first log line holding every word, or None."""
    for line in d.logtext().splitlines():
        if all(w in line for w in words):
            return line
    return None


def test_schedule_and_retry():
    """The S3 server is down at the slot: the attempt fails and leaves
    nothing; the retry (retry_delay 1s, doubling) succeeds once it is
    back, under the slot's name."""
    d = daemon(database(), schedule='"* * * * *"',
               backup='retry_delay = "1s"; retry_window = "10m";')
    S.kill()
    d.start()
    try:
        deadline = time.monotonic() + 100  # a minute, and a 15 s tick
        while not log_match(d, "backup db/", "failed (attempt 1)"):
            expect(time.monotonic() < deadline,
                   "no failed attempt: " + d.logtext()[-2000:])
            time.sleep(0.2)
        failed = log_match(d, "backup db/", "failed (attempt 1)")
        name = failed.split("backup ", 1)[1].split(":")[0]
        expect(name.endswith("00Z.dump.gz.enc"), f"not a slot: {name}")
        S.start()
        expect(not S.exists(name), f"the failed attempt left {name}")
        expect(metric(d, "vibebox_backup_failures_total") >= 1,
               "the failure was not counted")
        deadline = time.monotonic() + 60
        while not log_match(d, f"backup {name}: done"):
            expect(time.monotonic() < deadline,
                   "no successful retry: " + d.logtext()[-2000:])
            time.sleep(0.2)
        expect(log_match(d, f"backup {name}: started (attempt 2)") or
               log_match(d, f"backup {name}: started (attempt 3)"),
               "the success was not a retry")
        expect(S.exists(name), f"{name} not in the bucket")
    finally:
        if S.proc is None:
            S.start()
        code = d.stop()
    expect(code == 0, f"vibeboxd exit {code}: {d.logtext()[-1500:]}")


def wait_listed(c, token, name, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        st, b = c.request("GET", "/api/v1/admin/backups", token=token)
        expect(st == 200, f"list: {st} {b}")
        if b["running"] is None and (
                any(x["name"] == name for x in b["backups"]) or
                b["lastError"]):
            expect(b["lastError"] is None, b["lastError"])
            return b
        expect(time.monotonic() < deadline, f"still running: {b}")
        time.sleep(0.2)


def main():
    global S, PG
    skip_unless_s3()
    if not shutil.which("runuser") or not shutil.which("pg_restore"):
        print("# skip: no PostgreSQL")
        raise SystemExit(77)
    os.chmod(TMP, 0o755)
    PG = os.path.join(TMP, "pg")
    subprocess.run(["sh", CLUSTER, "start", PG], check=True,
                   capture_output=True)
    S = S3().start()
    if OA:
        OA.SPEC = OA.Spec()
    suite = Suite()
    try:
        suite.run(test_backup_now)
        suite.run(test_backup_now_s3_down)
        suite.run(test_api_and_retention)
        suite.run(test_restore_round_trip)
        suite.run(test_schedule_and_retry)
    finally:
        S.stop()
        subprocess.run(["sh", CLUSTER, "stop", PG], capture_output=True)
        shutil.rmtree(TMP, ignore_errors=True)
    suite.finish()


if __name__ == "__main__":
    main()
