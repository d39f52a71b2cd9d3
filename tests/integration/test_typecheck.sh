#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A hook handler or event subscriber of the wrong C type does not compile
# with the flags vibebox-plugin.pc gives a plugin; the right type does.
set -u
dir=$VBX_SRCDIR/tests/typecheck
cflags=$(PKG_CONFIG_PATH=$VBX_BUILDDIR pkg-config --cflags \
	--define-variable=includedir="$VBX_SRCDIR/include" vibebox-plugin)
cc=${CC:-cc}
failed=0
check() { # NAME WANT(0 compiles, 1 refused) FILE
	# shellcheck disable=SC2086
	if $cc -c -o /dev/null $cflags "$dir/$3" 2>/tmp/typecheck.$$; then
		got=0
	else
		got=1
	fi
	if [ "$got" = "$2" ]; then
		echo "ok - $1"
	else
		echo "not ok - $1"
		sed 's/^/# /' /tmp/typecheck.$$
		failed=1
	fi
	rm -f /tmp/typecheck.$$
}
check "a handler of the hook's type compiles" 0 good_handler.c
check "a handler of another type is refused" 1 bad_handler.c
check "a subscriber of another payload type is refused" 1 bad_event.c
exit $failed
