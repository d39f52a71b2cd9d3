#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# test_embedded.sh - postgres-store without a conninfo runs its own
# PostgreSQL cluster under state_dir/postgres.
#
# Starts vibeboxd with only postgres-store and no conninfo, state_dir in a
# temporary directory; checks that /health/ready lists "postgres" ok, that
# the cluster listens on its Unix socket only, and (as root) that it runs
# as the postgres user; writes a row with psql over the socket; stops the
# daemon with SIGTERM and checks that the cluster is gone; starts again and
# finds the row (no second initdb). As root it also checks that a
# state_dir the cluster's user cannot reach fails the start with a message
# saying what to do.
#
# Environment (make check sets the first two):
#   VIBEBOXD            the daemon to run
#   VBX_BUILDDIR        the build directory, to find postgres-store.so
#   VBX_TEST_PG_PLUGIN  postgres-store.so itself (overrides the search)
#
# Prints "ok - ..." or "not ok - ..." per step (TAP); exits 1 when a step
# failed, 77 (skipped) when something it needs is missing.

set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh" || exit 2

for tool in curl python3; do
	if ! command -v "$tool" >/dev/null; then
		echo "1..0 # SKIP $tool is not installed"
		exit 77
	fi
done
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
	echo "1..0 # SKIP no PostgreSQL server in /usr/lib/postgresql/*/bin"
	exit 77
fi
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
	echo "1..0 # SKIP running as root and there is no postgres user"
	exit 77
fi

vibeboxd=${VIBEBOXD:-${VBX_BUILDDIR:-.}/vibeboxd}
plugin=${VBX_TEST_PG_PLUGIN:-}
if [ -z "$plugin" ] && [ -n "${VBX_BUILDDIR:-}" ]; then
	plugin=$(find "$VBX_BUILDDIR" -name postgres-store.so -path '*.libs*' \
		2>/dev/null | head -n 1)
fi
if [ ! -x "$vibeboxd" ] || [ ! -f "$plugin" ]; then
	echo "Bail out! set VIBEBOXD to the daemon and VBX_TEST_PG_PLUGIN" \
		"(or VBX_BUILDDIR) to find postgres-store.so" >&2
	exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vbx-test-embedded.XXXXXX") || exit 2
# The cluster's user (postgres, when we are root) must reach state_dir.
chmod 755 "$tmp"
state=$tmp/state
run=$state/postgres/run
data=$state/postgres/data
daemon_pid=

