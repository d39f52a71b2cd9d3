#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# What vibeboxd's memory does under bursts, and whether it comes back:
# vibeboxd runs the shipped config (etc/vibeboxd.conf.in: postgres-store
# with its embedded PostgreSQL cluster, auth with the default Argon2id
# parameters; docker-runtime left out, as it needs a Docker engine and
# holds no memory of a login or an idle WebSocket), on 127.0.0.1, and for
# each daemon measured (bench/memory/conf.py writes its config):
#
#   idle          VmRSS after start-up and one registration, 5 s quiet
#   logins        the peak (VmHWM) during VBX_BENCH_LOGINS (64) logins at
#                 once, each on its own connection
#   WebSockets    the peak while VBX_BENCH_WS (20000, capped by the open
#                 files limit) idle WebSockets to /api/v1/events are open
#   after 30 s    VmRSS 30 s after each burst ended, and the second at which
#                 it first went under the target
#
# Target: back under 2x idle within 30 s. Daemons measured, one after the
# other on a fresh state directory each:
#
#   vibeboxd      the build measured
#   trims-off     the same with VBX_MEMTRIM=0 (no arena cap, no trims)
#   before        VBX_BENCH_BEFORE=/path/to/vibeboxd of another build (its
#                 plugins in plugins/NAME/.libs next to it), e.g. main's
#
#   bench/memory/run.sh
#   VIBEBOXD=build/vibeboxd VBX_BENCH_BEFORE=/tmp/main/build/vibeboxd \
#       bench/memory/run.sh
#
# Environment (besides http/common.sh's VIBEBOXD and VBX_SKIP_DEPS):
#   VBX_BUILDDIR          where the plugins are built; default: the
#                         directory of $VIBEBOXD
#   VBX_BENCH_LOGINS=64   VBX_BENCH_WS=20000   VBX_BENCH_AFTER=30 (seconds)
#   VBX_BENCH_RUNS="vibeboxd trims-off before"   which daemons, in order
#   VBX_BENCH_PORT=18100  VBX_BENCH_STRICT=1: exit 1 when vibeboxd misses
set -euo pipefail

MEM_DIR="$(cd "$(dirname "$0")" && pwd)"
VBX_BENCH_PORT="${VBX_BENCH_PORT:-18100}"
# shellcheck source=bench/http/common.sh
. "$MEM_DIR/../http/common.sh"

LOGINS="${VBX_BENCH_LOGINS:-64}"
WS="${VBX_BENCH_WS:-20000}"
AFTER="${VBX_BENCH_AFTER:-30}"
RUNS="${VBX_BENCH_RUNS:-vibeboxd trims-off before}"
EMAIL="bench@memory.test"
PASSWORD="correct horse battery"
CLIENT=(python3 "$MEM_DIR/client.py")
declare -A result=()
PID=""

# The open files limit: as high as it goes; the WebSockets fit under it.
raise_fd_limit() {
	ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
	local room=$(($(ulimit -n) - 200))
	if [ "$WS" -gt "$room" ]; then
		vbx_say "open files limit $(ulimit -n): $room WebSockets, not" \
			"$WS (raise the hard limit, as root: ulimit -Hn 65536)"
		WS=$room
	fi
}

# VmRSS or VmHWM of PID in KiB.
status_kb() {
	awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"
}

# Forget the peak so far: VmHWM restarts from VmRSS.
reset_peak() {
	echo 5 >"/proc/$1/clear_refs"
}

# The shipped config, with this run's port, directories and key files,
# without docker-runtime's entry (conf.py); DIR/plugins.list names the
# plugins it enables.
write_conf() {
	local dir="$1" plugins="$2"
	openssl rand -hex 32 >"$dir/secrets.key"
	printf 'k1:%s\n' "$(openssl rand -hex 32)" >"$dir/jwt.key"
	chmod 600 "$dir/secrets.key" "$dir/jwt.key"
	python3 "$MEM_DIR/conf.py" "$VBX_ROOT/etc/vibeboxd.conf.in" "$dir" \
		"$plugins" "$PORT_VIBEBOXD" >"$dir/vibeboxd.conf"
}

