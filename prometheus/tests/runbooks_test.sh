#!/usr/bin/env bash
# Every alerting rule's runbook_url points at its own section of docs/runbooks.md:
#   prometheus/tests/runbooks_test.sh
# - each alert name in prometheus/rules/ has a heading `### <name>` in docs/runbooks.md;
# - each runbook_url is `docs/runbooks.md#<the alert's name in lower case>` (the heading's anchor);
# - each alert sets runbook_url, directly or through a YAML alias shared by its tiers.
# (promtool test rules checks each annotation's rendered value; this checks the document.)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
RUNBOOKS=docs/runbooks.md
failures=0
fail() { echo "  FAIL  $*"; failures=$((failures + 1)); }

# One line per rule: file, alert name, and what its annotations hold (a runbook anchor, an alias).
rules="$(for file in prometheus/rules/*.yml; do
    awk -v file="$file" '
        /^ *- alert: / { if (name != "") print file, name, seen; name = $3; seen = "none" }
        / runbook_url: / { match($0, /#[a-z0-9]+/); seen = substr($0, RSTART + 1, RLENGTH - 1) }
        / annotations: \*/ { seen = "alias" }
        END { if (name != "") print file, name, seen }
    ' "$file"
done)"

count=0
while read -r file name seen; do
    count=$((count + 1))
    lower="${name,,}"
    grep -qx "### $name" "$RUNBOOKS" || fail "$name ($file): no '### $name' section in $RUNBOOKS"
    case "$seen" in
        alias) ;;
        none) fail "$name ($file): no runbook_url annotation" ;;
        "$lower") ;;
        *) fail "$name ($file): runbook_url points at #$seen, not #$lower" ;;
    esac
done <<<"$rules"

[ "$count" -gt 0 ] || fail "no alerting rules found in prometheus/rules/"
if [ "$failures" -ne 0 ]; then
    echo "$failures runbook problem(s)"
    exit 1
fi
echo "runbooks: all $count alerting rules point at their section of $RUNBOOKS"
