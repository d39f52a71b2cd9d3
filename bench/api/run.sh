#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Authenticated API throughput of vibeboxd against a Fastify peer, in one
# run on one machine: GET /api/v1/projects with a JWT (the token checked,
# the user checked, the page of projects read from PostgreSQL), on
# loopback, measured with `wrk -t2 -c32 -d10s --latency` against each
# server in turn, for VBX_BENCH_ROUNDS rounds whose order alternates. A
# VM's speed drifts by 10-20% within minutes, so the ratio is taken per
# round (a server and its peer measured back to back) and the medians are
# reported.
#
#   bench/api/run.sh
#
#   vibeboxd         postgres-store, auth, platform, server.workers and pool as
#                    the shipped config leaves them (derived from the CPU
#                    count: 4 and 4 on 2 cores; `vibeboxd -t` prints them),
#                    access log on (its stderr goes to /dev/null)
#   fastify          Fastify 4, @fastify/jwt and pg (pool 8), logger off,
#                    doing what vibeboxd does: verifies the same token,
#                    checks the user (read, then reused for 2 s like auth's
#                    user_cache), and runs the same SQL
#   fastify-jwt      the same peer trusting the token's claims: no user
#                    check at all
#
# The page asks for one row more than it shows and counts the list only
# when that row exists: with the default 20 projects and page size 20 no
# count runs; VBX_BENCH_PROJECTS=30 measures the page-and-count path.
#
# One throwaway PostgreSQL cluster (tests/postgres/pg_cluster.sh, Unix
# socket only) serves both. The setup registers an admin and a user
# through vibeboxd, creates VBX_BENCH_PROJECTS projects for each, and
# measures with the user's access token (a non-admin sees only their own:
# the full query). Before measuring, all must answer 200 with the same
# body. Prints the median requests/sec and p99 latency of each, the CPU
# per request of each round, and the median of vibeboxd's per-round ratio
# to each peer against the target (at least 3x). Exits 0 when every server
# was measured; with VBX_BENCH_STRICT=1 a missed target exits 1 too.
#
# Environment (besides http/common.sh's VIBEBOXD and VBX_SKIP_DEPS):
#   VBX_BUILDDIR          where the plugins are built (plugins/NAME/.libs);
#                         default: the directory of $VIBEBOXD
#   VBX_BENCH_DURATION=10s  VBX_BENCH_CONNECTIONS=32  VBX_BENCH_THREADS=2
#   VBX_BENCH_WARMUP=2s   an unmeasured run before each measured one
#   VBX_BENCH_ROUNDS=3    rounds; the report gives medians
#   VBX_BENCH_WORKERS     vibeboxd's server.workers (default: not set, as
#                         in the shipped config)
#   VBX_BENCH_POOL        vibeboxd's connections to PostgreSQL (same)
#   VBX_BENCH_PEER_POOL=8 the peers' connections
#   VBX_BENCH_PROJECTS=20 projects per user
#   VBX_BENCH_PORT=18090  vibeboxd's port; the peers use +2 and +3
#   VBX_BENCH_LOG=/dev/null  where vibeboxd's stderr (its log) goes
#   VBX_BENCH_PERF=FILE   record `perf record -g` of vibeboxd while wrk
#                         runs into FILE (perf's overhead lowers the figure)
#   VBX_BENCH_PERF_ARGS   perf record's options instead of -g, e.g.
#                         "--call-graph dwarf -F 499" for libc's callers
set -euo pipefail

API_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VBX_BENCH_PORT="${VBX_BENCH_PORT:-18090}"
# shellcheck source=bench/http/common.sh
. "$API_DIR/../http/common.sh"

DURATION="${VBX_BENCH_DURATION:-10s}"
CONNECTIONS="${VBX_BENCH_CONNECTIONS:-32}"
THREADS="${VBX_BENCH_THREADS:-2}"
WARMUP="${VBX_BENCH_WARMUP:-2s}"
ROUNDS="${VBX_BENCH_ROUNDS:-3}"
# vibeboxd runs with the shipped defaults, which size server.workers (2
# per CPU, 4..32) and pool (= server.workers) from the machine: 4 and 4
# on 2 cores, which measured 10.5k against 9.3k req/s for the former
# fixed 8 and 8. The peers keep pool 8: for one Node.js thread 4 and 8
# measured the same.
WORKERS="${VBX_BENCH_WORKERS:-}"
PROJECTS="${VBX_BENCH_PROJECTS:-20}"
POOL="${VBX_BENCH_POOL:-}"
PEER_POOL="${VBX_BENCH_PEER_POOL:-8}"
TARGET=3.0
SECRET="k1:$(openssl rand -hex 32)"
PATH_LIST="/api/v1/projects"

