#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# pg_cluster.sh - a throwaway PostgreSQL cluster for the tests.
#
#   pg_cluster.sh start DIR          create (initdb) and start a cluster in
#                                    DIR, with its Unix socket in DIR and no
#                                    TCP listener; print a libpq conninfo for
#                                    the database "vibebox"
#   pg_cluster.sh createdb DIR NAME  create database NAME; print its conninfo
#   pg_cluster.sh restart DIR        restart the server (same socket)
#   pg_cluster.sh stop DIR           stop the server (DIR is kept)
#
# Runs the server as the user "postgres" when invoked as root (PostgreSQL
# refuses root). PG_BINDIR selects the binaries; by default the newest
# /usr/lib/postgresql/*/bin, else what pg_config says.
set -eu

usage() {
	echo "usage: pg_cluster.sh start|stop|restart DIR | createdb DIR NAME" >&2
	exit 2
}

[ $# -ge 2 ] || usage
cmd=$1
dir=$2

bindir=${PG_BINDIR:-}
if [ -z "$bindir" ]; then
	bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	[ -n "$bindir" ] || bindir=$(pg_config --bindir)
fi

as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# The socket directory is DIR itself; the port only names the socket file.
port=5432
conninfo() {
	user=$(if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi)
	echo "host=$dir port=$port user=$user dbname=$1"
}

case $cmd in
start)
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	[ "$(id -u)" -ne 0 ] || chown postgres: "$dir"
	if [ ! -f "$dir/data/PG_VERSION" ]; then
		as_owner "$bindir/initdb" -D "$dir/data" -A trust -E UTF8 \
			--no-locale >"$dir/initdb.log" 2>&1 || {
			cat "$dir/initdb.log" >&2
			exit 1
		}
	fi
	as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
		-o "-c listen_addresses='' -c unix_socket_directories='$dir' -p $port -c fsync=off" \
		start >/dev/null || {
		cat "$dir/server.log" >&2
		exit 1
	}
	as_owner "$bindir/psql" -X -q -h "$dir" -p $port -d postgres \
		-c "CREATE DATABASE vibebox" >/dev/null 2>&1 || true
	conninfo vibebox
	;;
createdb)
	[ $# -eq 3 ] || usage
	dir=$(cd "$dir" && pwd)
	as_owner "$bindir/createdb" -h "$dir" -p $port "$3"
	conninfo "$3"
	;;
restart)
	dir=$(cd "$dir" && pwd)
	as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
		-m fast restart >/dev/null
	;;
stop)
	dir=$(cd "$dir" && pwd)
	[ -f "$dir/data/postmaster.pid" ] || exit 0
	as_owner "$bindir/pg_ctl" -D "$dir/data" -w -m fast stop >/dev/null
	;;
*)
	usage
	;;
esac
