# SPDX-License-Identifier: Apache-2.0
"""docker-runtime over TCP with TLS and client certificates, end to end.

The deployment reaches Docker-in-Docker engines over tcp:// with TLS. Here
socat stands in for such an engine's TLS listener: it requires a client
certificate signed by a throwaway CA and relays to the local engine's Unix
socket. vibeboxd (fixture.py) with docker-runtime pointed at it must pass
its readiness check, start an environment, run a terminal (the exec stream
is a raw connection upgraded over TLS) and read logs; without a client
certificate the engine is unreachable and readiness says so.
"""

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time

import websockets

from daemon import Suite, expect, free_port
from fixture import Platform, skip_unless_ready

CERTS = tempfile.mkdtemp(prefix="vbx-tls-")
PORT = free_port()
MADE = []


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True,
                   cwd=CERTS)


def make_certs():
    """A CA, a server certificate for 127.0.0.1 and a client one."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
          "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "1", "-subj", "/CN=vibebox test CA")
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1\n"
                       "extendedKeyUsage=serverAuth\n"),
                      ("client", "extendedKeyUsage=clientAuth\n")):
        with open(os.path.join(CERTS, name + ".ext"), "w") as f:
            f.write(ext)
        openssl("req", *ec, "-keyout", name + ".key", "-out",
                name + ".csr", "-subj", "/CN=" + name)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem",
                "-CAkey", "ca.key", "-CAcreateserial", "-out",
                name + ".pem", "-days", "1", "-extfile", name + ".ext")


def start_proxy():
    c = os.path.join(CERTS, "")
    proxy = subprocess.Popen(
        ["socat", f"OPENSSL-LISTEN:{PORT},bind=127.0.0.1,reuseaddr,fork,"
         f"cert={c}server.pem,key={c}server.key,cafile={c}ca.pem,verify=1",
         "UNIX-CONNECT:/var/run/docker.sock"],
        stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", PORT), 1).close()
            return proxy
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("socat did not listen")


def runtime(client=True):
    c = os.path.join(CERTS, "")
    keys = (f'tls_cert_file = "{c}client.pem"; '
            f'tls_key_file = "{c}client.key"; ') if client else ""
    return (f'endpoint = "tcp://127.0.0.1:{PORT}"; '
            f'tls_ca_file = "{c}ca.pem"; {keys}')


def docker_check(d):
    st, body, _ = d.get("/health/ready")
    checks = {c["name"]: c for c in body.get("checks", [])}
    return st, checks.get("docker", {})


async def terminal_echo(d, token, env_id):
    ws = await websockets.connect(
        f"ws://127.0.0.1:{d.port}/api/v1/environments/{env_id}/terminal",
        subprotocols=["vibebox.terminal.v1"],
        extra_headers={"Authorization": "Bearer " + token})
    hello = await asyncio.wait_for(ws.recv(), 10)
    expect(hello[:1] == b"\x82", f"hello first, got {hello[:1]!r}")
    await asyncio.wait_for(ws.recv(), 10)  # the prompt
    await asyncio.sleep(0.2)
    await ws.send(b"\x00echo over-t''ls\n")
    got = b""
    while b"over-tls" not in got:
        f = await asyncio.wait_for(ws.recv(), 10)
        if f[:1] == b"\x80":
            got += f[9:]
    await ws.close()


def test_with_a_client_certificate(p):
    d = p.start(runtime=runtime())
    try:
        st, check = docker_check(d)
        expect(st == 200 and check.get("status") == "ok",
               f"/health/ready: {st} {check}")
        token = p.user(d, "tls@example.test")
        proj = p.project(d, token, "tls")
        env = p.environment(d, token, proj["id"], "tls")
        MADE.append(env["id"])
        st, e, _ = d.request("POST",
                             f"/api/v1/environments/{env['id']}/start",
                             token=token, timeout=60)
        expect(st == 200 and e["status"] == "running", f"start: {st} {e}")
        asyncio.run(terminal_echo(d, token, env["id"]))
        st, logs, _ = d.get(f"/api/v1/environments/{env['id']}/logs",
                            token=token)
        expect(st == 200 and "data" in logs, f"logs: {st} {logs}")
        st, _, _ = d.request("DELETE", f"/api/v1/environments/{env['id']}",
                             token=token, timeout=60)
        expect(st == 204, f"delete: {st}")
    finally:
        code = d.stop()
    expect(code == 0, f"exit {code}: {d.logtext()[-2000:]}")


def test_without_one_the_engine_is_unreachable(p):
    d = p.start(runtime=runtime(client=False))
    try:
        st, check = docker_check(d)
        expect(st == 503 and check.get("status") not in (None, "ok"),
               f"/health/ready: {st} {check}")
    finally:
        d.stop()


def named(fn, p):
    def check():
        fn(p)
    check.__name__ = fn.__name__
    return check


def main():
    skip_unless_ready()
    if not shutil.which("socat"):
        print("# skipped: no socat (apt-get install socat)")
        raise SystemExit(77)
    s = Suite()
    make_certs()
    proxy = start_proxy()
    try:
        with Platform() as p:
            for t in (test_with_a_client_certificate,
                      test_without_one_the_engine_is_unreachable):
                s.run(named(t, p))
    finally:
        proxy.terminate()
        proxy.wait()
        for env_id in MADE:
            subprocess.run(["docker", "rm", "-f", "vbx-" + env_id],
                           capture_output=True)
            subprocess.run(["docker", "network", "rm", "vbx-" + env_id],
                           capture_output=True)
        shutil.rmtree(CERTS, ignore_errors=True)
    s.finish()


if __name__ == "__main__":
    main()
