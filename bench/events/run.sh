#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The event bridge's cost (bench/events/README.md): events per second from
# a publish on replica A to their delivery to an /api/v1/events client of
# replica C through a real redis-server, and the latency percentiles,
# against the same events delivered to a client of A itself (no bridge).
# As root, with PostgreSQL and redis-server installed
# (scripts/install-deps.sh build test) and a build with redis-cache.
#
#   VIBEBOXD=build/vibeboxd bench/events/run.sh
#
# Environment: VBX_BUILDDIR (default: the directory of $VIBEBOXD),
# VBX_BENCH_EVENTS=20000 (the burst), VBX_BENCH_EVENTS_PACED=2000 and
# VBX_BENCH_EVENTS_GAP_US=500 (the paced run for latency).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
export VBX_SRCDIR="${VBX_SRCDIR:-$(cd "$here/../.." && pwd)}"
export VIBEBOXD="$(realpath "${VIBEBOXD:-$VBX_SRCDIR/build/vibeboxd}")"
export VBX_BUILDDIR="${VBX_BUILDDIR:-$(dirname "$VIBEBOXD")}"
export VBX_TEST_PLUGIN_DIR="${VBX_TEST_PLUGIN_DIR:-$VBX_BUILDDIR/tests/plugins/.libs}"
[ -x "$VIBEBOXD" ] || { echo "run.sh: no vibeboxd at $VIBEBOXD" >&2; exit 1; }
[ -f "$VBX_TEST_PLUGIN_DIR/eventbench.so" ] || make -C "$VBX_BUILDDIR" \
	tests/plugins/eventbench.la >/dev/null
exec /usr/bin/python3 "$here/bench.py"
