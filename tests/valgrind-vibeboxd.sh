#!/bin/sh
# Stand in for vibeboxd in the integration tests and run the real one
# (VBX_REAL_VIBEBOXD) under memcheck: an invalid access or a leak makes it
# exit 99, which the tests see as a failed exit status.
exec valgrind -q --error-exitcode=99 --leak-check=full \
	--errors-for-leak-kinds=definite,indirect \
	"${VBX_REAL_VIBEBOXD:?set VBX_REAL_VIBEBOXD to the daemon to run}" "$@"
