# SPDX-License-Identifier: Apache-2.0
"""An S3-compatible server that verifies SigV4 (tests/s3/server.js, npm's
@20minutes/s3rver) on a free loopback port, and Debian's s3cmd as the
independent client that checks what landed in the bucket (object
requests only: s3rver refuses the signature of s3cmd's bucket listing,
whose path ends in '/')."""

import os
import shutil
import subprocess
import sys
import tempfile

from daemon import free_port

SRC = os.environ.get("VBX_SRCDIR", ".")
ACCESS = SECRET = "S3RVER"  # s3rver's built-in credentials
REGION = "us-east-1"


def skip_unless_s3():
    """Exit 77 (skip) without node, npm or s3cmd; 1 with
    VBX_REQUIRE_SERVICES=1. Installs tests/s3's packages (npm ci) once."""
    missing = [b for b in ("node", "npm", "s3cmd") if not shutil.which(b)]
    why = f"missing {', '.join(missing)} (scripts/install-deps.sh test)"
    if not missing and not os.path.isdir(os.path.join(
            SRC, "tests/s3/node_modules/@20minutes/s3rver")):
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"],
                           cwd=os.path.join(SRC, "tests/s3"),
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            missing, why = ["npm ci"], "npm ci in tests/s3 failed: " + \
                r.stderr[-500:]
    if missing:
        required = os.environ.get("VBX_REQUIRE_SERVICES") == "1"
        print(f"# {'FAIL' if required else 'skip'}: {why}", flush=True)
        sys.exit(1 if required else 77)


class S3:
    """s3rver serving bucket from its own directory; start() again after
    kill() serves the same objects on the same port."""

    def __init__(self, bucket="backups"):
        self.bucket = bucket
        self.dir = tempfile.mkdtemp(prefix="vbx-s3-")
        self.port = free_port()
        self.proc = None
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.cfg = os.path.join(self.dir, "s3cfg")
        with open(self.cfg, "w") as f:
            f.write("[default]\n"
                    f"access_key={ACCESS}\nsecret_key={SECRET}\n"
                    f"host_base=127.0.0.1:{self.port}\n"
                    f"host_bucket=127.0.0.1:{self.port}\n"
                    "use_https=False\nsignature_v2=False\n"
                    f"bucket_location={REGION}\n")

    def start(self):
        self.proc = subprocess.Popen(
            ["node", os.path.join(SRC, "tests/s3/server.js"),
             str(self.port), os.path.join(self.dir, "data"), self.bucket],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()  # blocks until it listens
        if not line.startswith("ready"):
            raise RuntimeError("s3rver did not start: " +
                               self.proc.stderr.read()[-1000:])
        return self

    def kill(self):
        if self.proc:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def stop(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def s3cmd(self, *args, check=True):
        r = subprocess.run(["s3cmd", "-c", self.cfg, *args],
                           capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"s3cmd {args}: {r.stderr}")
        return r

    def url(self, key):
        return f"s3://{self.bucket}/{key}"

    def exists(self, key):
        """Is key there, by s3cmd's HEAD? (Not `s3cmd ls`: s3rver
        refuses the signature of a bucket path with a trailing '/'.)"""
        r = self.s3cmd("info", self.url(key), check=False)
        if "File size:" in r.stdout:
            return True
        if "404" in r.stderr:
            return False
        raise AssertionError(f"s3cmd info {key}: {r.stderr}")

    def metadata(self, key):
        """x-amz-meta-* of key as s3cmd's HEAD sees them."""
        r = self.s3cmd("--debug", "info", self.url(key), check=False)
        meta = {}
        for name in ("sha256", "key-id"):
            tag = f"'x-amz-meta-{name}': '"
            at = r.stderr.find(tag)
            if at >= 0:
                end = r.stderr.index("'", at + len(tag))
                meta[name] = r.stderr[at + len(tag):end]
        return meta

    def get(self, key, path):
        self.s3cmd("get", "--force", self.url(key), path)

    def put(self, path, key):
        self.s3cmd("put", path, self.url(key))
