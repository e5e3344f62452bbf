#!/usr/bin/env bash
# The whole wardwatch pipeline on this machine, without Docker:
#
#   scripts/run.sh [--scenario FILE] [exporter flags...]
#   scripts/run.sh --scenario scenarios/hypoxia.yml
#   scripts/run.sh --patients 500 --seed 7
#
# 1. Builds wardwatch-exporter and wardwatch-sidecar (release).
# 2. Installs Prometheus, Alertmanager and the Python inbox (aiosmtpd) if missing, with
#    scripts/install-test-deps.sh (apt, through sudo when not root).
# 3. Makes a scratch directory .run/<timestamp>/ (.run/latest points at it) holding copies of
#    prometheus/ and alertmanager/ configs, a generated sidecar config and bearer token, every
#    log, the Prometheus and Alertmanager storage, the sidecar queue and the inbox.
# 4. Starts a local SMTP inbox (aiosmtpd, Maildir in <scratch>/inbox), the exporter, the sidecar
#    (email to the inbox and a JSON-lines file), Prometheus and Alertmanager; waits until each is
#    healthy and prints the URLs.
# 5. Runs until Ctrl-C (or SIGTERM), or until one of them dies; then stops all of them.
#
# Ports: exporter 10464, sidecar 10465, Prometheus 9090, Alertmanager 9093, inbox 1025.
# Override with WARDWATCH_EXPORTER_PORT, WARDWATCH_SIDECAR_PORT, WARDWATCH_PROMETHEUS_PORT,
# WARDWATCH_ALERTMANAGER_PORT, WARDWATCH_SMTP_PORT. WARDWATCH_RUN_DIR picks the scratch directory.
set -euo pipefail
CALLER_PWD="$(pwd)"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"

EXPORTER_PORT="${WARDWATCH_EXPORTER_PORT:-10464}"
SIDECAR_PORT="${WARDWATCH_SIDECAR_PORT:-10465}"
PROMETHEUS_PORT="${WARDWATCH_PROMETHEUS_PORT:-9090}"
ALERTMANAGER_PORT="${WARDWATCH_ALERTMANAGER_PORT:-9093}"
SMTP_PORT="${WARDWATCH_SMTP_PORT:-1025}"

say() { printf 'run.sh: %s\n' "$*"; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }

# ---- arguments: file paths are taken relative to where the script was called from -------------
exporter_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --scenario | --config | --events-log)
            [ $# -ge 2 ] || die "$1 needs a file"
            exporter_args+=("$1" "$(cd "$CALLER_PWD" && realpath -m -- "$2")")
            shift 2 ;;
        --scenario=* | --config=*)
            exporter_args+=("${1%%=*}" "$(cd "$CALLER_PWD" && realpath -m -- "${1#*=}")")
            shift ;;
        -h | --help)
            sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
            exit 0 ;;
        *)
            exporter_args+=("$1")
            shift ;;
    esac
done

# ---- what it needs ---------------------------------------------------------------------------
command -v cargo >/dev/null 2>&1 \
    || die "cargo not found: install Rust with https://rustup.rs (Debian's cargo is too old), then run again"
have() { command -v "$1" >/dev/null 2>&1; }
alertmanager_bin() { command -v prometheus-alertmanager || command -v alertmanager || true; }
if ! have prometheus || [ -z "$(alertmanager_bin)" ] || [ ! -x "$ROOT/.venv-test/bin/aiosmtpd" ]; then
    say "installing Prometheus, Alertmanager and aiosmtpd (scripts/install-test-deps.sh)"
    scripts/install-test-deps.sh
fi
PROMETHEUS="$(command -v prometheus)"
ALERTMANAGER="$(alertmanager_bin)"
AIOSMTPD="$ROOT/.venv-test/bin/aiosmtpd"

say "building (cargo build --release)"
cargo build --release --bin wardwatch-exporter --bin wardwatch-sidecar
BIN="$ROOT/target/release"

