#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""obscheck.py - structural checks of packaging/observability that no
Debian tool makes (test_observability.sh runs the tools):

  obscheck.py dashboard JSON RULES_OUT  check the Grafana dashboard; write
                                        its PromQL as recording rules for
                                        `promtool check rules`
  obscheck.py promtail YAML             the Promtail config's structure
  obscheck.py loglines YAML VIBEBOXD    run the daemon with JSON logs and
                                        apply Promtail's json stage to its
                                        lines
  obscheck.py grafana DATASOURCES DASHBOARDS  Grafana's provisioning files
  obscheck.py amtemplates YAML OUTDIR   write each notification template
                                        of an AlertManager config to a file
                                        of OUTDIR, for amtool to render
  obscheck.py docs DOC FILE...          every vibebox_ metric and runbook
                                        anchor in FILEs is in DOC; DOC's
                                        own links and YAML examples

Exits 1 with a message naming what is wrong."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import yaml

# Values for Grafana's variables, so an expression is plain PromQL.
GRAFANA_VARS = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "6h",
    "$instance": ".*",
}
LOG_LEVELS = {"error", "warn", "info", "debug"}


def fail(msg):
    sys.exit("obscheck: " + msg)


def all_panels(panels):
    for p in panels:
        yield p
        yield from all_panels(p.get("panels", []))


def var(dash, name):
    for v in dash.get("templating", {}).get("list", []):
        if v.get("name") == name:
            return v
    fail(f"dashboard: no template variable {name!r}")


def check_variables(dash):
    if dash.get("schemaVersion", 0) < 36:
        fail(f"dashboard: schemaVersion {dash.get('schemaVersion')} < 36")
    for name, kind in (("datasource", "prometheus"), ("loki", "loki")):
        v = var(dash, name)
        if v.get("type") != "datasource" or v.get("query") != kind:
            fail(f"dashboard: ${name} must be a {kind} datasource variable")
    inst = var(dash, "instance")
    if "vibebox_" not in json.dumps(inst.get("query")):
        fail("dashboard: $instance must list the instances of a vibebox_ metric")


def check_layout(panels):
    """No two panels share a grid cell (an overlap hides one of them)."""
    taken = {}
    for p in panels:
        g = p.get("gridPos")
        if not g:
            fail(f"dashboard: panel {p.get('title')!r} has no gridPos")
        if g["x"] + g["w"] > 24:
            fail(f"dashboard: panel {p['title']!r} is wider than the grid")
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                if (x, y) in taken:
                    fail(f"dashboard: {p['title']!r} overlaps {taken[x, y]!r}")
                taken[x, y] = p["title"]


def panel_source(p, t):
    ds = t.get("datasource") or p.get("datasource") or {}
    return ds.get("uid")


def dashboard(path, out):
    with open(path, encoding="utf-8") as f:
        dash = json.load(f)
    check_variables(dash)
    panels = list(all_panels(dash.get("panels", [])))
    check_layout(panels)
    rules, ids, loki = [], set(), 0
    for p in panels:
        if p.get("id") in ids:
            fail(f"dashboard: panel id {p.get('id')} twice")
        ids.add(p.get("id"))
        if p.get("type") == "row":
            continue
        if not p.get("targets"):
            fail(f"dashboard: panel {p.get('title')!r} has no query")
        for t in p["targets"]:
            expr, uid = t.get("expr", ""), panel_source(p, t)
            if not expr.strip():
                fail(f"dashboard: panel {p['title']!r} has an empty query")
            if uid == "${loki}":
                loki += 1
                if not re.match(r'\{job="vibeboxd"', expr):
                    fail(f"dashboard: Loki query {expr!r} is not of job vibeboxd")
                continue
            if uid != "${datasource}":
                fail(f"dashboard: panel {p['title']!r} uses datasource {uid!r}, not ${{datasource}}")
            for k, v in GRAFANA_VARS.items():
                expr = expr.replace(k, v)
            if "$" in expr:
                fail(f"dashboard: unknown variable in {expr!r}")
            rules.append({"record": f"dashboard:panel{p['id']}:{t['refId']}",
                          "expr": expr})
    if loki == 0:
        fail("dashboard: no Loki logs panel")
    with open(out, "w", encoding="utf-8") as f:
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)
    print(f"dashboard: {len(panels)} panels, {len(rules)} PromQL queries, "
          f"{loki} Loki queries")


