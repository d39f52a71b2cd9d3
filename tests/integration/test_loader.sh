#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# test_loader.sh - `vibeboxd -t` against the deliberately broken plugins of
# tests/plugins/: each must make the check fail (exit 1) with its own
# message on stderr; the good pair must pass (exit 0) and show the plugin
# table in dependency order.
#
# Environment:
#   VIBEBOXD             the daemon to test
#   VBX_TEST_PLUGIN_DIR  the directory of the built tests/plugins/*.so
#
# Prints one line per case, "ok - NAME" or "not ok - NAME" (TAP), and exits
# non-zero when any case failed.

set -u

if [ -z "${VIBEBOXD:-}" ] || [ ! -x "$VIBEBOXD" ]; then
	echo "Bail out! set VIBEBOXD to the vibeboxd binary to test" >&2
	exit 2
fi
if [ -z "${VBX_TEST_PLUGIN_DIR:-}" ] || [ ! -d "$VBX_TEST_PLUGIN_DIR" ]; then
	echo "Bail out! set VBX_TEST_PLUGIN_DIR to the built test plugins" >&2
	exit 2
fi

dir=${VBX_TEST_PLUGIN_DIR%/}
here=$(cd "$(dirname "$0")" && pwd)
header=$here/../../include/vibebox/plugin.h

# The daemon's ABI, for the version mismatch messages.
abi() {
	sed -n "s/^#define VBX_ABI_$1 \([0-9][0-9]*\).*/\1/p" "$header"
}
major=$(abi MAJOR)
minor=$(abi MINOR)
if [ -z "$major" ] || [ -z "$minor" ]; then
	echo "Bail out! cannot read the ABI version from $header" >&2
	exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vbx-test-loader.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/state"
export VBX_TEST_TRACE=$tmp/trace

ncases=0
nfailed=0
failed_why=

# Remember why the current case failed; it may fail for several reasons.
fail() {
	failed_why="$failed_why# $*"$'\n'
}

# conf NAME... - write a config that enables the named plugins.
conf() {
	local sep=
	{
		printf 'plugin_dir = "%s";\n' "$dir"
		printf 'state_dir = "%s";\n' "$tmp/state"
		printf 'log = { level = "error"; format = "text"; };\n'
		printf 'plugins = (\n'
		for name in "$@"; do
			printf '%s  { name = "%s"; config = { }; }' "$sep" "$name"
			sep=$',\n'
		done
		printf '\n);\n'
	} >"$tmp/vibeboxd.conf"
}

# check STATUS - run `vibeboxd -t` on the config; expect exit STATUS.
check() {
	: >"$VBX_TEST_TRACE"
	failed_why=
	timeout 60 "$VIBEBOXD" -t -c "$tmp/vibeboxd.conf" \
		>"$tmp/stdout" 2>"$tmp/stderr"
	local rc=$?
	[ "$rc" -eq "$1" ] || fail "exit status $rc, expected $1"
}

# in_stderr TEXT... / in_stdout TEXT... - each TEXT is a line's substring.
in_stream() {
	local stream=$1 text
	shift
	for text in "$@"; do
		grep -qF -- "$text" "$tmp/$stream" ||
			fail "$stream lacks: $text"
	done
}
in_stderr() { in_stream stderr "$@"; }
in_stdout() { in_stream stdout "$@"; }

# trace_is LINE... - the plugins' lifecycle calls, in order.
trace_is() {
	local expected
	expected=$(printf '%s\n' "$@")
	[ "$(cat "$VBX_TEST_TRACE")" = "$expected" ] ||
		fail "trace is [$(tr '\n' ' ' <"$VBX_TEST_TRACE")]," \
			"expected [$*]"
}

# report NAME - print the verdict of the case just checked.
report() {
	ncases=$((ncases + 1))
	if [ -z "$failed_why" ]; then
		echo "ok - $1"
		return
	fi
	nfailed=$((nfailed + 1))
	echo "not ok - $1"
	printf '%s' "$failed_why"
	sed 's/^/#   stderr: /' "$tmp/stderr"
}

# broken NAME MESSAGE - plugin NAME alone fails with MESSAGE about its file.
broken() {
	conf "$1"
	check 1
	in_stderr "plugin \"$1\": $dir/$1.so: $2"
	trace_is
	report "$1"
}

conf nosuch
check 1
in_stderr "plugin \"nosuch\": nosuch.so not found in plugin_dir (searched $dir); is the plugin installed in one of these directories?"
trace_is
report nosuch
broken undefsym 'cannot open: undefined symbol: vbx_test_no_such_function'
broken noentry \
	'no entry symbol "vbx_plugin_entry"; is it a vibeboxd plugin?'
broken nulldesc 'vbx_plugin_entry() returned no descriptor'
broken badmagic \
	'bad magic 0x12345678 (expected 0x56425850); not a vibeboxd plugin or corrupt'
broken abimajor \
	"built for plugin ABI $((major + 1)).0, this vibeboxd has ABI $major.$minor; rebuild the plugin against this SDK"
broken abiminor \
	"built for plugin ABI $major.$((minor + 1)), newer than this vibeboxd's $major.$minor; upgrade vibeboxd or use an older plugin"
