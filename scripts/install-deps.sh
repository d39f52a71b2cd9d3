#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Install the Debian 12 packages that vibeboxd needs, as root.
#
#   scripts/install-deps.sh [--update] [GROUP...]
#
# GROUPs: build (compile), test (make check), bench (bench/http),
# deb (build the Debian package), all. Default: build test.
#
# Idempotent: only missing packages are installed, and apt-get update runs
# only when something is missing (or with --update). Services that a
# package would start on installation (nginx on port 80, say) are not
# started: the project's scripts start their own instances.
set -euo pipefail

build_pkgs=(build-essential autoconf automake libtool pkg-config
	libconfig-dev libcjson-dev libwebsockets-dev libcmocka-dev libssl-dev
	libcurl4-openssl-dev libpq-dev libargon2-dev libhiredis-dev openssl
	zlib1g-dev)
test_pkgs=(valgrind clang libclang-rt-14-dev python3 python3-websockets curl
	jq clang-format git postgresql python3-yaml python3-jsonschema docker.io
	busybox-static socat nginx-light wrk redis-server redis-sentinel brotli
	protobuf-compiler python3-protobuf prometheus prometheus-alertmanager
	s3cmd nodejs)
# From bookworm-backports (test group): the OTLP protos test_tracing.py
# compiles with protoc to decode what the tracing plugin exports.
test_backports=(opentelemetry-proto)
BACKPORTS_LIST=/etc/apt/sources.list.d/vibebox-bookworm-backports.list
bench_pkgs=(wrk nginx-light nodejs curl)
deb_pkgs=(debhelper dpkg-dev fakeroot lintian)

usage() {
	sed -n '2,13s/^# \{0,1\}//p' "$0"
	exit "${1:-0}"
}

missing() {
	local pkg
	for pkg in "$@"; do
		dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null |
			grep -q '^ii' || echo "$pkg"
	done
}

# apt-get install with service starts refused (policy-rc.d exit 101) when
# the machine has no policy of its own.
install_quietly() {
	local policy=/usr/sbin/policy-rc.d created=0
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		created=1
	fi
	local rc=0
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends -o Acquire::Retries=3 "$@" || rc=$?
	if [ "$created" = 1 ]; then
		rm -f "$policy"
	fi
	return "$rc"
}

main() {
	local update=0 groups=() pkgs=()
	while [ $# -gt 0 ]; do
		case "$1" in
		--update) update=1 ;;
		-h | --help) usage 0 ;;
		build | test | bench | deb) groups+=("$1") ;;
		all) groups+=(build test bench deb) ;;
		*) echo "unknown argument: $1" >&2 && usage 2 ;;
		esac
		shift
	done
	[ ${#groups[@]} -gt 0 ] || groups=(build test)
	[ "$(id -u)" -eq 0 ] || {
		echo "error: run as root (apt-get install needs it)" >&2
		exit 1
	}

	local g
	for g in "${groups[@]}"; do
		case "$g" in
		build) pkgs+=("${build_pkgs[@]}") ;;
		test) pkgs+=("${test_pkgs[@]}") ;;
		bench) pkgs+=("${bench_pkgs[@]}") ;;
		deb) pkgs+=("${deb_pkgs[@]}") ;;
		esac
	done
	mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u)

	local need=() need_bpo=()
	mapfile -t need < <(missing "${pkgs[@]}")
	if [[ " ${groups[*]} " == *" test "* ]]; then
		mapfile -t need_bpo < <(missing "${test_backports[@]}")
	fi
	if [ ${#need_bpo[@]} -gt 0 ] && [ ! -e "$BACKPORTS_LIST" ] &&
		! grep -rqs 'bookworm-backports' /etc/apt/sources.list \
			/etc/apt/sources.list.d/; then
		echo 'deb http://deb.debian.org/debian bookworm-backports main' \
			>"$BACKPORTS_LIST"
		update=1
	fi
	if [ ${#need[@]} -eq 0 ] && [ ${#need_bpo[@]} -eq 0 ] &&
		[ "$update" = 0 ]; then
		echo "install-deps: all packages present (${groups[*]})"
	else
		DEBIAN_FRONTEND=noninteractive apt-get update -q \
			-o Acquire::Retries=3
		[ ${#need[@]} -eq 0 ] || install_quietly "${need[@]}"
		[ ${#need_bpo[@]} -eq 0 ] ||
			install_quietly -t bookworm-backports "${need_bpo[@]}"
	fi

	# Node's npm: a nodejs that bundles it (NodeSource's) conflicts with
	# Debian's npm package, so install that only when npm is absent. The
	# test group needs it too: tests/s3 (backup-s3's S3 server) is npm's.
	if [[ " ${groups[*]} " == *" bench "* || " ${groups[*]} " == *" test "* ]] &&
		! command -v npm >/dev/null
	then
		install_quietly npm
	fi
}

main "$@"
