# SPDX-License-Identifier: Apache-2.0
"""backup-s3's S3 client and backup pipeline (issue 14) against a real
S3-compatible server that verifies SigV4 (s3.py) and a real PostgreSQL
(tests/postgres/pg_cluster.sh), driven by tests/backup/bkrun; s3cmd
(Debian) checks independently what is in the bucket.

A wrong secret is refused; a multipart backup lands with its SHA-256 and
key id in metadata and restores byte for byte; a pg_dump round trip gives
back the same rows; a flipped byte, a truncated object and a wrong key
each make restore refuse, clearly and before writing anything; a dump
that fails once its output ended leaves no object; killing
the S3 server mid-upload leaves no object, and the next attempt succeeds.
256 MiB (VBX_BACKUP_MEM_BYTES: 1 GiB) streams through with a peak RSS
under 64 MiB.
"""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

from daemon import Suite, expect
from s3 import ACCESS, REGION, S3, SECRET, skip_unless_s3

BUILD = os.environ.get("VBX_BUILDDIR", ".")
SRC = os.environ.get("VBX_SRCDIR", ".")
BKRUN = os.path.join(BUILD, "tests/backup/bkrun")
DECRYPT = os.path.join(BUILD, "vibebox-backup-decrypt")
KEY_A = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
KEY_B = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
PART = 5 * 1024 * 1024  # S3's smallest part: a few MB make several parts
TMP = tempfile.mkdtemp(prefix="vbx-bk-")
S = None


def key_id(hex_key):
    return hashlib.sha256(bytes.fromhex(hex_key)).hexdigest()[:16]


def keyfile(name, *keys):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        f.write("".join(k + "\n" for k in keys))
    return path


KEYS_A = keyfile("a.key", KEY_A)


def bkrun(cmd, arg, stdin=None, keys=KEYS_A, secret=SECRET, env_extra=None,
          **kw):
    env = dict(os.environ, BK_ENDPOINT=S.endpoint, BK_REGION=REGION,
               BK_BUCKET=S.bucket, BK_ACCESS=ACCESS, BK_SECRET=secret,
               BK_KEYFILE=keys, BK_PART_SIZE=str(PART), **(env_extra or {}))
    return subprocess.run([BKRUN, cmd, arg], input=stdin, env=env,
                          capture_output=True, timeout=120, **kw)


def data(n, seed=1):
    """n bytes that gzip barely shrinks (so parts stay large)."""
    out, h = bytearray(), hashlib.sha256(str(seed).encode()).digest()
    while len(out) < n:
        h = hashlib.sha256(h).digest()
        out += h * 4 if len(out) % 3 else h
    return bytes(out[:n])


def test_wrong_secret_refused():
    r = bkrun("list", "db/", secret="not-the-secret")
    expect(r.returncode == 1, f"a wrong secret listed: {r}")
    expect(b"SignatureDoesNotMatch" in r.stderr, r.stderr)
    r = bkrun("backup", "db/wrong.dump.gz.enc", stdin=b"x" * 100,
              secret="not-the-secret")
    expect(r.returncode == 1 and b"403" in r.stderr, r.stderr)
    expect(not S.exists("db/wrong.dump.gz.enc"), "an object appeared")


def test_backup_multipart_and_metadata():
    blob = data(3 * PART + 12345)
    name = "db/20261207T030000Z.dump.gz.enc"
    r = bkrun("backup", name, stdin=blob)
    expect(r.returncode == 0, r.stderr)
    expect(S.exists(name), f"{name} not in the bucket")
    listed = bkrun("list", "db/")
    expect(listed.returncode == 0, listed.stderr)
    meta = S.metadata(name)
    expect(meta.get("sha256") == hashlib.sha256(blob).hexdigest(), meta)
    expect(meta.get("key-id") == key_id(KEY_A), meta)
    # the independent client's copy decrypts with the standalone tool
    path = os.path.join(TMP, "copy.enc")
    S.get(name, path)
    with open(path, "rb") as f:
        expect(f.read(8) == b"VBXBKENC", "no header")
    # ListObjectsV2 gives the key and the size s3cmd downloaded
    want = f"{name} {os.path.getsize(path)} ".encode()
    expect(listed.stdout.startswith(want), listed.stdout)
    r = subprocess.run(f"set -o pipefail; {DECRYPT} -k {KEYS_A} {path} | "
                       "gunzip", shell=True, executable="/bin/bash",
                       capture_output=True, timeout=60)
    expect(r.returncode == 0 and r.stdout == blob, r.stderr)
    r = bkrun("restore", name)
    expect(r.returncode == 0 and r.stdout == blob, r.stderr)


