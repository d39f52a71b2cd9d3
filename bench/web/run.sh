#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The web-console plugin against nginx serving the same file, in one run
# on one machine (issue 13's benchmark: at least 0.7x nginx).
#
#   bench/web/run.sh [ROOT [PATH]]
#
# ROOT is a built console (default: a Vite-like tree made here, with a
# 200 KB main bundle and its .gz and .br); PATH the file to request
# (default: the largest .js under ROOT/assets). Both servers serve ROOT:
# vibeboxd with only web-console (server.workers = 2), and nginx with
# packaging/nginx/web-console.conf (one worker, its paths and port
# replaced). Each gets `wrk -t2 -c64 -d10s -H 'Accept-Encoding: gzip'`
# (nginx-light has no brotli, so both send the same .gz bytes).
#
# Environment (besides bench/http/common.sh's VIBEBOXD, VBX_BENCH_PORT,
# VBX_SKIP_DEPS): VBX_BENCH_DURATION=10s VBX_BENCH_CONNECTIONS=64
# VBX_BENCH_THREADS=2 VBX_BENCH_STRICT=1 (exit 1 below the target).
set -euo pipefail
# shellcheck source=bench/http/common.sh
. "$(dirname "$0")/../http/common.sh"

DURATION="${VBX_BENCH_DURATION:-10s}"
CONNECTIONS="${VBX_BENCH_CONNECTIONS:-64}"
THREADS="${VBX_BENCH_THREADS:-2}"
TARGET=0.7
ROOT="${1:-}"
FILE="${2:-}"
declare -A rps=()

make_tree() {
	ROOT="$BENCH_TMP/www"
	mkdir -p "$ROOT/assets"
	echo '<!doctype html><script type="module" src="/assets/index-3f2a9c1b.js"></script>' \
		>"$ROOT/index.html"
	# about 200 KB of JavaScript that compresses like a real bundle
	for i in $(seq 1 5000); do
		echo "export function f$i(a){return a*$i+\"v$((i * 7919 % 1000))\"}"
	done >"$ROOT/assets/index-3f2a9c1b.js"
	gzip -k9 "$ROOT/assets/index-3f2a9c1b.js"
	if command -v brotli >/dev/null; then
		brotli -k "$ROOT/assets/index-3f2a9c1b.js"
	fi
}

# The plugin needs the daemon's build: bench_vibeboxd_path builds only the
# daemon, so build the plugin next to it (or take it next to $VIBEBOXD).
plugin_dir() {
	local daemon="$1" dir
	dir="$(dirname "$daemon")"
	if [ ! -f "$dir/plugins/web-console/.libs/web-console.so" ]; then
		make -C "$dir" -j"$VBX_JOBS" plugins/web-console/web-console.la >&2
	fi
	echo "$dir/plugins/web-console/.libs"
}

measure() {
	local name="$1" port="$2" out="$BENCH_TMP/wrk-$1.txt"
	local url="http://127.0.0.1:$port$FILE"
	curl -fsS -H 'Accept-Encoding: gzip' -o "$BENCH_TMP/$name.body" "$url" ||
		vbx_die "$name does not answer $url"
	wrk -t"$THREADS" -c"$CONNECTIONS" -d2s -H 'Accept-Encoding: gzip' \
		"$url" >/dev/null
	vbx_say "$name: wrk -t$THREADS -c$CONNECTIONS -d$DURATION $url"
	wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency \
		-H 'Accept-Encoding: gzip' "$url" >"$out"
	sed -n -e '/Latency/p' -e '/99%/p' -e '/requests in/p' \
		-e '/Socket errors/p' -e '/Non-2xx/p' "$out" | sed 's/^/    /' >&2
	grep -Eq 'Non-2xx|Socket errors' "$out" &&
		vbx_die "$name: wrk saw errors or non-2xx answers (above)"
	rps[$name]="$(awk '/^Requests\/sec:/ { print $2 }' "$out")"
}

run_vibeboxd() {
	local daemon plugins conf="$BENCH_TMP/vibeboxd.conf"
	daemon="$(bench_vibeboxd_path)"
	plugins="$(plugin_dir "$daemon")"
	mkdir -p "$BENCH_TMP/state"
	cat >"$conf" <<CONF
server: { listen = "127.0.0.1:$PORT_VIBEBOXD"; workers = 2; };
log: { level = "info"; access = true; };
plugin_dir = "$plugins";
state_dir = "$BENCH_TMP/state";
plugins = ( { name = "web-console"; config = { root = "$ROOT"; }; } );
CONF
	"$daemon" -t -c "$conf" >/dev/null || vbx_die "vibeboxd rejects $conf"
	"$daemon" -c "$conf" 2>/dev/null &
	BENCH_PID=$!
	bench_pids+=("$BENCH_PID")
	bench_wait_ready vibeboxd "$PORT_VIBEBOXD" "$BENCH_PID"
	measure vibeboxd "$PORT_VIBEBOXD"
	bench_stop "$BENCH_PID"
}

run_nginx() {
	local dir="$BENCH_TMP/nginx" i
	mkdir -p "$dir"
	sed -e "s|/tmp/|$dir/|g" \
		-e "s|listen 8080;|listen 127.0.0.1:$PORT_NGINX;|" \
		-e "s|root /usr/share/vibebox/www;|root $ROOT;|" \
		-e "s|worker_processes auto;|worker_processes 1;|" \
		-e "s|keepalive_timeout 65s;|keepalive_timeout 65s; keepalive_requests 1000000;|" \
		"$VBX_ROOT/packaging/nginx/web-console.conf" >"$dir/nginx.conf"
	chmod 755 "$BENCH_TMP" # nginx's worker is not root
	nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf" \
		-g 'daemon off;' &
	BENCH_PID=$!
	bench_pids+=("$BENCH_PID")
	for ((i = 0; i < 100; i++)); do
		curl -fsS -o /dev/null "http://127.0.0.1:$PORT_NGINX/healthz" \
			2>/dev/null && break
		sleep 0.1
	done
	measure nginx "$PORT_NGINX"
	bench_stop "$BENCH_PID"
}

main() {
	vbx_install_deps bench
	[ -n "$ROOT" ] || make_tree
	[ -n "$FILE" ] ||
		FILE="/$(cd "$ROOT" && find assets -name '*.js' -printf '%s %p\n' |
			sort -n | tail -n 1 | cut -d' ' -f2)"
	run_vibeboxd
	run_nginx
	cmp -s "$BENCH_TMP/vibeboxd.body" "$BENCH_TMP/nginx.body" ||
		vbx_die "the two servers sent different bytes for $FILE"
	printf '\n%s (%s bytes gzip)\n' "$FILE" \
		"$(stat -c %s "$BENCH_TMP/nginx.body")"
	printf '%-10s %14s\n' server requests/sec vibeboxd "${rps[vibeboxd]}" \
		nginx "${rps[nginx]}"
	awk -v a="${rps[vibeboxd]}" -v b="${rps[nginx]}" -v t="$TARGET" 'BEGIN {
		r = a / b
		printf "vibeboxd/nginx %6.2fx   target >= %.1fx   %s\n", r, t,
			(r >= t ? "PASS" : "FAIL")
		exit (r >= t ? 0 : 1)
	}' || [ "${VBX_BENCH_STRICT:-0}" != 1 ]
	printf '(%s cores; wrk shares them with the server measured)\n' \
		"$(nproc)"
}

main "$@"
