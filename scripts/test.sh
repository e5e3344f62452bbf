#!/usr/bin/env bash
# The project's single test command (fresh machine included):
#   scripts/test.sh
# Installs test dependencies, then runs fmt, clippy, all cargo tests, and the
# Prometheus/Alertmanager config and rule checks when those files exist.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"

scripts/install-test-deps.sh

export PATH="$ROOT/.venv-test/bin:$PATH"
# In CI, integration tests must fail (not skip) when a tool is missing.
if [ -n "${CI:-}" ]; then
    export WARDWATCH_REQUIRE_TOOLS=1
    # A build from scratch gains nothing from incremental state, which only takes disk.
    export CARGO_INCREMENTAL=0
fi

step() { printf '\n==> %s\n' "$*"; }

# The browser tests' screenshots (what a person sees), listed at the end of the run.
export WARDWATCH_SCREENSHOTS="${WARDWATCH_SCREENSHOTS:-$(mktemp -d -t wardwatch-screenshots.XXXXXX)}"

# A full disk fails the build with an error far from its cause: say how much room there is.
df -h . | sed 's/^/disk: /'

# Tests write into temporary directories only: what the run leaves in the work tree (tracked,
# untracked or ignored, outside target/ and .venv-test/) is compared before and after.
tree_state() { git status --porcelain --ignored --untracked-files=all 2>/dev/null | grep -v -e ' target/' -e ' .venv-test/' | sort; }
before="$(tree_state)"

step "cargo fmt --all -- --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

step "cargo doc --no-deps --lib (RUSTDOCFLAGS=-D warnings: every intra-doc link resolves)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --lib --quiet

shopt -s nullglob
rule_tests=(prometheus/tests/*.yml)
shopt -u nullglob
if [ "${#rule_tests[@]}" -gt 0 ]; then
    step "promtool test rules ${rule_tests[*]}"
    promtool test rules "${rule_tests[@]}"
fi
if [ -f prometheus/prometheus.yml ]; then
    step "promtool check config prometheus/prometheus.yml"
    promtool check config prometheus/prometheus.yml
fi
if [ -f alertmanager/alertmanager.yml ]; then
    step "amtool check-config alertmanager/alertmanager.yml"
    amtool check-config alertmanager/alertmanager.yml
fi
if [ -x prometheus/tests/runbooks_test.sh ]; then
    step "prometheus/tests/runbooks_test.sh (every alert's runbook section)"
    prometheus/tests/runbooks_test.sh
fi
if [ -x alertmanager/routes_test.sh ]; then
    step "alertmanager/routes_test.sh (routing and inhibition)"
    alertmanager/routes_test.sh
fi

# The benchmarks' smoke pass (small sizes; `cargo bench` runs them in full).
step "cargo test --benches"
cargo test --benches

step "cargo test --lib --bins --tests"
cargo test --lib --bins --tests

step "screenshots of the browser tests (in $WARDWATCH_SCREENSHOTS)"
find "$WARDWATCH_SCREENSHOTS" -name '*.png' -printf '%p  %s bytes\n' | sort

step "the tests left nothing in the work tree"
after="$(tree_state)"
if [ "$before" != "$after" ]; then
    echo "the test run changed the work tree (tests must write into temporary directories):" >&2
    diff <(printf '%s\n' "$before") <(printf '%s\n' "$after") >&2 || true
    exit 1
fi
echo "ok"