cleanup() {
	if [ -n "$daemon_pid" ]; then
		kill -KILL "$daemon_pid" 2>/dev/null
		wait "$daemon_pid" 2>/dev/null
	fi
	# A cluster left behind by a failed step.
	if [ -f "$data/postmaster.pid" ]; then
		kill -QUIT "$(head -n 1 "$data/postmaster.pid")" 2>/dev/null
		sleep 1
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

mkdir "$tmp/plugins"
cp "$plugin" "$tmp/plugins/postgres-store.so"

# write_conf PORT STATE_DIR
write_conf() {
	cat >"$tmp/vibeboxd.conf" <<EOF
server: { listen = "127.0.0.1:$1"; workers = 2; shutdown_timeout = "5s"; };
log: { level = "info"; format = "text"; };
plugin_dir = "$tmp/plugins";
state_dir = "$2";
plugins = (
  { name = "postgres-store"; config = { }; }
);
EOF
}

# start_daemon [STATE_DIR] - true once /health/startup answers 200; the
# first start runs initdb, which takes a few seconds.
start_daemon() {
	local i
	port=$(free_port)
	write_conf "$port" "${1:-$state}"
	"$vibeboxd" -c "$tmp/vibeboxd.conf" \
		>"$tmp/daemon.out" 2>>"$tmp/daemon.err" &
	daemon_pid=$!
	for i in $(seq 1200); do
		if [ "$(curl -s -o /dev/null -w '%{http_code}' \
			"http://127.0.0.1:$port/health/startup")" = 200 ]; then
			return 0
		fi
		kill -0 "$daemon_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$daemon_pid" 2>/dev/null
	wait "$daemon_pid" 2>/dev/null
	daemon_pid=
	return 1
}

# stop_daemon - SIGTERM; true when it exits 0 within 30 s.
stop_daemon() {
	local i status
	kill -TERM "$daemon_pid"
	for i in $(seq 300); do
		kill -0 "$daemon_pid" 2>/dev/null || break
		sleep 0.1
	done
	wait "$daemon_pid"
	status=$?
	daemon_pid=
	return "$status"
}

psql_do() {
	"$bindir/psql" -X -q -At -h "$run" -U vibebox -d vibebox -c "$1"
}

# ready_has_postgres - /health/ready is 200 with a "postgres" check "ok".
ready_has_postgres() {
	curl -s -w '\n%{http_code}' "http://127.0.0.1:$port/health/ready" \
		>"$tmp/ready.out"
	python3 - "$tmp/ready.out" <<'EOF'
import json, sys
body, code = open(sys.argv[1]).read().rsplit("\n", 1)
checks = {c["name"]: c["status"] for c in json.loads(body)["checks"]}
sys.exit(0 if code == "200" and checks.get("postgres") == "ok" else 1)
EOF
}

postmaster_pid() {
	head -n 1 "$data/postmaster.pid" 2>/dev/null
}

# gone PID - true once PID has exited (or is a zombie waiting for init),
# within 5 s: the server removes postmaster.pid just before it exits.
gone() {
	local i
	[ -n "$1" ] || return 1
	for i in $(seq 50); do
		case $(ps -o stat= -p "$1" 2>/dev/null) in
		'' | Z*) return 0 ;;
		esac
		sleep 0.1
	done
	return 1
}

# ---- a state_dir the cluster's user cannot reach (root only) ----

if [ "$(id -u)" -eq 0 ]; then
	mkdir -m 700 "$tmp/locked"
	if start_daemon "$tmp/locked/state"; then
		not_ok "a state_dir postgres cannot reach fails the start"
		stop_daemon
	elif grep -q "let it search .*locked (chmod o+x" "$tmp/daemon.err"; then
		ok "a state_dir postgres cannot reach fails the start, saying what to do"
	else
		not_ok "a state_dir postgres cannot reach fails the start, saying what to do" \
			"$tmp/daemon.err"
	fi
	: >"$tmp/daemon.err"
fi

# ---- first start: initdb, then serve ----

if start_daemon; then
	ok "vibeboxd starts with postgres-store and no conninfo"
else
	stop_here "vibeboxd starts with postgres-store and no conninfo" \
		"$tmp/daemon.err"
fi

if ready_has_postgres; then
	ok "/health/ready lists postgres ok"
else
	not_ok "/health/ready lists postgres ok" "$tmp/ready.out"
fi

if [ -f "$data/PG_VERSION" ] && [ -S "$run/.s.PGSQL.5432" ]; then
	ok "the cluster is in state_dir/postgres, its socket in .../run"
else
	not_ok "the cluster is in state_dir/postgres, its socket in .../run"
fi

if [ "$(psql_do 'SHOW listen_addresses')" = "" ] &&
	[ -z "$(psql_do "SELECT 1 FROM pg_stat_activity WHERE client_port > 0")" ]; then
	ok "the cluster listens on no TCP address"
else
	not_ok "the cluster listens on no TCP address"
fi

if [ "$(id -u)" -eq 0 ]; then
	owner=$(stat -c %U "$data")
	runner=$(ps -o user= -p "$(postmaster_pid)" 2>/dev/null)
	if [ "$owner" = postgres ] && [ "$runner" = postgres ]; then
		ok "as root, the cluster belongs to and runs as postgres"
	else
		not_ok "as root, the cluster belongs to and runs as postgres" \
			"(owner $owner, process user $runner)"
	fi
fi

if psql_do "INSERT INTO teams (name, slug) VALUES ('Kept', 'kept')" &&
	[ "$(psql_do "SELECT count(*) FROM schema_migrations")" -ge 1 ]; then
	ok "psql writes over the socket into the migrated database"
else
	not_ok "psql writes over the socket into the migrated database"
fi

pm=$(postmaster_pid)
if stop_daemon; then
	ok "SIGTERM stops vibeboxd with status 0"
else
	not_ok "SIGTERM stops vibeboxd with status 0" "$tmp/daemon.err"
fi
if gone "$pm" && [ ! -f "$data/postmaster.pid" ]; then
	ok "the cluster stops with the daemon"
else
	not_ok "the cluster stops with the daemon (postmaster ${pm:-?})"
fi

# ---- second start: the same cluster, the data kept ----

: >"$tmp/daemon.err"
if start_daemon; then
	ok "vibeboxd starts again on the same state_dir"
else
	stop_here "vibeboxd starts again on the same state_dir" \
		"$tmp/daemon.err"
fi
if ready_has_postgres; then
	ok "/health/ready lists postgres ok after the restart"
else
	not_ok "/health/ready lists postgres ok after the restart" \
		"$tmp/ready.out"
fi
if [ "$(psql_do "SELECT name FROM teams WHERE slug = 'kept'")" = Kept ]; then
	ok "the row written before the restart is still there"
else
	not_ok "the row written before the restart is still there"
fi
if ! grep -q "creating a cluster" "$tmp/daemon.err"; then
	ok "the second start does not run initdb again"
else
	not_ok "the second start does not run initdb again" "$tmp/daemon.err"
fi

pm=$(postmaster_pid)
if stop_daemon && gone "$pm"; then
	ok "the second stop stops the cluster too"
else
	not_ok "the second stop stops the cluster too" "$tmp/daemon.err"
fi

finish
