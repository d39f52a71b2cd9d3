#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# scripts/base-image.sh TAG - build a small image from busybox-static with
# `docker import`, for machines with no registry at hand.
#
# The image has /bin/sh and busybox's applets, a user `dev` (uid 1000) and
# a default command that sleeps until it is told to stop, so that an
# environment made from it keeps running. scripts/run.sh builds
# vibebox/base:latest with it when that is missing, so that a fresh install
# can create an environment at once; the tests build vibebox/test:latest.
#
# For the tests of images whose own command exits: IMAGE_CMD replaces the
# default command (a JSON array such as '["/bin/sh"]') and ROOT_SHELL
# root's login shell in /etc/passwd (default /bin/sh); with PASSWD_AT
# (an absolute path) the file is there and /etc/passwd a relative symlink
# to it, as some distributions have it. IMAGE_USER sets the image's USER
# (e.g. dev), as images such as node's have one.
set -eu

tag=${1:?usage: base-image.sh TAG}
busybox=${BUSYBOX:-/bin/busybox}
cmd=${IMAGE_CMD:-'["/bin/sh", "-c", "trap \"exit 0\" TERM; while :; do sleep 1; done"]'}
root_shell=${ROOT_SHELL:-/bin/sh}
passwd_at=${PASSWD_AT:-/etc/passwd}
die() { echo "base-image.sh: $*" >&2; exit 1; }

[ -x "$busybox" ] || die "$busybox not found: apt-get install busybox-static"
# A dynamically linked busybox would need the host's libc in the image.
if command -v ldd >/dev/null && ldd "$busybox" >/dev/null 2>&1; then
	die "$busybox is not static: apt-get install busybox-static"
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root" "$root/home/dev"
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
for app in $("$busybox" --list); do
	[ -e "$root/bin/$app" ] || ln -s busybox "$root/bin/$app"
done
mkdir -p "$root$(dirname "$passwd_at")"
printf 'root:x:0:0:root:/root:%s\ndev:x:1000:1000:dev:/home/dev:/bin/sh\n' \
	"$root_shell" >"$root$passwd_at"
[ "$passwd_at" = /etc/passwd ] || ln -s "..$passwd_at" "$root/etc/passwd"
printf 'root:x:0:\ndev:x:1000:\n' >"$root/etc/group"
chown 1000:1000 "$root/home/dev"
user_change=
[ -z "${IMAGE_USER:-}" ] || user_change="USER $IMAGE_USER"
tar -C "$root" -c . | docker import \
	-c "CMD $cmd" ${user_change:+-c "$user_change"} \
	-c 'ENV PATH=/bin HOME=/root' - "$tag" >/dev/null
echo "built image $tag"