broken shortdesc 'descriptor is 16 bytes'
broken badname 'descriptor names the plugin "othername"'
broken nullfn 'mandatory function fini is NULL'

# Every bad file at once, and nothing inited.
conf noentry hello badmagic nullfn
check 1
in_stderr "plugin \"noentry\": $dir/noentry.so: no entry symbol" \
	"plugin \"badmagic\": $dir/badmagic.so: bad magic" \
	"plugin \"nullfn\": $dir/nullfn.so: mandatory function fini is NULL"
trace_is
report "every bad file in one pass"

conf needcap hello
check 1
in_stderr 'plugin "needcap" requires capability "teleport", which no enabled plugin provides; enable a plugin that provides it'
trace_is
report "missing capability"

conf hello cycle-a cycle-b
check 1
in_stderr 'dependency cycle among plugins: cycle-a -> cycle-b -> cycle-a'
trace_is
report "dependency cycle"

# needcycle waits on the cycle without being part of it.
conf needcycle cycle-a hello cycle-b
check 1
in_stderr 'dependency cycle among plugins: cycle-a -> cycle-b -> cycle-a'
if grep -qF needcycle "$tmp/stderr"; then
	fail "the cycle's message names needcycle, which is not in it"
fi
trace_is
report "dependency cycle named without bystanders"

conf hello initfail
check 1
in_stderr "plugin \"initfail\": $dir/initfail.so: init failed: "
trace_is hello:init initfail:init hello:fini
report "init failure finalises the others, not the failed plugin"

conf provider-a provider-b
check 1
in_stderr 'hook "test_provide"' \
	"plugin \"provider-b\": $dir/provider-b.so: init failed: "
report "second PROVIDER of a hook"

conf hello
sed -i 's/config = { }/config = { greeting = 5; }/' "$tmp/vibeboxd.conf"
check 1
in_stderr 'plugins.hello.greeting' \
	"plugin \"hello\": $dir/hello.so: init failed: "
trace_is hello:init
report "config error in a plugin's block"

# needhello is listed first but requires hello's "greeting".
conf needhello hello
check 0
in_stdout "configuration file $tmp/vibeboxd.conf test is successful"
if ! grep -qE '^NAME +VERSION +PROVIDES +REQUIRES$' "$tmp/stdout"; then
	fail "stdout lacks the plugin table's header"
fi
rows=$(grep -E '^(hello|needhello) ' "$tmp/stdout" | tr -s ' ' | tr '\n' '|')
if [ "$rows" != "hello 1.0.0 greeting -|needhello 0.2 - greeting|" ]; then
	fail "plugin table rows are [$rows]"
fi
trace_is hello:init needhello:init needhello:fini hello:fini
report "good pair in dependency order"

# Built for ABI 1.0, loaded by a daemon of a later 1.x.
conf abi10
check 0
if ! grep -qE '^abi10 +1\.0\.0 +- +-$' "$tmp/stdout"; then
	fail "stdout lacks the row of abi10"
fi
trace_is abi10:init abi10:fini
report "a plugin built for ABI 1.0 loads and inits"

# Routes: a third-party plugin's live under /api/v1/x/<name>/.
conf route-ok
check 0
trace_is route-ok:init route-ok:fini
report "a third-party plugin's routes in its namespace"

conf route-out
check 1
in_stderr 'plugin "route-out": route GET /api/v1/ping: the routes of a third-party plugin must live under /api/v1/x/route-out/' \
	"plugin \"route-out\": $dir/route-out.so: init failed: "
trace_is route-out:init route-out:refused route-out:fini
report "a third-party plugin's route outside its namespace"

conf metrics tracing
check 1
in_stderr 'plugins "metrics" and "tracing" clash: route GET /api/v1/reports/{name} of plugin "tracing" and route GET /api/v1/reports/{id} of plugin "metrics" match the same requests'
trace_is metrics:init tracing:init metrics:fini
report "two plugins' routes clash"

# plugin_path: searched in order; "not found" names every directory.
mkdir -p "$tmp/local"
conf hello
sed -i "s|^plugin_dir = .*|plugin_path = [ \"$tmp/local\", \"$dir\" ];|" \
	"$tmp/vibeboxd.conf"
check 0
trace_is hello:init hello:fini
report "plugin_path: a plugin in the second directory"

conf nosuch
sed -i "s|^plugin_dir = .*|plugin_path = [ \"$tmp/local\", \"$dir\" ];|" \
	"$tmp/vibeboxd.conf"
check 1
in_stderr "plugin \"nosuch\": nosuch.so not found in plugin_path (searched $tmp/local, $dir); is the plugin installed in one of these directories?"
report "plugin_path: not found names every directory"

conf hello
sed -i "1a plugin_path = [ \"$dir\" ];" "$tmp/vibeboxd.conf"
check 1
in_stderr "plugin_path: plugin_path and plugin_dir (line 1) are both set"
report "plugin_path and plugin_dir both set"

echo "1..$ncases"
if [ "$nfailed" -ne 0 ]; then
	echo "# $nfailed of $ncases cases failed"
	exit 1
fi
exit 0
