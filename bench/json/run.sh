#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Build and run the JSON printer micro-benchmark (bench_json.c) with -O2.
#
#   bench/json/run.sh [ROUNDS]            BUILD=dir names the configured
#                                         build with vbx_build.h (./build)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-$src/build}
[ -f "$build/vbx_build.h" ] || build=$src
[ -f "$build/vbx_build.h" ] || { echo "run ./configure first (no vbx_build.h in $build)" >&2; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# shellcheck disable=SC2046
${CC:-gcc} -std=gnu11 -O2 -Wall -Wextra -I"$build" -I"$src/include" \
	-I"$src/core" $(pkg-config --cflags libcjson) -o "$out/bench_json" \
	"$src/bench/json/bench_json.c" "$src/core/jsonout.c" \
	$(pkg-config --libs libcjson) -lm
"$out/bench_json" "$@"
