# SPDX-License-Identifier: Apache-2.0
"""SIGHUP is all or nothing: the whole new file, every plugin's block
included, is checked before anything of it is applied.

reloadkit (tests/plugins/reloadkit.c) holds settings checked by its
validate step and shows the ones in use in GET /health/ready; hello has no
validate step. Each bad file below also sets log.level = "warn", so that
the log shows whether the core's part of a refused file was applied, and
`vibeboxd -t` must refuse it with the same message."""

import re
import signal
import subprocess
import time

from daemon import VIBEBOXD, Daemon, Suite, expect

GOOD = {"greeting": '"hi"', "limit": "10", "ttl": '"15m"'}
HELLO = '{ name = "hello"; config = { greeting = "hello"; }; }'


def reloadkit(keys, extra=""):
    body = " ".join(f"{k} = {v};" for k, v in keys.items())
    return f'{{ name = "reloadkit"; config = {{ {body} {extra} }}; }}'


def held(d):
    """The settings reloadkit holds, from its health check's detail."""
    st, body, _ = d.get("/health/ready")
    expect(st == 200, f"/health/ready {st} {body}")
    checks = [c for c in body["checks"] if c["name"] == "reloadkit"]
    expect(len(checks) == 1, body)
    return checks[0]["detail"]


def count(d, text):
    return d.logtext().count(text)


def sighup(d, marker):
    """Send SIGHUP and wait for one more `marker` line in the log."""
    before = count(d, marker)
    d.signal(signal.SIGHUP)
    deadline = time.monotonic() + 20
    while count(d, marker) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    expect(count(d, marker) > before, f"no new {marker!r} in the log:\n"
           + d.logtext()[-3000:])


def refused(d):
    sighup(d, "keeping the running configuration")


def applied(d, generation):
    sighup(d, f"applied generation {generation}:")


def line_of(d, text):
    """The line of the config file holding text (1-based)."""
    with open(d.conf) as f:
        for n, line in enumerate(f, 1):
            if text in line:
                return n
    raise AssertionError(f"{text!r} not in {d.conf}")


def error_lines(d):
    return [x["msg"] for x in d.loglines()
            if x.get("level") == "error" and x.get("msg", "").startswith(
                d.conf + ":")]


def expect_error(d, want):
    """An error line `FILE:LINE: path: message` matching regex want."""
    lines = error_lines(d)
    expect(any(re.fullmatch(want, m) for m in lines),
           f"no error matching {want!r} in {lines}")


def expect_check_refuses(d, want):
    """vibeboxd -t refuses the file too, with the same message."""
    out = subprocess.run([VIBEBOXD, "-t", "-c", d.conf],
                         capture_output=True, text=True)
    expect(out.returncode == 1, f"-t exit {out.returncode}")
    expect(any(re.fullmatch(want, m) for m in out.stderr.splitlines()),
           f"-t: no error matching {want!r} in {out.stderr}")


def expect_info_logged(d, rid):
    """The level is still "info": a request's access line is logged."""
    d.get("/health/live", headers={"X-Request-Id": rid})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if any(x.get("request") == rid for x in d.loglines()):
            return
        time.sleep(0.05)
    raise AssertionError(f"no access line for {rid}: the level changed")


def start(plugins=None):
    return Daemon(plugins=plugins or reloadkit(GOOD) + ", " + HELLO).start()


def with_daemon(check):
    """Run check(d) against a daemon started with GOOD and HELLO."""
    def run():
        d = start()
        try:
            check(d)
        finally:
            expect(d.stop() == 0, "exit 0")
    run.__name__ = check.__name__
    return run


def write(d, plugins, log='level = "info";'):
    d.write_conf(plugins=plugins, log=log)


