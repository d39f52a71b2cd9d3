#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Build every libFuzzer target with clang (ASan + UBSan) and run each for
# SECONDS (default 60), starting from the seeds in tests/fuzz/seeds/NAME.
#
#   tests/fuzz/run.sh [SECONDS] [TARGET...]      e.g. tests/fuzz/run.sh 180 json
#
# Needs: clang libclang-rt-14-dev, libargon2-dev libssl-dev libpq-dev
# libhiredis-dev (for
# the plugin targets), and a configured build (for vbx_build.h):
# BUILD=dir names it (default: ./build, else the source tree).
# A crash leaves its input as tests/fuzz/out/crash-* and fails the run.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(config json router auth_jwt auth_phc
	keyring docker_frame docker_json docker_events docker_engines env_parse
	cli_frames term_frame jsonout pgtime conninfo docker_passwd sig util wsframe
	framing rawhead bridgemsg auth_cache proxyproto redis_url traceparent otlp
	metrics_http web_console exec_frame cli_exec_frames backup_dec backup_keys
	backup_s3xml backup_cron)
build=${BUILD:-$src/build}
[ -f "$build/vbx_build.h" ] || build=$src
[ -f "$build/vbx_build.h" ] || { echo "run ./configure first (no vbx_build.h in $build)" >&2; exit 2; }
out=$src/tests/fuzz/out
mkdir -p "$out"

deps() {
	case $1 in
	config) echo "core/config.c core/cfgval.c core/cpus.c core/effective.c core/cidr.c
		core/errors.c core/log.c";;
	json) echo "core/json.c core/jsonout.c";;
	jsonout) echo "core/jsonout.c";;
	router) echo "core/router.c core/arena.c";;
	framing) echo "core/framing.c";;
	sig) echo "core/sig.c";;
	wsframe) echo "core/wsframe.c";;
	rawhead) echo "core/rawhead.c";;
	bridgemsg) echo "core/bridgemsg.c";;
	proxyproto) echo "core/proxyproto.c core/cidr.c";;
	traceparent) echo "core/traceparent.c";;
	otlp) echo "plugins/tracing/otlp.c";;
	# jwt.c needs plugin.c, which needs the rest
	auth_jwt | auth_phc | auth_cache) echo "plugins/auth/jwt.c plugins/auth/jwtcache.c
		plugins/auth/plugin.c plugins/auth/password.c plugins/auth/phc.c
		plugins/auth/tokens.c plugins/auth/routes.c plugins/auth/authz.c
		plugins/auth/ratelimit.c plugins/auth/loginlimit.c
		plugins/auth/ticket.c plugins/auth/usercache.c plugins/auth/hmac.c
		plugins/auth/revoke.c plugins/auth/cache.c
		plugins/auth/sharedlimit.c plugins/auth/principal.c
		plugins/auth/admit.c";;
	keyring) echo "plugins/postgres-store/crypto.c";;
	pgtime) echo "plugins/postgres-store/values.c";;
	conninfo) echo "plugins/postgres-store/failover.c";;
	redis_url) echo "plugins/redis-cache/url.c";;
	metrics_http) echo "plugins/metrics/accept.c plugins/metrics/reqparse.c
		plugins/metrics/address.c";;
	web_console) echo "plugins/web-console/negotiate.c
		plugins/web-console/webpath.c plugins/web-console/config.c";;
	backup_dec | backup_keys) echo "plugins/backup-s3/keys.c
		plugins/backup-s3/seal.c";;
	backup_s3xml) echo "plugins/backup-s3/s3xml.c";;
	backup_cron) echo "plugins/backup-s3/cron.c";;
	util) ;; # <vibebox/util.h> alone
	docker_frame) echo "plugins/docker-runtime/frame.c";;
	docker_passwd) echo "plugins/docker-runtime/passwd.c";;
	docker_json) echo "plugins/docker-runtime/containers.c
		plugins/docker-runtime/client.c plugins/docker-runtime/images.c
		plugins/docker-runtime/labels.c plugins/docker-runtime/firewall.c
		plugins/docker-runtime/workspace.c plugins/docker-runtime/passwd.c
		plugins/docker-runtime/shell.c";;
	docker_events) echo "plugins/docker-runtime/watch.c
		plugins/docker-runtime/labels.c plugins/docker-runtime/engine.c";;
	docker_engines) echo "plugins/docker-runtime/place.c
		plugins/docker-runtime/engine.c";;
	# json.c: the fuzz target checks each line with vbx__utf8_count
	env_parse) echo "plugins/platform/envparse.c core/json.c
		core/jsonout.c";;
	cli_frames) echo "cli/termproto.c";;
	cli_exec_frames) echo "cli/execproto.c cli/termproto.c";;
	term_frame) echo "plugins/platform/term.c plugins/platform/inq.c
		plugins/platform/metrics.c";;
	exec_frame) echo "plugins/platform/execproto.c plugins/platform/term.c
		plugins/platform/inq.c plugins/platform/metrics.c";;
	esac
}

# Extra compiler and linker flags of a target.
target_flags() {
	case $1 in
	auth_jwt | auth_phc | auth_cache) echo "-I$src/plugins/auth
		$(pkg-config --cflags --libs libargon2 libcrypto) -lpthread";;
	pgtime | conninfo) echo "-I$src/plugins/postgres-store
		$(pkg-config --cflags --libs libpq)";;
	keyring) echo "-I$src/plugins/postgres-store
		$(pkg-config --cflags libpq) $(pkg-config --cflags --libs libcrypto)";;
	docker_*) echo "-I$src/plugins/docker-runtime
		$(pkg-config --cflags --libs libcurl) -lpthread";;
	redis_url) echo "-I$src/plugins/redis-cache
		$(pkg-config --cflags hiredis)";;
	cli_frames | cli_exec_frames) echo "-I$src/cli";;
	metrics_http) echo "-I$src/plugins/metrics";;
	otlp) echo "-I$src/plugins/tracing";;
	web_console) echo "-I$src/plugins/web-console -lpthread";;
	backup_*) echo "-I$src/plugins/backup-s3
		$(pkg-config --cflags --libs libcrypto)";;
	env_parse | term_frame | exec_frame) echo "-I$src/plugins/platform";;
	esac
}

flags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
	-I$build -I$src/include -I$src/core $(pkg-config --cflags libconfig libcjson)"
libs="$(pkg-config --libs libconfig libcjson) -lm"
status=0
for t in "${targets[@]}"; do
	bin=$out/fuzz_$t
	files=""
	for f in $(deps "$t"); do files="$files $src/$f"; done
	# shellcheck disable=SC2086,SC2046
	clang $flags -o "$bin" "$src/tests/fuzz/fuzz_$t.c" $files \
		$(target_flags "$t") $libs
	corpus=$out/corpus-$t
	mkdir -p "$corpus"
	echo "== fuzz_$t for ${seconds}s"
	if ! (cd "$out" && "$bin" -max_total_time="$seconds" -max_len=9000 \
		-print_final_stats=1 "$corpus" "$src/tests/fuzz/seeds/$t" \
		2>&1 | tail -n 12); then
		status=1
	fi
done
exit $status
