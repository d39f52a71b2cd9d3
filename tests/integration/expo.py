# SPDX-License-Identifier: Apache-2.0
"""The metrics plugin, for the integration tests: a daemon whose plugin
directory links the real metrics plugin (tests/plugins has a test plugin
of the same name) next to the test plugins, and a strict parser of the
Prometheus text format that the tests read the values through."""

import http.client
import os
import re
import tempfile

from daemon import Daemon, expect, free_port

BUILD = os.environ.get("VBX_BUILDDIR", ".")
METRICS_SO = os.path.join(BUILD, "plugins/metrics/.libs/metrics.so")
TEST_PLUGINS = os.environ.get("VBX_TEST_PLUGIN_DIR", "")


def plugin_dir(*test_plugins):
    """A directory with metrics.so and the named test plugins."""
    d = tempfile.mkdtemp(prefix="vbx-mx-")
    os.symlink(os.path.abspath(METRICS_SO), os.path.join(d, "metrics.so"))
    for name in test_plugins:
        os.symlink(os.path.join(TEST_PLUGINS, name + ".so"),
                   os.path.join(d, name + ".so"))
    return d


def metrics_daemon(config="", others='{ name = "testkit"; },',
                   test_plugins=("testkit",)):
    """A started daemon with the metrics plugin on a free port (d.mport),
    unless config sets listen itself."""
    mport = free_port()
    if "listen" not in config:
        config = f'listen = "127.0.0.1:{mport}"; ' + config
    d = Daemon(plugin_dir=plugin_dir(*test_plugins),
               plugins=f'{others} {{ name = "metrics"; config = {{ '
                       f'{config} }}; }}')
    d.mport = mport
    return d.start()


def scrape(port, path="/metrics", headers=None, method="GET"):
    """(status, headers dict with lower-case names, body text)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, headers=headers or {})
    r = c.getresponse()
    body = r.read().decode()
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = re.compile(rf"^({_NAME})(\{{(.*)\}})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\[\\"n])*)"(,|$)')


def _labels(text):
    out, pos = {}, 0
    while pos < len(text):
        m = _LABEL.match(text, pos)
        expect(m, f"bad labels at {text[pos:]!r}")
        expect(m.group(1) not in out, f"label {m.group(1)} twice")
        out[m.group(1)] = (m.group(2).replace("\\n", "\n")
                           .replace('\\"', '"').replace("\\\\", "\\"))
        pos = m.end()
    return out


def _value(text):
    if text in ("+Inf", "-Inf", "NaN"):
        return float(text.replace("Inf", "inf").replace("NaN", "nan"))
    expect(re.fullmatch(r"-?[0-9.]+(e[-+]?[0-9]+)?", text),
           f"bad value {text!r}")
    return float(text)


def parse(text, openmetrics=False):
    """Strictly parse an exposition: {family: {"type", "help",
    "samples": [(name, labels, value)]}}. Every sample belongs to the
    family whose TYPE came last (with _total/_bucket/_count/_sum for the
    types that have them), every family is described once, the text ends
    with a newline (and "# EOF" for OpenMetrics)."""
    expect(text.endswith("\n"), "no final newline")
    lines = text[:-1].split("\n")
    if openmetrics:
        expect(lines[-1] == "# EOF", "OpenMetrics must end with # EOF")
        lines = lines[:-1]
    fams, cur = {}, None
    suffixes = {"counter": ["_total"] if openmetrics else [""],
                "gauge": [""],
                "histogram": ["_bucket", "_count", "_sum"]}
    for line in lines:
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
            expect(name not in fams, f"family {name} twice")
            fams[name] = {"help": line.split(" ", 3)[3], "type": None,
                          "samples": []}
            cur = name
        elif line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ")
            expect(name == cur and fams[name]["type"] is None,
                   f"TYPE {name} out of place")
            fams[name]["type"] = typ
        else:
            m = _SAMPLE.match(line)
            expect(m and cur, f"bad line {line!r}")
            typ = fams[cur]["type"]
            expect(m.group(1) in [cur + s for s in suffixes[typ]],
                   f"sample {m.group(1)} in family {cur} ({typ})")
            fams[cur]["samples"].append(
                (m.group(1), _labels(m.group(3) or ""), _value(m.group(4))))
    return fams


def value(fams, name, **labels):
    """The value of the one sample called name with exactly labels."""
    fam = name
    for suffix in ("_bucket", "_count", "_sum"):
        if name.endswith(suffix) and name[:-len(suffix)] in fams:
            fam = name[:-len(suffix)]
    if fam not in fams and fam.endswith("_total"):
        fam = fam[:-6]
    got = [v for n, ls, v in fams.get(fam, {"samples": []})["samples"]
           if n == name and ls == labels]
    expect(len(got) == 1, f"{name}{labels}: {len(got)} samples")
    return got[0]
