#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Build, install and run vibeboxd in the foreground: as root on a fresh
# Debian 12, from a clone of the repository.
#
#   scripts/run.sh
#
# Each step is idempotent, so running it again rebuilds what changed and
# starts the daemon again. Steps: install the build packages, build in
# build/run, `make install` into the prefix, start the services that the
# enabled plugins need (PostgreSQL, Redis, Docker), create state_dir and
# the key files, build the vibebox/base image when docker-runtime has no
# image yet, check the config (vibeboxd -t), then exec vibeboxd. Ctrl-C stops it cleanly.
#
# Environment:
#   VBX_PREFIX=/usr/local   install prefix
#   VBX_CONF=FILE           config (default PREFIX/etc/vibebox/vibeboxd.conf,
#                           installed on the first run, then left alone)
#   VBX_BUILD_DIR=DIR       build directory (default build/run)
#   VBX_SKIP_DEPS=1         install no Debian packages
#   VBX_CONFIGURE_FLAGS=... extra configure arguments
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=scripts/services.sh
. "$VBX_ROOT/scripts/services.sh"

prefix="${VBX_PREFIX:-/usr/local}"
build="${VBX_BUILD_DIR:-$VBX_ROOT/build/run}"
conf="${VBX_CONF:-$prefix/etc/vibebox/vibeboxd.conf}"
daemon="$prefix/sbin/vibeboxd"

build_and_install() {
	vbx_configure "$build" --prefix="$prefix"
	vbx_say "building in $build"
	make -C "$build" -j"$VBX_JOBS"
	vbx_say "installing into $prefix"
	vbx_as_root make -C "$build" install >/dev/null
	# libvibebox-test.so went into PREFIX/lib: refresh the linker cache.
	vbx_as_root ldconfig
}

# state_dir from the config, or the daemon's default for this prefix.
make_state_dir() {
	local dir
	dir="$(vbx_conf_string "$conf" state_dir)"
	[ -n "$dir" ] || dir="$prefix/var/lib/vibebox"
	vbx_as_root mkdir -p "$dir"
	# 0711: run as root, the embedded PostgreSQL runs as the user
	# "postgres", which must be able to pass through to its directory.
	vbx_as_root chmod 711 "$dir"
}

# The file that config key KEY (jwt_secret_file, secrets_key_file) names,
# made once with LINE as its content: a fresh install runs with nothing to
# set up by hand.
make_key_file() {
	local key="$1" line="$2" file
	file="$(grep -Eo "^[^#]*$key[[:space:]]*=[[:space:]]*\"[^\"]+\"" \
		"$conf" | sed -E 's/.*"([^"]+)"/\1/' | head -n 1)"
	[ -n "$file" ] && [ ! -e "$file" ] || return 0
	vbx_say "creating $file ($key)"
	vbx_as_root mkdir -p "$(dirname "$file")"
	(umask 077 && printf '%s\n' "$line" >"$file")
}

# With docker-runtime enabled and no registry to pull from, a fresh install
# still needs one image to create an environment from: vibebox/base, built
# from busybox-static (allowed by the default images list).
make_base_image() {
	vbx_conf_has_plugin "$conf" docker-runtime || return 0
	docker image inspect vibebox/base:latest >/dev/null 2>&1 && return 0
	vbx_ensure_pkgs busybox-static
	vbx_as_root "$VBX_ROOT/scripts/base-image.sh" vibebox/base:latest
}

main() {
	vbx_install_deps build
	build_and_install
	[ -f "$conf" ] || vbx_die "no config at $conf: set VBX_CONF to yours"
	vbx_start_services_for "$conf"
	make_state_dir
	make_key_file jwt_secret_file "k1:$(openssl rand -hex 32)"
	make_key_file secrets_key_file "$(openssl rand -hex 32)"
	make_base_image
	vbx_say "checking $conf"
	"$daemon" -t -c "$conf"
	vbx_say "starting $daemon -c $conf (Ctrl-C stops it)"
	exec "$daemon" -c "$conf"
}

main "$@"
