#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The web-console plugin (issue 13) in a real vibeboxd, serving a fixture
tree that looks like a Vite build (index.html, hashed assets/ with their
.gz and .br made by gzip and brotli) from a temp dir: headers (cache,
security, CSP), 304s on If-None-Match, content codings by Accept-Encoding
and q-values, the SPA fallback and its limits, traversal attempts, HEAD,
a rescan after a change, a missing root, api_origin, a reload, and the
nginx example (packaging/nginx/web-console.conf): `nginx -t -c`, then run
on the same tree with its headers compared to the plugin's.
"""

import gzip
import http.client
import os
import shutil
import signal
import subprocess
import tempfile
import time

from daemon import Daemon, Suite, expect, error_of, free_port

SRC = os.environ.get("VBX_SRCDIR", ".")
BUILD = os.environ.get("VBX_BUILDDIR", ".")
SO = os.path.join(BUILD, "plugins/web-console/.libs/web-console.so")
JS = "/assets/index-3f2a9c1b.js"
CSS = "/assets/index-5e8d7a2f.css"
SECRET = "TOP-SECRET-OUTSIDE-ROOT"
TMP = tempfile.mkdtemp(prefix="vbx-wc-")
ROOT = os.path.join(TMP, "www")
PLUGDIR = os.path.join(TMP, "plugins")
D = None


def write(rel, data, base=ROOT):
    path = os.path.join(base, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
    return path


def make_tree():
    """A Vite-like build, plus what must never be served."""
    write("index.html", '<!doctype html><html><head><script type="module" '
          f'src="{JS}"></script><link rel="stylesheet" href="{CSS}">'
          '</head><body><div id="root"></div></body></html>\n')
    js = "".join(f"export const v{i} = {i * 7919};\n" for i in range(4000))
    write(JS[1:], js)
    write(CSS[1:], "body{margin:0}\n" * 200)
    write("favicon.svg", "<svg xmlns='http://www.w3.org/2000/svg'/>")
    for rel in (JS[1:], CSS[1:]):
        path = os.path.join(ROOT, rel)
        subprocess.run(["gzip", "-k9", path], check=True)
        subprocess.run(["brotli", "-k", path], check=True)
    write(".env", SECRET)
    write("secret", SECRET, base=os.path.join(TMP, "outside"))
    os.symlink(os.path.join(TMP, "outside/secret"),
               os.path.join(ROOT, "leak.txt"))
    os.symlink(os.path.join(TMP, "outside"), os.path.join(ROOT, "out"))


def block(extra=""):
    return ('{ name = "web-console"; config = { root = "%s"; '
            'recheck = "200ms"; %s }; }' % (ROOT, extra))


def raw(method, path, headers=None, port=None):
    """A request with the path sent exactly as given."""
    c = http.client.HTTPConnection("127.0.0.1", port or D.port, timeout=10)
    c.putrequest(method, path, skip_accept_encoding=True)
    for k, v in (headers or {}).items():
        c.putheader(k, v)
    c.endheaders()
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body, r


def get(path, **headers):
    return raw("GET", path, headers)


def file(rel):
    with open(os.path.join(ROOT, rel.lstrip("/")), "rb") as f:
        return f.read()


def wait_for(cond, what, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def check_security(r, what):
    csp = r.getheader("Content-Security-Policy") or ""
    for part in ("default-src 'self'", "script-src 'self';",
                 "style-src 'self';", "img-src 'self' data:",
                 "connect-src 'self'", "frame-ancestors 'none'",
                 "base-uri 'self'", "form-action 'self'",
                 "object-src 'none'"):
        expect(part in csp, f"{what}: CSP lacks {part!r}: {csp!r}")
    expect("unsafe" not in csp, f"{what}: CSP allows unsafe: {csp!r}")
    expect(r.getheader("X-Content-Type-Options") == "nosniff",
           f"{what}: X-Content-Type-Options")
    expect(r.getheader("Referrer-Policy") == "no-referrer",
           f"{what}: Referrer-Policy")
    expect(r.getheader("X-Frame-Options") == "DENY", f"{what}: XFO")


# ---- the checks ----

def test_index():
    for path in ("/", "/index.html"):
        st, body, r = get(path)
        expect(st == 200, f"{path}: {st}")
        expect(body == file("index.html"), f"{path}: body")
        expect(r.getheader("Content-Type") == "text/html; charset=utf-8",
               f"{path}: type {r.getheader('Content-Type')}")
        expect(r.getheader("Cache-Control") == "no-cache",
               f"{path}: cache {r.getheader('Cache-Control')}")
        expect((r.getheader("ETag") or "").startswith('"'), "strong ETag")
        expect(r.getheader("Last-Modified", "").endswith(" GMT"),
               "Last-Modified")
        expect(r.getheader("Vary") == "Accept-Encoding", "Vary")
        check_security(r, path)


def test_hashed_assets():
    for path, ctype in ((JS, "text/javascript; charset=utf-8"),
                        (CSS, "text/css; charset=utf-8")):
        st, body, r = get(path)
        expect(st == 200 and body == file(path), f"{path}: {st}")
        expect(r.getheader("Content-Type") == ctype, f"{path}: type")
        expect(r.getheader("Cache-Control") ==
               "public, max-age=31536000, immutable", f"{path}: cache")
        expect(r.getheader("Content-Encoding") is None, "identity")
        check_security(r, path)
    st, _, r = get("/favicon.svg")
    expect(st == 200 and r.getheader("Cache-Control") == "no-cache",
           "a file outside assets/ is not immutable")
    expect(r.getheader("Content-Type") == "image/svg+xml", "svg type")


def test_encodings():
    st, body, r = get(JS, **{"Accept-Encoding": "gzip, deflate, br"})
    expect(st == 200 and r.getheader("Content-Encoding") == "br", "br")
    expect(body == file(JS + ".br"), "the .br file's bytes")
    expect(r.getheader("Content-Type") == "text/javascript; charset=utf-8",
           "the original's type with br")
    expect(r.getheader("Vary") == "Accept-Encoding", "Vary with br")
    st, body, r = get(JS, **{"Accept-Encoding": "gzip"})
    expect(r.getheader("Content-Encoding") == "gzip", "gzip")
    expect(gzip.decompress(body) == file(JS), "gzip decodes to the file")
    cases = {
        "br;q=0, gzip": "gzip",
        "br;q=0.5, gzip;q=0.8": "gzip",
        "br;q=0.8, gzip;q=0.5": "br",
        "gzip;q=0, br;q=0": None,
        "*;q=0": None,
        "*": "br",
        "identity": None,
        "identity, gzip;q=0.1": None,
        "x-gzip": "gzip",
        "br;q=nonsense, gzip": "gzip",
        "br;q=2": None,
        "": None,
    }
    for ae, want in cases.items():
        st, body, r = get(JS, **{"Accept-Encoding": ae})
        got = r.getheader("Content-Encoding")
        expect(st == 200 and got == want, f"{ae!r}: {got}, not {want}")
        if want is None:
            expect(body == file(JS), f"{ae!r}: identity body")
    st, body, r = get("/index.html", **{"Accept-Encoding": "br, gzip"})
    expect(r.getheader("Content-Encoding") is None and
           body == file("index.html"), "no variant: the file itself")


def test_etag_304():
    _, _, r = get(JS)
    tag = r.getheader("ETag")
    _, _, rg = get(JS, **{"Accept-Encoding": "gzip"})
    gz_tag = rg.getheader("ETag")
    expect(tag and gz_tag and tag != gz_tag,
           f"each representation its own tag: {tag} {gz_tag}")
    for inm in (tag, "W/" + tag, f'"nope", {tag}', f'"a",W/{tag} ,"b"',
                "*"):
        st, body, r = get(JS, **{"If-None-Match": inm})
        expect(st == 304 and body == b"", f"{inm!r}: {st}")
        expect(r.getheader("ETag") == tag, f"{inm!r}: ETag on 304")
        expect(r.getheader("Content-Length") is None,
               "no Content-Length on a 304 (RFC 9110 8.6)")
        expect(r.getheader("Cache-Control") ==
               "public, max-age=31536000, immutable", "cache on 304")
        check_security(r, "304")
    for inm in ('"nope"', tag[:-2] + '"', "garbage", tag.strip('"'),
                gz_tag, f"* , {tag}"):
        st, body, _ = get(JS, **{"If-None-Match": inm})
        expect(st == 200 and body == file(JS), f"{inm!r}: {st}, not 200")
    st, _, _ = get(JS, **{"If-None-Match": gz_tag, "Accept-Encoding": "gzip"})
    expect(st == 304, "the gzip tag matches the gzip representation")
    _, _, r = get("/")
    st, _, _ = get("/", **{"If-None-Match": r.getheader("ETag")})
    expect(st == 304, "index revalidates to 304")
    # a 304 without a length still ends where it should: the connection
    # carries the next answer
    c = http.client.HTTPConnection("127.0.0.1", D.port, timeout=10)
    try:
        for inm, want in ((tag, 304), ('"other"', 200), (tag, 304)):
            c.request("GET", JS, headers={"If-None-Match": inm})
            r = c.getresponse()
            body = r.read()
            expect(r.status == want, f"keep-alive {inm}: {r.status}")
            expect(body == (file(JS) if want == 200 else b""), "body")
    finally:
        c.close()


def test_spa_fallback():
    index = file("index.html")
    for path in ("/projects", "/projects/3f2a/environments/x/terminal",
                 "/envs/a.b", "/missing.png", "/assetsx/y.js",
                 "/login?next=%2Fprojects"):
        st, body, r = get(path)
        expect(st == 200 and body == index, f"{path}: {st} not the app")
        expect(r.getheader("Cache-Control") == "no-cache",
               f"{path}: fallback must not be cached as an asset")
        check_security(r, path)
    for path in ("/assets/index-00000000.js", "/assets/nope.css",
                 "/assets/sub/x"):
        st, body, r = get(path)
        expect(st == 404, f"{path}: {st}, a missing asset is a real 404")
        expect(b"<html" not in body, f"{path}: no HTML for a script")
        check_security(r, path)


def test_daemon_paths_stay_the_daemons():
    for path in ("/api/v1/nothing", "/api", "/health/nothing", "/metrics",
                 "/metrics/x"):
        st, body, r = D.get(path)
        expect(st == 404, f"{path}: {st}")
        err = error_of(body)
        expect(err["code"] == "NOT_FOUND", f"{path}: {err}")
    st, body, _ = D.get("/health/live")
    expect(st == 200, f"/health/live: {st} {body}")
    st, body, r = D.request("POST", "/")
    expect(st == 405 and "GET" in r.getheader("Allow", ""), f"POST /: {st}")
    st, body, r = D.request("DELETE", "/projects/x")
    expect(st == 405, f"DELETE /projects/x: {st}")


def test_traversal():
    index = file("index.html")
    attempts = ["/../../../../etc/passwd", "/assets/../../outside/secret",
                "/%2e%2e/outside/secret", "/assets/%2E%2E/%2e%2e/etc/passwd",
                "/a%2f..%2f..%2foutside%2fsecret", "/..%2foutside/secret",
                "/a/..%5c..%5coutside%5csecret", "/leak.txt", "/out/secret",
                "/.env", "/%2eenv", "/assets/.%2e/.env", "/a%00b",
                "/index.html%00.js", "/./index.html", "//etc/passwd",
                "/\\..\\outside\\secret"]
    for path in attempts:
        st, body, r = raw("GET", path)
        expect(SECRET.encode() not in body, f"{path}: leaked the secret")
        expect(b"root:" not in body, f"{path}: leaked /etc/passwd")
        expect(st in (400, 404) or (st == 200 and body == index),
               f"{path}: {st} {body[:80]!r}")


def test_head():
    for path in ("/", JS, "/projects/x"):
        _, gbody, g = get(path)
        st, body, r = raw("HEAD", path)
        expect(st == 200 and body == b"", f"HEAD {path}: {st} {body[:20]}")
        for h in ("Content-Length", "Content-Type", "ETag", "Cache-Control",
                  "Content-Security-Policy"):
            expect(r.getheader(h) == g.getheader(h),
                   f"HEAD {path}: {h} {r.getheader(h)} != {g.getheader(h)}")
        expect(int(r.getheader("Content-Length")) == len(gbody), "length")
    st, body, r = raw("HEAD", JS, {"Accept-Encoding": "br"})
    expect(r.getheader("Content-Encoding") == "br" and body == b"",
           "HEAD with br")


def test_rescan_sees_changes():
    _, _, r = get("/")
    old_tag = r.getheader("ETag")
    new = "<!doctype html><p>new build</p>\n"
    tmp = write("index.html.new", new)
    os.replace(tmp, os.path.join(ROOT, "index.html"))
    wait_for(lambda: get("/")[1] == new.encode(), "the new index.html")
    _, _, r = get("/")
    expect(r.getheader("ETag") != old_tag, "a new ETag for new contents")
    st, _, _ = get("/", **{"If-None-Match": old_tag})
    expect(st == 200, "the old tag no longer matches")
    write("assets/late-9a8b7c6d.js", "late")
    wait_for(lambda: get("/assets/late-9a8b7c6d.js")[0] == 200,
             "a file added after start")


def test_concurrent_requests_during_rescans():
    """Clients in parallel while a file keeps changing (a rescan every
    200ms replaces the snapshot under them): every answer is a 200 whose
    body is one whole version."""
    import threading
    versions = {}
    rel = "assets/busy-1a2b3c4d.js"
    for i in range(4):
        versions[i] = (f"// version {i}\n" + "x" * (20000 + i)).encode()
    write(rel, versions[0])
    wait_for(lambda: get("/" + rel)[0] == 200, "the busy file")
    errors, stop = [], threading.Event()

    def client():
        c = http.client.HTTPConnection("127.0.0.1", D.port, timeout=10)
        try:
            while not stop.is_set():
                c.request("GET", "/" + rel, headers={"Accept-Encoding": "br"})
                r = c.getresponse()
                body = r.read()
                if r.status != 200 or body not in versions.values():
                    errors.append((r.status, body[:40]))
                    return
        except OSError as e:
            errors.append(repr(e))
        finally:
            c.close()

    threads = [threading.Thread(target=client) for _ in range(6)]
    for t in threads:
        t.start()
    deadline = time.time() + 3
    i = 0
    while time.time() < deadline:
        i += 1
        tmp = write(rel + ".tmp", versions[i % 4])
        os.replace(tmp, os.path.join(ROOT, rel))
        time.sleep(0.1)  # pacing the writer, not waiting for a condition
    stop.set()
    for t in threads:
        t.join(15)
    expect(not errors, f"bad answers under rescans: {errors[:3]}")
    st, body, _ = get("/" + rel)
    expect(st == 200 and body in versions.values(), "still served")


def test_missing_root():
    root = os.path.join(TMP, "not-yet")
    d = Daemon(plugin_dir=PLUGDIR, plugins='{ name = "web-console"; config '
               '= { root = "%s"; recheck = "200ms"; }; }' % root).start()
    try:
        st, body, r = raw("GET", "/", port=d.port)
        expect(st == 404 and b"not installed" in body,
               f"a page saying so: {st} {body[:100]}")
        expect(r.getheader("Content-Type").startswith("text/html"), "html")
        check_security(r, "not installed")
        st, body, _ = raw("GET", "/projects/x", port=d.port)
        expect(st == 404 and b"not installed" in body, "every app path")
        log = d.logtext()
        expect(root in log and "plugins.web-console.root" in log,
               "the log names the directory and the key")
        expect(d.get("/health/ready")[0] == 200, "the daemon is ready")
        os.makedirs(root)
        with open(os.path.join(root, "index.html"), "w") as f:
            f.write("installed\n")
        wait_for(lambda: raw("GET", "/", port=d.port)[1] == b"installed\n",
                 "the console once installed")
    finally:
        code = d.stop()
    expect(code == 0, f"exit status {code}")


def test_api_origin_and_reload():
    d = Daemon(plugin_dir=PLUGDIR, plugins=block(
        'api_origin = "https://api.example.com";')).start()
    try:
        _, _, r = raw("GET", "/", port=d.port)
        csp = r.getheader("Content-Security-Policy")
        expect("connect-src 'self' https://api.example.com "
               "wss://api.example.com;" in csp, f"CSP: {csp}")
        d.write_conf(plugins=block('api_origin = "http://10.1.2.3:3000";'))
        d.signal(signal.SIGHUP)
        wait_for(lambda: "ws://10.1.2.3:3000" in (raw(
            "GET", "/", port=d.port)[2].getheader(
                "Content-Security-Policy")), "the reloaded CSP")
    finally:
        code = d.stop()
    expect(code == 0, f"exit status {code}")


def bad_block(extra):
    """A block with extra, or with extra as its root (no "=" in it)."""
    if "=" in extra:
        return block(extra)
    return '{ name = "web-console"; config = { root = "%s"; }; }' % extra


def test_bad_config():
    conf = os.path.join(TMP, "bad.conf")
    for extra, key in (('api_origin = "https://x/; script-src *";',
                        "api_origin"),
                       ('index = "../index.html";', "index"),
                       ("/", "root"), ("www", "root"),
                       ("/srv/../etc", "root"),
                       ('cache_max = "lots";', "cache_max"),
                       ('typo = 1;', "typo")):
        with open(conf, "w") as f:
            f.write(f"""