# Per server: its pid and port; per round (space-separated lists): req/s,
# p99 and CPU columns.
declare -A pid=() port=() rps=() p99=() cpu=()
PG_DIR=""
TOKEN=""
BAD_TOKEN=""
EFFECTIVE=""
BUILDDIR=""

api_cleanup() {
	bench_cleanup
	if [ -n "$PG_DIR" ]; then
		"$VBX_ROOT/tests/postgres/pg_cluster.sh" stop "$PG_DIR/pg" ||
			true
		rm -rf "$PG_DIR"
	fi
}
trap api_cleanup EXIT

# The vibeboxd to measure and the build directory of its plugins: $VIBEBOXD
# (and $VBX_BUILDDIR), or both built in build/bench.
find_build() {
	if [ -n "${VIBEBOXD:-}" ]; then
		[ -x "$VIBEBOXD" ] || vbx_die "VIBEBOXD=$VIBEBOXD is not executable"
		BUILDDIR="${VBX_BUILDDIR:-$(dirname "$VIBEBOXD")}"
	else
		BUILDDIR="$VBX_ROOT/build/bench"
		vbx_install_deps build
		vbx_configure "$BUILDDIR"
		make -C "$BUILDDIR" -j"$VBX_JOBS" vibeboxd \
			plugins/postgres-store/postgres-store.la \
			plugins/auth/auth.la plugins/platform/platform.la
		VIBEBOXD="$BUILDDIR/vibeboxd"
	fi
	local name
	for name in postgres-store auth platform; do
		[ -f "$BUILDDIR/plugins/$name/.libs/$name.so" ] ||
			vbx_die "no $BUILDDIR/plugins/$name/.libs/$name.so:" \
				"build the plugins there, or set VBX_BUILDDIR"
	done
}

# A throwaway cluster; sets CONNINFO ("host=DIR port=N user=U dbname=D").
start_postgres() {
	PG_DIR="$(mktemp -d /tmp/vbx-bench-pg.XXXXXX)"
	chmod 755 "$PG_DIR" # the server runs as postgres when we are root
	CONNINFO="$("$VBX_ROOT/tests/postgres/pg_cluster.sh" start "$PG_DIR/pg")"
	[ -n "$CONNINFO" ] || vbx_die "pg_cluster.sh printed no conninfo"
	vbx_say "PostgreSQL: $CONNINFO"
}

# The value of KEY in CONNINFO.
conninfo_get() {
	tr ' ' '\n' <<<"$CONNINFO" | sed -n "s/^$1=//p"
}

start_vibeboxd() {
	local conf="$BENCH_TMP/vibeboxd.conf" name
	mkdir -p "$BENCH_TMP/plugins" "$BENCH_TMP/state"
	for name in postgres-store auth platform; do
		ln -sf "$BUILDDIR/plugins/$name/.libs/$name.so" \
			"$BENCH_TMP/plugins/$name.so"
	done
	# Argon2 is lowered only so that the setup registers quickly; the
	# measured requests never hash a password.
	cat >"$conf" <<EOF
server: {
  listen = "127.0.0.1:$PORT_VIBEBOXD";
  ${WORKERS:+workers = $WORKERS;}
};
log: { level = "info"; access = true; };
plugin_dir = "$BENCH_TMP/plugins";
state_dir = "$BENCH_TMP/state";
plugins = (
  { name = "postgres-store"; config = { conninfo = "$CONNINFO"; ${POOL:+pool = $POOL;} }; },
  { name = "auth"; config = { jwt_secret = "$SECRET"; registration = "open";
      access_ttl = "1h"; argon2_memory = "1MiB"; argon2_iterations = 1; }; },
  { name = "platform"; }
);
EOF
	# -t prints the config's errors, which the run itself would hide,
	# and the values in effect (workers, pool), which the report shows.
	"$VIBEBOXD" -t -c "$conf" >"$BENCH_TMP/check.out" \
		2>"$BENCH_TMP/check.log" || {
		cat "$BENCH_TMP/check.log" >&2
		vbx_die "vibeboxd rejects $conf"
	}
	EFFECTIVE="$(sed -n 's/^  \(server\.workers\|plugins\.postgres-store\.pool\) = \([0-9]*\).*/\1 = \2/p' \
		"$BENCH_TMP/check.out" | sed 's/^plugins\.postgres-store\.//' |
		paste -sd, - | sed 's/,/, /')"
	vbx_say "vibeboxd: ${EFFECTIVE:-server.workers and pool as -t did not say}"
	"$VIBEBOXD" -c "$conf" 2>"${VBX_BENCH_LOG:-/dev/null}" &
	pid[vibeboxd]=$!
	port[vibeboxd]=$PORT_VIBEBOXD
	bench_pids+=("${pid[vibeboxd]}")
	bench_wait_ready vibeboxd "$PORT_VIBEBOXD" "${pid[vibeboxd]}"
}

