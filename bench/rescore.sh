#!/usr/bin/env bash
# Per-alert rescoring cost (benches/rescore.rs: features + score + decision on 2 h windows of the
# simulated hospital) beside scikit-learn's IsolationForest scoring one row per call
# (bench/iforest_sklearn.py), fitted on the same rows as wardwatch's patient model. One run, printed
# side by side. The Prometheus fetch is counted by neither.
#   [WARDWATCH_BENCH_CALLS=50000] bench/rescore.sh
# For one core: taskset -c 0 bench/rescore.sh
source "$(dirname "${BASH_SOURCE[0]}")/sklearn_env.sh"

echo "== wardwatch (cargo bench --bench rescore)"
WARDWATCH_RESCORE_DATA="$WORK/rows.f32" WARDWATCH_RESCORE_JSON="$WORK/rust.json" \
    cargo bench --quiet --bench rescore
FEATURES="$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["patient_features"])' "$WORK/rust.json")"
echo "== scikit-learn (bench/iforest_sklearn.py), one row per call, on the patient model's training rows"
"$PY" "$ROOT/bench/iforest_sklearn.py" --data "$WORK/rows.f32" --features "$FEATURES" --repeat 1 \
    --single-calls "${SKLEARN_SINGLE_CALLS:-1000}" >"$WORK/sklearn.json"
cat "$WORK/sklearn.json"
echo

"$PY" - "$WORK/rust.json" "$WORK/sklearn.json" <<'PY'
import json, sys
r, s = (json.load(open(p)) for p in sys.argv[1:3])
assert r["patient_features"] == s["features"], "the two sides read different rows"
print(f"one alert, warm, 1 thread; target p99 <= {r['target_p99_us']:.0f} us; scikit-learn {s['sklearn']} "
      f"fitted on the same {s['rows']:,} x {s['features']} rows")
print(f"| {'measure':<44} | {'p50':>10} | {'p99':>10} |")
print(f"|{'-' * 46}|{'-' * 12}|{'-' * 12}|")
print(f"| {'wardwatch: features + score + decision':<44} | {r['p50_us']:>7.1f} us | {r['p99_us']:>7.1f} us |")
print(f"| {'scikit-learn: score_samples of one row':<44} | {s['single_p50_us']:>7.0f} us | {s['single_p99_us']:>7.0f} us |")
print(f"wardwatch's whole per-alert path is {s['single_p50_us'] / r['p50_us']:.0f}x faster at p50 and "
      f"{s['single_p99_us'] / r['p99_us']:.0f}x at p99 than scikit-learn's model call alone; "
      f"target {'met' if r['p99_us'] <= r['target_p99_us'] else 'NOT met'}")
PY
