#!/usr/bin/env bash
# The main job: build wardwatch and run the pipeline with embedded defaults.
#   scripts/run.sh [exporter flags...]      e.g. scripts/run.sh --patients 500 --seed 7
# Starts wardwatch-exporter (embedded default hospital) on :10464 and, when Debian's
# `prometheus` is installed (scripts/install-test-deps.sh installs it), a Prometheus on :9090
# scraping it with prometheus/prometheus.yml. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"
RUN_DIR="$ROOT/.run"
mkdir -p "$RUN_DIR"

cargo build --release --bin wardwatch-exporter

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

"$ROOT/target/release/wardwatch-exporter" --events-log "$RUN_DIR/events.jsonl" "$@" &
pids+=($!)
echo "wardwatch-exporter: http://127.0.0.1:10464/ (metrics at /metrics, ground truth in $RUN_DIR/events.jsonl)"

if command -v prometheus >/dev/null 2>&1; then
    prometheus --config.file "$ROOT/prometheus/prometheus.yml" \
        --storage.tsdb.path "$RUN_DIR/prometheus" \
        --web.listen-address 127.0.0.1:9090 >"$RUN_DIR/prometheus.log" 2>&1 &
    pids+=($!)
    echo "prometheus: http://127.0.0.1:9090/ (log in $RUN_DIR/prometheus.log)"
else
    echo "prometheus not installed: run scripts/install-test-deps.sh to have one scrape the exporter"
fi
wait -n "${pids[@]}"
