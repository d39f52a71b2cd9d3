#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# HTTP throughput of vibeboxd against its peers, in one run on one machine:
# GET /health/live ({"status":"ok"}) on loopback, measured with
# `wrk -t2 -c64 -d10s` against each server in turn.
#
#   bench/http/run.sh [vibeboxd] [nginx] [fastify]    (default: all three)
#
#   vibeboxd  no plugins, server.workers = 2, access log on (to /dev/null)
#   nginx     Debian's nginx-light, one worker, access_log /dev/null,
#             `return 200` from the config
#   fastify   Fastify 4 on Node.js, logger off, a response schema
#
# Prints requests/sec for each, then vibeboxd/nginx and vibeboxd/fastify
# against the targets (at least 0.7x nginx, at least 2x Fastify). Exits 0
# when every server was measured; with VBX_BENCH_STRICT=1 a missed target
# exits 1 too.
#
# Environment (besides common.sh's VIBEBOXD, VBX_BENCH_PORT, VBX_SKIP_DEPS):
#   VBX_BENCH_DURATION=10s  VBX_BENCH_CONNECTIONS=64  VBX_BENCH_THREADS=2
#   VBX_BENCH_WARMUP=2s     a first, unmeasured run (Node's JIT warms up)
set -euo pipefail
# shellcheck source=bench/http/common.sh
. "$(dirname "$0")/common.sh"

DURATION="${VBX_BENCH_DURATION:-10s}"
CONNECTIONS="${VBX_BENCH_CONNECTIONS:-64}"
THREADS="${VBX_BENCH_THREADS:-2}"
WARMUP="${VBX_BENCH_WARMUP:-2s}"
TARGET_NGINX=0.7
TARGET_FASTIFY=2.0

declare -A rps=()

# wrk against PORT; stores requests/sec in rps[NAME]. Errors and non-2xx
# answers void the measurement: a fast 503 is not a result.
measure() {
	local name="$1" port="$2" out="$BENCH_TMP/wrk-$1.txt"
	local url="http://127.0.0.1:$port/health/live"
	local body
	body="$(curl -fsS "$url")"
	[ "$(tr -d ' \n' <<<"$body")" = '{"status":"ok"}' ] ||
		vbx_die "$name answers $url with '$body', not {\"status\":\"ok\"}"
	if [ "$WARMUP" != 0 ]; then
		wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" "$url" >/dev/null
	fi
	vbx_say "$name: wrk -t$THREADS -c$CONNECTIONS -d$DURATION $url"
	wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$url" >"$out"
	sed -n -e '/Latency/p' -e '/99%/p' -e '/requests in/p' \
		-e '/Socket errors/p' -e '/Non-2xx/p' "$out" | sed 's/^/    /' >&2
	if grep -Eq 'Non-2xx|Socket errors' "$out"; then
		vbx_die "$name: wrk saw errors or non-2xx answers (above)"
	fi
	rps[$name]="$(awk '/^Requests\/sec:/ { print $2 }' "$out")"
	[ -n "${rps[$name]}" ] || vbx_die "$name: no Requests/sec in wrk's output"
}

run_vibeboxd() {
	local daemon
	daemon="$(bench_vibeboxd_path)"
	bench_start_vibeboxd "$daemon" "workers = 2;"
	measure vibeboxd "$PORT_VIBEBOXD"
	bench_stop "$BENCH_PID"
}

run_nginx() {
	bench_start_nginx
	measure nginx "$PORT_NGINX"
	bench_stop "$BENCH_PID"
}

run_fastify() {
	bench_start_fastify
	measure fastify "$PORT_FASTIFY"
	bench_stop "$BENCH_PID"
}

# Print vibeboxd/PEER against TARGET; returns 1 when the target is missed.
ratio() {
	local peer="$1" target="$2"
	[ -n "${rps[vibeboxd]:-}" ] && [ -n "${rps[$peer]:-}" ] || return 0
	awk -v a="${rps[vibeboxd]}" -v b="${rps[$peer]}" -v t="$target" \
		-v p="$peer" 'BEGIN {
			r = a / b
			printf "vibeboxd/%-8s %6.2fx   target >= %.1fx   %s\n",
				p, r, t, (r >= t ? "PASS" : "FAIL")
			exit (r >= t ? 0 : 1)
		}'
}

main() {
	local servers=("$@") s missed=0
	[ ${#servers[@]} -gt 0 ] || servers=(vibeboxd nginx fastify)
	for s in "${servers[@]}"; do
		case "$s" in
		vibeboxd | nginx | fastify) ;;
		*) vbx_die "unknown server '$s' (vibeboxd, nginx or fastify)" ;;
		esac
	done
	vbx_install_deps bench
	for s in "${servers[@]}"; do
		"run_$s"
	done

	printf '\n%-10s %14s\n' server requests/sec
	for s in "${servers[@]}"; do
		printf '%-10s %14s\n' "$s" "${rps[$s]}"
	done
	echo
	ratio nginx "$TARGET_NGINX" || missed=1
	ratio fastify "$TARGET_FASTIFY" || missed=1
	printf '(%s cores; wrk shares them with the server measured)\n' \
		"$(nproc)"
	if [ "$missed" = 1 ] && [ "${VBX_BENCH_STRICT:-0}" = 1 ]; then
		exit 1
	fi
}

main "$@"
