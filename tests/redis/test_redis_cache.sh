#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# test_redis_cache.sh - run test_redis_cache against a throwaway
# redis-server on a free loopback port (tests/integration/redis.py).
# Exits 77 (skipped) without redis-server, 1 with VBX_REQUIRE_SERVICES=1.
set -u
src=${VBX_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${VBX_BUILDDIR:-.}
if [ ! -x "$build/tests/redis/test_redis_cache" ]; then
	echo "test_redis_cache.sh: not built (no hiredis); skipped" >&2
	exit 77
fi
exec /usr/bin/python3 "$src/tests/integration/redis.py" run -- \
	${VBX_TEST_WRAPPER:-} "$build/tests/redis/test_redis_cache"
