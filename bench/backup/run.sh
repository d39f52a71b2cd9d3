#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Backup throughput: backup-s3's pipeline (tests/backup/bkrun: gzip,
# AES-256-GCM chunks, multipart upload with curl's SigV4) against the
# shell pipeline the deployment used (gzip | openssl enc -aes-256-cbc |
# aws s3 cp -), on the same input and the same S3 server (tests/s3's
# s3rver on loopback), one after the other, in one run.
#
#   bench/backup/run.sh [MIB] [FILE]   (from a configured build dir's
#                                       parent; BUILD=dir, default build)
#
# FILE is the dump to back up (e.g. `pg_dump -Fc DB > FILE`); without it,
# MIB (default 512) MiB of a text-like dump that compresses about 3:1.
# Needs node and npm (tests/s3), openssl, and an `aws` CLI (Debian:
# awscli) for the shell pipeline.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-$src/build}
mib=${1:-512}
dir=$(mktemp -d)
trap 'kill "$s3pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
(cd "$src/tests/s3" && [ -d node_modules ] || npm ci --no-audit --no-fund >/dev/null)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
node "$src/tests/s3/server.js" "$port" "$dir/s3" bench >"$dir/s3.log" 2>&1 &
s3pid=$!
for _ in $(seq 100); do grep -q ready "$dir/s3.log" && break; sleep 0.1; done
input=${2:-$dir/dump}
if [ -z "${2:-}" ]; then
	python3 - "$mib" "$input" <<'PY'
import os, sys
mib, path = int(sys.argv[1]), sys.argv[2]
with open(path, "wb") as f:
    for i in range(mib):
        # a third random, the rest repeated: compresses like a dump
        r = os.urandom(1 << 18).hex().encode()[: (1 << 20) // 3]
        f.write((r * 3)[: 1 << 20] if i % 2 else r.ljust(1 << 20, b"x"))
PY
fi
size=$(stat -c %s "$input")
openssl rand -hex 32 >"$dir/key"
export BK_ENDPOINT=http://127.0.0.1:$port BK_REGION=us-east-1 BK_BUCKET=bench
export BK_ACCESS=S3RVER BK_SECRET=S3RVER BK_KEYFILE=$dir/key
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_DEFAULT_REGION=us-east-1
rate() { python3 -c "print(f'{$size / $1 / 1e6:.1f} MB/s')"; }
t0=$(date +%s.%N)
"$build/tests/backup/bkrun" backup db/bench.dump.gz.enc <"$input" 2>/dev/null
t1=$(date +%s.%N)
ours=$(python3 -c "print($t1 - $t0)")
t0=$(date +%s.%N)
gzip <"$input" | openssl enc -aes-256-cbc -pbkdf2 -pass "file:$dir/key" |
	aws --endpoint-url "$BK_ENDPOINT" s3 cp - s3://bench/db/shell.dump.gz.enc \
		--only-show-errors
t1=$(date +%s.%N)
shell=$(python3 -c "print($t1 - $t0)")
echo "input: $((size >> 20)) MiB"
echo "backup-s3 pipeline: ${ours} s, $(rate "$ours")"
echo "shell pipeline:     ${shell} s, $(rate "$shell")"
