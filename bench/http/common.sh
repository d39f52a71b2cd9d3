# SPDX-License-Identifier: Apache-2.0
# bench/http/common.sh - start and stop the servers the HTTP benchmarks
# compare. Sourced by run.sh and rss.sh. Every server listens on 127.0.0.1
# only, writes its files under one temporary directory, and is stopped when
# the calling script exits.
#
# Environment:
#   VIBEBOXD=PATH           the vibeboxd to measure; default: build one
#                           (optimised, no sanitizers) in build/bench
#   VBX_BENCH_PORT=18080    vibeboxd's port; nginx uses +1, Fastify +2
#   VBX_SKIP_DEPS=1         install no Debian or npm packages

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib.sh
. "$BENCH_DIR/../../scripts/lib.sh"

PORT_VIBEBOXD="${VBX_BENCH_PORT:-18080}"
PORT_NGINX=$((PORT_VIBEBOXD + 1))
PORT_FASTIFY=$((PORT_VIBEBOXD + 2))

BENCH_TMP="$(mktemp -d /tmp/vbx-bench.XXXXXX)"
bench_pids=()

bench_cleanup() {
	local pid
	for pid in "${bench_pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${bench_pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	bench_pids=()
	rm -rf "$BENCH_TMP"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# Stop the server with PID (started by one of the functions below).
bench_stop() {
	local pid="$1" keep=() p
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	for p in "${bench_pids[@]}"; do
		[ "$p" = "$pid" ] || keep+=("$p")
	done
	bench_pids=("${keep[@]}")
}

# Wait until http://127.0.0.1:PORT/health/live answers 200 while PID lives.
bench_wait_ready() {
	local name="$1" port="$2" pid="$3" i
	for ((i = 0; i < 100; i++)); do
		if curl -fsS -o /dev/null "http://127.0.0.1:$port/health/live" \
			2>/dev/null; then
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || vbx_die "$name exited at start-up"
		sleep 0.1
	done
	vbx_die "$name did not answer on 127.0.0.1:$port within 10 s"
}

# The vibeboxd binary: $VIBEBOXD, or one built in build/bench.
bench_vibeboxd_path() {
	if [ -n "${VIBEBOXD:-}" ]; then
		[ -x "$VIBEBOXD" ] || vbx_die "VIBEBOXD=$VIBEBOXD is not executable"
		echo "$VIBEBOXD"
		return 0
	fi
	local build="$VBX_ROOT/build/bench"
	vbx_install_deps build >&2
	vbx_configure "$build" >&2
	make -C "$build" -j"$VBX_JOBS" vibeboxd >&2
	echo "$build/vibeboxd"
}

# Start vibeboxd with no plugins; extra config lines (`server.workers`)
# come from $1. Its stderr, the log with one access line per request, goes
# to /dev/null: the log is on, as by default, but not measured on a
# terminal. Sets BENCH_PID.
bench_start_vibeboxd() {
	local daemon="$1" server_extra="${2:-}" conf="$BENCH_TMP/vibeboxd.conf"
	mkdir -p "$BENCH_TMP/plugins" "$BENCH_TMP/state"
	cat >"$conf" <<EOF
server: {
  listen = "127.0.0.1:$PORT_VIBEBOXD";
  $server_extra
};
log: { level = "info"; access = true; };
plugin_dir = "$BENCH_TMP/plugins";
state_dir = "$BENCH_TMP/state";
plugins = ( );
EOF
	# -t prints the config's errors, which the run itself would hide.
	"$daemon" -t -c "$conf" >/dev/null || vbx_die "vibeboxd rejects $conf"
	"$daemon" -c "$conf" 2>/dev/null &
	BENCH_PID=$!
	bench_pids+=("$BENCH_PID")
	bench_wait_ready vibeboxd "$PORT_VIBEBOXD" "$BENCH_PID"
}

# Start nginx (Debian's nginx-light) in the foreground with one worker and
# a config, pid file and logs of its own. Sets BENCH_PID (the master).
bench_start_nginx() {
	local dir="$BENCH_TMP/nginx"
	mkdir -p "$dir"
	cat >"$dir/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
  access_log /dev/null;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  # nginx closes a keep-alive connection after 1000 requests by default;
  # vibeboxd and Node do not, so neither does nginx here.
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$PORT_NGINX;
    location = /health/live {
      default_type application/json;
      return 200 '{"status":"ok"}';
    }
  }
}
EOF
	nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf" &
	BENCH_PID=$!
	bench_pids+=("$BENCH_PID")
	bench_wait_ready nginx "$PORT_NGINX" "$BENCH_PID"
}

# Start the Fastify 4 peer (bench/http/fastify), installing its npm
# packages on first use. Sets BENCH_PID.
bench_start_fastify() {
	local dir="$BENCH_DIR/fastify"
	if [ ! -d "$dir/node_modules/fastify" ]; then
		[ "${VBX_SKIP_DEPS:-0}" != 1 ] ||
			vbx_die "$dir/node_modules is missing: run 'npm ci' there"
		vbx_say "installing Fastify (npm ci in $dir)"
		(cd "$dir" && npm ci --omit=dev --no-audit --no-fund >&2)
	fi
	PORT="$PORT_FASTIFY" NODE_ENV=production node "$dir/server.js" &
	BENCH_PID=$!
	bench_pids+=("$BENCH_PID")
	bench_wait_ready fastify "$PORT_FASTIFY" "$BENCH_PID"
}

# Resident memory of PID in kB (VmRSS in /proc/PID/status).
bench_rss_kb() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}
