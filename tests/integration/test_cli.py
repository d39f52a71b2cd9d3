# SPDX-License-Identifier: Apache-2.0
"""The vibebox command-line client end to end, against a throwaway
PostgreSQL cluster, the real Docker engine and vibeboxd with
postgres-store, auth and docker-runtime (fixture.py).

login (the credentials file's mode, a refusal of a shared file, the
token pair refreshed on a 401), the exit codes of every kind of failure,
env create/ls/start/logs/stop/rm with tables and --json, a name in two
projects, `env logs -f` ending when the environment stops, API keys in
VIBEBOX_TOKEN, and `vibebox shell` with piped input: its output, the
remote exit code, and a transparent resume after the TCP connection is
cut under it (through a proxy the test controls). Containers are named
vbx-<environment id> by docker-runtime; whatever is left is removed.
"""

import fcntl
import json
import os
import pty
import select
import shutil
import signal
import socket
import stat
import struct
import subprocess
import tempfile
import termios
import time

from daemon import Suite, expect
from fixture import BUILD, IMAGE, PASSWORD, Platform, skip_unless_ready
from relay import Relay

VIBEBOX = os.environ.get("VIBEBOX") or os.path.join(BUILD, "vibebox")
PLATFORM = """environments: { max_cpu = 2; max_memory = "1GiB";
  stop_timeout = "1s"; };"""
LIMITS = 'register_limit = "1000/1m"; login_limit = "1000/1m";'
EMAIL = "admin@cli.test"
P = None    # the Platform
D = None    # the daemon
HOME = None  # HOME and XDG_CONFIG_HOME of the CLI
TOKEN = None  # an access token for the test's own API calls
MADE = []    # environment ids, for the clean-up


def creds_path():
    return os.path.join(HOME, "cfg", "vibebox", "credentials")


def cli_env(extra=None):
    """The CLI's environment: its own HOME, the test daemon."""
    e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": HOME,
         "XDG_CONFIG_HOME": os.path.join(HOME, "cfg"),
         "VIBEBOX_SERVER": f"http://127.0.0.1:{D.port}"}
    e.update(extra or {})
    return e


def cli(*args, input=None, env=None, timeout=120):
    """Run vibebox; returns (exit code, stdout, stderr)."""
    e = cli_env(env)
    r = subprocess.run([VIBEBOX, *args], input=input, capture_output=True,
                       text=True, env=e, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def ok(*args, **kw):
    rc, out, err = cli(*args, **kw)
    expect(rc == 0, f"vibebox {' '.join(args)}: exit {rc}: {err}")
    return out


def fails(code, *args, **kw):
    rc, out, err = cli(*args, **kw)
    expect(rc == code, f"vibebox {' '.join(args)}: exit {rc}, expected "
           f"{code}: {out} {err}")
    return err


def read_creds():
    with open(creds_path()) as f:
        pairs = (line.split("=", 1) for line in f
                 if "=" in line and not line.startswith("#"))
        return {k.strip(): v.strip() for k, v in pairs}


def write_creds(values):
    with open(creds_path(), "w") as f:
        for k, v in values.items():
            f.write(f"{k} = {v}\n")
    os.chmod(creds_path(), 0o600)


def env_id(name):
    st, body, _ = D.request("GET", "/api/v1/environments?limit=100",
                            token=TOKEN)
    expect(st == 200, f"list: {st} {body}")
    ids = [e["id"] for e in body["data"] if e["name"] == name]
    expect(len(ids) == 1, f"{name}: {ids}")
    return ids[0]


# ---- before logging in ----

def test_not_logged_in():
    err = fails(2, "env", "ls")
    expect("not logged in" in err, err)


def test_usage_errors():
    fails(1, "frobnicate")
    fails(1)
    fails(1, "env", "create", "x")
    fails(1, "env", "create", "x", "--project", "p", "--image", "i",
          "--cpu", "lots")
    fails(1, "shell")
    rc, out, _ = cli("--help")
    expect(rc == 0 and "Exit codes" in out and "4  conflict" in out, out)


def test_login_wrong_password():
    fails(2, "login", "--email", EMAIL, "--password-stdin",
          input="wrong password\n")
    expect(not os.path.exists(creds_path()), "a file after a failed login")


def test_unreachable_server():
    err = fails(5, "env", "ls", env={"VIBEBOX_SERVER": "http://127.0.0.1:1",
                                     "VIBEBOX_TOKEN": "x"})
    expect("cannot reach" in err, err)


def test_login():
    out = ok("login", "--email", EMAIL, "--password-stdin",
             input=PASSWORD + "\n")
    expect("Logged in" in out, out)
    st = os.stat(creds_path())
    expect(stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode))
    d = os.stat(os.path.dirname(creds_path()))
    expect(stat.S_IMODE(d.st_mode) == 0o700, oct(d.st_mode))
    c = read_creds()
    expect(c["server"] == f"http://127.0.0.1:{D.port}", c)
    expect(c["email"] == EMAIL and c["access_token"] and
           c["refresh_token"], c)


