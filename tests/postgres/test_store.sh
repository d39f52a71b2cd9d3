#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# test_store.sh - run the store tests against a throwaway PostgreSQL cluster
# (started and stopped here with pg_cluster.sh).
#
# Environment:
#   VBX_TEST_STORE      the test programs, space-separated, run in turn
#                       against the same cluster (default ./test_store)
#   VBX_TEST_PG_PLUGIN  the built postgres-store.so (default
#                       ./postgres-store.so)
#   VBX_TEST_WRAPPER    optional command to run the test under, e.g.
#                       "valgrind --error-exitcode=1 --leak-check=full"
# Exits 77 (skipped) when no PostgreSQL server binaries are installed.
set -u

here=$(cd "$(dirname "$0")" && pwd)
prog=${VBX_TEST_STORE:-./test_store}
if ! ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 &&
	! command -v pg_config >/dev/null 2>&1 && [ -z "${PG_BINDIR:-}" ]; then
	echo "test_store.sh: no PostgreSQL server installed; skipped" >&2
	exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vbx-test-store.XXXXXX") || exit 2
chmod 755 "$tmp"
trap '"$here/pg_cluster.sh" stop "$tmp/pg" >/dev/null 2>&1; rm -rf "$tmp"' EXIT

VBX_TEST_PG=$("$here/pg_cluster.sh" start "$tmp/pg") || exit 2
VBX_TEST_PG_CLUSTER=$here/pg_cluster.sh
VBX_TEST_PG_DIR=$tmp/pg
VBX_TEST_PG_PLUGIN=${VBX_TEST_PG_PLUGIN:-./postgres-store.so}
export VBX_TEST_PG VBX_TEST_PG_CLUSTER VBX_TEST_PG_DIR VBX_TEST_PG_PLUGIN

rc=0
for p in $prog; do
	${VBX_TEST_WRAPPER:-} "$p" || rc=1
done
exit $rc