# POST JSON to vibeboxd's PATH as TOKEN (may be empty); prints the body.
api_post() {
	local path="$1" body="$2" token="${3:-}" auth=()
	[ -z "$token" ] || auth=(-H "Authorization: Bearer $token")
	curl -fsS -X POST -H 'Content-Type: application/json' "${auth[@]}" \
		--data "$body" "http://127.0.0.1:$PORT_VIBEBOXD$path" ||
		vbx_die "vibeboxd: POST $path failed (setup)"
}

# Register EMAIL and create PROJECTS projects as them; prints their token.
make_user() {
	local email="$1" token i
	token="$(api_post /api/v1/auth/register \
		"{\"email\":\"$email\",\"password\":\"correct horse\",\"name\":\"Bench\"}" |
		jq -r .tokens.accessToken)"
	if [ -z "$token" ] || [ "$token" = null ]; then
		vbx_die "vibeboxd: registering $email gave no access token"
	fi
	for ((i = 1; i <= PROJECTS; i++)); do
		api_post "$PATH_LIST" "{\"name\":\"$email project $i\"}" \
			"$token" >/dev/null
	done
	echo "$token"
}

# The first user is the instance admin, who sees every project; the user
# measured is the second and sees only their own PROJECTS of 2 x PROJECTS.
setup_data() {
	local admin
	admin="$(make_user admin@bench.test)"
	TOKEN="$(make_user user@bench.test)"
	# Well formed, but the user's claims under the admin's signature.
	BAD_TOKEN="${TOKEN%.*}.${admin##*.}"
	vbx_say "setup: 2 users, $((2 * PROJECTS)) projects"
}

# Start the peer NAME (LOOKUP 1: checks the user; 0: trusts the token) on
# PORT.
start_fastify() {
	local name="$1" lookup="$2" listen="$3" dir="$API_DIR/fastify"
	if [ ! -d "$dir/node_modules/@fastify/jwt" ] ||
		[ ! -d "$dir/node_modules/pg" ]; then
		[ "${VBX_SKIP_DEPS:-0}" != 1 ] ||
			vbx_die "$dir/node_modules is missing: run 'npm ci' there"
		vbx_say "installing the peer's packages (npm ci in $dir)"
		(cd "$dir" && npm ci --omit=dev --no-audit --no-fund >&2)
	fi
	PORT="$listen" NODE_ENV=production JWT_SECRET="$SECRET" \
		USER_LOOKUP="$lookup" POOL="$PEER_POOL" \
		PGHOST="$(conninfo_get host)" PGPORT="$(conninfo_get port)" \
		PGUSER="$(conninfo_get user)" PGDATABASE="$(conninfo_get dbname)" \
		node "$dir/server.js" &
	pid[$name]=$!
	port[$name]=$listen
	bench_pids+=("${pid[$name]}")
	bench_wait_ready "$name" "$listen" "${pid[$name]}"
}

# GET the list from PORT as the user; the body, keys sorted, in FILE.
# Anything but a 200 with PROJECTS projects voids the run, and so does a
# server that does not check the signature.
check_answer() {
	local name="$1" listen="$2" file="$3" body n total status
	status="$(curl -sS -o /dev/null -w '%{http_code}' \
		-H "Authorization: Bearer $BAD_TOKEN" \
		"http://127.0.0.1:$listen$PATH_LIST")"
	[ "$status" = 401 ] ||
		vbx_die "$name: a token with a wrong signature got $status, not 401"
	body="$(curl -fsS -H "Authorization: Bearer $TOKEN" \
		"http://127.0.0.1:$listen$PATH_LIST")" ||
		vbx_die "$name: GET $PATH_LIST did not answer 200"
	n="$(jq '.data | length' <<<"$body")"
	total="$(jq '.pagination.total' <<<"$body")"
	if [ "$n" != "$((PROJECTS < 20 ? PROJECTS : 20))" ] ||
		[ "$total" != "$PROJECTS" ]; then
		vbx_die "$name: $n projects of $total, not $PROJECTS: $body"
	fi
	jq -S . <<<"$body" >"$file"
}