def test_password_from_piped_stdin():
    # stdin is not a terminal: the password is its first line
    ok("login", "--email", EMAIL, input=PASSWORD + "\n")


def test_password_prompt_without_echo():
    pid, master = pty.fork()
    if pid == 0:  # the child: the pty is its controlling terminal
        os.execve(VIBEBOX, [VIBEBOX, "login", "--email", EMAIL], cli_env())
    try:
        read_until(master, b"Password: ")
        time.sleep(0.2)
        attrs = termios.tcgetattr(master)
        expect(not attrs[3] & termios.ECHO, "the password would echo")
        os.write(master, PASSWORD.encode() + b"\n")
        out = read_until(master, b"Logged in")
        expect(PASSWORD.encode() not in out, f"echoed: {out!r}")
        _, status = os.waitpid(pid, 0)
        expect(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0,
               f"status {status}")
        expect(termios.tcgetattr(master)[3] & termios.ECHO,
               "echo was not turned back on")
    finally:
        os.close(master)


def test_refuses_a_shared_credentials_file():
    os.chmod(creds_path(), 0o644)
    try:
        err = fails(2, "env", "ls")
        expect("readable by other users" in err and "chmod 600" in err,
               err)
    finally:
        os.chmod(creds_path(), 0o600)
    ok("env", "ls")


def test_refresh_on_401():
    before = read_creds()
    broken = dict(before, access_token="not.a.token")
    write_creds(broken)
    out = ok("env", "ls", "--json")
    json.loads(out)
    after = read_creds()
    # (the new access token may equal the old one within a second)
    expect(after["access_token"] != "not.a.token", after)
    expect(after["refresh_token"] != before["refresh_token"],
           "the refresh token was not rotated")
    st = os.stat(creds_path())
    expect(stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode))
    # the old refresh token is spent: a second client using it fails
    # cleanly with "log in again"
    write_creds(dict(before, access_token="not.a.token"))
    err = fails(2, "env", "ls")
    expect("login" in err, err)
    ok("login", "--email", EMAIL, "--password-stdin",
       input=PASSWORD + "\n")


# ---- environments ----

def test_env_create_and_ls():
    out = ok("env", "create", "box", "--project", "demo", "--image", IMAGE,
             "--cpu", "0.5", "--memory", "128", "--json")
    e = json.loads(out)
    MADE.append(e["id"])
    expect(e["name"] == "box" and e["cpuLimit"] == 0.5 and
           e["memoryLimit"] == 128 and e["status"] == "stopped", e)
    table = ok("env", "ls")
    lines = table.splitlines()
    expect(lines[0].split() == ["ID", "NAME", "STATUS", "IMAGE", "CPU",
                                "MEMORY"], lines)
    expect(any(e["id"] in l and "box" in l and "stopped" in l
               for l in lines[1:]), table)
    listed = json.loads(ok("env", "ls", "--project", "demo", "--json"))
    expect([x["id"] for x in listed["data"]] == [e["id"]], listed)
    expect(listed["pagination"]["total"] == 1, listed)


def test_failures_have_their_exit_codes():
    err = fails(3, "env", "start", "nosuch")
    expect("nosuch" in err, err)
    fails(3, "env", "create", "x", "--project", "nosuch", "--image", IMAGE)
    err = fails(4, "env", "create", "big", "--project", "demo", "--image",
                IMAGE, "--cpu", "64")
    expect("cpuLimit" in err, err)
    fails(4, "env", "stop", "box")   # stopped already: 409
    fails(4, "shell", "box")         # not running
    fails(3, "env", "rm", "0b7e3a52-1c1d-4c2e-9f4a-3d2b1a0c9e8f")


