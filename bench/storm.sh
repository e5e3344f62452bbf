#!/usr/bin/env bash
# Alert-storm benchmark (benches/storm.rs): a real Prometheus holding 3 h of the default
# hospital (52 patients, 5 s step), the release sidecar rescoring against it, and bursts of
# alerts posted at once: one at a time, 1,000 warnings, 1,000 warnings with a critical alert
# halfway, and the same burst through a real Alertmanager to a plain webhook (the anchor).
# Prints throughput, webhook-to-delivered p50/p99/max and range queries per alert, side by side.
#   [WARDWATCH_STORM_ALERTS=1000] [WARDWATCH_STORM_JSON=figures.json] bench/storm.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
for tool in prometheus promtool; do
    command -v "$tool" >/dev/null || { echo "$tool is not installed: run scripts/install-test-deps.sh" >&2; exit 1; }
done
command -v alertmanager >/dev/null || command -v prometheus-alertmanager >/dev/null \
    || { echo "Alertmanager is not installed: run scripts/install-test-deps.sh" >&2; exit 1; }
exec cargo bench --bench storm
