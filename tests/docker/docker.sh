#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# tests/docker/docker.sh - a Docker engine and the test image for the tests.
#
#   docker.sh start   start dockerd when none answers (root only), then
#                     build the test images when they are missing
#   docker.sh image   only (re)build the images
#   docker.sh check   exit 0 when the engine answers and the images exist
#
# There is no registry here: the images are scripts/base-image.sh's
# busybox-static root filesystem brought in with `docker import`:
#   vibebox/test:latest      the test image
#   vibebox/test-cmd:latest  like debian or python: its command (CMD
#                            ["/bin/sh"]) exits at once without a TTY;
#                            root's login shell is /bin/ash, and
#                            /etc/passwd a symlink to /usr/lib/passwd
#   vibebox/test-dev:latest  like vibebox/test with USER dev (uid 1000,
#                            home /home/dev): a workspace owned by a user
set -eu

IMAGE=${VBX_TEST_IMAGE:-vibebox/test:latest}
CMD_IMAGE=${VBX_TEST_CMD_IMAGE:-vibebox/test-cmd:latest}
DEV_IMAGE=${VBX_TEST_DEV_IMAGE:-vibebox/test-dev:latest}
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

base_image() { "$(dirname "$0")/../../scripts/base-image.sh" "$@" >/dev/null; }
build_image() { base_image "$IMAGE"; }
build_cmd_image() {
	IMAGE_CMD='["/bin/sh"]' ROOT_SHELL=/bin/ash PASSWD_AT=/usr/lib/passwd \
		base_image "$CMD_IMAGE"
}
build_dev_image() { IMAGE_USER=dev base_image "$DEV_IMAGE"; }
have() { docker image inspect "$1" >/dev/null 2>&1; }

case "${1:-}" in
start)
	start_engine
	have "$IMAGE" || build_image
	have "$CMD_IMAGE" || build_cmd_image
	have "$DEV_IMAGE" || build_dev_image
	;;
image) build_image && build_cmd_image && build_dev_image ;;
check) engine_up && have "$IMAGE" && have "$CMD_IMAGE" ;;
*) die "usage: docker.sh start|image|check" ;;
esac
