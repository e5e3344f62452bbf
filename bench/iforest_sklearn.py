"""scikit-learn's IsolationForest on the data set benches/iforest.rs writes: fit, batch
score_samples (default single thread, and under a 2-thread joblib backend) and one row per call.
Prints the figures as one JSON object.

    iforest_sklearn.py --data FILE [--features 6] [--repeat 5] [--single-calls 300]

FILE is raw little-endian float32, row-major (WARDWATCH_IFOREST_DATA of benches/iforest.rs).
"""
import argparse
import json
import os
import time

import numpy as np
import sklearn
from joblib import parallel_backend
from sklearn.ensemble import IsolationForest


def timed(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--features", type=int, default=6)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--single-calls", type=int, default=300)
    args = ap.parse_args()
    X = np.fromfile(args.data, dtype="<f4").reshape(-1, args.features)
    rows = X.shape[0]

    fit_s = timed(lambda: IsolationForest(random_state=1).fit(X), args.repeat)
    model = IsolationForest(random_state=1).fit(X)
    batch_s = timed(lambda: model.score_samples(X), args.repeat)
    threads = os.cpu_count() or 1
    with parallel_backend("threading", n_jobs=threads):
        batch_threads_s = timed(lambda: model.score_samples(X), args.repeat)
    single = []
    for i in range(args.single_calls):
        row = X[i % rows : i % rows + 1]
        t = time.perf_counter()
        model.score_samples(row)
        single.append(time.perf_counter() - t)
    single_us = np.array(single) * 1e6
    print(json.dumps({
        "sklearn": sklearn.__version__,
        "rows": rows,
        "features": args.features,
        "threads": threads,
        "fit_ms": fit_s * 1e3,
        "batch_rows_per_s_1_thread": rows / batch_s,
        "batch_rows_per_s_threads": rows / batch_threads_s,
        "single_p50_us": float(np.percentile(single_us, 50)),
        "single_p99_us": float(np.percentile(single_us, 99)),
        "single_calls": args.single_calls,
    }))


if __name__ == "__main__":
    main()
