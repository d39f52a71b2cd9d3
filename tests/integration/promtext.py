# SPDX-License-Identifier: Apache-2.0
"""promtext.py - a strict reader of the Prometheus text format 0.0.4 for
the tests: whatever Prometheus would refuse, or would read otherwise, is
an AssertionError naming the line.

    fams = parse(text)                 # {family: Family}
    fams["vibebox_x_total"].type       # "counter"
    value(fams, "vibebox_x_total", a="b")   # the sample's value, or None

Checked: every line ends in a newline; # HELP and # TYPE once per family,
TYPE before its samples; a family's samples together; sample names as the
type allows (a counter's is its family's, a histogram's are _bucket with
le, _sum and _count); label names and escapes (only \\\\, \\" and \\n);
values as floats (+Inf, -Inf, NaN); no series twice; a histogram's
buckets cumulative, ending with le="+Inf" equal to _count.
"""

import math
import re

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class Family:
    def __init__(self, name):
        self.name = name
        self.help = None
        self.type = None
        self.samples = {}  # (sample name, frozenset of labels) -> float


def _value(s, where):
    if s in ("+Inf", "Inf"):
        return math.inf
    if s == "-Inf":
        return -math.inf
    if s == "NaN":
        return math.nan
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", s):
        raise AssertionError(f"{where}: bad value {s!r}")
    return float(s)


def _labels(s, i, where):
    """Parse {a="b",...} from s[i] == "{"; returns (dict, index after)."""
    out = {}
    i += 1
    while True:
        if s[i] == "}":
            return out, i + 1
        m = LABEL.match(s, i)
        if not m or s[m.end():m.end() + 2] != '="':
            raise AssertionError(f"{where}: bad label at {s[i:]!r}")
        name, i, v = m.group(), m.end() + 2, []
        while s[i] != '"':
            if s[i] == "\\":
                esc = {"\\": "\\", '"': '"', "n": "\n"}.get(s[i + 1])
                if esc is None:
                    raise AssertionError(f"{where}: bad escape")
                v.append(esc)
                i += 2
            else:
                v.append(s[i])
                i += 1
        if name in out:
            raise AssertionError(f"{where}: label {name} twice")
        out[name] = "".join(v)
        i += 1
        if s[i] == ",":
            i += 1
        elif s[i] != "}":
            raise AssertionError(f"{where}: expected , or }}")


def _family_of(fams, sample, where):
    """The family a sample name belongs to, by its declared type."""
    if sample in fams:
        return fams[sample], ""
    for suffix in ("_bucket", "_sum", "_count"):
        base = sample[:-len(suffix)]
        if sample.endswith(suffix) and base in fams and \
                fams[base].type in ("histogram", "summary"):
            return fams[base], suffix
    raise AssertionError(f"{where}: sample {sample} of no declared family")


def _meta(fams, order, line, where):
    parts = line.split(" ", 3)
    if len(parts) < 3 or parts[1] not in ("HELP", "TYPE"):
        return  # a plain comment
    kind, name = parts[1], parts[2]
    if not NAME.fullmatch(name):
        raise AssertionError(f"{where}: bad family name {name!r}")
    f = fams.setdefault(name, Family(name))
    if f.samples:
        raise AssertionError(f"{where}: {kind} after samples of {name}")
    if kind == "HELP":
        if f.help is not None:
            raise AssertionError(f"{where}: HELP twice for {name}")
        f.help = parts[3] if len(parts) > 3 else ""
    else:
        if f.type is not None or len(parts) != 4 or parts[3] not in TYPES:
            raise AssertionError(f"{where}: bad or second TYPE: {line!r}")
        f.type = parts[3]
    if not order or order[-1] != name:
        if name in order:
            raise AssertionError(f"{where}: {name} declared apart")
        order.append(name)


def _sample(fams, order, line, where):
    m = NAME.match(line)
    if not m:
        raise AssertionError(f"{where}: bad sample {line!r}")
    name, i, labels = m.group(), m.end(), {}
    if i < len(line) and line[i] == "{":
        labels, i = _labels(line, i, where)
    rest = line[i:].split(" ")
    if rest[0] != "" or len(rest) not in (2, 3):
        raise AssertionError(f"{where}: bad sample tail {line[i:]!r}")
    v = _value(rest[1], where)
    f, suffix = _family_of(fams, name, where)
    if f.type is None or order[-1] != f.name:
        raise AssertionError(f"{where}: {name} not right after its TYPE")
    if f.type == "counter" and suffix:
        raise AssertionError(f"{where}: {name} in counter {f.name}")
    if ("le" in labels) != (suffix == "_bucket" and f.type == "histogram"):
        raise AssertionError(f"{where}: le only on histogram buckets")
    key = (name, frozenset(labels.items()))
    if key in f.samples:
        raise AssertionError(f"{where}: series {key} twice")
    f.samples[key] = v


def _check_histogram(f):
    series = {}
    for (name, labels), v in f.samples.items():
        rest = frozenset((k, x) for k, x in labels if k != "le")
        s = series.setdefault(rest, {"buckets": [], "count": None})
        if name.endswith("_bucket"):
            s["buckets"].append((_value(dict(labels)["le"], f.name), v))
        elif name.endswith("_count"):
            s["count"] = v
    for labels, s in series.items():
        b = sorted(s["buckets"])
        counts = [v for _, v in b]
        if not b or b[-1][0] != math.inf or counts != sorted(counts) or \
                s["count"] != b[-1][1]:
            raise AssertionError(f"histogram {f.name}{dict(labels)}: "
                                 f"buckets {b}, count {s['count']}")


def parse(text):
    if text and not text.endswith("\n"):
        raise AssertionError("the exposition does not end in a newline")
    fams, order = {}, []
    for n, line in enumerate(text.split("\n")[:-1], 1):
        where = f"line {n}"
        if line.startswith("#"):
            _meta(fams, order, line, where)
        elif line.strip():
            _sample(fams, order, line, where)
        else:
            raise AssertionError(f"{where}: empty line")
    for f in fams.values():
        if f.type == "histogram":
            _check_histogram(f)
    return fams


def value(fams, sample, **labels):
    """The value of one sample (a family's or a histogram's _sum/_count),
    or None when it is not there."""
    for name in (sample, re.sub(r"_(bucket|sum|count)$", "", sample)):
        if name in fams:
            return fams[name].samples.get(
                (sample, frozenset(labels.items())))
    return None