# A probe with no dependency on curl: bash's /dev/tcp. Exit 0 when PATH answers 200.
http_ok() {
    timeout 3 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" "$2" >&3
        IFS=" " read -r _ status _ <&3
        [ "$status" = 200 ]' _ "$1" "$2" 2>/dev/null
}
port_open() { timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null; }

for port in "$EXPORTER_PORT" "$SIDECAR_PORT" "$PROMETHEUS_PORT" "$ALERTMANAGER_PORT" "$SMTP_PORT"; do
    if port_open "$port"; then
        die "port $port is in use. Debian starts its own prometheus and prometheus-alertmanager \
services when it installs them (sudo systemctl disable --now prometheus prometheus-alertmanager); \
or choose other ports with WARDWATCH_*_PORT (see the top of this script)"
    fi
done

# ---- scratch directory -----------------------------------------------------------------------
RUN="${WARDWATCH_RUN_DIR:-$ROOT/.run/$(date -u +%Y%m%dT%H%M%SZ)}"
# The inbox is a Maildir; aiosmtpd only creates its subdirectories when the directory is new.
mkdir -p "$RUN/secrets" "$RUN/inbox/new" "$RUN/inbox/cur" "$RUN/inbox/tmp"
RUN="$(cd "$RUN" && pwd)"
ln -sfn "$RUN" "$ROOT/.run/latest" 2>/dev/null || true

# Prometheus: the repository's config and rules, with the ports of this run.
cp -r prometheus/rules "$RUN/rules"
sed -e "s/127\.0\.0\.1:10464/127.0.0.1:$EXPORTER_PORT/; s/127\.0\.0\.1:10465/127.0.0.1:$SIDECAR_PORT/" \
    -e "s/127\.0\.0\.1:9090/127.0.0.1:$PROMETHEUS_PORT/; s/127\.0\.0\.1:9093/127.0.0.1:$ALERTMANAGER_PORT/" \
    prometheus/prometheus.yml >"$RUN/prometheus.yml"

# Alertmanager: the repository's config, which reads the token from secrets/sidecar-token beside it.
sed -e "s#http://127\.0\.0\.1:10465/#http://127.0.0.1:$SIDECAR_PORT/#" \
    alertmanager/alertmanager.yml >"$RUN/alertmanager.yml"
grep -q 'credentials_file: *secrets/sidecar-token' "$RUN/alertmanager.yml" \
    || die "alertmanager/alertmanager.yml does not send the sidecar token (http_config.authorization.credentials_file: secrets/sidecar-token)"
(umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$RUN/secrets/sidecar-token")

cat >"$RUN/sidecar.yaml" <<EOF
# Generated by scripts/run.sh; every field is documented in src/sidecar/config/default_sidecar.yaml.
listen_address: "127.0.0.1:$SIDECAR_PORT"
queue:
  dir: "$RUN/queue"
inbound_auth:
  bearer_token: {file: "$RUN/secrets/sidecar-token"}
# The console and the API on loopback only, open, so the console opens in a browser.
api_auth: none
links:
  prometheus_url: "http://127.0.0.1:$PROMETHEUS_PORT"
  alertmanager_url: "http://127.0.0.1:$ALERTMANAGER_PORT"
channels:
  # The local inbox: plain SMTP on loopback, no login.
  email:
    host: 127.0.0.1
    port: $SMTP_PORT
    tls: none
    from: "Wardwatch <alerts@wardwatch.local>"
    to: [oncall@wardwatch.local]
    timeout: 10s
  # The charge nurse, told of a critical clinical alert nobody acknowledged within 2 minutes.
  email-charge-nurse:
    host: 127.0.0.1
    port: $SMTP_PORT
    tls: none
    from: "Wardwatch <alerts@wardwatch.local>"
    to: [charge-nurse@wardwatch.local]
    timeout: 10s
  file:
    path: "$RUN/notifications.jsonl"
routes:
  - matchers: {severity: critical, class: clinical}
    channels: [email, file]
    escalation:
      - {after: 2m, channels: [email-charge-nurse]}
  - channels: [email, file]
rescoring:
  # History comes from links.prometheus_url; every decision is appended here.
  audit_log: "$RUN/decisions.jsonl"
EOF

# ---- processes -------------------------------------------------------------------------------
names=()
pids=()
stopping=0
stop_all() {
    [ "$stopping" = 1 ] && return
    stopping=1
    trap '' INT TERM
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for _ in $(seq 1 50); do
        alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.2
    done
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    say "stopped; everything of this run is in $RUN"
}
trap stop_all EXIT
trap 'say "interrupted, stopping"; exit 130' INT
trap 'say "terminated, stopping"; exit 143' TERM

# start NAME LOG CMD...: a background child, its output in LOG.
start() {
    local name="$1" log="$2"
    shift 2
    "$@" </dev/null >"$log" 2>&1 &
    names+=("$name")
    pids+=($!)
}

# wait_healthy NAME CHECK...: until CHECK succeeds (60 s), or fail with the child's log.
wait_healthy() {
    local name="$1" i
    shift
    for i in $(seq 1 300); do
        "$@" && return 0
        local pid="${pids[-1]}"
        kill -0 "$pid" 2>/dev/null || { tail -n 30 "$RUN/$name.log" >&2; die "$name exited during start-up"; }
        sleep 0.2
    done
    tail -n 30 "$RUN/$name.log" >&2
    die "$name not healthy after 60 s (log: $RUN/$name.log)"
}

start inbox "$RUN/inbox.log" "$AIOSMTPD" -n -l "127.0.0.1:$SMTP_PORT" -c aiosmtpd.handlers.Mailbox "$RUN/inbox"
wait_healthy inbox port_open "$SMTP_PORT"

start exporter "$RUN/exporter.log" "$BIN/wardwatch-exporter" \
    --web.listen-address "127.0.0.1:$EXPORTER_PORT" --events-log "$RUN/events.jsonl" "${exporter_args[@]}"
wait_healthy exporter http_ok "$EXPORTER_PORT" /-/healthy

start sidecar "$RUN/sidecar.log" "$BIN/wardwatch-sidecar" --config "$RUN/sidecar.yaml"
wait_healthy sidecar http_ok "$SIDECAR_PORT" /-/ready

start prometheus "$RUN/prometheus.log" "$PROMETHEUS" --config.file "$RUN/prometheus.yml" \
    --storage.tsdb.path "$RUN/prometheus" --web.listen-address "127.0.0.1:$PROMETHEUS_PORT"
wait_healthy prometheus http_ok "$PROMETHEUS_PORT" /-/ready

start alertmanager "$RUN/alertmanager.log" "$ALERTMANAGER" --config.file "$RUN/alertmanager.yml" \
    --storage.path "$RUN/alertmanager" --web.listen-address "127.0.0.1:$ALERTMANAGER_PORT" \
    --cluster.listen-address=
wait_healthy alertmanager http_ok "$ALERTMANAGER_PORT" /-/ready

cat <<EOF

wardwatch is running (Ctrl-C stops everything):
  exporter      http://127.0.0.1:$EXPORTER_PORT/      ground truth: $RUN/events.jsonl
  sidecar       http://127.0.0.1:$SIDECAR_PORT/      notifications: $RUN/notifications.jsonl
                decisions: $RUN/decisions.jsonl   API: http://127.0.0.1:$SIDECAR_PORT/openapi.json
  prometheus    http://127.0.0.1:$PROMETHEUS_PORT/alerts
  alertmanager  http://127.0.0.1:$ALERTMANAGER_PORT/
  inbox         smtp://127.0.0.1:$SMTP_PORT   one file per email in $RUN/inbox/new/
  logs          $RUN/*.log   (.run/latest is this run)

EOF

# Until a signal (the traps exit) or a child's death.
set +e
wait -n
set -e
for i in "${!pids[@]}"; do
    if ! kill -0 "${pids[$i]}" 2>/dev/null; then
        say "${names[$i]} exited; its log ends:"
        tail -n 20 "$RUN/${names[$i]}.log" >&2
    fi
done
exit 1
