#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Authenticated reads with several replicas, in one run on one machine:
# GET /api/v1/projects with a JWT (the setup and the peer of
# bench/api/run.sh, which this script sources), measured with
# `wrk -t2 -c32 -d10s --latency` against each of these in turn, for
# VBX_BENCH_ROUNDS rounds whose order alternates; medians are reported.
#
#   bench/cluster/run.sh
#
#   vibeboxd-redis  one replica whose auth reads the user from the cache
#                   every replica shares (redis-cache; user_cache = 0s,
#                   principal_cache = 30s): one Redis GET per request
#   vibeboxd-local  one replica with auth's in-process user cache only
#                   (user_cache = 2s, no redis-cache), as bench/api/run.sh
#   fastify         bench/api's Fastify peer (checks the user, reused 2 s)
#   one             replica A of the three below, directly
#   nginx-1         nginx (packaging/nginx/vibebox.conf) over A alone
#   nginx-3         the same nginx config over A, B and C (round robin)
#
# A, B and C run as a deployment would: redis-cache loaded, auth's
# defaults (user_cache 2s in process, principal_cache 30s shared). All
# share one throwaway PostgreSQL cluster and one redis-server; nginx runs
# one worker. Reported: requests/sec and p99 of each, vibeboxd-redis and
# vibeboxd-local against fastify (target at least 3x), and nginx-3
# against one and against nginx-1. With VBX_BENCH_STRICT=1 a missed 3x
# target exits 1.
#
# Environment: as bench/api/run.sh (VIBEBOXD, VBX_BUILDDIR,
# VBX_BENCH_DURATION, _CONNECTIONS, _THREADS, _WARMUP, _ROUNDS, _WORKERS,
# _POOL, _PROJECTS, VBX_SKIP_DEPS); VBX_BENCH_PORT=18100 is A's port, the
# others follow it (B +1, C +2, vibeboxd-redis +3, vibeboxd-local +4,
# nginx-1 +5, nginx-3 +6, fastify +7, redis-server +8).
set -euo pipefail

CLUSTER_DIR="$(cd "$(dirname "$0")" && pwd)"
VBX_BENCH_PORT="${VBX_BENCH_PORT:-18100}"
# shellcheck source=bench/api/run.sh
. "$CLUSTER_DIR/../api/run.sh"

BASE="$PORT_VIBEBOXD"
PORT_REDIS=$((BASE + 8))
NGINX_EXAMPLE="$VBX_ROOT/packaging/nginx/vibebox.conf"
SERVERS=(vibeboxd-redis vibeboxd-local fastify one nginx-1 nginx-3)
declare -A errs=() cpu_pids=() cpu_us=()
REDIS_PID=""

cluster_cleanup() {
	api_cleanup
}
trap cluster_cleanup EXIT

# vibeboxd and the plugins, redis-cache included.
find_cluster_build() {
	if [ -z "${VIBEBOXD:-}" ]; then
		BUILDDIR="$VBX_ROOT/build/bench"
		vbx_install_deps build
		vbx_configure "$BUILDDIR"
		make -C "$BUILDDIR" -j"$VBX_JOBS" vibeboxd \
			plugins/postgres-store/postgres-store.la \
			plugins/auth/auth.la plugins/platform/platform.la \
			plugins/redis-cache/redis-cache.la
		VIBEBOXD="$BUILDDIR/vibeboxd"
	fi
	find_build
	[ -f "$BUILDDIR/plugins/redis-cache/.libs/redis-cache.so" ] ||
		vbx_die "no redis-cache.so in $BUILDDIR: is libhiredis-dev installed?"
	mkdir -p "$BENCH_TMP/plugins"
	local name
	for name in postgres-store auth platform redis-cache; do
		ln -sf "$BUILDDIR/plugins/$name/.libs/$name.so" \
			"$BENCH_TMP/plugins/$name.so"
	done
}

start_redis() {
	mkdir -p "$BENCH_TMP/redis"
	redis-server --bind 127.0.0.1 --port "$PORT_REDIS" --save '' \
		--appendonly no --dir "$BENCH_TMP/redis" \
		--logfile "$BENCH_TMP/redis/redis.log" &
	REDIS_PID=$!
	bench_pids+=("$REDIS_PID")
	local i
	for ((i = 0; i < 100; i++)); do
		[ "$(redis-cli -p "$PORT_REDIS" ping 2>/dev/null)" = PONG ] &&
			return 0
		sleep 0.1
	done
	vbx_die "redis-server did not start on 127.0.0.1:$PORT_REDIS"
}

