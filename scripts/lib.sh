# SPDX-License-Identifier: Apache-2.0
# scripts/lib.sh - helpers the other scripts source; not run on its own.
#
# Every function is prefixed vbx_. Variables the caller may set:
#   VBX_SKIP_DEPS=1        do not install Debian packages
#   VBX_CONFIGURE_FLAGS    extra arguments for ./configure
#   VBX_JOBS               parallel make jobs (default: number of cores)

VBX_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VBX_JOBS="${VBX_JOBS:-$(nproc 2>/dev/null || echo 2)}"

vbx_say() {
	printf '==> %s\n' "$*" >&2
}

vbx_die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

# Run as root, or through sudo when there is one.
vbx_as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		vbx_die "'$*' needs root: run this script as root or install sudo"
	fi
}

# Install the package groups named (build test bench deb) unless
# VBX_SKIP_DEPS=1.
vbx_install_deps() {
	if [ "${VBX_SKIP_DEPS:-0}" = 1 ]; then
		vbx_say "VBX_SKIP_DEPS=1: not installing packages ($*)"
		return 0
	fi
	vbx_as_root "$VBX_ROOT/scripts/install-deps.sh" "$@"
}

# Generate ./configure when the checkout has none (a git clone).
# Afterwards the generated Makefiles re-run autotools themselves whenever
# configure.ac or a Makefile.am changes.
vbx_autogen() {
	if [ ! -x "$VBX_ROOT/configure" ]; then
		vbx_say "generating ./configure (autogen.sh)"
		(cd "$VBX_ROOT" && ./autogen.sh)
	fi
}

# Configure an out-of-tree build in DIR with ARGS... unless DIR is already
# configured with the same arguments.
vbx_configure() {
	local dir="$1"
	shift
	local args="$* ${VBX_CONFIGURE_FLAGS:-}"
	if [ -f "$VBX_ROOT/config.status" ]; then
		vbx_die "$VBX_ROOT was configured in the source tree; out-of-tree" \
			"builds need a clean one: run 'make distclean' in $VBX_ROOT"
	fi
	vbx_autogen
	mkdir -p "$dir"
	if [ -f "$dir/Makefile" ] &&
		[ "$(cat "$dir/.vbx-configure-args" 2>/dev/null)" = "$args" ]; then
		return 0
	fi
	vbx_say "configuring in $dir: $args"
	# Word splitting of $args is intended: they are configure's arguments.
	# shellcheck disable=SC2086
	(cd "$dir" && "$VBX_ROOT/configure" $args)
	printf '%s' "$args" >"$dir/.vbx-configure-args"
}

# Strip libconfig comments (#, //, /* */) from FILE, so that a commented-out
# example never counts as configured.
vbx_conf_uncommented() {
	sed -e 's|/\*.*\*/||g' "$1" |
		awk '/\/\*/ { sub(/\/\*.*/, ""); print; skip = 1; next }
		     skip && /\*\// { sub(/.*\*\//, ""); skip = 0 }
		     !skip { print }' |
		sed -e 's|#.*$||' -e 's|//.*$||'
}

# True when CONF enables the plugin NAME (an entry `name = "NAME";`).
vbx_conf_has_plugin() {
	vbx_conf_uncommented "$1" |
		grep -Eq "(^|[^_[:alnum:]])name[[:space:]]*[=:][[:space:]]*\"$2\""
}

# The string value of a top-level KEY in CONF (`KEY = "value";`), or empty.
vbx_conf_string() {
	vbx_conf_uncommented "$1" |
		sed -n -E "s/^[[:space:]]*$2[[:space:]]*[=:][[:space:]]*\"([^\"]*)\".*/\\1/p" |
		head -n1
}

# Sum automake's test-suite.log summaries. Prints
# "N passed, N failed[, N skipped]"; XFAIL counts as passed, ERROR and
# XPASS as failed. When a log is missing (the run was cut short: a build
# error, a timeout), the results of the tests that did finish are read from
# the .trs files next to it, and the run itself counts as one failure.
vbx_test_summary() {
	local pass=0 fail=0 skip=0 log p f s
	for log in "$@"; do
		if [ -r "$log" ]; then
			# Only the summary at the top: the failing tests' own
			# logs follow it and may contain anything.
			eval "$(awk '
				/^\.\. contents::/ { exit }
				/^# (PASS|XFAIL):/ { p += $3 }
				/^# (FAIL|ERROR|XPASS):/ { f += $3 }
				/^# SKIP:/ { s += $3 }
				END { printf "p=%d f=%d s=%d\n", p, f, s }' "$log")"
		else
			eval "$(find "$(dirname "$log")" -name '*.trs' \
				-exec cat {} + 2>/dev/null | awk '
				/^:test-result: (PASS|XFAIL)/ { p++ }
				/^:test-result: (FAIL|ERROR|XPASS)/ { f++ }
				/^:test-result: SKIP/ { s++ }
				END { printf "p=%d f=%d s=%d\n", p, f + 1, s }')"
		fi
		pass=$((pass + p))
		fail=$((fail + f))
		skip=$((skip + s))
	done
	if [ "$skip" -gt 0 ]; then
		echo "$pass passed, $fail failed, $skip skipped"
	else
		echo "$pass passed, $fail failed"
	fi
}
