# SPDX-License-Identifier: Apache-2.0
"""docker-runtime's block_host against the real engine and the host's
iptables (plugins/docker-runtime/README.md, "Blocking the host").

A listener on the host's 0.0.0.0 is refused from inside an environment
through its network's gateway with block_host on (the default), and
reached with it off; the rules are made once however often the daemon
starts, and block_host = false removes them. Docker's embedded DNS still
answers, and a port another environment publishes on the host is refused
too when block_host is on (documented). Traffic goes to the bridge
gateways only. Needs root and iptables (exit 77 otherwise).
"""

import os
import shutil
import socket
import stat
import subprocess
import tempfile
import threading

import daemon as daemon_module
from daemon import Suite, expect
from fixture import Platform, skip_unless_ready

ENVS = "/api/v1/environments"
IPT = "/usr/sbin/iptables"
CHAIN = "VIBEBOX-HOST"
RULES = [f"-N {CHAIN}",
         f"-A {CHAIN} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
         f"-A {CHAIN} -p udp -m udp --dport 53 -j RETURN",
         f"-A {CHAIN} -p tcp -m tcp --dport 53 -j RETURN",
         f"-A {CHAIN} -j REJECT --reject-with icmp-port-unreachable"]
JUMP = f"-A INPUT -i vbx-+ -j {CHAIN}"
PLATFORM = 'environments: { stop_timeout = "1s"; reconcile_interval = "1h"; };'
P = None
DAEMONS = []
MADE = []


def iptables(*args):
    return subprocess.run([IPT, "-w", *args], capture_output=True, text=True)


def chain_rules():
    r = iptables("-S", CHAIN)
    return r.stdout.splitlines() if r.returncode == 0 else None


def jumps():
    return iptables("-S", "INPUT").stdout.splitlines().count(JUMP)


def docker(*args):
    return subprocess.run(["docker", *args], capture_output=True, text=True)