# Start a replica NAME on PORT; CACHE 1 loads redis-cache; AUTH: extra
# keys of auth's block.
start_replica() {
	local name="$1" listen="$2" cache="$3" auth_keys="${4:-}"
	local conf="$BENCH_TMP/$name.conf" redis=""
	mkdir -p "$BENCH_TMP/state-$name"
	[ "$cache" = 0 ] || redis="{ name = \"redis-cache\"; config = {
      url = \"redis://127.0.0.1:$PORT_REDIS/0\"; }; },"
	cat >"$conf" <<EOF
server: { listen = "127.0.0.1:$listen"; ${WORKERS:+workers = $WORKERS;} };
log: { level = "info"; access = true; };
plugin_dir = "$BENCH_TMP/plugins";
state_dir = "$BENCH_TMP/state-$name";
plugins = (
  $redis
  { name = "postgres-store"; config = { conninfo = "$CONNINFO"; ${POOL:+pool = $POOL;} }; },
  { name = "auth"; config = { jwt_secret = "$SECRET"; registration = "open";
      access_ttl = "1h"; argon2_memory = "1MiB"; argon2_iterations = 1;
      $auth_keys }; },
  { name = "platform"; }
);
EOF
	"$VIBEBOXD" -t -c "$conf" >/dev/null 2>"$BENCH_TMP/$name.check" || {
		cat "$BENCH_TMP/$name.check" >&2
		vbx_die "vibeboxd rejects $conf"
	}
	"$VIBEBOXD" -c "$conf" 2>"${VBX_BENCH_LOG:-/dev/null}" &
	pid[$name]=$!
	port[$name]=$listen
	bench_pids+=("${pid[$name]}")
	bench_wait_ready "$name" "$listen" "${pid[$name]}"
}

# packaging/nginx/vibebox.conf with its upstreams on PORTS..., listening
# on LISTEN, under NAME: the example as an admin installs it.
start_nginx() {
	local name="$1" listen="$2" dir="$BENCH_TMP/$1"
	shift 2
	mkdir -p "$dir"
	awk -v ports="$*" -v listen="$listen" '
		/^[ \t]*server [0-9.]+:[0-9]+/ {
			if (!done[up]++) {
				match($0, /^[ \t]*/)
				indent = substr($0, 1, RLENGTH)
				rest = $0
				sub(/^[ \t]*server [0-9.]+:[0-9]+/, "", rest)
				n = split(ports, p, " ")
				for (i = 1; i <= n; i++)
					print indent "server 127.0.0.1:" p[i] rest
			}
			next
		}
		/^upstream / { up++ }
		/keepalive [0-9]+;/ { print; print "    keepalive_requests 1000000;"; next }
		/listen 80;/ { sub(/listen 80;/, "listen 127.0.0.1:" listen ";") }
		{ print }' "$NGINX_EXAMPLE" >"$dir/vibebox.conf"
	cat >"$dir/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  include $dir/vibebox.conf;
}
EOF
	nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" &
	pid[$name]=$!
	port[$name]=$listen
	bench_pids+=("${pid[$name]}")
	bench_wait_ready "$name" "$listen" "${pid[$name]}"
}

# nginx NAME's master and worker pids.
nginx_pids() {
	# one pid a word
	# shellcheck disable=SC2046
	echo "${pid[$1]}" $(ps -o pid= --ppid "${pid[$1]}")
}

# One measured wrk run against NAME: appends req/s and p99.
measure_one() {
	local name="$1" out="$BENCH_TMP/wrk-$1.txt"
	local url="http://127.0.0.1:${port[$name]}$PATH_LIST"
	local wrk=(wrk -t"$THREADS" -c"$CONNECTIONS"
		-H "Authorization: Bearer $TOKEN")
	[ "$WARMUP" = 0 ] || "${wrk[@]}" -d"$WARMUP" "$url" >/dev/null
	local t0
	# Word splitting of the pid list is intended.
	# shellcheck disable=SC2086
	t0="$(cpu_ticks ${cpu_pids[$name]})"
	"${wrk[@]}" -d"$DURATION" --latency "$url" >"$out"
	# shellcheck disable=SC2086
	cpu_us[$name]+="$(awk -v hz="$(getconf CLK_TCK)" \
		-v t="$(($(cpu_ticks ${cpu_pids[$name]}) - t0))" \
		-v n="$(awk '/requests in/ { print $1 }' "$out")" \
		'BEGIN { printf "%.0f", t / hz / n * 1e6 }') "
	local r
	r="$(awk '/^Requests\/sec:/ { print $2 }' "$out")"
	[ -n "$r" ] || vbx_die "$name: no Requests/sec in wrk's output"
	if grep -Eq 'Non-2xx|Socket errors' "$out"; then
		errs[$name]+="$(grep -E 'Non-2xx|Socket errors' "$out" | tr -s ' ') "
	fi
	rps[$name]+="$r "
	p99[$name]+="$(awk '$1 == "99%" { print $2 }' "$out") "
	vbx_say "$name: $r req/s"
}

run_cluster_rounds() {
	local r name order
	for ((r = 1; r <= ROUNDS; r++)); do
		order=("${SERVERS[@]}")
		if ! ((r % 2)); then
			mapfile -t order < <(printf '%s\n' "${SERVERS[@]}" | tac)
		fi
		vbx_say "round $r of $ROUNDS (load average $(cut -d' ' -f1-3 /proc/loadavg))"
		for name in "${order[@]}"; do
			measure_one "$name"
		done
	done
}