def bad_then_good(d, bad, needle, want, generation):
    """The file with reloadkit's block `bad` is refused with an error
    `FILE:LINE: ` + want (a regex), LINE the line holding needle; the
    running settings stay, of reloadkit and of the core (log.level); the
    good file after it is applied."""
    before = held(d)
    write(d, bad + ", " + HELLO, log='level = "warn";')
    refused(d)
    want = re.escape(f"{d.conf}:{line_of(d, needle)}: ") + want
    expect_error(d, want)
    expect_check_refuses(d, want)
    expect(held(d) == before, f"{held(d)} != {before}")
    expect_info_logged(d, f"after-refused-{generation}")
    write(d, reloadkit(dict(GOOD, limit=str(20 + generation))) + ", "
          + HELLO)
    applied(d, generation)
    expect(held(d) == f"greeting=hi limit={20 + generation} "
           f"ttl=900000ms generation={generation}", held(d))


def test_bad_value_unknown_key_missing_key_syntax_error(d):
    expect(held(d) == "greeting=hi limit=10 ttl=900000ms generation=1",
           held(d))
    cases = [
        # a value out of range
        (reloadkit(dict(GOOD, ttl='"2d"')), 'ttl = "2d"',
         re.escape('plugins.reloadkit.ttl: expected a duration 1m..1d, '
                   'got "2d"')),
        # an unknown key in a plugin block
        (reloadkit(GOOD, 'colour = "red";'), "colour",
         re.escape("plugins.reloadkit.colour: unknown key")),
        # a required key removed
        (reloadkit({"limit": "5"}), '"reloadkit"',
         re.escape("plugins.reloadkit.greeting: required") + ".*"),
        # a libconfig syntax error
        (reloadkit(dict(GOOD, limit="")), "limit = ;", ".*syntax error.*"),
    ]
    for generation, (bad, needle, want) in enumerate(cases, 2):
        bad_then_good(d, bad, needle, want, generation)


def test_every_error_of_a_file_is_logged(d):
    write(d, reloadkit({"limit": "0", "ttl": '"1s"'}, "typo = 1;")
          + ", " + HELLO)
    refused(d)
    lines = error_lines(d)
    for key in ("greeting", "limit", "ttl"):
        expect(any(f"plugins.reloadkit.{key}: " in m for m in lines),
               f"{key} not named in {lines}")
    expect(held(d).endswith("generation=1"), held(d))


def test_core_error_refuses_the_plugins_blocks_too(d):
    write(d, reloadkit(dict(GOOD, limit="42")) + ", " + HELLO,
          log='level = "loud";')
    refused(d)
    expect_error(d, re.escape(f"{d.conf}:") + r"\d+: log\.level: .*")
    expect(held(d) == "greeting=hi limit=10 ttl=900000ms generation=1",
           held(d))
    expect("applied generation" not in d.logtext(), "not delivered")


def test_a_plugin_without_validate_must_keep_its_block(d):
    changed = '{ name = "hello"; config = { greeting = "bye"; }; }'
    write(d, reloadkit(dict(GOOD, limit="42")) + ", " + changed)
    refused(d)
    line = line_of(d, '"hello"')
    expect_error(d, re.escape(
        f"{d.conf}:{line}: plugins.hello: changed, but plugin "
        '"hello" has no validate step') + ".*restart vibeboxd.*")
    expect(held(d).startswith("greeting=hi limit=10 "), held(d))
    # the same block, however written, is not a change
    same = '{ name = "hello";\n config = {\n greeting = "hello" ; }; }'
    write(d, reloadkit(dict(GOOD, limit="42")) + ", " + same)
    applied(d, 2)
    expect(held(d).startswith("greeting=hi limit=42 "), held(d))


def test_a_changed_plugin_list_applies_nothing(d):
    write(d, reloadkit(dict(GOOD, limit="42")))
    refused(d)
    expect(any("restart vibeboxd" in m for m in error_lines(d)),
           error_lines(d))
    expect(held(d).startswith("greeting=hi limit=10 "), held(d))


if __name__ == "__main__":
    s = Suite()
    for name, fn in list(globals().items()):
        if name.startswith("test_"):
            s.run(with_daemon(fn))
    s.finish()
