#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Resident memory of an idle vibeboxd with no plugins, against the 8 MiB
# target, and nginx's (master + one worker) for reference.
#
#   bench/http/rss.sh
#
# Starts each server on loopback, waits until it answers /health/live,
# then 1 s more, and reads VmRSS from /proc/PID/status. vibeboxd runs with
# the shipped defaults (server.workers = 8) and plugins = ( ). Exits 0 when
# measured; with VBX_BENCH_STRICT=1 a missed target exits 1.
#
# Environment: as common.sh (VIBEBOXD, VBX_BENCH_PORT, VBX_SKIP_DEPS);
#   VBX_RSS_TARGET_KB=8192
set -euo pipefail
# shellcheck source=bench/http/common.sh
. "$(dirname "$0")/common.sh"

TARGET_KB="${VBX_RSS_TARGET_KB:-8192}"

# The sum of VmRSS over PID and its children, in kB.
tree_rss_kb() {
	local pid="$1" total child
	total="$(bench_rss_kb "$pid")"
	for child in $(pgrep -P "$pid"); do
		total=$((total + $(bench_rss_kb "$child")))
	done
	echo "$total"
}

main() {
	vbx_install_deps bench
	local daemon vbx_kb nginx_kb verdict=PASS
	daemon="$(bench_vibeboxd_path)"

	bench_start_vibeboxd "$daemon"
	sleep 1
	vbx_kb="$(bench_rss_kb "$BENCH_PID")"
	bench_stop "$BENCH_PID"

	bench_start_nginx
	sleep 1
	nginx_kb="$(tree_rss_kb "$BENCH_PID")"
	bench_stop "$BENCH_PID"

	[ "$vbx_kb" -le "$TARGET_KB" ] || verdict=FAIL
	printf 'vibeboxd VmRSS %6d kB (%.1f MiB)   target <= %d kB   %s\n' \
		"$vbx_kb" "$(bc_mib "$vbx_kb")" "$TARGET_KB" "$verdict"
	printf 'nginx    VmRSS %6d kB (%.1f MiB)   master + 1 worker, reference\n' \
		"$nginx_kb" "$(bc_mib "$nginx_kb")"
	if [ "$verdict" = FAIL ] && [ "${VBX_BENCH_STRICT:-0}" = 1 ]; then
		exit 1
	fi
}

bc_mib() {
	awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'
}

main "$@"