# The median over rounds of A/B measured in the same round.
ratio_of() {
	local a="$1" b="$2"
	median "$(paste -d' ' <(tr ' ' '\n' <<<"${rps[$a]}") \
		<(tr ' ' '\n' <<<"${rps[$b]}") |
		awk 'NF == 2 { printf "%.2f ", $1 / $2 }')"
}

cluster_report() {
	local s missed=0 r
	printf '\n%-15s %12s %12s %8s   %s\n' server 'requests/sec' \
		'p99 latency' 'CPU us' 'req/s per round'
	for s in "${SERVERS[@]}"; do
		printf '%-15s %12s %12s %8s   %s\n' "$s" "$(median "${rps[$s]}")" \
			"$(median_p99 "${p99[$s]}")" "$(median "${cpu_us[$s]}")" \
			"${rps[$s]}"
	done
	printf '(CPU us: per request, of the server and what it alone uses:\n'
	printf ' vibeboxd-redis with redis-server, nginx-N with nginx and its\n'
	printf ' replicas; PostgreSQL and wrk not counted)\n\n'
	printf '%-15s / fastify  %5.2fx  (CPU per request of fastify / of vibeboxd-redis)\n' \
		vibeboxd-redis "$(median "$(paste -d' ' \
			<(tr ' ' '\n' <<<"${cpu_us[fastify]}") \
			<(tr ' ' '\n' <<<"${cpu_us[vibeboxd-redis]}") |
			awk 'NF == 2 && $2 > 0 { printf "%.2f ", $1 / $2 }')")"
	echo
	for s in vibeboxd-redis vibeboxd-local; do
		r="$(ratio_of "$s" fastify)"
		printf '%-15s / fastify  %5.2fx  target >= %.1fx  %s\n' "$s" "$r" \
			"$TARGET" "$(awk -v r="$r" -v t="$TARGET" \
				'BEGIN { print (r >= t ? "PASS" : "FAIL") }')"
		awk -v r="$r" -v t="$TARGET" 'BEGIN { exit (r >= t ? 0 : 1) }' ||
			missed=1
	done
	printf '%-15s / fastify  %5.2fx  (one replica as deployed: user_cache in process, then Redis)\n' \
		one "$(ratio_of one fastify)"
	printf '%-15s / one      %5.2fx  (3 replicas through nginx / 1 directly)\n' \
		nginx-3 "$(ratio_of nginx-3 one)"
	printf '%-15s / nginx-1  %5.2fx  (3 replicas / 1, both through nginx)\n' \
		nginx-3 "$(ratio_of nginx-3 nginx-1)"
	for s in "${SERVERS[@]}"; do
		[ -z "${errs[$s]:-}" ] || echo "$s: wrk saw errors: ${errs[$s]}"
	done
	printf '(%s CPUs, load average %s: wrk, nginx, PostgreSQL, Redis and the\n' \
		"$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
	printf ' replicas share them; medians of %s rounds)\n' "$ROUNDS"
	if [ "$missed" = 1 ] && [ "${VBX_BENCH_STRICT:-0}" = 1 ]; then
		exit 1
	fi
}

cluster_main() {
	[ $# -eq 0 ] || vbx_die "usage: bench/cluster/run.sh (no arguments)"
	vbx_install_deps bench test
	find_cluster_build
	start_postgres
	start_redis
	local a=$BASE b=$((BASE + 1)) c=$((BASE + 2))
	start_replica one "$a" 1
	PORT_VIBEBOXD=$a
	setup_data
	start_replica B "$b" 1
	start_replica C "$c" 1
	start_replica vibeboxd-redis $((BASE + 3)) 1 \
		'user_cache = "0s"; principal_cache = "30s";'
	start_replica vibeboxd-local $((BASE + 4)) 0
	start_nginx nginx-1 $((BASE + 5)) "$a"
	start_nginx nginx-3 $((BASE + 6)) "$a" "$b" "$c"
	start_fastify fastify 1 $((BASE + 7))
	cpu_pids=([vibeboxd-redis]="${pid[vibeboxd-redis]} $REDIS_PID"
		[vibeboxd-local]="${pid[vibeboxd-local]}"
		[fastify]="${pid[fastify]}" [one]="${pid[one]}"
		[nginx-1]="$(nginx_pids nginx-1) ${pid[one]}"
		[nginx-3]="$(nginx_pids nginx-3) ${pid[one]} ${pid[B]} ${pid[C]}")
	local s
	check_answer one "$a" "$BENCH_TMP/one.json"
	for s in "${SERVERS[@]}"; do
		check_answer "$s" "${port[$s]}" "$BENCH_TMP/$s.json"
		cmp -s "$BENCH_TMP/one.json" "$BENCH_TMP/$s.json" ||
			vbx_die "$s answers another body than replica A"
	done
	run_cluster_rounds
	cluster_report
}

cluster_main "$@"
