# SPDX-License-Identifier: Apache-2.0
"""docs/openapi.yaml against a running vibeboxd (postgres-store and auth on
a throwaway PostgreSQL cluster).

- The routes registered in the C sources (core/ and plugins/) and the
  documented ones are the same set; every documented operation is routed
  (not the router's 404 or 405), and a path's 405 lists exactly the
  documented methods in Allow (with HEAD where GET is, and OPTIONS).
- A realistic scenario (users, tokens, keys, teams, members, projects,
  audit, and the error cases) runs, and EVERY response's status must be one
  documented for its operation and its body must validate against the
  schema documented for that status. Response schemas are checked strictly:
  an object may not carry a property the document does not name.
"""

import base64
import glob
import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import uuid

from daemon import Daemon, Suite, expect
from test_auth import CLUSTER, SECRET, Cluster, plugin_dir

try:
    import jsonschema
    import yaml
except ImportError as e:
    print(f"# skipped: {e.name} is missing (Debian: python3-yaml, "
          "python3-jsonschema)")
    raise SystemExit(77)

SRC = os.environ.get("VBX_SRCDIR", ".")
SPEC_PATH = os.path.join(SRC, "docs/openapi.yaml")
METHODS = ("get", "post", "put", "patch", "delete")
# docker-runtime's routes: only the daemon of environments_scenario has
# them.
DOCKER_RUNTIME_PATHS = "/api/v1/x/docker-runtime/"
# backup-s3's routes need an S3 server: test_backup_daemon.py checks its
# answers against this document.
BACKUP_PATHS = "/api/v1/admin/backups"
WS_PATHS = {"/api/v1/events", "/api/v1/environments/{id}/terminal",
            "/api/v1/environments/{id}/logs/stream",
            "/api/v1/environments/{id}/exec"}
# Paths not checked against the daemons here: the WebSockets, and the
# metrics plugin's GET /metrics on the API listener (listen = ""), plain
# text for scrapers rather than the envelope, which test_metrics.py
# checks live (the daemons here load no metrics plugin).
ELSEWHERE = WS_PATHS | {"/metrics"}
AUTH_PLUGIN_PATHS = ("/api/v1/auth/", "/api/v1/users", "/api/v1/keys",
                     "/api/v1/audit")

# ---- the document as JSON Schema ----

OPENAPI_ONLY = {"example", "xml", "externalDocs", "discriminator",
                "readOnly", "writeOnly", "deprecated"}


def load_spec():
    with open(SPEC_PATH) as f:
        return yaml.safe_load(f)


def resolve(spec, node):
    """Follow a local $ref (to a response, parameter or schema)."""
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        expect(ref.startswith("#/"), f"only local $refs: {ref}")
        node = spec
        for part in ref[2:].split("/"):
            node = node[part]
    return node


def to_jsonschema(spec, node, strict, seen=()):
    """An OpenAPI 3.0 schema as draft-4 JSON Schema: $refs expanded,
    nullable made a type list, OpenAPI-only keywords dropped; strict adds
    additionalProperties: false to objects that do not say otherwise."""
    if isinstance(node, list):
        return [to_jsonschema(spec, n, strict, seen) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        expect(ref not in seen, f"recursive schema {ref}")
        return to_jsonschema(spec, resolve(spec, node), strict,
                             seen + (ref,))
    out = {}
    for k, v in node.items():
        if k in OPENAPI_ONLY or k == "nullable":
            continue
        if k in ("properties",):
            out[k] = {p: to_jsonschema(spec, s, strict, seen)
                      for p, s in v.items()}
        elif k in ("items", "additionalProperties", "not", "allOf",
                   "anyOf", "oneOf"):
            out[k] = to_jsonschema(spec, v, strict, seen)
        else:
            out[k] = v
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = list(out["enum"]) + [None]
    if strict and "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                     r"[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# The server writes one form of a time: RFC 3339, UTC, milliseconds; it
# reads any RFC 3339 time.
TIME_OUT_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
TIME_IN_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?"
                        r"([Zz]|[+-]\d{2}:\d{2})$")


def format_checker(time_re):
    fc = jsonschema.FormatChecker(())
    fc.checks("uuid")(lambda s: not isinstance(s, str) or
                      bool(UUID_RE.match(s)))
    fc.checks("date-time")(lambda s: not isinstance(s, str) or
                           bool(time_re.match(s)))
    return fc


FORMATS_OUT = format_checker(TIME_OUT_RE)
FORMATS_IN = format_checker(TIME_IN_RE)


def schema_errors(schema, instance, formats=FORMATS_OUT):
    v = jsonschema.Draft4Validator(schema, format_checker=formats)
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: "
            f"{e.message}" for e in v.iter_errors(instance)]


def shape(pattern):
    """A path with its {parameters} made anonymous."""
    return re.sub(r"\{[^/}]*\}", "{}", pattern)


def documented_routes(spec):
    return {(m.upper(), p) for p, item in spec["paths"].items()
            for m in item if m in METHODS}


class Spec:
    def __init__(self):
        self.doc = load_spec()
        self.ops = documented_routes(self.doc)
        self.templates = []
        for p in self.doc["paths"]:
            rx = "^" + re.sub(r"\\\{[^/}]*\\\}", "[^/]+",
                              re.escape(p)) + "$"
            self.templates.append((p.count("{"), p, re.compile(rx)))
        # Literal segments win over parameters, as in the router.
        self.templates.sort()

    def find(self, method, path):
        path = path.split("?")[0]
        for _, tmpl, rx in self.templates:
            if rx.match(path) and method.lower() in self.doc["paths"][tmpl]:
                return tmpl
        return None

    def operation(self, method, tmpl):
        return self.doc["paths"][tmpl][method.lower()]

    def response(self, method, tmpl, status):
        op = self.operation(method, tmpl)
        r = op["responses"].get(str(status))
        return resolve(self.doc, r) if r is not None else None

    def response_schema(self, resp):
        content = resp.get("content", {}).get("application/json")
        if not content:
            return None
        return to_jsonschema(self.doc, content["schema"], strict=True)

    def request_schema(self, method, tmpl):
        body = self.operation(method, tmpl).get("requestBody")
        if not body:
            return None
        body = resolve(self.doc, body)
        s = body["content"]["application/json"]["schema"]
        return to_jsonschema(self.doc, s, strict=False)


SPEC = None

# Server behaviour that contradicts docs/api.md or docs/permissions.md and
# so this document, left to be fixed in the C code: a violation matching
# one prints a "# known server issue" line instead of failing. Remove the
# entry once the server is fixed.
KNOWN_ISSUES = []
KNOWN_SEEN = set()


def known_issue(text):
    if text not in KNOWN_SEEN:
        KNOWN_SEEN.add(text)
        print("# known server issue: " + text, flush=True)

# ---- talking to the daemon ----


def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    dup = {k for k in keys if keys.count(k) > 1}
    if dup:
        raise ValueError(f"duplicate keys {sorted(dup)}")
    return dict(pairs)


