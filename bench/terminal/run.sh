#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Terminal benchmarks (bench/README.md): throughput of `cat` of a large file
# through a vibebox.terminal.v1 WebSocket against the same command read
# straight from the Docker engine's exec stream (the limit; target at least
# 0.5x), keystroke round trip p50/p99, and vibeboxd's memory per open
# terminal session. As root, with Docker and PostgreSQL packages
# installed (scripts/install-deps.sh build test).
#
#   VIBEBOXD=build/vibeboxd bench/terminal/run.sh
#
# Environment: VBX_BUILDDIR (default: the directory of $VIBEBOXD),
# VBX_BENCH_TERM_MIB=200, VBX_BENCH_TERM_KEYS=500,
# VBX_BENCH_TERM_SESSIONS=50, VBX_BENCH_TERM_ROUNDS=3,
# VBX_BENCH_STRICT=1 (exit 1 when the throughput target is missed).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
export VBX_SRCDIR="${VBX_SRCDIR:-$(cd "$here/../.." && pwd)}"
export VIBEBOXD="$(realpath "${VIBEBOXD:-$VBX_SRCDIR/build/test/vibeboxd}")"
export VBX_BUILDDIR="${VBX_BUILDDIR:-$(dirname "$VIBEBOXD")}"
[ -x "$VIBEBOXD" ] || { echo "run.sh: no vibeboxd at $VIBEBOXD" >&2; exit 1; }
exec /usr/bin/python3 "$here/bench.py"
