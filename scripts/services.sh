# SPDX-License-Identifier: Apache-2.0
# scripts/services.sh - start the services that plugins need, when they are
# not running yet. Sourced by scripts/run.sh (and usable by test scripts);
# needs scripts/lib.sh sourced first. Each vbx_start_NAME is idempotent.
#
# Which plugin needs which service:
#   postgres-store  PostgreSQL (the local cluster, database "vibebox")
#   redis-cache     Redis on the loopback port of its url (default 6379)
#   docker-runtime  Docker (dockerd on /var/run/docker.sock)

# Install Debian packages that are missing (one apt-get update first).
vbx_ensure_pkgs() {
	if [ "${VBX_SKIP_DEPS:-0}" = 1 ]; then
		return 0
	fi
	local pkg need=()
	for pkg in "$@"; do
		dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null |
			grep -q '^ii' || need+=("$pkg")
	done
	[ ${#need[@]} -eq 0 ] && return 0
	vbx_say "installing ${need[*]}"
	vbx_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
	vbx_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends "${need[@]}"
}

# Install PACKAGE unless COMMAND is there already (from another package,
# say Docker's own docker-ce, which docker.io would replace).
vbx_ensure_cmd() {
	command -v "$1" >/dev/null || vbx_ensure_pkgs "$2"
}

# Wait up to SECONDS for COMMAND... to succeed.
vbx_wait_for() {
	local seconds="$1" i
	shift
	for ((i = 0; i < seconds * 5; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}

# PostgreSQL: Debian's cluster, and a database "vibebox" owned by a role of
# the user that runs vibeboxd (the default conninfo is
# "postgresql:///vibebox", a Unix-socket connection as that user).
vbx_start_postgresql() {
	vbx_ensure_pkgs postgresql
	if ! pg_isready -q; then
		local ver
		ver="$(pg_lsclusters -h | awk 'NR == 1 { print $1 }')"
		[ -n "$ver" ] || vbx_die "no PostgreSQL cluster: run pg_createcluster"
		vbx_say "starting PostgreSQL $ver"
		vbx_as_root pg_ctlcluster "$ver" main start
		vbx_wait_for 30 pg_isready -q ||
			vbx_die "PostgreSQL did not start: see /var/log/postgresql/"
	fi
	local role="${VBX_DB_ROLE:-$(id -un)}" db="${VBX_DB_NAME:-vibebox}"
	local psql=(vbx_as_root runuser -u postgres -- psql -qtA -v ON_ERROR_STOP=1)
	if [ "$("${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = '$role'")" != 1 ]; then
		"${psql[@]}" -c "CREATE ROLE \"$role\" LOGIN"
	fi
	if [ "$("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
		"${psql[@]}" -c "CREATE DATABASE \"$db\" OWNER \"$role\""
	fi
}

# Redis on loopback only, on PORT (default 6379), when nothing answers
# there yet.
vbx_start_redis() {
	local port="${1:-6379}"
	vbx_ensure_cmd redis-server redis-server
	if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
		return 0
	fi
	local log=/var/log/redis/vibebox-redis-$port.log
	vbx_say "starting Redis on 127.0.0.1:$port (log: $log)"
	vbx_as_root mkdir -p /var/log/redis /var/lib/vibebox-redis
	vbx_as_root redis-server --daemonize yes --bind 127.0.0.1 \
		--port "$port" --dir /var/lib/vibebox-redis --logfile "$log"
	vbx_wait_for 15 sh -c "redis-cli -h 127.0.0.1 -p $port ping | grep -q PONG" ||
		vbx_die "Redis did not start: see $log"
}

# The Redis that redis-cache's url in CONF names: started here when it is
# on this machine (redis://127.0.0.1, localhost or no url: the plugin's
# default, 127.0.0.1:6379); a remote server, TLS (rediss://), a Unix socket
# or Sentinel is the admin's own, and is left alone.
vbx_start_redis_for() {
	local conf="$1" url hostport host port
	# not vbx_conf_uncommented: it takes the // of a url for a comment
	url="$(grep -Ev '^[[:space:]]*(#|//)' "$conf" |
		grep -Eo '"(redis|rediss|unix)://[^"]*"' | head -n1 | tr -d '"')"
	if vbx_conf_uncommented "$conf" | grep -Eq 'sentinels[[:space:]]*='; then
		vbx_say "redis-cache uses Sentinel: start your Redis set yourself"
		return 0
	fi
	case "${url:-redis://127.0.0.1:6379/0}" in
	redis://*)
		hostport="${url#redis://}"
		hostport="${hostport%%/*}"
		hostport="${hostport#*@}"
		host="${hostport%%:*}"
		port="${hostport##*:}"
		[ "$port" != "$hostport" ] || port=6379
		;;
	*)
		vbx_say "redis-cache url $url: not a local redis://, not started"
		return 0
		;;
	esac
	case "${host:-127.0.0.1}" in
	127.0.0.1 | localhost) vbx_start_redis "$port" ;;
	*) vbx_say "redis-cache url $url: not on this machine, not started" ;;
	esac
}

# Docker: a running engine (systemd's, or a dockerd started here).
vbx_start_docker() {
	vbx_ensure_cmd dockerd docker.io
	if vbx_as_root docker info >/dev/null 2>&1; then
		return 0
	fi
	vbx_say "starting dockerd (log: /var/log/vibebox-dockerd.log)"
	if [ -d /run/systemd/system ]; then
		vbx_as_root systemctl start docker
	else
		vbx_as_root sh -c 'nohup dockerd >/var/log/vibebox-dockerd.log 2>&1 &'
	fi
	vbx_wait_for 60 vbx_as_root docker info ||
		vbx_die "dockerd did not start: see /var/log/vibebox-dockerd.log"
}

# Start what the plugins enabled in CONF need.
vbx_start_services_for() {
	local conf="$1"
	if vbx_conf_has_plugin "$conf" postgres-store; then
		# No conninfo: the plugin runs its own cluster under state_dir
		# and needs only PostgreSQL's binaries.
		if grep -Eq '^[^#]*conninfo[[:space:]]*=' "$conf"; then
			vbx_start_postgresql
		else
			vbx_ensure_pkgs postgresql
		fi
	fi
	if vbx_conf_has_plugin "$conf" redis-cache; then
		vbx_start_redis_for "$conf"
	fi
	if vbx_conf_has_plugin "$conf" docker-runtime; then
		vbx_start_docker
	fi
}