class Listener:
    """A TCP listener on the host's 0.0.0.0 that greets whoever comes."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("0.0.0.0", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            c.sendall(b"hello from the host\n")
            c.close()

    def close(self):
        self.sock.close()


def daemon(runtime=""):
    d = P.start(platform=PLATFORM, runtime=runtime)
    DAEMONS.append(d)
    token = P.user(d, "host@block.test")
    project = P.project(d, token, "Block")["id"]
    return d, token, project


def running_env(d, token, project, name, ports=()):
    e = P.environment(d, token, project, name, memory=64)
    MADE.append(e["id"])
    for port in ports:
        st, b, _ = d.request("POST", f"{ENVS}/{e['id']}/ports",
                             {"port": port}, token=token)
        expect(st == 201, f"port {port}: {st} {b}")
    st, b, _ = d.request("POST", f"{ENVS}/{e['id']}/start", token=token,
                         timeout=60)
    expect(st == 200 and b["status"] == "running", f"start: {st} {b}")
    return e


def gateway(env_id):
    """The environment network's gateway and its Linux bridge's name."""
    r = docker("network", "inspect", "-f",
               '{{(index .IPAM.Config 0).Gateway}} '
               '{{index .Options "com.docker.network.bridge.name"}}',
               f"vbx-{env_id}")
    expect(r.returncode == 0, r.stderr)
    gw, bridge = r.stdout.split()
    return gw, bridge


def connect(env_id, address, port):
    """nc from inside the environment: (exit code, what it printed)."""
    r = docker("exec", f"vbx-{env_id}", "sh", "-c",
               f"nc -w 3 {address} {port} </dev/null 2>&1")
    return r.returncode, r.stdout + r.stderr


def test_on_by_default_refuses_the_host():
    d, token, project = daemon()
    expect(chain_rules() == RULES, f"rules: {chain_rules()}")
    expect(jumps() == 1, iptables("-S", "INPUT").stdout)
    e = running_env(d, token, project, "blocked")
    gw, bridge = gateway(e["id"])
    want = "vbx-" + e["id"].replace("-", "")[:11]
    expect(bridge == want and os.path.exists(f"/sys/class/net/{bridge}"),
           f"bridge {bridge!r}, want {want!r}")
    host = Listener()
    try:
        code, out = connect(e["id"], gw, host.port)
        expect(code != 0 and "hello" not in out and "refused" in out,
               f"exit {code}: {out}")
        expect(host.accepted == 0, "the listener saw no one")
    finally:
        host.close()
    # Docker's embedded DNS lives in the container's namespace: it still
    # answers for the container's own name.
    r = docker("exec", f"vbx-{e['id']}", "nslookup", f"vbx-{e['id']}",
               "127.0.0.11")
    expect(r.returncode == 0 and "Address" in r.stdout.split("Name:")[-1],
           f"nslookup: {r.stdout} {r.stderr}")


def test_starting_again_changes_nothing():
    d = DAEMONS[-1]
    d.stop()
    d.start()
    expect(chain_rules() == RULES and jumps() == 1,
           f"{chain_rules()} / {jumps()} jumps")
    expect("as it was" in d.logtext(), d.logtext()[-2000:])
    # Rules that differ are put right.
    iptables("-D", CHAIN, "1")
    d.stop()
    d.start()
    expect(chain_rules() == RULES and jumps() == 1,
           f"{chain_rules()} / {jumps()} jumps")


def test_a_published_port_through_the_host():
    """With publish_address 0.0.0.0 a port of one environment is on the
    host's addresses. Another environment that connects to it through its
    gateway reaches the engine's port proxy through INPUT (as here): our
    chain refuses that with block_host on. Where the kernel's DNAT takes
    the connection instead, Docker's network isolation drops it whatever
    block_host says; so with it off the check is only that our chain did
    not refuse it."""
    for block in (True, False):
        d, token, project = daemon('publish_address = "0.0.0.0";' +
                                   ("" if block else "block_host = false;"))
        a = running_env(d, token, project, "server", ports=(8080,))
        b = running_env(d, token, project, "client")
        docker("exec", "-d", f"vbx-{a['id']}", "sh", "-c",
               "while :; do echo hi from a | nc -l -p 8080; done")
        st, ports, _ = d.request("GET", f"{ENVS}/{a['id']}/ports",
                                 token=token)
        host_port = ports["data"][0]["hostPort"]
        gw, _ = gateway(b["id"])
        code, out = connect(b["id"], gw, host_port)
        if block:
            expect(code != 0 and "hi from a" not in out,
                   f"exit {code}: {out}")
        else:
            expect("refused" not in out, f"exit {code}: {out}")
        d.stop()


def test_off_removes_the_rules_and_reaches_the_host():
    d, token, project = daemon("block_host = false;")
    expect(chain_rules() is None and jumps() == 0,
           f"{chain_rules()} / {jumps()} jumps")
    e = running_env(d, token, project, "open")
    gw, _ = gateway(e["id"])
    host = Listener()
    try:
        code, out = connect(e["id"], gw, host.port)
        expect(code == 0 and "hello from the host" in out,
               f"exit {code}: {out}")
    finally:
        host.close()


def test_without_cap_net_admin_it_says_what_to_do():
    """Root without CAP_NET_ADMIN (as the packaged unit's user has none):
    the plugin starts, environments work, and the log names the command
    that failed and the way out."""
    wrapper = os.path.join(tempfile.mkdtemp(prefix="vbx-nocap-"), "vibeboxd")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\nexec setpriv --bounding-set=-net_admin "
                f"--inh-caps=-net_admin {daemon_module.VIBEBOXD} \"$@\"\n")
    os.chmod(wrapper, stat.S_IRWXU)
    real, daemon_module.VIBEBOXD = daemon_module.VIBEBOXD, wrapper
    try:
        d, token, project = daemon()
    finally:
        daemon_module.VIBEBOXD = real
    expect(chain_rules() is None, f"rules: {chain_rules()}")
    log = d.logtext()
    expect(f"`{IPT} -w -S {CHAIN}` failed" in log and
           "CAP_NET_ADMIN" in log and "Blocking the host" in log,
           log[-3000:])
    running_env(d, token, project, "unprotected")


def cleanup():
    for env_id in MADE:
        docker("rm", "-f", f"vbx-{env_id}")
        docker("network", "rm", f"vbx-{env_id}")


def main():
    global P
    if (os.geteuid() != 0 or not os.access(IPT, os.X_OK) or
            not shutil.which("setpriv")):
        print("# skipped: needs root, iptables and setpriv")
        raise SystemExit(77)
    skip_unless_ready()
    s = Suite()
    with Platform() as p:
        P = p
        try:
            for fn in (test_on_by_default_refuses_the_host,
                       test_starting_again_changes_nothing,
                       test_a_published_port_through_the_host,
                       test_off_removes_the_rules_and_reaches_the_host,
                       test_without_cap_net_admin_it_says_what_to_do):
                s.run(fn)
        finally:
            codes = [d.stop() for d in DAEMONS]
            cleanup()

        def test_the_daemons_exit_cleanly():
            expect(all(c == 0 for c in codes), f"exits {codes}")
        s.run(test_the_daemons_exit_cleanly)
    s.finish()


if __name__ == "__main__":
    main()