# Start DAEMON (plugins from BUILDDIR) with ENV...; sets PID.
start_daemon() {
	local name="$1" daemon="$2" builddir="$3" dir="$BENCH_TMP/$1" p i
	shift 3
	mkdir -p "$dir/plugins" "$dir/state"
	chmod 711 "$BENCH_TMP" "$dir" "$dir/state" # the embedded cluster's user
	write_conf "$dir" "$dir/plugins"
	while read -r p; do
		[ -f "$builddir/plugins/$p/.libs/$p.so" ] ||
			vbx_die "no $builddir/plugins/$p/.libs/$p.so: build it"
		ln -sf "$builddir/plugins/$p/.libs/$p.so" "$dir/plugins/$p.so"
	done <"$dir/plugins.list"
	"$daemon" -t -c "$dir/vibeboxd.conf" >"$dir/check.out" 2>&1 ||
		{ cat "$dir/check.out" >&2; vbx_die "$name rejects its config"; }
	grep -E '^  (server|plugins)\.' "$dir/check.out" | sed "s/^/  $name: /" >&2 || true
	env "$@" "$daemon" -c "$dir/vibeboxd.conf" 2>"$dir/log" &
	PID=$!
	bench_pids+=("$PID")
	for ((i = 0; i < 1200; i++)); do
		curl -fsS -o /dev/null \
			"http://127.0.0.1:$PORT_VIBEBOXD/health/ready" 2>/dev/null &&
			return 0
		kill -0 "$PID" 2>/dev/null ||
			{ tail -5 "$dir/log" >&2; vbx_die "$name exited"; }
		sleep 0.1
	done
	vbx_die "$name: not ready within 120 s (log: $dir/log)"
}

# Register the user; prints its access token.
register() {
	curl -fsS -X POST -H 'Content-Type: application/json' \
		--data "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\",\"name\":\"Bench\"}" \
		"http://127.0.0.1:$PORT_VIBEBOXD/api/v1/auth/register" |
		jq -r .tokens.accessToken
}

# After a burst: VmRSS each second for AFTER seconds; prints
# "RSS_AT_END FIRST_SECOND_UNDER_TARGET" (- when never).
settle() {
	local idle="$1" s rss under=-
	for ((s = 1; s <= AFTER; s++)); do
		sleep 1
		rss="$(status_kb "$PID" VmRSS)"
		if [ "$under" = - ] && [ "$rss" -lt $((2 * idle)) ]; then
			under=$s
		fi
	done
	echo "$rss $under"
}

# WS WebSockets from two client processes (an open files limit each),
# held open until their stdin closes; WS_OPEN_KB is VmRSS with all open.
websockets() {
	local token="$1" half=$((WS / 2)) io="$BENCH_TMP/ws" pids=() i
	mkfifo "$io.in1" "$io.in2"
	"${CLIENT[@]}" ws "$PORT_VIBEBOXD" "$token" "$half" \
		<"$io.in1" >"$io.out1" &
	pids+=($!)
	"${CLIENT[@]}" ws "$PORT_VIBEBOXD" "$token" $((WS - half)) \
		<"$io.in2" >"$io.out2" &
	pids+=($!)
	exec 7>"$io.in1" 8>"$io.in2"
	for ((i = 0; i < 2400; i++)); do
		[ "$(cat "$io.out1" "$io.out2" | grep -c '^open')" = 2 ] && break
		kill -0 "${pids[@]}" 2>/dev/null ||
			vbx_die "a WebSocket client failed (above)"
		sleep 0.5
	done
	[ "$(cat "$io.out1" "$io.out2" | grep -c '^open')" = 2 ] ||
		vbx_die "the WebSockets did not all open within 20 minutes"
	sleep 2
	WS_OPEN_KB="$(status_kb "$PID" VmRSS)"
	vbx_say "$WS WebSockets open: VmRSS $(mib "$WS_OPEN_KB") MiB"
	exec 7>&- 8>&-
	wait "${pids[@]}" || true
	rm -f "$io".*
}

