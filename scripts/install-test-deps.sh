#!/usr/bin/env bash
# Install everything the tests and benchmarks need on a fresh Debian 12 machine.
# Idempotent, non-interactive (works with no stdin, e.g. in CI), and fast when
# everything is already present.
#
#   Debian: prometheus (prometheus + promtool), prometheus-alertmanager
#           (prometheus-alertmanager + amtool), wrk, chromium (the browser tests) and
#           fonts-dejavu-core (the charts' and the pages' text)
#   Python: a venv at .venv-test/ with pinned prometheus_client, aiosmtpd and scikit-learn
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"

PROMETHEUS_CLIENT_VERSION="0.26.0"
AIOSMTPD_VERSION="1.4.6"
SCIKIT_LEARN_VERSION="1.9.1"
NUMPY_VERSION="2.4.6"
VENV="$ROOT/.venv-test"

export DEBIAN_FRONTEND=noninteractive
installed=()

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo -n"
    fi
fi

have() { command -v "$1" >/dev/null 2>&1; }

# ---- Debian packages -------------------------------------------------------
# Debian names the Alertmanager binary prometheus-alertmanager.
missing_pkgs=()
{ have prometheus && have promtool; } || missing_pkgs+=(prometheus)
{ { have alertmanager || have prometheus-alertmanager; } && have amtool; } \
    || missing_pkgs+=(prometheus-alertmanager)
have wrk || missing_pkgs+=(wrk)
have chromium || missing_pkgs+=(chromium)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing_pkgs+=(fonts-dejavu-core)
have python3 || missing_pkgs+=(python3)
if have python3 && ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    missing_pkgs+=(python3-venv)
fi

if [ "${#missing_pkgs[@]}" -gt 0 ]; then
    echo "install-test-deps: apt-get installing: ${missing_pkgs[*]}"
    # Wait for any other apt/dpkg (e.g. a background install) to finish.
    for _ in $(seq 1 600); do
        if pgrep -x apt-get >/dev/null 2>&1 || pgrep -x dpkg >/dev/null 2>&1; then
            sleep 1
        else
            break
        fi
    done
    $SUDO apt-get update -qq </dev/null
    $SUDO apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "${missing_pkgs[@]}" </dev/null
    installed+=("${missing_pkgs[@]}")
fi

# ---- Python venv -----------------------------------------------------------
venv_ok() {
    [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - "$PROMETHEUS_CLIENT_VERSION" "$AIOSMTPD_VERSION" "$SCIKIT_LEARN_VERSION" <<'PY' >/dev/null 2>&1
import sys
from importlib.metadata import version
sys.exit(0 if (version("prometheus_client"), version("aiosmtpd"), version("scikit-learn")) == tuple(sys.argv[1:4]) else 1)
PY
}

if ! venv_ok; then
    if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
        rm -rf "$VENV"
        echo "install-test-deps: creating venv $VENV"
        python3 -m venv "$VENV"
    fi
    echo "install-test-deps: pip installing prometheus_client==$PROMETHEUS_CLIENT_VERSION aiosmtpd==$AIOSMTPD_VERSION"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        "prometheus_client==$PROMETHEUS_CLIENT_VERSION" "aiosmtpd==$AIOSMTPD_VERSION" \
        "scikit-learn==$SCIKIT_LEARN_VERSION" "numpy==$NUMPY_VERSION" </dev/null
    venv_ok || { echo "install-test-deps: venv check failed after install" >&2; exit 1; }
    installed+=("prometheus_client==$PROMETHEUS_CLIENT_VERSION" "aiosmtpd==$AIOSMTPD_VERSION")
fi

if [ "${#installed[@]}" -gt 0 ]; then
    echo "install-test-deps: installed: ${installed[*]}"
else
    echo "install-test-deps: all test dependencies already present"
fi
