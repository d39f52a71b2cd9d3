#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# tests/docker/docker.sh - a Docker engine and the test image for the tests.
#
#   docker.sh start   start dockerd when none answers (root only), then
#                     build the image vibebox/test:latest when it is missing
#   docker.sh image   only (re)build the image
#   docker.sh check   exit 0 when the engine answers and the image exists
#
# There is no registry here: the image is scripts/base-image.sh's
# busybox-static root filesystem brought in with `docker import`.
set -eu

IMAGE=${VBX_TEST_IMAGE:-vibebox/test:latest}
LOG=${VBX_DOCKERD_LOG:-/var/log/vibebox-test-dockerd.log}

die() { echo "docker.sh: $*" >&2; exit 1; }

engine_up() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

start_engine() {
	engine_up && return 0
	[ "$(id -u)" = 0 ] || die "no Docker engine answers and only root can start one"
	command -v dockerd >/dev/null || die "dockerd not found: apt-get install docker.io"
	nohup dockerd >"$LOG" 2>&1 &
	i=0
	while ! engine_up; do
		i=$((i + 1))
		[ $i -le 60 ] || die "dockerd did not answer within 30 s; see $LOG"
		sleep 0.5
	done
}

build_image() {
	"$(dirname "$0")/../../scripts/base-image.sh" "$IMAGE" >/dev/null
}

case "${1:-}" in
start)
	start_engine
	docker image inspect "$IMAGE" >/dev/null 2>&1 || build_image
	;;
image) build_image ;;
check) engine_up && docker image inspect "$IMAGE" >/dev/null 2>&1 ;;
*) die "usage: docker.sh start|image|check" ;;
esac
