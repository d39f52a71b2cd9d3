#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# test_sdk.sh - the SDK as a third party gets it: install the build into a
# staging directory, build docs/examples/greeter out of tree with nothing
# but pkg-config, run its unit test against the installed libvibebox-test,
# then run the installed vibeboxd with the plugin: `-t` first, then for
# real on 127.0.0.1, where the plugin's route must answer, and SIGTERM must
# stop the daemon with exit status 0. First it checks that the code
# docs/plugin-guide.md quotes from the example is the example's.
#
# The build dir is installed with DESTDIR (its configured prefix kept), so
# that nothing lands outside the staging directory whatever paths it was
# configured with; PKG_CONFIG_SYSROOT_DIR makes the .pc files' paths point
# into the staging directory.
#
# Environment (make check sets it):
#   VBX_BUILDDIR  the configured build directory to install from
#   VBX_SRCDIR    the source tree (for docs/examples/greeter)
#
# Prints "ok - ..." or "not ok - ..." per step (TAP); exits 1 when a step
# failed, 77 (skipped) when a tool it needs is missing.

set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh" || exit 2

for tool in make cc pkg-config curl python3; do
	if ! command -v "$tool" >/dev/null; then
		echo "1..0 # SKIP $tool is not installed"
		exit 77
	fi
done
if [ ! -f "${VBX_BUILDDIR:-}/Makefile" ] || [ ! -d "${VBX_SRCDIR:-}" ]; then
	echo "Bail out! set VBX_BUILDDIR to a configured build and" \
		"VBX_SRCDIR to the source tree" >&2
	exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vbx-test-sdk.XXXXXX") || exit 2
