#!/usr/bin/env python3
"""Reference benchmark for the exporter's /metrics rendering, using the
official Python client (prometheus_client).

Builds a CollectorRegistry of gauges shaped like wardwatch-exporter's
per-patient families (wardwatch_patient_<x>{department,ward,bed,patient}),
N series in total, then per repeat:
  - sets every series to a new random float (a simulation step), and
  - renders the exposition with generate_latest() (+ gzip level 1 if --gzip).

Reports both "step + render" (what one scrape costs; the headline
median_seconds/min_seconds) and "render only" timings, as one JSON line.

Usage: python bench/python_exposition.py --series N --repeat R [--gzip]
Needs prometheus_client (scripts/install-test-deps.sh puts it in .venv-test/).
"""

import argparse
import gzip
import json
import random
import statistics
import sys
import time

from prometheus_client import CollectorRegistry, Gauge, generate_latest

FAMILIES = [
    "heart_rate_bpm",
    "systolic_bp_mmhg",
    "diastolic_bp_mmhg",
    "mean_arterial_pressure_mmhg",
    "respiratory_rate_per_min",
    "spo2_ratio",
    "temperature_celsius",
    "etco2_mmhg",
    "glucose_mmol_per_l",
    "lactate_mmol_per_l",
    "gcs_score",
    "pain_score",
    "news2_score",
    "urine_output_ml_per_hour",
    "fluid_balance_ml",
    "infusion_rate_ml_per_hour",
    "fio2_ratio",
    "peep_cmh2o",
    "tidal_volume_ml",
    "cvp_mmhg",
    "icp_mmhg",
    "potassium_mmol_per_l",
    "sodium_mmol_per_l",
    "creatinine_umol_per_l",
]
DEPARTMENTS = ["icu", "cardiology", "surgery", "medicine", "pediatrics", "oncology"]
WARDS_PER_DEPARTMENT = 8
BEDS_PER_WARD = 24


def patient_labels(n_patients):
    """Label tuples (department, ward, bed, patient) for n_patients patients."""
    out = []
    for i in range(n_patients):
        bed = i % BEDS_PER_WARD
        ward_idx = i // BEDS_PER_WARD
        dept = DEPARTMENTS[ward_idx % len(DEPARTMENTS)]
        ward = f"{dept}-{(ward_idx // len(DEPARTMENTS)) % WARDS_PER_DEPARTMENT + 1}"
        out.append((dept, ward, f"{bed + 1:02d}", f"p{i + 1:06d}"))
    return out


def build(n_series):
    registry = CollectorRegistry()
    n_patients = max(1, -(-n_series // len(FAMILIES)))  # ceil
    labels = patient_labels(n_patients)
    children = []
    made = 0
    for fam in FAMILIES:
        g = Gauge(
            f"wardwatch_patient_{fam}",
            f"Simulated patient {fam.replace('_', ' ')}.",
            ["department", "ward", "bed", "patient"],
            registry=registry,
        )
        for lv in labels:
            if made >= n_series:
                break
            children.append(g.labels(*lv))
            made += 1
    return registry, children


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, required=True)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--gzip", action="store_true")
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    if args.series < 1 or args.repeat < 1:
        ap.error("--series and --repeat must be >= 1")

    rng = random.Random(args.seed)
    registry, children = build(args.series)

    total, render = [], []
    body = b""
    out_len = 0
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        rand = rng.random
        for c in children:  # simulation step: every value changes
            c.set(rand() * 100.0)
        t1 = time.perf_counter()
        body = generate_latest(registry)
        out = gzip.compress(body, 1) if args.gzip else body
        t2 = time.perf_counter()
        out_len = len(out)
        total.append(t2 - t0)
        render.append(t2 - t1)

    result = {
        "series": len(children),
        "bytes": out_len,
        "uncompressed_bytes": len(body),
        "repeat": args.repeat,
        "gzip": args.gzip,
        "median_seconds": statistics.median(total),
        "min_seconds": min(total),
        "render_median_seconds": statistics.median(render),
        "render_min_seconds": min(render),
        "python": sys.version.split()[0],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
