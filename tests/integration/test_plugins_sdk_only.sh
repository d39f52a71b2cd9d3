#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Plugins are built against the public SDK only: no file under plugins/
# includes a header of core/, and every plugin source compiles with
# -I include (and its own directory) and nothing of core/. A planted
# violation proves that the check can fail.
set -u
src=${VBX_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${VBX_BUILDDIR:-$src/build}
cc=${CC:-cc}
failed=0

ok() { echo "ok - $1"; }
not_ok() { echo "not ok - $1"; failed=1; }

# The names of core's headers: what a plugin must never include.
core_headers=$(cd "$src/core" && find . -name '*.h' -printf '%f\n' | sort -u)

# Print each `#include "X"` under dir whose X is a core header or not a
# file of the including plugin's own directory.
bad_includes() { # DIR
	local f inc
	while IFS= read -r f; do
		while IFS= read -r inc; do
			if grep -qx "$(basename "$inc")" <<<"$core_headers" ||
				[ ! -f "$(dirname "$f")/$inc" ]; then
				echo "$f: #include \"$inc\""
			fi
		done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
	done < <(find "$1" -name '*.[ch]' | sort)
}

deps_cflags=$(pkg-config --cflags libcjson libpq libcurl libargon2 \
	libcrypto 2>/dev/null)
# Compile each source of dir with the SDK's include directory only.
bad_compiles() { # DIR
	local f
	while IFS= read -r f; do
		# shellcheck disable=SC2086
		if ! $cc -fsyntax-only -std=gnu11 -I"$src/include" \
			-I"$(dirname "$f")" $deps_cflags "$f" 2>/dev/null; then
			echo "$f: does not compile with -I include alone"
		fi
	done < <(find "$1" -name '*.c' | sort)
}

# 1. The check catches a plugin that includes a core header.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/plugins/sneaky"
cat >"$tmp/plugins/sneaky/plugin.c" <<'C'
#include "server.h"
int sneaky(void);
int sneaky(void) { return 0; }
C
if [ -n "$(bad_includes "$tmp/plugins")" ]; then
	ok "a plugin including core's server.h is caught"
else
	not_ok "a plugin including core's server.h is caught"
fi
if [ -n "$(bad_compiles "$tmp/plugins")" ]; then
	ok "and does not compile with -I include alone"
else
	not_ok "and does not compile with -I include alone"
fi

# 2. The plugins of the tree include no core header and compile alone.
bad=$(bad_includes "$src/plugins")
if [ -z "$bad" ]; then
	ok "no plugin includes a header of core/"
else
	not_ok "no plugin includes a header of core/"
	sed 's/^/# /' <<<"$bad"
fi
bad=$(bad_compiles "$src/plugins")
if [ -z "$bad" ]; then
	ok "every plugin source compiles with -I include alone"
else
	not_ok "every plugin source compiles with -I include alone"
	sed 's/^/# /' <<<"$bad"
fi

# 3. The build gives plugins no -I core either.
if [ -f "$build/Makefile" ] &&
	grep -E '^plugins_[a-z_]+_la_CPPFLAGS' "$build/Makefile" | grep -q 'core'; then
	not_ok "plugins are built without -I core"
else
	ok "plugins are built without -I core"
fi
missing=$(cd "$src" && for d in plugins/*/; do
	n=$(basename "$d" | tr '-' '_')
	grep -q "^plugins_${n}_${n}_la_CPPFLAGS = \$(PLUGIN_CPPFLAGS)" \
		plugins/Makefile.inc || echo "$d"
done)
if [ -z "$missing" ]; then
	ok "every plugin uses PLUGIN_CPPFLAGS (-I include only)"
else
	not_ok "every plugin uses PLUGIN_CPPFLAGS (-I include only)"
	sed 's/^/# /' <<<"$missing"
fi
exit $failed
