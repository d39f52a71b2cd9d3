#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A hook handler or event subscriber of the wrong C type does not compile
# with the flags vibebox-plugin.pc gives a plugin, nor with those
# vibebox-test.pc gives the plugin's unit test; the right type does.
set -u
dir=$VBX_SRCDIR/tests/typecheck
# pc_cflags PACKAGE - its Cflags, with the SDK's headers from the source.
pc_cflags() {
	PKG_CONFIG_PATH=$VBX_BUILDDIR pkg-config --cflags \
		--define-variable=includedir="$VBX_SRCDIR/include" "$1"
}
cc=${CC:-cc}
failed=0
check() { # NAME WANT(0 compiles, 1 refused) FILE; with $cflags
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
for pc in vibebox-plugin vibebox-test; do
	if ! cflags=$(pc_cflags $pc); then
		echo "not ok - pkg-config $pc"
		failed=1
		continue
	fi
	check "$pc: a handler of the hook's type compiles" 0 good_handler.c
	check "$pc: a handler of another type is refused" 1 bad_handler.c
	check "$pc: a subscriber of another payload type is refused" 1 \
		bad_event.c
done
exit $failed