# CPU time (user + system, in clock ticks) that the processes PID... have
# used so far, their threads included.
cpu_ticks() {
	local pid sum=0 stat f
	for pid in "$@"; do
		stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || continue
		# The fields after the command name, which may hold spaces:
		# utime and stime are the 12th and 13th of them.
		read -r -a f <<<"${stat##*) }"
		sum=$((sum + f[11] + f[12]))
	done
	echo "$sum"
}

# CPU ticks of the whole PostgreSQL cluster so far: the postmaster's own
# and those of its children that ended (cutime, cstime: the 14th and 15th
# fields after the name), plus its live children's. A backend or worker
# that exits mid-run moves its time into the postmaster's, so the sum only
# grows.
pg_cpu_ticks() {
	local master stat f children
	master="$(head -n1 "$PG_DIR/pg/data/postmaster.pid")"
	stat="$(cat "/proc/$master/stat")"
	read -r -a f <<<"${stat##*) }"
	mapfile -t children < <(ps -o pid= --ppid "$master" | tr -d ' ')
	echo $((f[11] + f[12] + f[13] + f[14] + $(cpu_ticks "${children[@]}")))
}

# One measured run of wrk against NAME; appends its req/s, p99 and CPU
# columns to the server's lists.
measure() {
	local name="$1" out="$BENCH_TMP/wrk-$1.txt" perf_pid=""
	local url="http://127.0.0.1:${port[$name]}$PATH_LIST" pid="${pid[$1]}"
	local wrk=(wrk -t"$THREADS" -c"$CONNECTIONS"
		-H "Authorization: Bearer $TOKEN")
	if [ "$WARMUP" != 0 ]; then
		"${wrk[@]}" -d"$WARMUP" "$url" >/dev/null
	fi
	vbx_say "$name: wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency" \
		"-H 'Authorization: Bearer <token>' $url" \
		"(load average $(cut -d' ' -f1-3 /proc/loadavg))"
	if [ -n "${VBX_BENCH_PERF:-}" ] && [ "$name" = vibeboxd ] &&
		[ -z "${rps[vibeboxd]}" ]; then
		# Word splitting of the options is intended.
		# shellcheck disable=SC2086
		perf record -q ${VBX_BENCH_PERF_ARGS:--g} -p "$pid" \
			-o "$VBX_BENCH_PERF" 2>/dev/null &
		perf_pid=$!
	fi
	local srv0 pg0 wrk_cpu
	srv0="$(cpu_ticks "$pid")"
	pg0="$(pg_cpu_ticks)"
	# wrk's own CPU time, from bash's `time` (user and system seconds).
	wrk_cpu="$( { TIMEFORMAT='%U %S'
		time "${wrk[@]}" -d"$DURATION" --latency "$url" >"$out"; } 2>&1)"
	cpu[$name]+="$(awk -v hz="$(getconf CLK_TCK)" \
		-v s="$(($(cpu_ticks "$pid") - srv0))" \
		-v p="$(($(pg_cpu_ticks) - pg0))" \
		-v w="$wrk_cpu" -v n="$(awk '/requests in/ { print $1 }' "$out")" \
		'BEGIN { split(w, t, " ")
			printf "%.0f/%.0f/%.0f ", s / hz / n * 1e6,
				p / hz / n * 1e6, (t[1] + t[2]) / n * 1e6 }')"
	if [ -n "$perf_pid" ]; then
		kill -INT "$perf_pid"
		wait "$perf_pid" || true
		vbx_say "perf data of vibeboxd: $VBX_BENCH_PERF"
	fi
	sed -n -e '/Latency /p' -e '/ 99%/p' -e '/requests in/p' \
		-e '/Socket errors/p' -e '/Non-2xx/p' "$out" | sed 's/^/    /' >&2
	if grep -Eq 'Non-2xx|Socket errors' "$out"; then
		vbx_die "$name: wrk saw errors or non-2xx answers (above)"
	fi
	local r
	r="$(awk '/^Requests\/sec:/ { print $2 }' "$out")"
	[ -n "$r" ] || vbx_die "$name: no Requests/sec in wrk's output"
	rps[$name]+="$r "
	p99[$name]+="$(awk '$1 == "99%" { print $2 }' "$out") "
}