def test_ambiguous_name():
    st, other, _ = D.request("POST", "/api/v1/projects", {"name": "other"},
                             token=TOKEN)
    expect(st == 201, other)
    a = json.loads(ok("env", "create", "dup", "--project", "demo",
                      "--image", IMAGE, "--json"))
    b = json.loads(ok("env", "create", "dup", "--project", other["id"],
                      "--image", IMAGE, "--json"))
    MADE.extend([a["id"], b["id"]])
    err = fails(1, "env", "rm", "dup")
    expect(a["id"] in err and b["id"] in err, err)
    ok("env", "rm", "dup", "--project", "other")
    ok("env", "rm", a["id"])
    fails(3, "env", "rm", "dup")


def test_env_start():
    out = ok("env", "start", "box")
    expect("running" in out, out)
    fails(4, "env", "start", "box")  # running already: 409
    e = json.loads(ok("env", "logs", "box", "--tail", "5", "--json"))
    expect(isinstance(e["data"], list), e)


def test_shell_piped_input():
    rc, out, err = cli("shell", "box", input="echo hi; exit 3\n")
    expect(rc == 3, f"exit {rc}: {out} {err}")
    expect("hi" in out.replace("echo hi", ""), out)


def test_shell_exit_zero():
    rc, out, err = cli("shell", "box", input="echo $((6*7)); exit\n")
    expect(rc == 0, f"exit {rc}: {err}")
    expect("42" in out, out)


def read_until(fd, needle, seconds=20):
    buf, deadline = b"", time.time() + seconds
    while needle not in buf:
        left = deadline - time.time()
        expect(left > 0, f"{needle!r} never came: {buf!r}")
        if select.select([fd], [], [], left)[0]:
            try:
                buf += os.read(fd, 4096)
            except OSError:  # the other side closed
                break
    expect(needle in buf, f"{needle!r} never came: {buf!r}")
    return buf


def set_size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def shell_in_pty():
    master, slave = os.openpty()
    set_size(slave, 30, 100)
    before = termios.tcgetattr(slave)
    p = subprocess.Popen([VIBEBOX, "shell", "box"], stdin=slave,
                         stdout=slave, stderr=slave, env=cli_env(),
                         start_new_session=True)
    return p, master, slave, before


def test_shell_in_a_terminal():
    p, master, slave, before = shell_in_pty()
    try:
        read_until(master, b"# ")
        raw = termios.tcgetattr(slave)
        expect(not raw[3] & termios.ECHO and not raw[3] & termios.ICANON,
               "the local terminal is not in raw mode")
        os.write(master, b"stty size\r")
        read_until(master, b"30 100")
        set_size(slave, 40, 120)  # the window grows: SIGWINCH
        p.send_signal(signal.SIGWINCH)
        time.sleep(0.5)
        os.write(master, b"stty size\r")
        read_until(master, b"40 120")
        os.write(master, b"exit 5\r")
        expect(p.wait(20) == 5, f"exit {p.returncode}")
        expect(termios.tcgetattr(slave) == before,
               "the terminal mode was not restored")
    finally:
        if p.poll() is None:
            p.kill()
        os.close(master)
        os.close(slave)


def test_terminal_restored_on_sigterm():
    p, master, slave, before = shell_in_pty()
    try:
        read_until(master, b"# ")
        expect(termios.tcgetattr(slave) != before, "not in raw mode")
        p.terminate()
        expect(p.wait(20) == -signal.SIGTERM, f"exit {p.returncode}")
        expect(termios.tcgetattr(slave) == before,
               "the terminal mode was not restored after SIGTERM")
    finally:
        if p.poll() is None:
            p.kill()
        os.close(master)
        os.close(slave)


def test_api_key_in_vibebox_token():
    st, k, _ = D.request("POST", "/api/v1/keys", {"name": "cli"},
                         token=TOKEN)
    expect(st == 201 and k["key"].startswith("vbx_"), k)
    out = ok("env", "ls", "--json", env={"VIBEBOX_TOKEN": k["key"]})
    expect(any(x["name"] == "box" for x in json.loads(out)["data"]), out)
    fails(2, "env", "ls", env={"VIBEBOX_TOKEN": "vbx_nonsense"})


