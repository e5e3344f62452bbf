#!/usr/bin/env bash
# Pins alertmanager/alertmanager.yml's behaviour:
#   alertmanager/routes_test.sh
# 1. Routing: `amtool config routes test --verify.receivers` for each case below; any alert that
#    lands on another receiver fails the script.
# 2. Inhibition and the sidecar token: a real Alertmanager runs a scratch copy of the file (with
#    a throwaway `secrets/sidecar-token` beside it, as scripts/run.sh does) on a free port, is
#    given alerts through its API, and must report exactly the expected ones as inhibited.
# Step 2 needs the alertmanager binary; without it the step is skipped with a banner, unless
# CI or WARDWATCH_REQUIRE_TOOLS is set, when it fails.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
CONFIG=alertmanager/alertmanager.yml
failures=0

# --- 1. routing --------------------------------------------------------------------------------
# Each case: the expected receiver, then the alert's labels.
route_cases=(
    "icu-critical        alertname=HypoxiaDetected class=clinical severity=critical department=icu ward=icu-1 bed=03 patient=p00003"
    # A replayed patient's monitor alarm routes as every critical clinical alert of its department.
    "icu-critical        alertname=ArrhythmiaAlarm class=clinical severity=critical department=icu ward=icu-replay bed=01 patient=a103l type=asystole"
    "cardiology-critical alertname=Tachycardia class=clinical severity=critical department=cardiology ward=cardio-1 patient=p00006"
    "wards-critical      alertname=News2Emergency class=clinical severity=critical department=general-medicine ward=medicine-1 patient=p00025"
    "wards-critical      alertname=Hypotension class=clinical severity=critical department=surgery ward=surgery-1 patient=p00040"
    "icu-warning         alertname=Tachypnoea class=clinical severity=warning department=icu ward=icu-2 patient=p00011"
    "cardiology-warning  alertname=HypoxiaForecast class=clinical severity=warning department=cardiology ward=cardio-1 patient=p00007"
    "wards-warning       alertname=News2Urgent class=clinical severity=warning department=general-medicine ward=medicine-1 patient=p00026"
    "clinical-info       alertname=Fever class=clinical severity=info department=icu ward=icu-1 patient=p00001"
    "infrastructure-critical alertname=NetworkLinkDown class=network severity=critical tier=distribution link=icu-1-uplink ward=icu-1"
    "infrastructure-critical alertname=NetworkExfiltrationSuspected class=network severity=critical ward=icu-1 device=mon-icu-1-02"
    "infrastructure      alertname=NetworkLatencyHigh class=network severity=warning tier=wan link=core-cloud-ehr"
    "infrastructure-critical alertname=NodeMemoryHigh class=cluster severity=critical node=node-2"
    "infrastructure      alertname=NodeDiskFillingUp class=cluster severity=warning node=node-3"
    "wardwatch-meta      alertname=WardwatchExporterDown class=meta severity=critical job=wardwatch-exporter instance=127.0.0.1:10464"
    "wardwatch-meta      alertname=SidecarDeliveryFailing class=meta severity=warning channel=slack"
    # No class label: the root's receiver still delivers it.
    "sidecar             alertname=Unclassified severity=critical"
)

echo "routing: ${#route_cases[@]} cases against $CONFIG"
for case in "${route_cases[@]}"; do
    read -r -a words <<<"$case"
    expected="${words[0]}"
    labels=("${words[@]:1}")
    if got="$(amtool config routes test --config.file "$CONFIG" --verify.receivers="$expected" "${labels[@]}" 2>/dev/null)"; then
        echo "  ok    $expected <- ${labels[*]}"
    else
        echo "  FAIL  expected $expected, got ${got:-nothing} <- ${labels[*]}"
        failures=$((failures + 1))
    fi
done

# --- 2. inhibition against a real Alertmanager ---------------------------------------------------
AM="$(command -v prometheus-alertmanager || command -v alertmanager || true)"
if [ -z "$AM" ]; then
    if [ -n "${CI:-}${WARDWATCH_REQUIRE_TOOLS:-}" ]; then
        echo "FAIL: alertmanager is not installed (scripts/install-test-deps.sh installs it)"
        exit 1
    fi
    echo "=========================================================================="
    echo "SKIPPED inhibition tests: alertmanager is not installed"
    echo "=========================================================================="
    [ "$failures" -eq 0 ] || { echo "$failures routing case(s) failed"; exit 1; }
    exit 0
fi

