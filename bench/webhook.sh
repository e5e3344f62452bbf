#!/usr/bin/env bash
# Webhook benchmark: the release wardwatch-sidecar, fsync on, under load from wrk (a second
# process on loopback) posting distinct 10-alert groups. Prints throughput, acknowledgement
# latency percentiles and the sidecar's peak RSS, then a flood far above its in-flight limit
# (answered 503, memory bounded).
#   [MAX_ITEMS=10000] [MAX_BYTES=268435456] bench/webhook.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"
SECONDS_RUN="${1:-20}"
CONNECTIONS="${2:-32}"
command -v wrk >/dev/null || { echo "wrk is not installed: run scripts/install-test-deps.sh" >&2; exit 1; }
cargo build --release --bin wardwatch-sidecar >&2
WORK="$(mktemp -d)"
PORT=18465
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
cat >"$WORK/sidecar.yaml" <<YAML
listen_address: 127.0.0.1:$PORT
max_in_flight: 256
queue:
  dir: $WORK/queue
  max_items: ${MAX_ITEMS:-10000}
  max_bytes: ${MAX_BYTES:-268435456}
  fsync: true
channels:
  file:
    path: $WORK/notifications.jsonl
YAML
"$ROOT/target/release/wardwatch-sidecar" --config "$WORK/sidecar.yaml" --log.level warn 2>"$WORK/sidecar.log" &
PID=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/-/ready" >/dev/null && break; sleep 0.1; done

echo "== sustained: $CONNECTIONS connections, ${SECONDS_RUN}s, 10-alert groups, fsync on"
wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_RUN}s" --latency -s "$ROOT/bench/webhook_post.lua" "http://127.0.0.1:$PORT/webhook" \
    | grep -E "Requests/sec|50%|90%|99%|Non-2xx|requests in"
echo "sidecar peak RSS: $(grep VmHWM /proc/$PID/status | awk '{print $2/1024 " MB"}')"

echo "== flood: 1024 connections against max_in_flight 256, 10s"
wrk -t2 -c1024 -d10s --latency -s "$ROOT/bench/webhook_post.lua" "http://127.0.0.1:$PORT/webhook" \
    | grep -E "Requests/sec|99%|Non-2xx|requests in|Socket errors"
echo "sidecar peak RSS after the flood: $(grep VmHWM /proc/$PID/status | awk '{print $2/1024 " MB"}')"
curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^wardwatch_sidecar_webhooks_received_total|^wardwatch_sidecar_queue_depth'
