#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The shipped alerting rules of backups (packaging/prometheus/
# backup-alerts.yml) are valid and behave as their promtool test cases
# say: "no successful backup in 26 hours" fires past 26 h (and 10 min),
# not before, and not while one replica backs up.
set -u
dir=$VBX_SRCDIR/packaging/prometheus
if ! command -v promtool >/dev/null; then
	if [ "${VBX_REQUIRE_SERVICES:-}" = 1 ]; then
		echo "FAILED: no promtool (Debian: prometheus)"
		exit 1
	fi
	echo "skipped: no promtool (Debian: prometheus)"
	exit 77
fi
cd "$dir" || exit 1
promtool check rules backup-alerts.yml || exit 1
promtool test rules backup-alerts.test.yml || exit 1
echo "ok - backup alert rules"