def grafana(datasources, dashboards):
    with open(datasources, encoding="utf-8") as f:
        ds = yaml.safe_load(f)
    if ds.get("apiVersion") != 1:
        fail(f"{datasources}: apiVersion must be 1")
    by_uid = {d["uid"]: d for d in ds.get("datasources", [])}
    kinds = {d["type"] for d in by_uid.values()}
    if kinds != {"prometheus", "loki", "jaeger"}:
        fail(f"{datasources}: data sources of types {kinds}")
    for d in by_uid.values():
        for key in ("name", "access", "url"):
            if not d.get(key):
                fail(f"{datasources}: {d['uid']} has no {key}")
    loki = next(d for d in by_uid.values() if d["type"] == "loki")
    (field,) = loki["jsonData"]["derivedFields"]
    if field["datasourceUid"] not in by_uid:
        fail(f"{datasources}: derived field links to {field['datasourceUid']}")
    trace = "0af7651916cd43dd8448eb211c80319c"
    line = ('{"time":"2026-12-07T15:00:00.000Z","level":"info","plugin":'
            f'"core","request":"r1","trace_id":"{trace}","msg":"access"}}')
    m = re.search(field["matcherRegex"], line)
    if not m or m.group(1) != trace:
        fail(f"{datasources}: {field['matcherRegex']} misses the trace_id")
    jaeger = next(d for d in by_uid.values() if d["type"] == "jaeger")
    if jaeger["jsonData"]["tracesToLogsV2"]["datasourceUid"] != loki["uid"]:
        fail(f"{datasources}: Jaeger's traces do not link to Loki")
    with open(dashboards, encoding="utf-8") as f:
        prov = yaml.safe_load(f)
    (p,) = prov["providers"]
    if p.get("type") != "file" or not p["options"]["path"].endswith(
            "/observability/grafana"):
        fail(f"{dashboards}: not a file provider of the installed dashboard")
    print(f"grafana: {len(by_uid)} data sources, 1 dashboard provider")


def templates_in(node):
    if isinstance(node, dict):
        for v in node.values():
            yield from templates_in(v)
    elif isinstance(node, list):
        for v in node:
            yield from templates_in(v)
    elif isinstance(node, str) and "{{" in node:
        yield node


def amtemplates(path, outdir):
    with open(path, encoding="utf-8") as f:
        cfg = yaml.safe_load(f)
    found = list(templates_in(cfg.get("receivers", [])))
    if not found:
        fail(f"{path}: no notification templates")
    for i, t in enumerate(found):
        with open(os.path.join(outdir, f"t{i}.tmpl"), "w",
                  encoding="utf-8") as f:
            f.write(t)
    print(f"amtemplates: {len(found)} templates")


def stages_of(cfg):
    """The json expressions and label names of a scrape config's stages."""
    exprs, labels = {}, set()
    for st in cfg.get("pipeline_stages") or []:
        if "json" in st:
            exprs.update(st["json"]["expressions"])
        if "labels" in st:
            labels.update(st["labels"])
    return exprs, labels


