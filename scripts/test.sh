#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Build vibeboxd and run its tests (unit and integration): as root on a
# fresh Debian 12, from a clone of the repository.
#
#   scripts/test.sh
#
# Installs the build and test packages, builds in build/test, runs
# `make check`, prints automake's summary and ends with
# "N passed, N failed". On a failure it prints test-suite.log (the failing
# tests' output) and exits non-zero.
#
# Environment:
#   VBX_SKIP_DEPS=1         install no Debian packages
#   VBX_BUILD_DIR=DIR       build directory (default build/test)
#   VBX_CONFIGURE_FLAGS=... extra configure arguments (--enable-sanitizers)
#   VBX_CHECK_ARGS=...      extra `make check` arguments, e.g.
#                           "TESTS='\$(UNIT_TESTS)'" (evaluated by make)
#   VBX_CHECK_JOBS=N        tests run in parallel (default 1)
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

build="${VBX_BUILD_DIR:-$VBX_ROOT/build/test}"

# The tests' Python scripts need Debian's python3-websockets: make sure
# `python3` is Debian's, not a pyenv or virtualenv one earlier in PATH.
export PYTHON="${PYTHON:-/usr/bin/python3}"
export PATH="/usr/bin:/bin:/usr/sbin:/sbin:$PATH"

main() {
	vbx_install_deps build test
	vbx_configure "$build"
	vbx_say "building in $build"
	make -C "$build" -j"$VBX_JOBS"
	# The runtime tests need a Docker engine and their image; as root
	# they are a requirement (tests fail instead of skipping without).
	if [ "$(id -u)" = 0 ]; then
		"$VBX_ROOT/tests/docker/docker.sh" start
		export VBX_REQUIRE_SERVICES=1
	fi

	local log="$build/test-suite.log" rc=0
	rm -f "$log"
	vbx_say "make check ${VBX_CHECK_ARGS:-}"
	# VBX_CHECK_ARGS holds make arguments, split on purpose.
	# shellcheck disable=SC2086
	eval make -C "\"$build\"" -j"${VBX_CHECK_JOBS:-1}" check \
		"${VBX_CHECK_ARGS:-}" || rc=$?
	if [ "$rc" -ne 0 ] && [ -r "$log" ] && [ "${VBX_QUIET_LOG:-0}" != 1 ]
	then
		vbx_say "$log"
		cat "$log"
	fi
	vbx_test_summary "$log"
	return "$rc"
}

main "$@"