def test_shell_resumes_after_a_cut():
    proxy = Relay(lambda: socket.create_connection(("127.0.0.1", D.port)))
    script = ("i=0; while [ $i -lt 6 ]; do echo line$i; i=$((i+1)); "
              "sleep 1; done; exit 7\n")
    env = cli_env({"VIBEBOX_SERVER": f"http://127.0.0.1:{proxy.port}",
                   "VIBEBOX_TOKEN": read_creds()["access_token"]})
    with tempfile.TemporaryFile() as f:
        f.write(script.encode())
        f.seek(0)
        p = subprocess.Popen([VIBEBOX, "shell", "box"], stdin=f,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=env)
    time.sleep(2.5)
    cut = proxy.cut()
    try:
        out, err = p.communicate(timeout=60)
    finally:
        proxy.close()
    out, err = out.decode(errors="replace"), err.decode(errors="replace")
    expect(cut >= 2, f"nothing to cut ({cut})")
    expect(p.returncode == 7, f"exit {p.returncode}: {err}")
    expect("reconnecting" in err, err)
    for i in range(6):
        n = out.count(f"line{i}\r\n")
        expect(n == 1, f"line{i} appears {n} times: {out!r}")


def test_logs_follow_ends_when_stopped():
    p = subprocess.Popen([VIBEBOX, "env", "logs", "box", "-f"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=cli_env())
    time.sleep(1.5)
    if p.poll() is not None:
        raise AssertionError("logs -f ended early: "
                             + p.stderr.read().decode())
    out = ok("env", "stop", "box")
    expect("stopped" in out, out)
    try:
        _, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise AssertionError("logs -f did not end after the stop")
    expect(p.returncode == 0, f"exit {p.returncode}: {err.decode()}")


def test_env_rm():
    out = ok("env", "rm", "box")
    expect("Removed" in out, out)
    listed = json.loads(ok("env", "ls", "--json"))
    expect(all(x["name"] != "box" for x in listed["data"]), listed)
    fails(3, "env", "rm", "box")


def test_logout():
    out = ok("logout")
    expect("Logged out" in out, out)
    expect(not os.path.exists(creds_path()), "the file is still there")
    fails(2, "env", "ls")


def cleanup():
    for i in MADE:
        D.request("DELETE", f"/api/v1/environments/{i}", token=TOKEN)
        subprocess.run(["docker", "rm", "-f", f"vbx-{i}"],
                       capture_output=True)


def main():
    global P, D, HOME, TOKEN
    if not os.access(VIBEBOX, os.X_OK):
        print(f"# skipped: no vibebox binary at {VIBEBOX}")
        raise SystemExit(77)
    skip_unless_ready()
    HOME = tempfile.mkdtemp(prefix="vbx-cli-")
    s = Suite()
    with Platform() as P:
        D = P.start(platform=PLATFORM, auth=LIMITS)
        try:
            TOKEN = P.user(D, EMAIL)
            P.project(D, TOKEN, "demo")
            for t in (test_not_logged_in, test_usage_errors,
                      test_login_wrong_password, test_unreachable_server,
                      test_login, test_password_from_piped_stdin,
                      test_password_prompt_without_echo,
                      test_refuses_a_shared_credentials_file,
                      test_refresh_on_401, test_env_create_and_ls,
                      test_failures_have_their_exit_codes,
                      test_ambiguous_name, test_env_start,
                      test_shell_piped_input, test_shell_exit_zero,
                      test_shell_in_a_terminal,
                      test_terminal_restored_on_sigterm,
                      test_api_key_in_vibebox_token,
                      test_shell_resumes_after_a_cut,
                      test_logs_follow_ends_when_stopped, test_env_rm,
                      test_logout):
                s.run(t)
        finally:
            cleanup()
            D.stop()
            if s.failed:  # what the daemon said, for the diagnosis
                lines = [x for x in D.logtext().splitlines()
                         if '"msg":"access"' not in x]
                for line in lines[-40:]:
                    print("# " + line)
            shutil.rmtree(HOME, ignore_errors=True)
    s.finish()


if __name__ == "__main__":
    main()