server: {{ listen = "127.0.0.1:{free_port()}"; }};
plugin_dir = "{PLUGDIR}";
state_dir = "{TMP}";
plugins = ( {bad_block(extra)} );
""")
        p = subprocess.run([os.environ.get("VIBEBOXD", "vibeboxd"), "-t",
                            "-c", conf], capture_output=True, text=True)
        out = p.stdout + p.stderr
        expect(p.returncode != 0, f"{extra}: accepted")
        expect(f"plugins.web-console.{key}" in out, f"{extra}: {out}")


NGINX_HEADERS = ("Content-Type", "Cache-Control", "Vary", "Content-Encoding",
                 "Content-Security-Policy", "X-Content-Type-Options",
                 "Referrer-Policy", "X-Frame-Options")


def required():
    return os.environ.get("VBX_REQUIRE_SERVICES") == "1"


def test_nginx_example():
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx):
        expect(not required(), "nginx is not installed (nginx-light)")
        print("# skipped: no nginx (nginx-light) to run the example with")
        return
    ndir = os.path.join(TMP, "nginx")
    os.makedirs(ndir)
    port = free_port()
    with open(os.path.join(SRC, "packaging/nginx/web-console.conf")) as f:
        conf = f.read()
    conf = (conf.replace("/tmp/", ndir + "/")
            .replace("listen 8080;", f"listen 127.0.0.1:{port};")
            .replace("root /usr/share/vibebox/www;", f"root {ROOT};")
            .replace("worker_processes auto;", "worker_processes 1;"))
    path = os.path.join(ndir, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    t = subprocess.run([nginx, "-t", "-c", path], capture_output=True,
                       text=True)
    expect(t.returncode == 0 and "[warn]" not in t.stderr,
           f"nginx -t: {t.stderr}")
    p = subprocess.Popen([nginx, "-c", path, "-g", "daemon off;"],
                         stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _up(port), "nginx to listen")
        for path_, hdrs in (("/", {}), (JS, {"Accept-Encoding": "gzip"}),
                            (CSS, {}), ("/projects/x", {}),
                            ("/assets/nope-12345678.js", {})):
            ns, nb, nr = raw("GET", path_, hdrs, port=port)
            ps, pb, pr = raw("GET", path_, hdrs)
            expect(ns == ps, f"{path_}: nginx {ns}, plugin {ps}")
            if ns == 200:
                expect(nb == pb, f"{path_}: bodies differ")
                for h in NGINX_HEADERS:
                    expect(nr.getheader(h) == pr.getheader(h),
                           f"{path_} {h}: nginx {nr.getheader(h)!r}, "
                           f"plugin {pr.getheader(h)!r}")
            else:
                check_security(nr, "nginx " + path_)
        ns, nb, _ = raw("GET", "/.env", port=port)
        expect(SECRET.encode() not in nb, "nginx: hidden file")
        ns, nb, _ = raw("GET", "/leak.txt", port=port)
        expect(SECRET.encode() not in nb, "nginx: link out of root")
    finally:
        p.terminate()
        p.wait(10)


def test_clean_exit():
    code = D.stop()
    expect(code == 0, f"exit status {code} (99: valgrind found errors)")


def _up(port):
    try:
        raw("GET", "/healthz", port=port)
        return True
    except OSError:
        return False


def main():
    global D
    if not (shutil.which("brotli") and shutil.which("gzip")):
        print("# " + ("FAILED" if required() else "skipped") +
              ": no brotli (Debian package brotli) to build the fixture")
        raise SystemExit(1 if required() else 77)
    os.chmod(TMP, 0o755)  # nginx's workers are not root
    os.makedirs(ROOT)
    os.makedirs(PLUGDIR)
    os.symlink(SO, os.path.join(PLUGDIR, "web-console.so"))
    make_tree()
    D = Daemon(plugin_dir=PLUGDIR, plugins=block()).start()
    s = Suite()
    try:
        for t in (test_index, test_hashed_assets, test_encodings,
                  test_etag_304, test_spa_fallback,
                  test_daemon_paths_stay_the_daemons, test_traversal,
                  test_head, test_concurrent_requests_during_rescans,
                  test_missing_root, test_api_origin_and_reload,
                  test_bad_config, test_nginx_example,
                  test_rescan_sees_changes, test_clean_exit):
            s.run(t)
    finally:
        D.stop()
        shutil.rmtree(TMP, ignore_errors=True)
    s.finish()


if __name__ == "__main__":
    main()