# Every server answers the same body (keys sorted) as vibeboxd.
check_all() {
	local name
	check_answer vibeboxd "${port[vibeboxd]}" "$BENCH_TMP/vibeboxd.json"
	for name in fastify fastify-jwt; do
		check_answer "$name" "${port[$name]}" "$BENCH_TMP/$name.json"
		cmp -s "$BENCH_TMP/vibeboxd.json" "$BENCH_TMP/$name.json" ||
			vbx_die "$name answers another body than vibeboxd:" \
				"$(diff "$BENCH_TMP/vibeboxd.json" \
					"$BENCH_TMP/$name.json" | head -20)"
	done
}

# The median of the numbers in LIST (an odd count gives the middle one).
median() {
	tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | awk '{ v[NR] = $1 }
		END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			print m }'
}

# The median of wrk's latencies in LIST ("12.5ms", "980.00us", "1.02s").
median_p99() {
	tr ' ' '\n' <<<"$1" | grep -v '^$' | awk '
		/us$/ { printf "%f %s\n", $1 / 1000, $1; next }
		/ms$/ { printf "%f %s\n", $1 + 0, $1; next }
		/s$/ { printf "%f %s\n", $1 * 1000, $1 }' |
		sort -g | awk '{ v[NR] = $2 } END { print v[int((NR + 1) / 2)] }'
}

# vibeboxd/PEER per round (the two were measured minutes apart at most),
# their median against the target; returns 1 when it is missed.
ratio() {
	local peer="$1" per_round
	per_round="$(paste -d' ' <(tr ' ' '\n' <<<"${rps[vibeboxd]}") \
		<(tr ' ' '\n' <<<"${rps[$peer]}") |
		awk 'NF == 2 { printf "%.2f ", $1 / $2 }')"
	awk -v r="$(median "$per_round")" -v t="$TARGET" -v p="$peer" \
		-v all="$per_round" 'BEGIN {
			printf "vibeboxd/%-12s %5.2fx (rounds: %s)  target >= %.1fx  %s\n",
				p, r, all, t, (r >= t ? "PASS" : "FAIL")
			exit (r >= t ? 0 : 1)
		}'
}

# ROUNDS rounds, each measuring every server, in turns that alternate so
# that none is always first or last while the machine drifts.
run_rounds() {
	local r name order
	for ((r = 1; r <= ROUNDS; r++)); do
		order=(vibeboxd fastify fastify-jwt)
		((r % 2)) || order=(fastify-jwt fastify vibeboxd)
		for name in "${order[@]}"; do
			measure "$name"
		done
	done
}

report() {
	local s missed=0
	printf '\n%-13s %12s %12s   %s\n' server 'requests/sec' 'p99 latency' \
		'CPU us/request server/postgres/wrk, per round'
	for s in vibeboxd fastify fastify-jwt; do
		printf '%-13s %12s %12s   %s\n' "$s" "$(median "${rps[$s]}")" \
			"$(median_p99 "${p99[$s]}")" "${cpu[$s]}"
	done
	printf '(medians of %s rounds; req/s per round: vibeboxd %s| fastify %s| fastify-jwt %s)\n\n' \
		"$ROUNDS" "${rps[vibeboxd]}" "${rps[fastify]}" "${rps[fastify-jwt]}"
	ratio fastify || missed=1
	ratio fastify-jwt || missed=1
	printf '(vibeboxd with %s; %s cores, load average %s; wrk and' \
		"$EFFECTIVE" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
	printf ' PostgreSQL share them with the server measured)\n'
	if [ "$missed" = 1 ] && [ "${VBX_BENCH_STRICT:-0}" = 1 ]; then
		exit 1
	fi
}

main() {
	[ $# -eq 0 ] || vbx_die "usage: bench/api/run.sh (no arguments)"
	vbx_install_deps bench test
	find_build
	start_postgres
	start_vibeboxd
	setup_data
	start_fastify fastify 1 "$PORT_FASTIFY"
	start_fastify fastify-jwt 0 "$((PORT_FASTIFY + 1))"
	check_all
	run_rounds
	report
}

# Sourced by bench/cluster/run.sh for its setup and peers: no run then.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	main "$@"
fi