measure() {
	local name="$1" daemon="$2" builddir="$3" token idle peak after under
	shift 3
	vbx_say "$name: $daemon $*"
	start_daemon "$name" "$daemon" "$builddir" "$@"
	token="$(register)"
	if [ -z "$token" ] || [ "$token" = null ]; then
		vbx_die "$name: registering gave no access token"
	fi
	sleep 5
	idle="$(status_kb "$PID" VmRSS)"

	reset_peak "$PID"
	"${CLIENT[@]}" login "$PORT_VIBEBOXD" "$EMAIL" "$PASSWORD" "$LOGINS" >&2 ||
		vbx_die "$name: the logins failed"
	peak="$(status_kb "$PID" VmHWM)"
	read -r after under < <(settle "$idle")
	result[$name]="$idle $peak $after $under"

	reset_peak "$PID"
	websockets "$token"
	peak="$(status_kb "$PID" VmHWM)"
	read -r after under < <(settle "$idle")
	result[$name]+=" $peak $after $under"
	bench_stop "$PID"
}

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# "12 s", or "never".
seconds() { if [ "$1" = - ]; then echo never; else echo "$1 s"; fi; }

report() {
	local name idle lp la lu wp wa wu missed=0 verdict
	printf '\n%-10s %8s | %-28s | %-28s\n' "" "" \
		"$LOGINS logins at once" "$WS idle WebSockets"
	printf '%-10s %8s | %8s %9s %9s | %8s %9s %9s\n' daemon idle \
		peak "after ${AFTER}s" "under 2x" peak "after ${AFTER}s" \
		"under 2x"
	for name in $RUNS; do
		[ -n "${result[$name]:-}" ] || continue
		read -r idle lp la lu wp wa wu <<<"${result[$name]}"
		printf '%-10s %6s M | %6s M %7s M %8s | %6s M %7s M %8s\n' \
			"$name" "$(mib "$idle")" "$(mib "$lp")" "$(mib "$la")" \
			"$(seconds "$lu")" "$(mib "$wp")" "$(mib "$wa")" \
			"$(seconds "$wu")"
		if [ "$name" = vibeboxd ]; then
			verdict=PASS
			if [ "$la" -ge $((2 * idle)) ] || [ "$wa" -ge $((2 * idle)) ]; then
				verdict=FAIL
				missed=1
			fi
		fi
	done
	printf '(MiB of VmRSS; peak = VmHWM during the burst; %s CPUs;' "$(nproc)"
	printf ' server.workers, pool and hash_concurrency by default)\n' 
	printf 'vibeboxd: back under 2x idle within %s s after both bursts: %s\n' \
		"$AFTER" "${verdict:-not measured}"
	if [ "$missed" = 1 ] && [ "${VBX_BENCH_STRICT:-0}" = 1 ]; then
		exit 1
	fi
}

main() {
	[ $# -eq 0 ] || vbx_die "usage: bench/memory/run.sh (no arguments)"
	[ "$(id -u)" = 0 ] || vbx_die "run as root (the embedded PostgreSQL" \
		"runs as the user postgres; VmHWM is reset through clear_refs)"
	vbx_install_deps build test
	local daemon builddir name
	daemon="$(bench_vibeboxd_path)"
	builddir="${VBX_BUILDDIR:-$(dirname "$daemon")}"
	if [ -z "${VIBEBOXD:-}" ]; then
		make -C "$builddir" -j"$VBX_JOBS" >&2 # the plugins too
	fi
	raise_fd_limit
	for name in $RUNS; do
		case $name in
		vibeboxd) measure vibeboxd "$daemon" "$builddir" ;;
		trims-off) measure trims-off "$daemon" "$builddir" VBX_MEMTRIM=0 ;;
		before)
			[ -n "${VBX_BENCH_BEFORE:-}" ] || continue
			measure before "$VBX_BENCH_BEFORE" \
				"$(dirname "$VBX_BENCH_BEFORE")" ;;
		*) vbx_die "VBX_BENCH_RUNS: no daemon named $name" ;;
		esac
	done
	report
}

main "$@"
