#!/usr/bin/env bash
# The main job: build wardwatch and run the pipeline with embedded defaults.
#   scripts/run.sh [exporter flags...]      e.g. scripts/run.sh --patients 500 --seed 7
# Starts wardwatch-exporter (embedded default hospital) on :10464 and wardwatch-sidecar (embedded
# default: notifications to .run/notifications.jsonl) on :10465; when Debian's `prometheus` and
# `prometheus-alertmanager` are installed (scripts/install-test-deps.sh installs them), also a
# Prometheus on :9090 (prometheus/prometheus.yml) and an Alertmanager on :9093
# (alertmanager/alertmanager.yml) delivering to the sidecar. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"
RUN_DIR="$ROOT/.run"
mkdir -p "$RUN_DIR"

cargo build --release --bin wardwatch-exporter --bin wardwatch-sidecar

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

"$ROOT/target/release/wardwatch-exporter" --events-log "$RUN_DIR/events.jsonl" "$@" &
pids+=($!)
echo "wardwatch-exporter: http://127.0.0.1:10464/ (ground truth in $RUN_DIR/events.jsonl)"

(cd "$RUN_DIR" && exec "$ROOT/target/release/wardwatch-sidecar" \
    --web.listen-address 127.0.0.1:10465 --queue.dir "$RUN_DIR/queue") &
pids+=($!)
echo "wardwatch-sidecar: http://127.0.0.1:10465/ (notifications in $RUN_DIR/wardwatch-notifications.jsonl)"

if command -v prometheus >/dev/null 2>&1; then
    prometheus --config.file "$ROOT/prometheus/prometheus.yml" \
        --storage.tsdb.path "$RUN_DIR/prometheus" \
        --web.listen-address 127.0.0.1:9090 >"$RUN_DIR/prometheus.log" 2>&1 &
    pids+=($!)
    echo "prometheus: http://127.0.0.1:9090/ (log in $RUN_DIR/prometheus.log)"
else
    echo "prometheus not installed: run scripts/install-test-deps.sh for the full pipeline"
fi
AM="$(command -v prometheus-alertmanager || command -v alertmanager || true)"
if [ -n "$AM" ]; then
    "$AM" --config.file "$ROOT/alertmanager/alertmanager.yml" --storage.path "$RUN_DIR/alertmanager" \
        --web.listen-address 127.0.0.1:9093 --cluster.listen-address= >"$RUN_DIR/alertmanager.log" 2>&1 &
    pids+=($!)
    echo "alertmanager: http://127.0.0.1:9093/ (log in $RUN_DIR/alertmanager.log)"
fi
wait -n "${pids[@]}"
