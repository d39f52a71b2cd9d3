#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# test_migrate_race.sh - three vibeboxd started at the same moment against
# one empty database must all start, and apply each migration once.
#
# Environment:
#   VIBEBOXD            the daemon (default /work/build/vibeboxd... or
#                       ./vibeboxd when that exists)
#   VBX_TEST_PG_PLUGIN  the built postgres-store.so
#   VBX_TEST_PG_DIR     optional: a running pg_cluster.sh cluster to use;
#                       without it the test starts (and stops) its own
#
# TAP output; exit status non-zero when a case failed.

set -u

here=$(cd "$(dirname "$0")" && pwd)
cluster=$here/pg_cluster.sh
daemon=${VIBEBOXD:-./vibeboxd}
plugin=${VBX_TEST_PG_PLUGIN:-./postgres-store.so}
migrations=$here/../../plugins/postgres-store/migrations

if [ ! -x "$daemon" ]; then
	echo "Bail out! set VIBEBOXD to the vibeboxd binary" >&2
	exit 2
fi
if [ ! -f "$plugin" ]; then
	echo "Bail out! set VBX_TEST_PG_PLUGIN to postgres-store.so" >&2
	exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vbx-test-migrate.XXXXXX") || exit 2
chmod 755 "$tmp"
pids=()
own_cluster=
cleanup() {
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null
	done
	[ -z "$own_cluster" ] || "$cluster" stop "$own_cluster" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT

pgdir=${VBX_TEST_PG_DIR:-}
if [ -z "$pgdir" ]; then
	pgdir=$tmp/pg
	own_cluster=$pgdir
	"$cluster" start "$pgdir" >/dev/null || {
		echo "Bail out! cannot start a PostgreSQL cluster" >&2
		exit 2
	}
fi
db=vbx_race_$$
conninfo=$("$cluster" createdb "$pgdir" "$db") || {
	echo "Bail out! cannot create database $db" >&2
	exit 2
}

mkdir "$tmp/plugins"
cp "$plugin" "$tmp/plugins/postgres-store.so"

echo "1..3"
base=$((20000 + $$ % 30000))
for i in 1 2 3; do
	mkdir "$tmp/state$i"
	cat >"$tmp/d$i.conf" <<CONF
server: { listen = "127.0.0.1:$((base + i))"; workers = 2; };
log: { level = "info"; format = "text"; };
plugin_dir = "$tmp/plugins";
state_dir = "$tmp/state$i";
plugins = ( { name = "postgres-store";
              config = { conninfo = "$conninfo"; pool = 2; }; } );
CONF
done
# As close to the same moment as a shell gets.
for i in 1 2 3; do
	"$daemon" -c "$tmp/d$i.conf" >"$tmp/d$i.log" 2>&1 &
	pids+=($!)
done

ready() {
	curl -s -o /dev/null -w '%{http_code}' \
		"http://127.0.0.1:$((base + $1))/health/ready" 2>/dev/null
}

failed=0
all_ready=1
for i in 1 2 3; do
	code=
	for _ in $(seq 1 150); do
		code=$(ready "$i")
		[ "$code" = 200 ] && break
		kill -0 "${pids[$((i - 1))]}" 2>/dev/null || break
		sleep 0.2
	done
	if [ "$code" != 200 ]; then
		all_ready=0
		echo "# daemon $i is not ready (HTTP $code); its log:"
		sed 's/^/#   /' "$tmp/d$i.log"
	fi
done
if [ $all_ready = 1 ]; then
	echo "ok 1 - three daemons started against one empty database"
else
	echo "not ok 1 - three daemons started against one empty database"
	failed=1
fi

psql_q() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- psql -X -A -t -q "$conninfo" -c "$1"
	else
		psql -X -A -t -q "$conninfo" -c "$1"
	fi
}
expected=$(ls "$migrations"/[0-9][0-9][0-9]_*.sql | sed 's|.*/||' | sort)
got=$(psql_q "SELECT name FROM schema_migrations ORDER BY version")
dups=$(psql_q "SELECT count(*) - count(DISTINCT version) FROM schema_migrations")
if [ "$got" = "$expected" ] && [ "$dups" = 0 ]; then
	echo "ok 2 - schema_migrations has each migration once"
else
	echo "not ok 2 - schema_migrations has each migration once"
	echo "# expected: $(echo $expected)"
	echo "# got:      $(echo $got) (duplicates: $dups)"
	failed=1
fi

applied=$(cat "$tmp"/d?.log | grep -c "applied migration" || true)
if [ "$applied" = "$(echo "$expected" | wc -l)" ]; then
	echo "ok 3 - the migrations were applied by one daemon, once"
else
	echo "not ok 3 - the migrations were applied by one daemon, once"
	echo "# \"applied migration\" lines in the logs: $applied"
	failed=1
fi

for pid in "${pids[@]}"; do
	kill "$pid" 2>/dev/null
done
for pid in "${pids[@]}"; do
	wait "$pid" 2>/dev/null
done
pids=()
if [ "$(id -u)" -eq 0 ]; then
	runuser -u postgres -- dropdb -h "$pgdir" "$db" 2>/dev/null
else
	dropdb -h "$pgdir" "$db" 2>/dev/null
fi
exit $failed
