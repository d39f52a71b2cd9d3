#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# What metrics and tracing cost, in one run on one machine: requests/sec
# of GET /health/live and of the authenticated GET /api/v1/projects (the
# setup of bench/api/run.sh, which this script sources) against four
# vibeboxd that differ only in what observes them, measured with
# `wrk -t2 -c32 -d10s --latency` in turns whose order alternates, for
# VBX_BENCH_ROUNDS rounds; medians are reported.
#
#   bench/observability/run.sh
#
#   plain        postgres-store, auth, platform (no metrics, no tracing)
#   metrics      plain + the metrics plugin on its own loopback listener,
#                as the shipped config enables it
#   trace-0.01   plain + tracing, sample = 0.01 (the shipped example)
#   trace-1      plain + tracing, sample = 1.0: every request exported
#   trace-down   plain + tracing, sample = 0.01, its collector down (a
#                closed port): what an outage of the collector costs
#
# The tracing servers export to an OTLP/HTTP sink (nginx answering 200 to
# every POST /v1/traces, so that the sink costs little CPU). Targets, per
# path, as the median of per-round ratios: metrics, trace-0.01 and
# trace-down each within 3% of plain; trace-1 is reported. Then the scrape: a
# fifth vibeboxd with the metrics plugin and the seriesbench test plugin
# (10,000 series) is scraped VBX_BENCH_SCRAPES times; the median and the
# slowest scrape time and the size are reported.
#
# Environment: as bench/api/run.sh (VIBEBOXD, VBX_BUILDDIR,
# VBX_BENCH_DURATION, _CONNECTIONS, _THREADS, _WARMUP, _ROUNDS, _WORKERS,
# _POOL, _PROJECTS, VBX_SKIP_DEPS); VBX_BENCH_PORT=18130 is plain's port,
# the others follow it (metrics +1, trace-0.01 +2, trace-1 +3, scrape +4,
# trace-down +5, the metrics listeners +10 and +14, the OTLP sink +20,
# the closed port +21);
# VBX_BENCH_SCRAPES=50, VBX_BENCH_SERIES=10000. VBX_BENCH_STRICT=1 exits
# 1 when a target is missed.
set -euo pipefail

OBS_DIR="$(cd "$(dirname "$0")" && pwd)"
VBX_BENCH_PORT="${VBX_BENCH_PORT:-18130}"
# shellcheck source=bench/api/run.sh
. "$OBS_DIR/../api/run.sh"

BASE="$PORT_VIBEBOXD"
PORT_SINK=$((BASE + 20))
SERVERS=(plain metrics trace-0.01 trace-1 trace-down)
PATHS=(/health/live /api/v1/projects)
SCRAPES="${VBX_BENCH_SCRAPES:-50}"
SERIES="${VBX_BENCH_SERIES:-10000}"
LIMIT=0.03
declare -A result=()

obs_cleanup() {
	api_cleanup
}
trap obs_cleanup EXIT

# vibeboxd with the plugins measured, and seriesbench from the tests.
find_obs_build() {
	local name targets=(vibeboxd plugins/metrics/metrics.la
		plugins/tracing/tracing.la tests/plugins/seriesbench.la)
	if [ -z "${VIBEBOXD:-}" ]; then
		BUILDDIR="$VBX_ROOT/build/bench"
		vbx_install_deps build
		vbx_configure "$BUILDDIR"
		make -C "$BUILDDIR" -j"$VBX_JOBS" "${targets[@]}" \
			plugins/postgres-store/postgres-store.la \
			plugins/auth/auth.la plugins/platform/platform.la
		VIBEBOXD="$BUILDDIR/vibeboxd"
	fi
	find_build
	mkdir -p "$BENCH_TMP/plugins"
	for name in postgres-store auth platform metrics tracing; do
		[ -f "$BUILDDIR/plugins/$name/.libs/$name.so" ] ||
			vbx_die "no $name.so in $BUILDDIR/plugins/$name/.libs"
		ln -sf "$BUILDDIR/plugins/$name/.libs/$name.so" \
			"$BENCH_TMP/plugins/$name.so"
	done
	[ -f "$BUILDDIR/tests/plugins/.libs/seriesbench.so" ] ||
		make -C "$BUILDDIR" tests/plugins/seriesbench.la >&2
	ln -sf "$BUILDDIR/tests/plugins/.libs/seriesbench.so" \
		"$BENCH_TMP/plugins/seriesbench.so"
}

