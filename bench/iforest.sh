#!/usr/bin/env bash
# Isolation forest benchmark: wardwatch (benches/iforest.rs) and scikit-learn
# (bench/iforest_sklearn.py) on the same 100,000 x 6 data set, one after the other in one run,
# printed side by side. The Rust side writes the data set (raw float32) and the Python side reads it.
#   [WARDWATCH_BENCH_REPEAT=10] [SKLEARN_REPEAT=5] bench/iforest.sh
# For one core: taskset -c 0 bench/iforest.sh
source "$(dirname "${BASH_SOURCE[0]}")/sklearn_env.sh"

echo "== wardwatch (cargo bench --bench iforest)"
WARDWATCH_IFOREST_DATA="$WORK/data.f32" WARDWATCH_IFOREST_JSON="$WORK/rust.json" \
    cargo bench --quiet --bench iforest
echo "== scikit-learn (bench/iforest_sklearn.py), same data"
"$PY" "$ROOT/bench/iforest_sklearn.py" --data "$WORK/data.f32" --features 6 --repeat "${SKLEARN_REPEAT:-5}" >"$WORK/sklearn.json"
cat "$WORK/sklearn.json"
echo

"$PY" - "$WORK/rust.json" "$WORK/sklearn.json" <<'PY'
import json, sys
r, s = (json.load(open(p)) for p in sys.argv[1:3])
assert (r["rows"], r["features"]) == (s["rows"], s["features"]), "the two sides read different data"
print(f"{r['rows']:,} rows x {r['features']} features, 100 trees, 256-row subsample; scikit-learn {s['sklearn']}")
rows = [
    ("fit", f"{r['fit_ms']:.1f} ms", f"{s['fit_ms']:.0f} ms", s["fit_ms"] / r["fit_ms"]),
    ("score_samples batch, 1 thread", f"{r['batch_rows_per_s_1_thread']:,.0f} rows/s",
     f"{s['batch_rows_per_s_1_thread']:,.0f} rows/s", r["batch_rows_per_s_1_thread"] / s["batch_rows_per_s_1_thread"]),
    (f"score_samples batch, {r['threads']} threads", f"{r['batch_rows_per_s_threads']:,.0f} rows/s",
     f"{s['batch_rows_per_s_threads']:,.0f} rows/s", r["batch_rows_per_s_threads"] / s["batch_rows_per_s_threads"]),
    ("one row per call, p50", f"{r['single_p50_us']:.2f} us", f"{s['single_p50_us'] / 1000:.2f} ms", s["single_p50_us"] / r["single_p50_us"]),
    ("one row per call, p99", f"{r['single_p99_us']:.2f} us", f"{s['single_p99_us'] / 1000:.2f} ms", s["single_p99_us"] / r["single_p99_us"]),
]
print(f"| {'measure':<32} | {'wardwatch':>18} | {'scikit-learn':>18} | {'wardwatch faster':>16} |")
print(f"|{'-' * 34}|{'-' * 20}|{'-' * 20}|{'-' * 18}|")
for name, a, b, ratio in rows:
    print(f"| {name:<32} | {a:>18} | {b:>18} | {ratio:>15.1f}x |")
PY