def corrupt(name, how):
    """Upload a damaged copy of name; returns the damaged object's key."""
    path = os.path.join(TMP, "damaged.enc")
    S.get(name, path)
    with open(path, "r+b") as f:
        raw = bytearray(f.read())
        if how == "flip":
            raw[len(raw) // 2] ^= 0x01
        else:
            raw = raw[:len(raw) - 1000]
        f.seek(0)
        f.truncate()
        f.write(raw)
    bad = f"bad/{how}.dump.gz.enc"
    S.put(path, bad)
    return bad


def test_flipped_truncated_wrong_key_refused():
    name = "db/20261207T030000Z.dump.gz.enc"
    for how, why in (("flip", b"failed authentication"),
                     ("cut", b"failed authentication")):
        bad = corrupt(name, how)
        r = bkrun("restore", bad)
        expect(r.returncode == 1, f"{how}: restored: {r.stderr}")
        expect(b"refused" in r.stderr and why in r.stderr,
               f"{how}: {r.stderr}")
        expect(r.stdout == b"", f"{how}: wrote {len(r.stdout)} bytes")
    r = bkrun("restore", name, keys=keyfile("b.key", KEY_B))
    expect(r.returncode == 1 and b"not in the key file" in r.stderr and
           key_id(KEY_A).encode() in r.stderr, r.stderr)
    expect(r.stdout == b"", "wrote with the wrong key")
    # rotation: B encrypts now, A still decrypts the old backup
    r = bkrun("restore", name, keys=keyfile("ba.key", KEY_B, KEY_A))
    expect(r.returncode == 0 and len(r.stdout) == 3 * PART + 12345,
           r.stderr)


def test_failing_dump_leaves_nothing():
    name = "db/20261210T030000Z.dump.gz.enc"
    r = bkrun("backup", name, stdin=data(2 * PART + 7, seed=5),
              env_extra={"BK_DUMP_FAILS": "1"})
    expect(r.returncode == 1 and b"the dump failed" in r.stderr, r.stderr)
    expect(not S.exists(name), f"a failed dump left {name}")


def test_s3_killed_mid_upload():
    name = "db/20261208T030000Z.dump.gz.enc"
    env = dict(os.environ, BK_ENDPOINT=S.endpoint, BK_REGION=REGION,
               BK_BUCKET=S.bucket, BK_ACCESS=ACCESS, BK_SECRET=SECRET,
               BK_KEYFILE=KEYS_A, BK_PART_SIZE=str(PART))
    p = subprocess.Popen([BKRUN, "backup", name], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env)
    # two parts' worth: the first part is uploaded before we go on
    p.stdin.write(data(2 * PART + 1, seed=2))
    p.stdin.flush()
    S.kill()
    try:
        p.stdin.write(data(PART, seed=3))
        p.stdin.close()
    except BrokenPipeError:
        pass
    _, err = p.communicate(timeout=120)
    expect(p.returncode == 1, f"the backup did not fail: {err}")
    expect(b"connect" in err.lower() or b"S3" in err, err)
    S.start()
    expect(not S.exists(name), f"a partial object {name}")
    r = bkrun("backup", name, stdin=data(2 * PART, seed=4))
    expect(r.returncode == 0, r.stderr)
    expect(S.exists(name), f"{name} not in the bucket")


# 256 MiB by default, for CI's time; VBX_BACKUP_MEM_BYTES=1073741824 for
# the 1 GiB (about a minute here: the same peak).
MEM_BYTES = int(os.environ.get("VBX_BACKUP_MEM_BYTES", str(256 << 20)))


def hwm_kib(pid):
    """The process's peak RSS so far (VmHWM: since its exec, unlike
    getrusage's ru_maxrss, which counts the forked parent's pages)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def test_memory_bounded():
    """MEM_BYTES of incompressible dump through the pipeline with 8 MiB
    parts: the process's peak RSS stays under 64 MiB (the issue's bound
    for the daemon's growth: the pipeline holds a part and a chunk)."""
    name = "db/20261211T030000Z.dump.gz.enc"
    env = dict(os.environ, BK_ENDPOINT=S.endpoint, BK_REGION=REGION,
               BK_BUCKET=S.bucket, BK_ACCESS=ACCESS, BK_SECRET=SECRET,
               BK_KEYFILE=KEYS_A, BK_PART_SIZE=str(8 << 20))
    p = subprocess.Popen([BKRUN, "backup", name], stdin=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)
    t0 = time.monotonic()
    left, peak = MEM_BYTES, 0
    while left:
        n = min(left, 1 << 20)
        p.stdin.write(os.urandom(n))
        left -= n
        if left % (64 << 20) == 0:
            peak = max(peak, hwm_kib(p.pid))
    p.stdin.close()
    while p.poll() is None:  # the upload's end: complete, metadata
        peak = max(peak, hwm_kib(p.pid))
        time.sleep(0.05)
    err = p.stderr.read()
    secs = time.monotonic() - t0
    expect(p.returncode == 0, err)
    peak_mib = peak / 1024
    print(f"# {MEM_BYTES >> 20} MiB backed up in {secs:.1f} s "
          f"({MEM_BYTES / secs / 1e6:.0f} MB/s), peak RSS {peak_mib:.1f} "
          "MiB", flush=True)
    expect(peak_mib < 64, f"peak RSS {peak_mib:.1f} MiB")
    expect(S.exists(name), f"{name} not in the bucket")
    S.s3cmd("del", S.url(name))


def pg(dirname, *sql):
    out = []
    for q in sql:
        r = subprocess.run(["psql", "-X", "-q", "-At", PG, "-c", q],
                           capture_output=True, text=True, timeout=60)
        expect(r.returncode == 0, f"{q}: {r.stderr}")
        out.append(r.stdout)
    return out


def test_postgres_round_trip():
    pg(None, "CREATE TABLE t (id int PRIMARY KEY, v text)",
       "INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 20000)"
       " g")
    before = pg(None, "SELECT count(*), md5(string_agg(v, ',' ORDER BY id))"
                " FROM t")[0]
    dump = subprocess.run(["pg_dump", "--format=custom", PG],
                          capture_output=True, timeout=120)
    expect(dump.returncode == 0, dump.stderr)
    name = "db/20261209T030000Z.dump.gz.enc"
    r = bkrun("backup", name, stdin=dump.stdout)
    expect(r.returncode == 0, r.stderr)
    pg(None, "DROP TABLE t")
    r = bkrun("restore", name)
    expect(r.returncode == 0 and r.stdout == dump.stdout, r.stderr)
    res = subprocess.run(["pg_restore", "--no-owner", "-d", PG],
                         input=r.stdout, capture_output=True, timeout=120)
    expect(res.returncode == 0, res.stderr)
    after = pg(None, "SELECT count(*), md5(string_agg(v, ',' ORDER BY id))"
               " FROM t")[0]
    expect(after == before and before.startswith("20000|"),
           f"{before!r} != {after!r}")


def start_pg():
    if not shutil.which("pg_dump") or not shutil.which("psql"):
        return None
    d = os.path.join(TMP, "pg")
    r = subprocess.run(["sh", os.path.join(SRC, "tests/postgres/pg_cluster.sh"),
                        "start", d], capture_output=True, text=True,
                       timeout=120)
    if r.returncode != 0:
        print("# pg_cluster.sh: " + r.stderr[-500:], flush=True)
        return None
    return r.stdout.strip()


def main():
    global S, PG
    skip_unless_s3()
    if not os.access(BKRUN, os.X_OK):
        print(f"# FAIL: {BKRUN} not built (make check builds it)")
        sys.exit(1)
    os.chmod(TMP, 0o755)  # the postgres user reaches its cluster below
    S = S3().start()
    PG = start_pg()
    suite = Suite()
    try:
        suite.run(test_wrong_secret_refused)
        suite.run(test_backup_multipart_and_metadata)
        suite.run(test_flipped_truncated_wrong_key_refused)
        suite.run(test_failing_dump_leaves_nothing)
        suite.run(test_s3_killed_mid_upload)
        suite.run(test_memory_bounded)
        if PG:
            suite.run(test_postgres_round_trip)
        elif os.environ.get("VBX_REQUIRE_SERVICES") == "1":
            suite.failed += 1
            print("not ok - postgres round trip: no PostgreSQL")
        else:
            print("ok - postgres round trip # SKIP no PostgreSQL")
    finally:
        S.stop()
        if PG:
            subprocess.run(["sh", os.path.join(
                SRC, "tests/postgres/pg_cluster.sh"), "stop",
                os.path.join(TMP, "pg")], capture_output=True, timeout=60)
        shutil.rmtree(TMP, ignore_errors=True)
    suite.finish()


PG = None
if __name__ == "__main__":
    main()