# nginx on PORT_SINK answering 200 to every POST: a collector that
# accepts everything and costs next to nothing.
start_sink() {
	local dir="$BENCH_TMP/sink"
	mkdir -p "$dir"
	cat >"$dir/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $dir/body;
  client_max_body_size 64m;
  server {
    listen 127.0.0.1:$PORT_SINK;
    location / { return 200 '{}'; }
  }
}
EOF
	nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" &
	bench_pids+=($!)
}

# Start NAME on PORT with the extra plugin blocks EXTRA.
start_observed() {
	local name="$1" listen="$2" extra="$3" conf="$BENCH_TMP/$1.conf"
	mkdir -p "$BENCH_TMP/state-$name"
	cat >"$conf" <<EOF
server: { listen = "127.0.0.1:$listen"; ${WORKERS:+workers = $WORKERS;} };
log: { level = "info"; access = true; };
plugin_dir = "$BENCH_TMP/plugins";
state_dir = "$BENCH_TMP/state-$name";
plugins = (
  $extra
  { name = "postgres-store"; config = { conninfo = "$CONNINFO"; ${POOL:+pool = $POOL;} }; },
  { name = "auth"; config = { jwt_secret = "$SECRET"; registration = "open";
      access_ttl = "1h"; argon2_memory = "1MiB"; argon2_iterations = 1; }; },
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

# A tracing block at SAMPLE exporting to PORT.
tracing_block() {
	echo "{ name = \"tracing\"; config = {
      endpoint = \"http://127.0.0.1:$2\"; sample = $1; }; },"
}

start_all() {
	start_observed plain "$BASE" ""
	PORT_VIBEBOXD=$BASE
	setup_data
	start_observed metrics $((BASE + 1)) "{ name = \"metrics\"; config = {
      listen = \"127.0.0.1:$((BASE + 10))\"; }; },"
	start_observed trace-0.01 $((BASE + 2)) "$(tracing_block 0.01 "$PORT_SINK")"
	start_observed trace-1 $((BASE + 3)) "$(tracing_block 1.0 "$PORT_SINK")"
	start_observed trace-down $((BASE + 5)) \
		"$(tracing_block 0.01 $((PORT_SINK + 1)))"
}

# One measured wrk run of PATH against NAME: appends req/s, p99 and the
# server's CPU microseconds per request to result[NAME PATH rps|p99|cpu].
measure_path() {
	local name="$1" path="$2" out="$BENCH_TMP/wrk.txt" r t0
	local url="http://127.0.0.1:${port[$name]}$path"
	local wrk=(wrk -t"$THREADS" -c"$CONNECTIONS"
		-H "Authorization: Bearer $TOKEN")
	[ "$WARMUP" = 0 ] || "${wrk[@]}" -d"$WARMUP" "$url" >/dev/null
	t0="$(cpu_ticks "${pid[$name]}")"
	"${wrk[@]}" -d"$DURATION" --latency "$url" >"$out"
	result["$name $path cpu"]+="$(awk -v hz="$(getconf CLK_TCK)" \
		-v t="$(($(cpu_ticks "${pid[$name]}") - t0))" \
		-v n="$(awk '/requests in/ { print $1 }' "$out")" \
		'BEGIN { printf "%.1f", t / hz / n * 1e6 }') "
	if grep -Eq 'Non-2xx|Socket errors' "$out"; then
		vbx_die "$name $path: wrk saw errors: $(grep -E 'Non-2xx|Socket errors' "$out")"
	fi
	r="$(awk '/^Requests\/sec:/ { print $2 }' "$out")"
	[ -n "$r" ] || vbx_die "$name $path: no Requests/sec in wrk's output"
	result["$name $path rps"]+="$r "
	result["$name $path p99"]+="$(awk '$1 == "99%" { print $2 }' "$out") "
}

run_obs_rounds() {
	local r name path order
	for ((r = 1; r <= ROUNDS; r++)); do
		order=("${SERVERS[@]}")
		if ! ((r % 2)); then
			mapfile -t order < <(printf '%s\n' "${SERVERS[@]}" | tac)
		fi
		vbx_say "round $r of $ROUNDS (load average $(cut -d' ' -f1-3 /proc/loadavg))"
		for path in "${PATHS[@]}"; do
			for name in "${order[@]}"; do
				measure_path "$name" "$path"
			done
		done
	done
}

# The median over rounds of A/B on PATH (of KIND: rps, the default, or
# cpu), measured in the same round.
obs_ratio() {
	local kind="${4:-rps}"
	median "$(paste -d' ' <(tr ' ' '\n' <<<"${result["$1 $3 $kind"]}") \
		<(tr ' ' '\n' <<<"${result["$2 $3 $kind"]}") |
		awk 'NF == 2 && $2 > 0 { printf "%.4f ", $1 / $2 }')"
}

# Scrape a vibeboxd holding SERIES series SCRAPES times; prints the
# median and slowest scrape in ms and the size of one.
measure_scrape() {
	local listen=$((BASE + 14)) url times
	start_observed scrape $((BASE + 4)) "{ name = \"metrics\"; config = {
      listen = \"127.0.0.1:$listen\"; }; },
  { name = \"seriesbench\"; config = { series = $SERIES; }; },"
	url="http://127.0.0.1:$listen/metrics"
	curl -fsS -o "$BENCH_TMP/scrape.txt" "$url" ||
		vbx_die "scrape: GET $url failed"
	local have
	have="$(grep -c '^vibebox_seriesbench_' "$BENCH_TMP/scrape.txt")"
	[ "$have" -ge "$SERIES" ] ||
		vbx_die "scrape: $have seriesbench series, not $SERIES"
	times="$(for ((i = 0; i < SCRAPES; i++)); do
		curl -fsS -o /dev/null -w '%{time_total}\n' "$url"
	done)"
	printf 'scrape of %s series (%s lines, %s bytes): median %.2f ms, slowest %.2f ms over %s scrapes\n' \
		"$have" "$(wc -l <"$BENCH_TMP/scrape.txt")" \
		"$(wc -c <"$BENCH_TMP/scrape.txt")" \
		"$(median "$times" | awk '{ print $1 * 1000 }')" \
		"$(sort -g <<<"$times" | tail -1 | awk '{ print $1 * 1000 }')" \
		"$SCRAPES"
}

obs_report() {
	local s path r missed=0 verdict
	printf '\n%-12s %-18s %12s %12s %8s   %s\n' server path \
		'requests/sec' 'p99 latency' 'CPU us' 'req/s per round'
	for path in "${PATHS[@]}"; do
		for s in "${SERVERS[@]}"; do
			printf '%-12s %-18s %12s %12s %8s   %s\n' "$s" "$path" \
				"$(median "${result["$s $path rps"]}")" \
				"$(median_p99 "${result["$s $path p99"]}")" \
				"$(median "${result["$s $path cpu"]}")" \
				"${result["$s $path rps"]}"
		done
	done
	echo "(CPU us: the server's CPU time per request; wrk, PostgreSQL and the sink not counted)"
	echo
	for path in "${PATHS[@]}"; do
		for s in metrics trace-0.01 trace-down trace-1; do
			r="$(obs_ratio "$s" plain "$path")"
			verdict="(reported)"
			if [ "$s" != trace-1 ]; then
				verdict="$(awk -v r="$r" -v l="$LIMIT" 'BEGIN {
					d = r < 1 ? 1 - r : r - 1
					print (d < l ? "PASS" : "FAIL") }')"
				[ "$verdict" = PASS ] || missed=1
				verdict="target within 3%  $verdict"
			fi
			printf '%-11s / plain  %-18s %6.3fx  %s  (CPU per request %.3fx)\n' \
				"$s" "$path" "$r" "$verdict" \
				"$(obs_ratio "$s" plain "$path" cpu)"
		done
	done
	printf '(%s CPUs, load average %s; wrk, PostgreSQL and the sink share them; medians of %s rounds)\n\n' \
		"$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$ROUNDS"
	return "$missed"
}

obs_main() {
	local missed=0
	[ $# -eq 0 ] || vbx_die "usage: bench/observability/run.sh (no arguments)"
	vbx_install_deps bench test
	find_obs_build
	start_postgres
	start_sink
	start_all
	run_obs_rounds
	obs_report || missed=1
	measure_scrape
	if [ "$missed" = 1 ] && [ "${VBX_BENCH_STRICT:-0}" = 1 ]; then
		exit 1
	fi
}

obs_main "$@"