def promtail(path):
    with open(path, encoding="utf-8") as f:
        cfg = yaml.safe_load(f)
    for key in ("server", "positions", "clients", "scrape_configs"):
        if key not in cfg:
            fail(f"promtail: no top-level {key!r}")
    for c in cfg["clients"]:
        if not c.get("url", "").endswith("/loki/api/v1/push"):
            fail(f"promtail: client url {c.get('url')!r} is not Loki's push API")
    if not cfg["scrape_configs"]:
        fail("promtail: no scrape_configs")
    for sc in cfg["scrape_configs"]:
        name = sc.get("job_name")
        if not name:
            fail("promtail: a scrape config without job_name")
        if not any(k in sc for k in ("journal", "static_configs",
                                     "kubernetes_sd_configs")):
            fail(f"promtail: {name} has no target (journal, static_configs)")
        exprs, labels = stages_of(sc)
        for field in ("level", "plugin"):
            if exprs.get(field) != field:
                fail(f"promtail: {name}: json stage must extract {field!r} "
                     f"from the field {field!r} (core/log.c)")
            if field not in labels:
                fail(f"promtail: {name}: {field!r} is not made a label")
        if labels - {"level", "plugin"}:
            fail(f"promtail: {name}: labels {labels} beyond level and plugin")
    print(f"promtail: {len(cfg['scrape_configs'])} scrape configs")
    return cfg


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def daemon_lines(vibeboxd):
    """JSON log lines of a daemon started with no plugins: the start, an
    access line of /health/live, the stop."""
    port = free_port()
    with tempfile.TemporaryDirectory() as d:
        conf = os.path.join(d, "vibeboxd.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(f'server = {{ listen = "127.0.0.1:{port}"; }};\n'
                    'log = { format = "json"; level = "debug"; access = true; };\n')
        proc = subprocess.Popen([vibeboxd, "-c", conf], stderr=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, text=True)
        try:
            url = f"http://127.0.0.1:{port}/health/live"
            deadline = time.monotonic() + 20
            while True:
                try:
                    urllib.request.urlopen(url, timeout=2).read()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        fail(f"vibeboxd did not answer {url}")
                    time.sleep(0.05)
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
    return [ln for ln in err.splitlines() if ln.strip()]


def loglines(path, vibeboxd):
    cfg = promtail(path)
    exprs, _ = stages_of(cfg["scrape_configs"][0])
    lines = daemon_lines(vibeboxd)
    access = 0
    for ln in lines:
        try:
            obj = json.loads(ln)
        except ValueError:
            fail(f"log line is not JSON: {ln!r}")
        got = {k: obj.get(v) for k, v in exprs.items()}
        if got["level"] not in LOG_LEVELS:
            fail(f"level {got['level']!r} of {ln!r} is not a log level")
        if not got["plugin"]:
            fail(f"no plugin in {ln!r}")
        if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z",
                            got.get("time") or ""):
            fail(f"time of {ln!r} is not RFC 3339 UTC")
        access += obj.get("msg") == "access"
    if access == 0:
        fail("no access line among the daemon's lines")
    print(f"loglines: {len(lines)} lines of vibeboxd, {access} access lines")


def anchors(md):
    """GitHub's anchors of a Markdown file's headings."""
    out = set()
    for ln in md.splitlines():
        m = re.match(r"#+\s+(.*)", ln)
        if m:
            a = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower())
            out.add(a.replace(" ", "-"))
    return out


def docs(doc, files):
    with open(doc, encoding="utf-8") as f:
        md = f.read()
    documented = set(re.findall(r"^\|\s*`(vibebox_\w+)`", md, re.M))
    heads = anchors(md)
    blocks = re.findall(r"^```yaml\n(.*?)^```", md, re.M | re.S)
    for b in blocks:
        try:
            yaml.safe_load(b)
        except yaml.YAMLError as e:
            fail(f"{doc}: a YAML example does not parse: {e}")
    for a in re.findall(r"\]\(#([\w-]+)\)", md):
        if a not in heads:
            fail(f"{doc}: link #{a} is no heading of it")
    for path in files:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for name in set(re.findall(r"vibebox_\w+", text)):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            if name not in documented and base not in documented:
                fail(f"{path}: {name} is not in {doc}'s metric tables")
        for a in re.findall(r"monitoring\.md#([\w-]+)", text):
            if a not in heads:
                fail(f"{path}: runbook anchor #{a} is no heading of {doc}")
    print(f"docs: {len(documented)} metrics documented, {len(blocks)} YAML "
          f"examples, {len(files)} files")


def main(argv):
    if len(argv) == 4 and argv[1] == "dashboard":
        dashboard(argv[2], argv[3])
    elif len(argv) == 3 and argv[1] == "promtail":
        promtail(argv[2])
    elif len(argv) == 4 and argv[1] == "loglines":
        loglines(argv[2], argv[3])
    elif len(argv) == 4 and argv[1] == "amtemplates":
        amtemplates(argv[2], argv[3])
    elif len(argv) == 4 and argv[1] == "grafana":
        grafana(argv[2], argv[3])
    elif len(argv) >= 4 and argv[1] == "docs":
        docs(argv[2], argv[3:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
