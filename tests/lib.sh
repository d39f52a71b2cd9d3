# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# lib.sh - TAP helpers the shell tests share; source it after `set -u`:
#
#   . "$(dirname "$0")/../lib.sh" || exit 2
#
# Each step reports with ok or not_ok; finish prints the plan and exits 1
# when a step failed, else 0.

ncases=0
nfailed=0

ok() {
	ncases=$((ncases + 1))
	echo "ok - $1"
}

# not_ok NAME [FILE...] - report a failure with the files that explain it.
not_ok() {
	local name=$1 f
	shift
	ncases=$((ncases + 1))
	nfailed=$((nfailed + 1))
	echo "not ok - $name"
	for f in "$@"; do
		[ -f "$f" ] && tail -n 30 "$f" | sed "s|^|#   ${f##*/}: |"
	done
}

finish() {
	echo "1..$ncases"
	if [ "$nfailed" -ne 0 ]; then
		echo "# $nfailed of $ncases steps failed"
		exit 1
	fi
	exit 0
}

# stop_here NAME FILE... - a step the later ones need failed.
stop_here() {
	not_ok "$@"
	finish
}

# A TCP port on 127.0.0.1 that was free a moment ago.
free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}
