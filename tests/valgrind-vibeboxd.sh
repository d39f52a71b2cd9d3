#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Stand in for vibeboxd in the integration tests and run the real one
# (VBX_REAL_VIBEBOXD) under memcheck: an invalid access or a leak makes it
# exit 99, which the tests see as a failed exit status.
# --freelist-vol: memcheck keeps 20 MB of freed blocks to catch use after
# free; that would read as growth in the tests that check the daemon's
# memory stays flat while a slow WebSocket client is flooded.
exec valgrind -q --error-exitcode=99 --leak-check=full \
	--freelist-vol=2000000 \
	--errors-for-leak-kinds=definite,indirect \
	"${VBX_REAL_VIBEBOXD:?set VBX_REAL_VIBEBOXD to the daemon to run}" "$@"
