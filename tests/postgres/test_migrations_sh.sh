#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# test_migrations_sh.sh - migrations.sh turns SQL files into C strings that
# hold exactly the files' bytes, in version order, and refuses bad names.
# Needs a C compiler ($CC, default cc). TAP output.
set -u

here=$(cd "$(dirname "$0")" && pwd)
gen=$here/../../plugins/postgres-store/migrations.sh
cc=${CC:-cc}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vbx-test-migsh.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
failed=0
n=0
check() { # check NAME COMMAND...
	n=$((n + 1))
	if "${@:2}"; then echo "ok $n - $1"; else echo "not ok $n - $1"; failed=1; fi
}

echo "1..6"
mkdir "$tmp/good"
printf 'SELECT 1;\n' >"$tmp/good/010_later.sql"
printf -- "-- quotes \" and \\\\ backslash\n\tSELECT '%%s a\\\\nb';\r\nno final newline" \
	>"$tmp/good/002_tricky.sql"
cat >"$tmp/main.c" <<'C'
#include <stdio.h>
#include <string.h>
struct pgs_migration { int version; const char *name; const char *sql; };
extern const struct pgs_migration pgs_migrations[];
extern const size_t pgs_migrations_count;
int main(void)
{
	for (size_t i = 0; i < pgs_migrations_count; i++)
		printf("%d %s\n", pgs_migrations[i].version, pgs_migrations[i].name);
	fputs(pgs_migrations[0].sql, stderr);
	return 0;
}
C
roundtrip() {
	"$gen" "$tmp/good" >"$tmp/gen.c" &&
		$cc -Wall -Wextra -Werror -o "$tmp/prog" "$tmp/main.c" "$tmp/gen.c" &&
		"$tmp/prog" >"$tmp/list" 2>"$tmp/sql" &&
		printf '2 002_tricky.sql\n10 010_later.sql\n' | cmp -s - "$tmp/list"
}
check "generates C that compiles, in version order" roundtrip
# The generator ends every line with \n, so compare with the file plus
# the newline its last line lacks.
exact() { { cat "$tmp/good/002_tricky.sql"; echo; } | cmp -s - "$tmp/sql"; }
check "the C string holds the file's bytes" exact

mkdir "$tmp/badname" "$tmp/dup" "$tmp/empty" "$tmp/quote"
printf 'x' >"$tmp/quote/001_a\"b.sql"
printf 'x' >"$tmp/badname/init.sql"
printf 'x' >"$tmp/dup/001_a.sql"
printf 'x' >"$tmp/dup/001_b.sql"
refuses() { ! "$gen" "$1" >/dev/null 2>"$tmp/err" && grep -q "$2" "$tmp/err"; }
check "refuses a name that is not NNN_name.sql" refuses "$tmp/badname" init.sql
check "refuses a version used twice" refuses "$tmp/dup" 001_b.sql
check "refuses a directory without migrations" refuses "$tmp/empty" "no NNN"
check "refuses a name C cannot hold as is" refuses "$tmp/quote" "only letters"
exit $failed
