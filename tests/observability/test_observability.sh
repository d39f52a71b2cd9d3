#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test_observability.sh - check packaging/observability with the real
# tools: promtool (alert rules, their unit tests, the scrape config, every
# PromQL query of the Grafana dashboard), amtool (the AlertManager config
# and its routing), and obscheck.py for what no Debian tool checks (the
# dashboard's structure, the Promtail config against the daemon's own JSON
# log lines, the metrics and runbook anchors of docs/monitoring.md).
# Exits 77 (skipped) without promtool or amtool (Debian: prometheus,
# prometheus-alertmanager), 1 instead with VBX_REQUIRE_SERVICES=1.
set -u
src=${VBX_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=tests/lib.sh
. "$src/tests/lib.sh" || exit 2
obs=$src/packaging/observability
check=$src/tests/observability/obscheck.py

for tool in promtool amtool; do
	if ! command -v "$tool" >/dev/null; then
		echo "test_observability.sh: no $tool (apt-get install prometheus" \
			"prometheus-alertmanager); skipped" >&2
		[ "${VBX_REQUIRE_SERVICES:-}" = 1 ] && exit 1
		exit 77
	fi
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# step NAME COMMAND... - one TAP step; its output explains a failure.
step() {
	local name=$1
	shift
	if "$@" >"$tmp/out" 2>&1; then
		ok "$name"
	else
		not_ok "$name" "$tmp/out"
	fi
}

step "promtool check rules alerts.yml" \
	promtool check rules "$obs/prometheus/alerts.yml"
step "promtool test rules: each alert fires and resolves" \
	promtool test rules "$obs/prometheus/alerts_test.yml"
step "promtool check config prometheus.yml" \
	promtool check config "$obs/prometheus/prometheus.yml"

# Every alert of alerts.yml has a test that makes it fire.
# shellcheck disable=SC2317 # run through step
alerts_tested() {
	local a missing=0
	while read -r a; do
		grep -q "alertname: $a\$" "$obs/prometheus/alerts_test.yml" ||
			{ echo "no test of $a" && missing=1; }
	done < <(sed -n 's/^ *- alert: *//p' "$obs/prometheus/alerts.yml")
	return "$missing"
}
step "every alert has a promtool test" alerts_tested

step "amtool check-config alertmanager.yml" \
	amtool check-config "$obs/alertmanager/alertmanager.yml"
# route LABELS RECEIVERS - where AlertManager sends an alert.
# shellcheck disable=SC2317 # run through step
route() {
	amtool config routes test --config.file="$obs/alertmanager/alertmanager.yml" \
		--verify.receivers="$2" "$1"
}
step "alertmanager: critical pages and reaches chat" \
	route severity=critical pager,chat
step "alertmanager: warning goes to chat only" route severity=warning chat
# Each notification template renders (amtool's example alert data).
# shellcheck disable=SC2317 # run through step
templates_render() {
	local t
	mkdir -p "$tmp/tmpl" && : >"$tmp/empty.tmpl"
	/usr/bin/python3 "$check" amtemplates \
		"$obs/alertmanager/alertmanager.yml" "$tmp/tmpl" || return 1
	for t in "$tmp"/tmpl/*.tmpl; do
		amtool template render --template.glob="$tmp/empty.tmpl" \
			--template.text="$(cat "$t")" >/dev/null || return 1
	done
}
step "alertmanager: every notification template renders" templates_render

step "dashboard JSON: variables, layout, queries" \
	/usr/bin/python3 "$check" dashboard "$obs/grafana/vibebox.json" "$tmp/dash.yml"
step "dashboard PromQL: promtool parses every query" \
	promtool check rules "$tmp/dash.yml"

step "grafana provisioning: data sources linked, dashboard provider" \
	/usr/bin/python3 "$check" grafana "$obs/grafana/datasources.yml" \
	"$obs/grafana/dashboards.yml"
step "promtail.yml: structure and labels" \
	/usr/bin/python3 "$check" promtail "$obs/promtail/promtail.yml"
if [ -x "${VIBEBOXD:-}" ]; then
	step "promtail json stage reads vibeboxd's own log lines" \
		/usr/bin/python3 "$check" loglines "$obs/promtail/promtail.yml" "$VIBEBOXD"
else
	echo "# VIBEBOXD not set: the daemon's log lines are not checked"
fi

step "docs/monitoring.md: every metric and runbook anchor" \
	/usr/bin/python3 "$check" docs "$src/docs/monitoring.md" \
	"$obs/prometheus/alerts.yml" "$obs/grafana/vibebox.json"

finish
