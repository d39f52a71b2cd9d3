#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Every source file of VibeBox starts with its SPDX-License-Identifier
# line (after a #! line, where there is one).
#
#   scripts/spdx.sh          list the tracked source files that lack it;
#                            exits 1 when there is any (CI runs this)
#   scripts/spdx.sh --fix    add the line to each of them
#
# A source file is one git tracks whose name says it holds code, build
# rules or configuration; data (JSON, fuzz seeds, Debian's control files)
# and documentation in Markdown are not.
set -euo pipefail
cd "$(dirname "$0")/.."

tag='SPDX-License-Identifier: Apache-2.0'

# The comment that carries the tag in file $1, or nothing for a file that
# is not source.
comment_for() {
	case "$1" in
	tests/fuzz/seeds/*) ;;
	*.c | *.h | *.ts | *.tsx | *.js | *.mjs | *.css) echo "/* $tag */" ;;
	*.sql) echo "-- $tag" ;;
	*.sh | *.py | *.am | *.ac | *.inc | *.in | *.conf | *.service | \
		*.yaml | *.yml | */Makefile | Makefile | .ci/run | \
		packaging/debian/rules | packaging/debian/postinst | \
		packaging/debian/postrm) echo "# $tag" ;;
	esac
}

fix=0
[ "${1:-}" = --fix ] && fix=1
missing=0
while IFS= read -r f; do
	line=$(comment_for "$f")
	[ -n "$line" ] || continue
	head -n 3 "$f" | grep -q 'SPDX-License-Identifier:' && continue
	if [ "$fix" = 0 ]; then
		echo "$f: no SPDX-License-Identifier line in its first 3 lines"
		missing=$((missing + 1))
		continue
	fi
	if head -n 1 "$f" | grep -q '^#!'; then
		sed -i "1a $line" "$f"
	else
		sed -i "1i $line" "$f"
	fi
done < <(git ls-files)
if [ "$missing" -gt 0 ]; then
	echo "$missing source files lack the license line: run scripts/spdx.sh --fix"
	exit 1
fi