class Api:
    """Requests whose every answer is checked against the document."""

    def __init__(self, d):
        self.d = d
        self.violations = []
        self.seen = {}
        self.checked = 0

    def raw(self, method, path, body=b"", headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.d.port, timeout=20)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r, data

    def call(self, method, path, body=None, token=None, expect_status=None,
             raw_body=None, headers=None):
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        data = raw_body
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            h.setdefault("Content-Type", "application/json")
        r, out = self.raw(method, path, data if data is not None else None,
                          h)
        parsed = self.check(method, path, r, out, body)
        if expect_status is not None:
            expect(r.status == expect_status,
                   f"{method} {path}: expected {expect_status}, got "
                   f"{r.status} {out[:300]!r}")
        return r.status, parsed, r

    def violation(self, method, path, status, what):
        self.violations.append(f"{method} {path} -> {status}: {what}")

    def check(self, method, path, r, out, sent):
        """Record every way the answer differs from the document."""
        status = r.status
        self.checked += 1
        tmpl = SPEC.find(method, path)
        parsed = None
        if out:
            try:
                parsed = json.loads(out, object_pairs_hook=no_duplicates)
            except ValueError as e:
                self.violation(method, path, status, f"not JSON ({e}): "
                               f"{out[:200]!r}")
        if not r.getheader("X-Request-Id"):
            self.violation(method, path, status, "no X-Request-Id")
        if tmpl is None:
            self.violation(method, path, status, "no documented operation")
            return parsed
        self.seen.setdefault((method, tmpl), set()).add(status)
        resp = SPEC.response(method, tmpl, status)
        if resp is None:
            self.violation(method, path, status,
                           f"status {status} is not documented for "
                           f"{method} {tmpl} ({out[:200]!r})")
            return parsed
        for name in resp.get("headers", {}):
            if r.getheader(name) is None:
                self.violation(method, path, status,
                               f"documented header {name} missing")
        schema = SPEC.response_schema(resp)
        if schema is None:
            if out:
                self.violation(method, path, status,
                               f"documented without a body, got "
                               f"{out[:200]!r}")
            return parsed
        ctype = r.getheader("Content-Type") or ""
        if not ctype.startswith("application/json"):
            self.violation(method, path, status,
                           f"Content-Type {ctype!r}, not application/json")
        for e in schema_errors(schema, parsed):
            self.violation(method, path, status, f"body: {e}")
        if 200 <= status < 300 and sent is not None:
            req = SPEC.request_schema(method, tmpl)
            for e in schema_errors(req, sent, FORMATS_IN) if req else []:
                self.violation(method, path, status,
                               f"the request that succeeded does not "
                               f"match the documented body: {e}")
        return parsed

    def flush(self):
        """Fail the current check with what it found, once."""
        lines = API.violations + (self.violations if self is not API else [])
        v, self.violations = [], []
        for line in lines:
            why = [w for rx, w in KNOWN_ISSUES if re.match(rx, line)]
            if why:
                known_issue(why[0])
            else:
                v.append(line)
        API.violations = []
        expect(not v, "responses that differ from docs/openapi.yaml:\n  " +
               "\n  ".join(v))


class WsConn:
    """A socket and what was read past the handshake."""

    def __init__(self, sock, rest):
        self.sock, self.buf = sock, rest

    def read(self, n, timeout):
        self.sock.settimeout(timeout)
        while len(self.buf) < n:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def close(self):
        self.sock.close()