daemon_pid=
cleanup() {
	if [ -n "$daemon_pid" ]; then
		kill -KILL "$daemon_pid" 2>/dev/null
		wait "$daemon_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# ---- the guide quotes the example as it is ----

# Each fenced block after <!-- file: PATH --> must be that file, license
# line included, and after <!-- excerpt: PATH --> a part of it, so the guide
# shows tested code.
if python3 - "$VBX_SRCDIR" >"$tmp/quotes.log" 2>&1 <<'EOF'
import re
import sys

root = sys.argv[1]
guide = open(root + "/docs/plugin-guide.md").read()
quotes = re.findall(r"<!-- (file|excerpt): (\S+) -->\n```[a-z]*\n(.*?)\n```",
                    guide, re.S)
bad = 0
for kind, path, body in quotes:
    text = open(root + "/" + path).read()
    if (text.rstrip("\n") == body) if kind == "file" else (body in text):
        continue
    bad += 1
    print(f"{kind} {path}: the quote differs from the file")
print(f"{len(quotes)} quotes checked")
sys.exit(1 if bad or not quotes else 0)
EOF
then
	ok "docs/plugin-guide.md quotes docs/examples/greeter as it is"
else
	not_ok "docs/plugin-guide.md quotes docs/examples/greeter as it is" \
		"$tmp/quotes.log"
fi

# ---- install into the staging directory ----

root=$tmp/root
# A make of our own, not a job of the make check that may be running us.
if env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	make -C "$VBX_BUILDDIR" install DESTDIR="$root" \
	>"$tmp/install.log" 2>&1; then
	ok "make install DESTDIR=$root"
else
	stop_here "make install DESTDIR=$root" "$tmp/install.log"
fi

pc=$(find "$root" -name vibebox-plugin.pc | head -n 1)
testlib=$(find "$root" -name 'libvibebox-test.so*' | head -n 1)
vibeboxd=$(find "$root" -type f -name vibeboxd -perm -u+x | head -n 1)
header=$(find "$root" -path '*/vibebox/testing.h' | head -n 1)
if [ -f "$pc" ] && [ -f "${pc%/*}/vibebox-test.pc" ] && [ -n "$testlib" ] &&
	[ -x "$vibeboxd" ] && [ -n "$header" ]; then
	ok "the SDK is installed: .pc files, headers, libvibebox-test, vibeboxd"
else
	found="vibebox-plugin.pc: ${pc:-none}, libvibebox-test:"
	found="$found ${testlib:-none}, vibeboxd: ${vibeboxd:-none}"
	stop_here "the SDK is installed ($found)"
fi
export PKG_CONFIG_PATH=${pc%/*}
export PKG_CONFIG_SYSROOT_DIR=$root
libdir=${testlib%/*}

# ---- build the example out of tree, with pkg-config only ----

src=$tmp/greeter
mkdir "$src"
for f in greeter.c greeter.h test_greeter.c Makefile; do
	cp "$VBX_SRCDIR/docs/examples/greeter/$f" "$src/"
done
if env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$src" \
	>"$tmp/greeter-build.log" 2>&1; then
	ok "docs/examples/greeter builds out of tree with pkg-config"
else
	stop_here "docs/examples/greeter builds out of tree with pkg-config" \
		"$tmp/greeter-build.log"
fi

cflags=$(pkg-config --cflags vibebox-plugin vibebox-test 2>&1)
if [[ " $cflags " == *" -I$root/"* ]]; then
	ok "pkg-config points the compiler into the staging directory"
else
	not_ok "pkg-config points the compiler into the staging directory" \
		"(cflags: $cflags)"
fi

# The plugin must export its entry and nothing of its own besides.
exported=$(nm -D --defined-only "$src/greeter.so" | awk '{print $3}' |
	grep -v -e '^_' | tr '\n' ' ')
name="greeter.so exports vbx_plugin_entry only"
if [ "$exported" = "vbx_plugin_entry " ]; then
	ok "$name"
else
	not_ok "$name (it exports: $exported)"
fi

# A sanitizer build's libvibebox-test needs its runtime loaded first.
preload=
if ldd "$testlib" 2>/dev/null | grep -q libasan; then
	preload=$(cc -print-file-name=libasan.so)
fi
name="the example's unit test passes against the installed libvibebox-test"
if LD_LIBRARY_PATH=$libdir LD_PRELOAD=$preload ASAN_OPTIONS=detect_leaks=0 \
	timeout 60 "$src/test_greeter" >"$tmp/test_greeter.log" 2>&1 &&
	grep -q '^PASSED$' "$tmp/test_greeter.log"; then
	ok "$name"
else
	not_ok "$name" "$tmp/test_greeter.log"
fi

# ---- the installed daemon with the plugin ----

mkdir "$tmp/plugins" "$tmp/state"
cp "$src/greeter.so" "$tmp/plugins/"

# write_conf PORT - a config that enables the greeter.
write_conf() {
	cat >"$tmp/vibeboxd.conf" <<EOF
server: { listen = "127.0.0.1:$1"; workers = 2; shutdown_timeout = "5s"; };
log: { level = "info"; format = "text"; };
plugin_dir = "$tmp/plugins";
state_dir = "$tmp/state";
plugins = (
  { name = "greeter"; config = { greeting = "Howdy"; max_name = 16; }; }
);
EOF
}

write_conf 3000
if timeout 60 "$vibeboxd" -t -c "$tmp/vibeboxd.conf" \
	>"$tmp/check.out" 2>"$tmp/check.err" &&
	grep -qE '^greeter +1\.0\.0 +greeting +-$' "$tmp/check.out"; then
	ok "vibeboxd -t lists the greeter"
else
	not_ok "vibeboxd -t lists the greeter" "$tmp/check.out" "$tmp/check.err"
fi

# start_daemon - run it on a free port; true once /health/startup is 200.
start_daemon() {
	local i
	port=$(free_port)
	write_conf "$port"
	"$vibeboxd" -c "$tmp/vibeboxd.conf" \
		>"$tmp/daemon.out" 2>"$tmp/daemon.err" &
	daemon_pid=$!
	for i in $(seq 100); do
		if [ "$(curl -s -o /dev/null -w '%{http_code}' \
			"http://127.0.0.1:$port/health/startup")" = 200 ]; then
			return 0
		fi
		kill -0 "$daemon_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$daemon_pid" 2>/dev/null
	wait "$daemon_pid" 2>/dev/null
	daemon_pid=
	return 1
}

# Another process may take the port between our look and the daemon's bind.
started=false
for attempt in 1 2 3; do
	if start_daemon; then
		started=true
		break
	fi
done
if $started; then
	ok "vibeboxd starts with the greeter on 127.0.0.1:$port"
else
	stop_here "vibeboxd starts with the greeter" "$tmp/daemon.err"
fi

body=$(curl -s -w ' %{http_code}' \
	"http://127.0.0.1:$port/api/v1/x/greeter/greet/ann")
name="GET /api/v1/x/greeter/greet/ann answers from the plugin"
if [ "$body" = '{"message":"Howdy, ann!"} 200' ]; then
	ok "$name"
else
	not_ok "$name (got: $body)"
fi

body=$(curl -s -o /dev/null -w '%{http_code}' -X POST \
	-H 'Content-Type: application/json' -d '{"name":"ann"}' \
	"http://127.0.0.1:$port/api/v1/x/greeter/greetings")
name="POST /api/v1/x/greeter/greetings is 503 without an authentication"
name="$name plugin"
if [ "$body" = 503 ]; then
	ok "$name"
else
	not_ok "$name (got: $body)"
fi

name="the plugin's log line reaches the daemon's log"
if grep -q 'greeting with "Howdy"' "$tmp/daemon.err"; then
	ok "$name"
else
	not_ok "$name" "$tmp/daemon.err"
fi

kill -TERM "$daemon_pid"
status=
for i in $(seq 150); do
	if ! kill -0 "$daemon_pid" 2>/dev/null; then
		wait "$daemon_pid"
		status=$?
		break
	fi
	sleep 0.1
done
# Reaped; otherwise it still runs and cleanup kills it.
[ -n "$status" ] && daemon_pid=
name="SIGTERM stops vibeboxd with exit status 0"
if [ "$status" = 0 ]; then
	ok "$name"
else
	not_ok "$name (status: ${status:-still running after 15 s})" \
		"$tmp/daemon.err"
fi

finish
