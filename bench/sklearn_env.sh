# Sourced by the benchmarks that compare with scikit-learn: ROOT (the repository), PY (the test
# venv's Python, checked to have scikit-learn) and WORK (a scratch directory removed on exit).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"
PY="$ROOT/.venv-test/bin/python"
"$PY" -c 'import sklearn' 2>/dev/null || { echo "scikit-learn is not in .venv-test: run scripts/install-test-deps.sh" >&2; exit 1; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