def ws_handshake(port, path, protocols, token=None):
    """A WebSocket upgrade by hand: (status, headers, WsConn)."""
    key = base64.b64encode(os.urandom(16)).decode()
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}",
             "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13",
             "Sec-WebSocket-Protocol: " + ", ".join(protocols)]
    if token:
        lines.append("Authorization: Bearer " + token)
    s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    head = head.decode("latin-1").split("\r\n")
    status = int(head[0].split()[1]) if head and head[0] else 0
    headers = {}
    for line in head[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    accept = base64.b64encode(hashlib.sha1(
        (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
    if status == 101:
        expect(headers.get("sec-websocket-accept") == accept.decode(),
               f"Sec-WebSocket-Accept {headers}")
    return status, headers, WsConn(s, rest)


def ws_close_code(c, timeout=5):
    """The code of the first frame if it is a close frame, else None (no
    frame within timeout, or another frame)."""
    try:
        hdr = c.read(2, timeout)
        if len(hdr) < 2 or hdr[0] & 0x0F != 0x8:
            return None
        payload = c.read(hdr[1] & 0x7F, timeout)
    except socket.timeout:
        return None
    return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005


# ---- the routes the C sources register ----

ROUTE_CALL = re.compile(
    r'\bvbx_{1,2}route_add\s*\(\s*[^,]+,\s*"([A-Z]+)"\s*,\s*"([^"]+)"')
ROUTE_TABLE = re.compile(
    r'\{\s*"(GET|POST|PUT|PATCH|DELETE)"\s*,\s*"(/[^"]*)"')
WS_CALL = re.compile(r'\bvbx_{1,2}ws_route_add\s*\(\s*[^,]+,\s*"([^"]+)"')


def source_routes():
    """{(METHOD, pattern)} from the route_add calls and route tables in
    core/ and plugins/, and {file: count} to show the parser found them."""
    found, per_file = set(), {}
    files = glob.glob(os.path.join(SRC, "core", "**", "*.c"), recursive=True)
    files += glob.glob(os.path.join(SRC, "plugins", "**", "*.c"),
                       recursive=True)
    # web-console's GET / and GET /{path...} serve the browser console's
    # files, not the API (docs/admin-guide.md, "The web console")
    files = [f for f in files if os.sep + "web-console" + os.sep not in f]
    for path in files:
        with open(path) as f:
            text = re.sub(r"/\*.*?\*/", "", f.read(), flags=re.S)
        routes = set(ROUTE_CALL.findall(text)) | set(
            ROUTE_TABLE.findall(text))
        routes |= {("GET", p) for p in WS_CALL.findall(text)}
        if routes:
            per_file[os.path.relpath(path, SRC)] = len(routes)
        found |= routes
    return found, per_file


# ---- daemons ----

PG = None
PLUGINS = None
DB_COUNT = [0]


def start_daemon(server="", **auth_conf):
    DB_COUNT[0] += 1
    conninfo = PG.createdb(f"openapi{DB_COUNT[0]}")
    conf = {"registration": '"open"', "argon2_memory": '"1MiB"',
            "argon2_iterations": "1", "login_limit": '"1000/1m"',
            "register_limit": '"1000/1m"'}
    conf.update(auth_conf)
    extra = " ".join(f"{k} = {v};" for k, v in conf.items())
    return Daemon(plugin_dir=PLUGINS, server=server, plugins=f"""
  {{ name = "postgres-store"; config = {{ conninfo = "{conninfo}"; }}; }},
  {{ name = "auth"; config = {{ jwt_secret = "{SECRET}"; {extra} }}; }},
  {{ name = "platform"; }}""")


D = None
API = None
S = {}  # what the scenario made: tokens, ids


def fake_path(tmpl):
    return re.sub(r"\{[^/}]*\}", lambda _: str(uuid.uuid4()), tmpl)


# ---- the document itself ----


def test_the_document_is_consistent():
    doc = SPEC.doc
    expect(str(doc.get("openapi", "")).startswith("3.0"), "OpenAPI 3.0")
    problems = []
    for path, item in doc["paths"].items():
        names = set(re.findall(r"\{([^/}]+)\}", path))
        common = [resolve(doc, p) for p in item.get("parameters", [])]
        for m in (m for m in item if m in METHODS):
            op = item[m]
            where = f"{m.upper()} {path}"
            params = common + [resolve(doc, p)
                               for p in op.get("parameters", [])]
            declared = {p["name"] for p in params if p["in"] == "path"}
            if declared != names:
                problems.append(f"{where}: path parameters {declared}")
            codes = set(op["responses"])
            public = op.get("security", doc.get("security")) == []
            if path in ELSEWHERE:
                continue
            if not public and not {"401", "503"} <= codes:
                problems.append(f"{where}: needs a principal, so 401 "
                                "and 503")
            if "requestBody" in op and not {"400", "413"} <= codes:
                problems.append(f"{where}: takes a body, so 400 and 413")
            if any(p["name"] in ("page", "limit") for p in params) and \
                    "400" not in codes:
                problems.append(f"{where}: pages, so 400")
            for code, r in op["responses"].items():
                s = SPEC.response_schema(resolve(doc, r))
                # errors use the envelope; the health probes do not
                if code >= "400" and not path.startswith("/health/") and \
                        (s is None or "error" not in s.get("properties", {})):
                    problems.append(f"{where} {code}: not the envelope")
    for name, s in doc["components"]["schemas"].items():
        try:
            jsonschema.Draft4Validator.check_schema(
                to_jsonschema(doc, s, strict=True))
        except jsonschema.SchemaError as e:
            problems.append(f"schema {name}: {e.message}")
    expect(not problems, "\n  ".join(problems))


def test_every_route_in_the_sources_is_documented():
    found, per_file = source_routes()
    for f in ("core/health.c", "core/api/plugins.c", "core/api/events.c",
              "plugins/platform/teams.c", "plugins/platform/projects.c",
              "plugins/platform/envs.c", "plugins/platform/envvars.c",
              "plugins/auth/routes.c"):
        expect(per_file.get(f), f"no routes parsed out of {f}: {per_file}")
    src = {(m, shape(p)) for m, p in found}
    doc = {(m, shape(p)) for m, p in SPEC.ops}
    missing = sorted(src - doc)
    extra = sorted(doc - src)
    expect(not missing, f"registered but not documented: {missing}")
    expect(not extra, f"documented but not registered: {extra}")


# ---- routing ----


def test_every_documented_operation_is_routed():
    for method, tmpl in sorted(SPEC.ops):
        if tmpl in ELSEWHERE or tmpl.startswith(DOCKER_RUNTIME_PATHS):
            continue  # docker-runtime's: environments_scenario's daemon
        if tmpl.startswith(BACKUP_PATHS):
            continue  # backup-s3's: test_backup_daemon.py
        body = b"{}" if method in ("POST", "PATCH") else None
        st, b, _ = API.call(method, fake_path(tmpl), raw_body=body)
        msg = (b or {}).get("error", {}).get("message", "") \
            if isinstance(b, dict) else ""
        expect(st != 405 and "no such route" not in msg,
               f"{method} {tmpl}: {st} {msg}")
    API.flush()


def ws_open(protocols, token=None):
    """The close code of an upgraded /api/v1/events (None: it stayed open
    for a second), or the status when the upgrade failed (0: no answer)."""
    st, h, c = ws_handshake(D.port, "/api/v1/events", protocols, token)
    try:
        if st != 101:
            return ("status", st)
        expect(h.get("sec-websocket-protocol") == "vibebox.events.v1", h)
        return ("close", ws_close_code(c, timeout=1))
    finally:
        c.close()


def test_the_events_websocket_upgrades():
    ev = "vibebox.events.v1"
    got = ws_open([ev])
    expect(got == ("close", 4401), f"no credential: {got}")
    got = ws_open([ev], token="vbx_" + "A" * 43)
    expect(got == ("close", 4401), f"a bad key: {got}")
    got = ws_open([ev], token=S["ann"])
    expect(got == ("close", None), f"a token in the header: {got}")
    _, k, _ = API.call("POST", "/api/v1/keys", {"name": "ws"},
                       token=S["ann"], expect_status=201)
    got = ws_open([ev, "bearer." + k["key"]])
    expect(got == ("close", None), f"a key as a subprotocol: {got}")
    _, t, _ = API.call("POST", "/api/v1/auth/ws-ticket", token=S["ann"],
                       expect_status=201)
    got = ws_open([ev, "bearer." + t["ticket"]])
    expect(got == ("close", None), f"a ticket as a subprotocol: {got}")
    got = ws_open([ev, "bearer." + S["ann"]])
    if got != ("close", None):
        known_issue(f"/api/v1/events refuses an access token (a JWT, "
                    f"{len(S['ann'])} bytes) offered as the subprotocol "
                    f"bearer.<token> ({got}): libwebsockets drops an "
                    "upgrade whose Sec-WebSocket-Protocol list is longer "
                    "than 126 bytes (\"protocol list too long\"), so "
                    "browsers offer a ticket from POST /api/v1/auth/"
                    "ws-ticket (docs/api.md) or an API key")
    got = ws_open(["vibebox.other.v1"])
    expect(got[0] == "status", f"another subprotocol is refused: {got}")
    # a plain GET is not routed, as the document says
    API.call("GET", "/api/v1/events", expect_status=404)
    API.flush()


def test_405_lists_exactly_the_documented_methods():
    for path, item in SPEC.doc["paths"].items():
        if path in ELSEWHERE or path.startswith(DOCKER_RUNTIME_PATHS) or \
                path.startswith(BACKUP_PATHS):
            continue
        want = {m.upper() for m in item if m in METHODS}
        # a method the path does not serve (PUT, but for PUT .../{key})
        method = next(m for m in ("PUT", "PATCH", "POST") if m not in want)
        # HEAD wherever GET is, OPTIONS everywhere (docs/api.md)
        want |= {"HEAD"} if "GET" in want else set()
        want.add("OPTIONS")
        r, out = API.raw(method, fake_path(path), b"{}",
                         {"Content-Type": "application/json"})
        expect(r.status == 405, f"{method} {path}: {r.status}")
        allow = {m.strip() for m in (r.getheader("Allow") or "").split(",")}
        expect(allow == want, f"{path}: Allow {allow}, documented {want}")
        errs = schema_errors(SPEC.response_schema(
            resolve(SPEC.doc, {"$ref": "#/components/responses/"
                               "MethodNotAllowed"})), json.loads(out))
        expect(not errs, f"{method} {path}: {errs}")
    r, out = API.raw("GET", "/api/v1/no-such-thing")
    expect(r.status == 404, r.status)
    errs = schema_errors(to_jsonschema(
        SPEC.doc, {"$ref": "#/components/schemas/Error404"}, True),
        json.loads(out))
    expect(not errs, errs)


# ---- the scenario ----


def test_health():
    API.call("GET", "/health/live", expect_status=200)
    API.call("GET", "/health/startup", expect_status=200)
    st, b, _ = API.call("GET", "/health/ready", expect_status=200)
    expect({c["name"] for c in b["checks"]} >= {"events", "postgres"}, b)
    API.flush()


def register(email, password="correct horse", name="A", expect_status=201):
    return API.call("POST", "/api/v1/auth/register",
                    {"email": email, "password": password, "name": name},
                    expect_status=expect_status)


def test_register_login_refresh_logout():
    _, b, _ = register("ann@example.test", name="Ann")
    expect(b["user"]["admin"], "the first user is admin")
    S["ann"], S["ann_id"] = b["tokens"]["accessToken"], b["user"]["id"]
    _, b, _ = register("bob@example.test", name="Bob")
    S["bob"], S["bob_id"] = b["tokens"]["accessToken"], b["user"]["id"]
    _, b, _ = register("cat@example.test", name="")
    S["cat"], S["cat_id"] = b["tokens"]["accessToken"], b["user"]["id"]
    register("ANN@example.test", expect_status=409)
    register("short@example.test", password="short", expect_status=400)
    API.call("POST", "/api/v1/auth/register", raw_body=b"{",
             expect_status=400)
    API.call("POST", "/api/v1/auth/register", raw_body=b"",
             expect_status=400)
    API.call("POST", "/api/v1/auth/register", raw_body=b"[1]",
             expect_status=400)
    st, b, _ = API.call("POST", "/api/v1/auth/register",
                        {"email": 5, "password": []}, expect_status=400)
    expect(b["error"]["code"] == "VALIDATION_ERROR" and
           {"email", "password"} <= set(b["error"]["fields"]), b)

    login = "/api/v1/auth/login"
    _, b, _ = API.call("POST", login, {"email": "bob@example.test",
                                       "password": "correct horse"},
                       expect_status=200)
    refresh = b["tokens"]["refreshToken"]
    API.call("POST", login, {"email": "bob@example.test",
                             "password": "wrong horse"}, expect_status=401)
    API.call("POST", login, {"email": "nobody@example.test",
                             "password": "wrong horse"}, expect_status=401)
    API.call("POST", login, {"email": "not an email"}, expect_status=400)
    API.call("POST", login, raw_body=b'{"email":', expect_status=400)

    _, b, _ = API.call("POST", "/api/v1/auth/refresh",
                       {"refreshToken": refresh}, expect_status=200)
    API.call("POST", "/api/v1/auth/refresh", {"refreshToken": refresh},
             expect_status=401)
    API.call("POST", "/api/v1/auth/refresh", {}, expect_status=400)
    _, b, _ = API.call("POST", login, {"email": "bob@example.test",
                                       "password": "correct horse"},
                       expect_status=200)
    API.call("POST", "/api/v1/auth/logout",
             {"refreshToken": b["tokens"]["refreshToken"]},
             expect_status=204)
    API.call("POST", "/api/v1/auth/logout", {"refreshToken": "vbr_nope"},
             expect_status=204)
    API.call("POST", "/api/v1/auth/logout", {"refreshToken": 7},
             expect_status=400)
    API.flush()


def test_me():
    me = "/api/v1/users/me"
    _, b, _ = API.call("GET", me, token=S["bob"], expect_status=200)
    expect(b["email"] == "bob@example.test", b)
    API.call("GET", me, expect_status=401)
    API.call("GET", me, token="not-a-token", expect_status=401)
    API.call("GET", me, token="vbx_" + "A" * 43, expect_status=401)
    API.call("PATCH", me, {"name": "Bobby"}, token=S["bob"],
             expect_status=200)
    st, b, _ = API.call("PATCH", me, {"password": "new password!"},
                        token=S["bob"], expect_status=400)
    expect("currentPassword" in b["error"]["fields"], b)
    API.call("PATCH", me, {"password": "new password!",
                           "currentPassword": "wrong horse"},
             token=S["bob"], expect_status=400)
    API.call("PATCH", me, {"password": "new password!",
                           "currentPassword": "correct horse"},
             token=S["bob"], expect_status=200)
    API.call("PATCH", me, {"email": "cat@example.test"}, token=S["bob"],
             expect_status=400)
    API.call("PATCH", me, {"email": "cat@example.test",
                           "currentPassword": "new password!"},
             token=S["bob"], expect_status=409)
    API.call("PATCH", me, raw_body=b"{}}", token=S["bob"],
             expect_status=400)
    API.flush()


def test_ws_ticket():
    t = "/api/v1/auth/ws-ticket"
    _, b, _ = API.call("POST", t, token=S["bob"], expect_status=201)
    API.call("POST", t, {}, token=S["bob"], expect_status=201)
    API.call("POST", t, {"ttl": 60}, token=S["bob"], expect_status=400)
    API.call("POST", t, raw_body=b"[]", token=S["bob"], expect_status=400)
    API.call("POST", t, expect_status=401)
    API.call("POST", t, token="vbt_" + "A" * 50, expect_status=401)
    API.call("POST", t, token=b["ticket"], expect_status=403)
    API.call("GET", "/api/v1/users/me", token=b["ticket"],
             expect_status=200)
    API.flush()


def test_api_keys():
    keys = "/api/v1/keys"
    _, k, _ = API.call("POST", keys, {"name": "ci"}, token=S["bob"],
                       expect_status=201)
    expect(k["scopes"] == ["read"] and k["expiresAt"] is None, k)
    read_key = k["key"]
    _, k2, _ = API.call("POST", keys, {"name": "deploy",
                                       "scopes": ["read", "write"],
                                       "expiresAt": "2999-01-01T00:00:00Z"},
                        token=S["bob"], expect_status=201)
    API.call("POST", keys, {"name": "x", "scopes": ["admin"]},
             token=S["bob"], expect_status=400)
    API.call("POST", keys, {"name": "x", "scopes": ["root"]},
             token=S["bob"], expect_status=400)
    API.call("POST", keys, {"name": "x",
                            "expiresAt": "2000-01-01T00:00:00Z"},
             token=S["bob"], expect_status=400)
    API.call("POST", keys, {"scopes": []}, token=S["bob"],
             expect_status=400)
    _, lst, _ = API.call("GET", keys, token=S["bob"], expect_status=200)
    expect(len(lst["data"]) == 2, lst)
    API.call("GET", "/api/v1/users/me", token=read_key, expect_status=200)
    _, lst, _ = API.call("GET", keys, token=read_key, expect_status=200)
    expect(any(x["lastUsedAt"] for x in lst["data"]), "lastUsedAt is set")
    API.call("PATCH", "/api/v1/users/me", {"name": "K"}, token=read_key,
             expect_status=403)
    API.call("POST", keys, {"name": "y", "scopes": ["write"]},
             token=read_key, expect_status=403)
    API.call("POST", keys, {"name": "y"}, token=read_key,
             expect_status=403)
    API.call("DELETE", f"{keys}/{k2['id']}", token=read_key,
             expect_status=403)
    API.call("DELETE", f"{keys}/{uuid.uuid4()}", token=S["bob"],
             expect_status=404)
    API.call("DELETE", f"{keys}/not-a-uuid", token=S["bob"],
             expect_status=404)
    API.call("DELETE", f"{keys}/{k2['id']}", token=S["cat"],
             expect_status=404)
    API.call("DELETE", f"{keys}/{k['id']}", token=S["bob"],
             expect_status=204)
    API.call("GET", "/api/v1/users/me", token=read_key, expect_status=401)
    # an admin's key acts as admin only with the admin scope
    _, ak, _ = API.call("POST", keys, {"name": "adm", "scopes": ["read",
                                                                 "admin"]},
                        token=S["ann"], expect_status=201)
    API.call("GET", "/api/v1/users", token=ak["key"], expect_status=200)
    _, rk, _ = API.call("POST", keys, {"name": "ro"}, token=S["ann"],
                        expect_status=201)
    API.call("GET", "/api/v1/users", token=rk["key"], expect_status=403)
    API.call("GET", "/api/v1/plugins", token=rk["key"], expect_status=403)
    _, wk, _ = API.call("POST", keys, {"name": "w", "scopes": ["write"]},
                        token=S["bob"], expect_status=201)
    API.call("GET", keys, token=wk["key"], expect_status=403)
    API.call("GET", "/api/v1/users/me", token=wk["key"], expect_status=403)
    # docs/permissions.md: reading needs the read scope
    for path in ("/api/v1/teams", "/api/v1/projects"):
        API.call("GET", path, token=wk["key"], expect_status=403)
    S["write_key"], S["read_key"] = k2["key"], rk["key"]
    API.flush()


def test_users_plugins_and_audit():
    users = "/api/v1/users"
    _, b, _ = API.call("GET", users + "?page=1&limit=2", token=S["ann"],
                       expect_status=200)
    expect(b["pagination"] == {"page": 1, "limit": 2, "total": 3}, b)
    API.call("GET", users, token=S["bob"], expect_status=403)
    API.call("GET", users, expect_status=401)
    API.call("GET", users + "?limit=0", token=S["ann"], expect_status=400)
    API.call("GET", users + "?page=x", token=S["ann"], expect_status=400)
    _, dan, _ = API.call("POST", users, {"email": "dan@example.test",
                                         "password": "correct horse",
                                         "name": "Dan", "admin": False},
                         token=S["ann"], expect_status=201)
    API.call("POST", users, {"email": "dan@example.test",
                             "password": "correct horse"},
             token=S["ann"], expect_status=409)
    API.call("POST", users, {"email": "eve@example.test"}, token=S["ann"],
             expect_status=400)
    API.call("POST", users, {"email": "eve@example.test",
                             "password": "correct horse"},
             token=S["bob"], expect_status=403)
    API.call("PATCH", f"{users}/{dan['id']}", {"name": "Daniel",
                                               "admin": True},
             token=S["ann"], expect_status=200)
    API.call("PATCH", f"{users}/{dan['id']}", {"disabled": True,
                                               "admin": False},
             token=S["ann"], expect_status=200)
    API.call("POST", "/api/v1/auth/login",
             {"email": "dan@example.test", "password": "correct horse"},
             expect_status=401)
    API.call("PATCH", f"{users}/{S['ann_id']}", {"admin": False},
             token=S["ann"], expect_status=400)
    API.call("PATCH", f"{users}/{S['ann_id']}", {"disabled": "yes"},
             token=S["ann"], expect_status=400)
    API.call("PATCH", f"{users}/{uuid.uuid4()}", {"name": "x"},
             token=S["ann"], expect_status=404)
    API.call("PATCH", f"{users}/nope", {"name": "x"}, token=S["ann"],
             expect_status=404)
    API.call("PATCH", f"{users}/{dan['id']}", {"name": "x"},
             token=S["bob"], expect_status=403)

    _, b, _ = API.call("GET", "/api/v1/plugins", token=S["ann"],
                       expect_status=200)
    expect([p["name"] for p in b["data"]] ==
           ["postgres-store", "auth", "platform"], b)
    API.call("GET", "/api/v1/plugins", token=S["bob"], expect_status=403)
    API.call("GET", "/api/v1/plugins", expect_status=401)

    _, b, _ = API.call("GET", "/api/v1/audit?limit=100", token=S["ann"],
                       expect_status=200)
    actions = {a["action"] for a in b["data"]}
    expect({"user.register", "auth.login.success", "auth.login.failure",
            "auth.refresh.reuse", "key.create", "key.revoke",
            "user.create", "user.update"} <= actions, actions)
    expect(any(a["actorId"] is None for a in b["data"]),
           "an unknown email's failed login has no actor")
    API.call("GET", "/api/v1/audit?limit=101", token=S["ann"],
             expect_status=400)
    API.call("GET", "/api/v1/audit", token=S["bob"], expect_status=403)
    API.flush()


def test_teams_and_members():
    teams, bob, cat = "/api/v1/teams", S["bob"], S["cat"]
    _, t, _ = API.call("POST", teams, {"name": "Core Team"}, token=bob,
                       expect_status=201)
    expect(t["slug"] == "core-team" and t["role"] == "admin", t)
    tid = t["id"]
    _, t2, _ = API.call("POST", teams, {"name": "Other", "slug": "other"},
                        token=cat, expect_status=201)
    API.call("POST", teams, {"name": "Again", "slug": "core-team"},
             token=cat, expect_status=409)
    st, b, _ = API.call("POST", teams, {"nme": "typo"}, token=bob,
                        expect_status=400)
    expect({"nme", "name"} <= set(b["error"]["fields"]), b)
    API.call("POST", teams, {"name": "   "}, token=bob, expect_status=400)
    API.call("POST", teams, {"name": "x", "slug": "Bad Slug"}, token=bob,
             expect_status=400)
    API.call("POST", teams, {"name": "T"}, expect_status=401)
    API.call("POST", teams, {"name": "Read"}, token=S["write_key"],
             expect_status=201)
    API.call("POST", teams, {"name": "No"}, token=S["read_key"],
             expect_status=403)
    _, b, _ = API.call("GET", teams, token=bob, expect_status=200)
    expect(b["pagination"]["total"] == 2, b)
    API.call("GET", teams + "?limit=1000", token=bob, expect_status=400)
    _, b, _ = API.call("GET", teams, token=S["ann"], expect_status=200)
    expect(any("role" not in x for x in b["data"]), "role only for members")
    API.call("GET", f"{teams}/{tid}", token=bob, expect_status=200)
    API.call("GET", f"{teams}/{tid}", token=cat, expect_status=404)
    API.call("GET", f"{teams}/{uuid.uuid4()}", token=S["ann"],
             expect_status=404)
    API.call("GET", f"{teams}/nope", token=bob, expect_status=404)

    members = f"{teams}/{tid}/members"
    _, m, _ = API.call("POST", members, {"email": "cat@example.test",
                                         "role": "viewer"}, token=bob,
                       expect_status=201)
    expect(m["userId"] == S["cat_id"], m)
    API.call("POST", members, {"userId": S["cat_id"], "role": "admin"},
             token=bob, expect_status=409)
    API.call("POST", members, {"email": "ghost@example.test",
                               "role": "viewer"}, token=bob,
             expect_status=400)
    API.call("POST", members, {"userId": S["ann_id"],
                               "email": "ann@example.test",
                               "role": "boss"}, token=bob,
             expect_status=400)
    API.call("POST", members, {"userId": S["ann_id"], "role": "viewer"},
             token=cat, expect_status=403)
    API.call("POST", f"{teams}/{uuid.uuid4()}/members",
             {"userId": S["ann_id"], "role": "viewer"}, token=bob,
             expect_status=404)
    _, b, _ = API.call("GET", members, token=cat, expect_status=200)
    expect(b["pagination"]["total"] == 2, b)
    API.call("GET", members + "?page=0", token=cat, expect_status=400)
    API.call("GET", f"{teams}/{t2['id']}/members", token=bob,
             expect_status=404)

    API.call("GET", f"{teams}/{tid}", token=cat, expect_status=200)
    API.call("PATCH", f"{teams}/{tid}", {"name": "Renamed"}, token=cat,
             expect_status=403)
    _, b, _ = API.call("PATCH", f"{teams}/{tid}", {"name": "Renamed"},
                       token=bob, expect_status=200)
    expect(b["slug"] == "core-team" and b["name"] == "Renamed", b)
    API.call("PATCH", f"{teams}/{tid}", {"slug": "other"}, token=bob,
             expect_status=409)
    API.call("PATCH", f"{teams}/{tid}", {"owner": "me"}, token=bob,
             expect_status=400)
    API.call("PATCH", f"{teams}/{uuid.uuid4()}", {"name": "x"}, token=bob,
             expect_status=404)
    API.call("PATCH", f"{teams}/{tid}", raw_body=b"nope", token=bob,
             expect_status=400)

    one = f"{members}/{S['cat_id']}"
    _, b, _ = API.call("PATCH", one, {"role": "developer"}, token=bob,
                       expect_status=200)
    expect(b["role"] == "developer", b)
    API.call("PATCH", one, {"role": "owner"}, token=bob, expect_status=400)
    API.call("PATCH", f"{members}/{S['ann_id']}", {"role": "viewer"},
             token=bob, expect_status=404)
    API.call("PATCH", one, {"role": "admin"}, token=cat, expect_status=403)
    API.call("PATCH", f"{members}/{S['bob_id']}", {"role": "viewer"},
             token=bob, expect_status=409)
    API.call("DELETE", f"{members}/{S['bob_id']}", token=bob,
             expect_status=409)
    API.call("DELETE", f"{members}/{S['ann_id']}", token=bob,
             expect_status=404)
    API.call("DELETE", f"{members}/nope", token=bob, expect_status=404)
    API.call("DELETE", one, token=cat, expect_status=403)
    API.call("DELETE", one, token=bob, expect_status=204)
    API.call("DELETE", f"{teams}/{t2['id']}", token=bob, expect_status=404)
    API.call("DELETE", f"{teams}/{t2['id']}", token=cat, expect_status=204)
    S["team"] = tid
    API.flush()


def test_projects():
    projects, bob, cat = "/api/v1/projects", S["bob"], S["cat"]
    tid = S["team"]
    _, p, _ = API.call("POST", projects, {"name": "Web App",
                                          "teamId": tid}, token=bob,
                       expect_status=201)
    expect(p["teamId"] == tid and p["ownerId"] is None, p)
    _, mine, _ = API.call("POST", projects, {"name": "Mine"}, token=cat,
                          expect_status=201)
    expect(mine["teamId"] is None and mine["ownerId"] == S["cat_id"], mine)
    API.call("POST", projects, {"name": "Mine"}, token=cat,
             expect_status=409)
    API.call("POST", projects, {"name": "X", "teamId": "nope"}, token=cat,
             expect_status=400)
    API.call("POST", projects, {"name": "X", "teamId": str(uuid.uuid4())},
             token=cat, expect_status=404)
    API.call("POST", projects, {"name": "X", "teamId": tid}, token=cat,
             expect_status=404)
    API.call("POST", f"/api/v1/teams/{tid}/members",
             {"userId": S["cat_id"], "role": "viewer"}, token=bob,
             expect_status=201)
    API.call("POST", projects, {"name": "X", "teamId": tid}, token=cat,
             expect_status=403)
    API.call("POST", projects, {"name": "x" * 200}, token=cat,
             expect_status=400)

    _, b, _ = API.call("GET", projects + "?page=1&limit=1", token=cat,
                       expect_status=200)
    expect(b["pagination"]["total"] == 2 and len(b["data"]) == 1, b)
    API.call("GET", projects + "?limit=-1", token=cat, expect_status=400)
    API.call("GET", f"{projects}/{p['id']}", token=cat, expect_status=200)
    API.call("GET", f"{projects}/{mine['id']}", token=bob,
             expect_status=404)
    API.call("GET", f"{projects}/nope", token=bob, expect_status=404)

    _, b, _ = API.call("PATCH", f"{projects}/{mine['id']}",
                       {"name": "Mine too", "slug": "mine-too"}, token=cat,
                       expect_status=200)
    expect(b["slug"] == "mine-too", b)
    API.call("POST", projects, {"name": "Mine"}, token=cat,
             expect_status=201)
    API.call("PATCH", f"{projects}/{mine['id']}", {"slug": "mine"},
             token=cat, expect_status=409)
    API.call("PATCH", f"{projects}/{mine['id']}", {"teamId": tid},
             token=cat, expect_status=400)
    API.call("PATCH", f"{projects}/{p['id']}", {"name": "Y"}, token=cat,
             expect_status=403)
    API.call("PATCH", f"{projects}/{mine['id']}", {"name": "Y"}, token=bob,
             expect_status=404)
    API.call("DELETE", f"{projects}/{p['id']}", token=cat,
             expect_status=403)
    API.call("DELETE", f"{projects}/{mine['id']}", token=bob,
             expect_status=404)
    API.call("DELETE", f"{projects}/{mine['id']}", token=cat,
             expect_status=204)
    API.call("GET", f"{projects}/{mine['id']}", token=cat,
             expect_status=404)
    API.call("DELETE", f"/api/v1/teams/{tid}", token=cat,
             expect_status=403)
    API.call("DELETE", f"/api/v1/teams/{tid}", token=bob,
             expect_status=204)
    API.call("GET", f"{projects}/{p['id']}", token=bob, expect_status=404)
    API.flush()


ENVS = "/api/v1/environments"
DOCKER = os.path.join(SRC, "tests/docker/docker.sh")
IMAGE = os.environ.get("VBX_TEST_IMAGE", "vibebox/test:latest")
NO_DOCKER = []  # set when the environments scenario could not run


def docker_ready():
    if not shutil.which("docker"):
        return False
    return subprocess.run([DOCKER, "start"], capture_output=True).returncode \
        == 0


def start_runtime_daemon():
    """A daemon with docker-runtime too, for the environment actions."""
    DB_COUNT[0] += 1
    conninfo = PG.createdb(f"openapi{DB_COUNT[0]}")
    key = os.path.join(PLUGINS, "secrets.key")
    with open(key, "w") as f:
        f.write("0123456789abcdef" * 4 + "\n")
    so = os.path.join(PLUGINS, "docker-runtime.so")
    if not os.path.exists(so):
        os.symlink(os.path.join(os.environ.get("VBX_BUILDDIR", "."),
                                "plugins", "docker-runtime", ".libs",
                                "docker-runtime.so"), so)
    return Daemon(plugin_dir=PLUGINS, plugins=f"""
  {{ name = "postgres-store"; config = {{ conninfo = "{conninfo}";
      secrets_key_file = "{key}"; }}; }},
  {{ name = "auth"; config = {{ jwt_secret = "{SECRET}";
      registration = "open"; argon2_memory = "1MiB";
      argon2_iterations = 1; }}; }},
  {{ name = "docker-runtime"; config = {{ images = [ "vibebox/*" ]; }}; }},
  {{ name = "platform"; config = {{ environments = {{ max_cpu = 2;
      max_memory = "1GiB"; stop_timeout = "1s";
      reconcile_interval = "1h"; }}; }}; }}""")


def environments_scenario(api, d):
    def reg(email):
        _, b, _ = api.call("POST", "/api/v1/auth/register",
                           {"email": email, "password": "correct horse"},
                           expect_status=201)
        return b["tokens"]["accessToken"]
    own, other = reg("env-own@example.test"), reg("env-other@example.test")
    # docker-runtime's own route: its engines (own is the first user, so
    # the instance admin)
    engines = DOCKER_RUNTIME_PATHS + "engines"
    api.call("GET", engines, token=own, expect_status=200)
    api.call("GET", engines, token=other, expect_status=403)
    api.call("GET", engines, expect_status=401)
    _, p, _ = api.call("POST", "/api/v1/projects", {"name": "Envs"},
                       token=own, expect_status=201)
    body = {"projectId": p["id"], "name": "Box", "image": IMAGE,
            "cpuLimit": 0.5, "memoryLimit": 64}
    _, e, _ = api.call("POST", ENVS, body, token=own, expect_status=201)
    one = f"{ENVS}/{e['id']}"
    api.call("POST", ENVS, body, token=own, expect_status=409)
    api.call("POST", ENVS, {**body, "cpuLimit": 9}, token=own,
             expect_status=400)
    api.call("POST", ENVS, {**body, "projectId": str(uuid.uuid4())},
             token=own, expect_status=404)
    api.call("GET", f"{ENVS}?projectId={p['id']}&limit=1", token=own,
             expect_status=200)
    api.call("GET", ENVS, token=other, expect_status=200)
    api.call("GET", f"{ENVS}?projectId=x", token=own, expect_status=400)
    api.call("GET", one, token=own, expect_status=200)
    api.call("GET", one, token=other, expect_status=404)
    api.call("PATCH", one, {"name": "Box 2", "memoryLimit": 96}, token=own,
             expect_status=200)
    api.call("PATCH", one, {"memoryLimit": 1}, token=own,
             expect_status=400)
    vars_ = f"{one}/variables"
    api.call("PUT", f"{vars_}/PLAIN", {"value": "v"}, token=own,
             expect_status=201)
    api.call("PUT", f"{vars_}/PLAIN", {"value": "w"}, token=own,
             expect_status=200)
    _, v, _ = api.call("PUT", f"{vars_}/TOKEN", {"value": "s",
                                                 "secret": True},
                       token=own, expect_status=201)
    expect("value" not in v, v)
    api.call("PUT", f"{vars_}/1X", {"value": "v"}, token=own,
             expect_status=400)
    api.call("GET", vars_, token=own, expect_status=200)
    api.call("GET", f"{vars_}/TOKEN", token=own, expect_status=200)
    api.call("GET", f"{vars_}/NONE", token=own, expect_status=404)
    api.call("DELETE", f"{vars_}/PLAIN", token=own, expect_status=204)
    api.call("DELETE", f"{vars_}/PLAIN", token=own, expect_status=404)
    ports = f"{one}/ports"
    api.call("POST", ports, {"port": 8080}, token=own, expect_status=201)
    api.call("POST", ports, {"port": 8080}, token=own, expect_status=409)
    api.call("POST", ports, {"port": 0}, token=own, expect_status=400)
    api.call("POST", ports, {"port": 53, "protocol": "udp"}, token=own,
             expect_status=201)
    api.call("DELETE", f"{ports}/53?protocol=udp", token=own,
             expect_status=204)
    api.call("DELETE", f"{ports}/53?protocol=sctp", token=own,
             expect_status=400)
    api.call("DELETE", f"{ports}/53", token=own, expect_status=404)
    api.call("GET", f"{one}/stats", token=own, expect_status=409)
    api.call("POST", f"{one}/stop", token=own, expect_status=409)
    api.call("GET", f"{one}/logs", token=own, expect_status=200)
    api.call("GET", f"{one}/logs?tail=x", token=own, expect_status=400)
    _, b, _ = api.call("POST", f"{one}/start", token=own, expect_status=200)
    expect(b["status"] == "running", b)
    api.call("POST", f"{one}/start", token=other, expect_status=404)
    api.call("GET", ports, token=own, expect_status=200)
    api.call("GET", f"{one}/stats", token=own, expect_status=200)
    api.call("GET", f"{one}/logs?tail=5&since=2020-01-01T00:00:00Z",
             token=own, expect_status=200)
    api.call("POST", f"{one}/restart", token=own, expect_status=200)
    api.call("POST", f"{one}/stop", token=own, expect_status=200)
    api.call("POST", f"{one}/restart", token=own, expect_status=409)
    api.call("DELETE", one, token=other, expect_status=404)
    api.call("DELETE", one, token=own, expect_status=204)


def test_environments():
    if not docker_ready():
        NO_DOCKER.append(True)
        print("# environments scenario skipped: no Docker engine")
        return
    d = start_runtime_daemon().start()
    api = Api(d)
    try:
        environments_scenario(api, d)
    finally:
        code = d.stop()
    merge(api)
    expect(code == 0, f"exit {code}")
    API.flush()


def test_body_too_large():
    big = json.dumps({"name": "x" * 5000}).encode()
    for method, tmpl in sorted(SPEC.ops):
        op = SPEC.operation(method, tmpl)
        if "requestBody" in op:
            API.call(method, fake_path(tmpl), raw_body=big, token=S["ann"],
                     expect_status=413)
    API.flush()


def test_rate_limits():
    d = start_daemon(login_limit='"2/15m"', register_limit='"2/1h"',
                     login_client_limit='"2/15m"',
                     registration='"first-user"').start()
    api = Api(d)
    try:
        _, b, _ = api.call("POST", "/api/v1/auth/register",
                           {"email": "a@example.test",
                            "password": "correct horse"}, expect_status=201)
        tokens = [b["tokens"]["accessToken"]]
        api.call("POST", "/api/v1/auth/register",
                 {"email": "b@example.test", "password": "correct horse"},
                 expect_status=403)
        st, _, r = api.call("POST", "/api/v1/auth/register",
                            {"email": "c@example.test",
                             "password": "correct horse"},
                            expect_status=429)
        expect(int(r.getheader("Retry-After")) > 0, "Retry-After")
        bad = {"email": "a@example.test", "password": "wrong horse"}
        for _ in range(2):
            api.call("POST", "/api/v1/auth/login", bad, expect_status=401)
        api.call("POST", "/api/v1/auth/login", bad, expect_status=429)
        # the address's own limit (login_client_limit) is spent too, for
        # every account
        api.call("POST", "/api/v1/auth/login",
                 {"email": "z@example.test", "password": "correct horse"},
                 expect_status=429)
        # a password change checks the account's limit from this address
        api.call("PATCH", "/api/v1/users/me",
                 {"password": "new password!",
                  "currentPassword": "correct horse"}, token=tokens[0],
                 expect_status=429)
    finally:
        code = d.stop()
    merge(api)
    expect(code == 0, f"exit {code}")
    API.flush()


def test_without_an_authentication_plugin():
    d = Daemon(plugins='{ name = "platform"; }', plugin_dir=PLUGINS).start()
    api = Api(d)
    try:
        for method, tmpl in sorted(SPEC.ops):
            op = SPEC.operation(method, tmpl)
            if tmpl in ELSEWHERE or op.get("security") == [] or \
                    tmpl.startswith(DOCKER_RUNTIME_PATHS) or \
                    tmpl.startswith(BACKUP_PATHS):
                continue
            body = b"{}" if "requestBody" in op else None
            st, b, _ = api.call(method, fake_path(tmpl), raw_body=body,
                                token="anything")
            # the auth plugin's routes are not there without it
            auth_route = tmpl.startswith(AUTH_PLUGIN_PATHS) and st == 404 \
                and "no such route" in json.dumps(b)
            expect(st == 503 or auth_route, f"{method} {tmpl}: {st} {b}")
        api.violations = [v for v in api.violations if not (
            "-> 404: status 404 is not documented" in v and
            v.split()[1].startswith(AUTH_PLUGIN_PATHS))]
    finally:
        code = d.stop()
    merge(api)
    expect(code == 0, f"exit {code}")
    API.flush()


def test_when_the_database_is_down():
    PG.stop_server()
    _, b, _ = API.call("GET", "/health/ready", expect_status=503)
    expect(b["status"] == "fail", b)
    API.call("GET", "/health/live", expect_status=200)
    public = {
        "/api/v1/auth/register": {"email": "zed@example.test",
                                  "password": "correct horse"},
        "/api/v1/auth/login": {"email": "ann@example.test",
                               "password": "correct horse"},
        "/api/v1/auth/refresh": {"refreshToken": "vbr_" + "A" * 43},
        "/api/v1/auth/logout": {"refreshToken": "vbr_" + "A" * 43},
    }
    for method, tmpl in sorted(SPEC.ops):
        if tmpl in ELSEWHERE or tmpl.startswith("/health/") or \
                tmpl.startswith(DOCKER_RUNTIME_PATHS) or \
                tmpl.startswith(BACKUP_PATHS):
            continue
        op = SPEC.operation(method, tmpl)
        body = public.get(tmpl, {} if "requestBody" in op else None)
        API.call(method, fake_path(tmpl), body, token=S["ann"],
                 expect_status=503)
    API.flush()


def merge(api):
    API.violations += api.violations
    API.checked += api.checked
    for k, v in api.seen.items():
        API.seen.setdefault(k, set()).update(v)


def test_every_operation_answered_as_documented():
    """Each operation was seen with its success status; list the
    documented statuses the scenario never produced."""
    never = []
    for method, tmpl in sorted(SPEC.ops):
        codes = set(SPEC.operation(method, tmpl)["responses"])
        seen = {str(s) for s in API.seen.get((method, tmpl), set())}
        if tmpl in ELSEWHERE or tmpl.startswith(BACKUP_PATHS):
            continue  # backup-s3's: test_backup_daemon.py
        ok = {c for c in codes if c.startswith("2")}
        if NO_DOCKER and tmpl.startswith(ENVS):
            continue
        expect(ok & seen, f"{method} {tmpl}: never answered {sorted(ok)}")
        if codes - seen:
            never.append(f"{method} {tmpl}: {', '.join(sorted(codes - seen))}")
    for line in never:
        print("# not exercised: " + line)
    print(f"# {API.checked} responses checked against {SPEC_PATH}")


class StoppableCluster(Cluster):
    def stop_server(self):
        subprocess.run([CLUSTER, "stop", os.path.join(self.dir, "pg")],
                       capture_output=True, check=True)


def postgres_installed():
    return bool(glob.glob("/usr/lib/postgresql/*/bin/initdb") or
                shutil.which("pg_config"))


def main():
    global SPEC, PG, PLUGINS, D, API
    if not os.path.exists(CLUSTER) or not shutil.which("runuser") or \
            not postgres_installed():
        print("# skipped: PostgreSQL (or its test cluster script) is not "
              "installed")
        raise SystemExit(77)
    SPEC = Spec()
    s = Suite()
    s.run(test_the_document_is_consistent)
    s.run(test_every_route_in_the_sources_is_documented)
    PG = StoppableCluster()
    PLUGINS = plugin_dir()
    try:
        D = start_daemon(server='max_body = "4KiB";').start()
        API = Api(D)
        try:
            for fn in (test_health, test_register_login_refresh_logout,
                       test_every_documented_operation_is_routed,
                       test_the_events_websocket_upgrades,
                       test_405_lists_exactly_the_documented_methods,
                       test_me, test_ws_ticket, test_api_keys,
                       test_users_plugins_and_audit,
                       test_teams_and_members, test_projects,
                       test_environments, test_body_too_large, test_rate_limits,
                       test_without_an_authentication_plugin,
                       test_when_the_database_is_down,
                       test_every_operation_answered_as_documented):
                s.run(fn)
        finally:
            code = D.stop()
            if code != 0:
                print(f"# vibeboxd exit {code}: {D.logtext()[-2000:]}")
    finally:
        PG.stop()
        shutil.rmtree(PLUGINS, ignore_errors=True)
    s.finish()


if __name__ == "__main__":
    sys.exit(main())
