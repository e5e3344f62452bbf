#!/usr/bin/env bash
# Fitting a model file from Prometheus (`wardwatch-sidecar model fit --prometheus`) on the default
# hospital (52 patients, 5 s step): the exporter backfills HOURS of history, promtool imports it,
# a real Prometheus serves it, and the fit is timed. Prints the fit's time, its range queries and
# rows, and the time per day of history.
#   bench/fit.sh [hours, default 24]
# The backfill's OpenMetrics text is about 170 MB per simulated hour; the bench needs that much
# free space under TMPDIR for a moment (it is deleted once imported).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
HOURS="${1:-24}"
for tool in prometheus promtool; do
    command -v "$tool" >/dev/null || { echo "$tool is not installed: run scripts/install-test-deps.sh" >&2; exit 1; }
done
cargo build --release --bin wardwatch-exporter --bin wardwatch-sidecar >&2
WORK="$(mktemp -d)"
PORT=19190
trap 'kill "$PROM" 2>/dev/null || true; rm -rf "$WORK"' EXIT
start=$(date +%s.%N)
# The backfill ends when it starts: the fit reads up to then.
until=$(date -u -d "@$(( $(date +%s) - 10 ))" +%Y-%m-%dT%H:%M:%SZ)
target/release/wardwatch-exporter --seed 7 backfill --hours "$HOURS" --step 5s \
    --output "$WORK/history.om" --events-output "$WORK/events.jsonl" 2>/dev/null
promtool tsdb create-blocks-from openmetrics "$WORK/history.om" "$WORK/data" >/dev/null
rm "$WORK/history.om"
printf 'global:\n  scrape_interval: 5s\n' >"$WORK/prometheus.yml"
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/data" \
    --web.listen-address="127.0.0.1:$PORT" --storage.tsdb.retention.time=30d 2>"$WORK/prometheus.log" &
PROM=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/-/ready" >/dev/null && break; sleep 0.2; done
ready=$(date +%s.%N)
echo "== $HOURS h of the default hospital backfilled and served in $(echo "$ready - $start" | bc) s"
fit_start=$(date +%s.%N)
target/release/wardwatch-sidecar model fit --prometheus "http://127.0.0.1:$PORT" --since "${HOURS}h" \
    --until "$until" --out "$WORK/models/" 2>/dev/null
fit_end=$(date +%s.%N)
secs=$(echo "$fit_end - $fit_start" | bc)
echo "model fit --prometheus over $HOURS h: $secs s, $(echo "scale=1; $secs * 24 / $HOURS" | bc) s per day of history"
echo "peak RSS of Prometheus: $(grep VmHWM /proc/$PROM/status | awk '{print $2/1024 " MB"}')"