scratch="$(mktemp -d)"
am_pid=""
cleanup() {
    if [ -n "$am_pid" ]; then kill "$am_pid" 2>/dev/null || true; wait "$am_pid" 2>/dev/null || true; fi
    rm -rf "$scratch"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port="$(free_port)"
# The sidecar is not running: notifications fail and are retried, which inhibition ignores.
mkdir -p "$scratch/conf/secrets"
cp "$CONFIG" "$scratch/conf/alertmanager.yml"
echo "throwaway-token" >"$scratch/conf/secrets/sidecar-token"
# Started from another directory, so a relative path would only resolve against the config's.
(cd / && exec "$AM" --config.file "$scratch/conf/alertmanager.yml" --storage.path "$scratch/data" \
    --web.listen-address "127.0.0.1:$port" --cluster.listen-address= >"$scratch/alertmanager.log" 2>&1) &
am_pid=$!
url="http://127.0.0.1:$port"
for _ in $(seq 50); do
    curl -fsS "$url/-/ready" >/dev/null 2>&1 && break
    sleep 0.2
done
if ! curl -fsS "$url/-/ready" >/dev/null 2>&1; then
    echo "FAIL: Alertmanager did not start:"; cat "$scratch/alertmanager.log"; exit 1
fi

# Alerts posted together; the `expect` label (stripped before posting) says whether each must be
# inhibited. Every series the exporter serves carries its job and instance, so alerts do too.
exporter='job=wardwatch-exporter instance=127.0.0.1:10464'
inhibition_cases=(
    # A critical tier silences the warning of the same alert and patient, not another patient's.
    "expect=active    alertname=Tachycardia class=clinical severity=critical department=cardiology ward=cardio-1 patient=p00006 $exporter"
    "expect=inhibited alertname=Tachycardia class=clinical severity=warning department=cardiology ward=cardio-1 patient=p00006 $exporter"
    "expect=active    alertname=Tachycardia class=clinical severity=warning department=cardiology ward=cardio-1 patient=p00007 $exporter"
    # A warning tier silences the info tier.
    "expect=active    alertname=Fever class=clinical severity=warning department=surgery ward=surgery-1 patient=p00040 $exporter"
    "expect=inhibited alertname=Fever class=clinical severity=info department=surgery ward=surgery-1 patient=p00040 $exporter"
    # A critical on one node leaves another node's warning alone.
    "expect=active    alertname=NodeMemoryHigh class=cluster severity=critical node=node-2 $exporter"
    "expect=inhibited alertname=NodeMemoryHigh class=cluster severity=warning node=node-2 $exporter"
    "expect=active    alertname=NodeMemoryHigh class=cluster severity=warning node=node-1 $exporter"
    # A ward uplink down silences the network alerts on it and behind it, not elsewhere.
    "expect=active    alertname=NetworkLinkDown class=network severity=critical tier=distribution link=icu-1-uplink department=icu ward=icu-1 $exporter"
    "expect=inhibited alertname=NetworkPacketLossHigh class=network severity=warning tier=distribution link=icu-1-uplink department=icu ward=icu-1 $exporter"
    "expect=inhibited alertname=NetworkLinkErrors class=network severity=warning tier=access link=icu-1-access department=icu ward=icu-1 $exporter"
    "expect=inhibited alertname=NetworkExfiltrationSuspected class=network severity=critical department=icu ward=icu-1 bed=02 device=mon-icu-1-02 $exporter"
    "expect=active    alertname=NetworkLinkDown class=network severity=critical tier=access link=icu-1-access department=icu ward=icu-1 $exporter"
    "expect=active    alertname=NetworkLatencyHigh class=network severity=warning tier=wan link=core-cloud-ehr $exporter"
    "expect=active    alertname=NetworkExfiltrationSuspected class=network severity=critical department=icu ward=icu-2 bed=01 device=mon-icu-2-01 $exporter"
)
# A second exporter down silences only its own alerts; the pipeline's alerts stay.
other='job=wardwatch-exporter instance=127.0.0.1:20464'
inhibition_cases+=(
    "expect=active    alertname=WardwatchExporterDown class=meta severity=critical $other"
    "expect=inhibited alertname=HypoxiaDetected class=clinical severity=critical department=icu ward=icu-9 patient=p09001 $other"
    "expect=inhibited alertname=NodeCpuSaturated class=cluster severity=warning node=node-9 $other"
    "expect=inhibited alertname=NetworkLinkFlapping class=network severity=warning tier=access link=icu-9-access ward=icu-9 $other"
    "expect=active    alertname=WardwatchSidecarDown class=meta severity=critical job=wardwatch-sidecar instance=127.0.0.1:10465"
    "expect=active    alertname=HypoxiaDetected class=clinical severity=critical department=icu ward=icu-1 patient=p00003 $exporter"
)

printf '%s\n' "${inhibition_cases[@]}" | python3 -c '
import json, sys
alerts = []
for line in sys.stdin:
    labels = dict(word.split("=", 1) for word in line.split())
    alerts.append({"labels": labels})
print(json.dumps(alerts))
' >"$scratch/alerts.json"
curl -fsS -X POST -H 'Content-Type: application/json' --data @"$scratch/alerts.json" "$url/api/v2/alerts" >/dev/null
sleep 1

curl -fsS "$url/api/v2/alerts" >"$scratch/got.json"
echo "inhibition: ${#inhibition_cases[@]} alerts on a real Alertmanager ($("$AM" --version 2>&1 | head -1 | cut -d' ' -f1-3))"
if ! python3 - "$scratch/got.json" <<'EOF'
import json, sys
got = json.load(open(sys.argv[1]))
failed = 0
for alert in got:
    labels = alert["labels"]
    expect = labels.pop("expect")
    state = "inhibited" if alert["status"]["inhibitedBy"] else "active"
    name = " ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k not in ("job", "class"))
    ok = state == expect
    failed += not ok
    print(f"  {'ok  ' if ok else 'FAIL'}  {state:9} (expected {expect}) {name}")
sys.exit(1 if failed else 0)
EOF
then
    failures=$((failures + 1))
fi
if [ "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$scratch/got.json")" -ne "${#inhibition_cases[@]}" ]; then
    echo "  FAIL  Alertmanager holds a different number of alerts than were posted"
    failures=$((failures + 1))
fi

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)"
    exit 1
fi
echo "all routing and inhibition cases pass"
