//! Per-alert rescoring cost: `features::extract` + `Scorer::score` + `Policy::decide` on realistic
//! alert windows (the last 2 h at 5 s steps of every signal of an entity), warm, one thread.
//! The Prometheus fetch is not counted. Prints p50/p90/p99/max in µs against the 100 µs target;
//! asserts nothing.
//!
//! The windows are cut from the default simulated hospital at several moments, from different
//! patients (each scored as several of the clinical rules would raise it) and infrastructure
//! entities (devices, links, nodes, the cluster). The scorer is the sidecar's default: the
//! isolation forest trained on seed 90001. Timed calls cycle through the windows, so each call
//! reads a window that is not the previous one.
//!
//! `bench/rescore.sh` runs this and scikit-learn's one-row `score_samples` (`bench/iforest_sklearn.py`)
//! on the patient model's training rows, and prints the two side by side. `cargo bench --bench
//! rescore` runs it alone; under `cargo test` it runs a small smoke pass. Environment:
//! `WARDWATCH_BENCH_CALLS` (timed calls, default 50000), `WARDWATCH_RESCORE_DATA` (also write the
//! patient training rows there, raw little-endian f32, row-major), `WARDWATCH_RESCORE_JSON`
//! (write the figures there).

use std::time::{Duration, Instant};
use wardwatch::eval::stream::Recorder;
use wardwatch::eval::training::{self, DEFAULT_MODEL, DEFAULT_TRAINING_SEED, STEP_MS, WINDOW_MS};
use wardwatch::rescore::features;
use wardwatch::rescore::model;
use wardwatch::rescore::policy::Policy;
use wardwatch::rescore::score::{EntityKind, Scorer, Subject};
use wardwatch::rescore::window::{signal, Window};

/// The per-alert target of the issue, µs at p99.
const TARGET_US: f64 = 100.0;
/// 2026-01-05 00:00 UTC, as the evaluation.
const START_MS: i64 = 1_767_571_200_000;
/// Simulation seed of the benchmark's windows (not the training seed).
const SEED: u64 = 7;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The alerts an entity of `kind` is scored as: (alertname, severity, focus signal).
fn alerts_of(kind: EntityKind) -> &'static [(&'static str, &'static str, &'static str)] {
    match kind {
        EntityKind::Patient => &[
            ("HypoxiaDetected", "critical", signal::SPO2),
            ("Tachycardia", "critical", signal::HEART_RATE),
            ("Hypotension", "critical", signal::SYSTOLIC),
            ("Tachypnoea", "warning", signal::RESPIRATION_RATE),
            ("Fever", "warning", signal::TEMPERATURE),
        ],
        EntityKind::Device => &[("NetworkExfiltrationSuspected", "critical", signal::TRANSMIT_RATE)],
        EntityKind::Link => &[("NetworkLatencyHigh", "warning", signal::LATENCY)],
        EntityKind::Node => &[("NodeMemoryHigh", "warning", signal::MEMORY)],
        EntityKind::Cluster => &[("ClusterCpuRequestsHigh", "warning", signal::CPU)],
    }
}

/// Windows cut every `every_ms` after `warm_up_ms`, `cuts` times; at each cut a third of the
/// entities (a different third each time), each with the subjects it is scored as.
fn alert_windows(warm_up_ms: i64, every_ms: i64, cuts: i64) -> Vec<(Vec<Subject>, Window)> {
    let mut rec = Recorder::new(SEED, START_MS, STEP_MS, WINDOW_MS);
    let mut out = Vec::new();
    for step in 1..=(warm_up_ms + every_ms * (cuts - 1)) / STEP_MS {
        rec.advance();
        let t = step * STEP_MS - warm_up_ms;
        if t < 0 || t % every_ms != 0 {
            continue;
        }
        let cut = (t / every_ms) as usize;
        for e in (0..rec.entities.len()).filter(|e| (e + cut).is_multiple_of(3)) {
            let kind = rec.entities[e].kind;
            let subjects = alerts_of(kind)
                .iter()
                .map(|&(name, severity, focus)| Subject {
                    alertname: name.into(),
                    severity: severity.into(),
                    entity: kind,
                    focus: Some(focus.into()),
                })
                .collect();
            out.push((subjects, rec.window(e, WINDOW_MS)));
        }
    }
    out
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let calls = if full { env_or("WARDWATCH_BENCH_CALLS", 50_000) } else { 300 };
    let prepare = Instant::now();
    let (windows, scorer, patient_rows) = if full {
        let rows = training::training_rows(DEFAULT_TRAINING_SEED);
        let scorer = Scorer::fit(&rows, DEFAULT_MODEL.0, DEFAULT_TRAINING_SEED, DEFAULT_MODEL.1);
        let [patients, ..] = rows;
        (alert_windows(WINDOW_MS, 10 * 60_000, 7), scorer, patients)
    } else {
        // Short windows and a model fitted on them: the smoke pass only exercises the path.
        let windows = alert_windows(10 * 60_000, 60_000, 2);
        let mut rows: [Vec<Vec<f32>>; 5] = Default::default();
        for (subjects, window) in &windows {
            let f = features::extract(&subjects[0], window);
            let mut row = Vec::new();
            model::vector(subjects[0].entity, &f, &mut row);
            rows[subjects[0].entity.index()].push(row);
        }
        let scorer = Scorer::fit(&rows, DEFAULT_MODEL.0, 1, DEFAULT_MODEL.1);
        let [patients, ..] = rows;
        (windows, scorer, patients)
    };
    let alerts: Vec<(&Subject, &Window)> =
        windows.iter().flat_map(|(subjects, w)| subjects.iter().map(move |s| (s, w))).collect();
    let prepare_s = prepare.elapsed().as_secs_f64();
    let policy = Policy::default();

    let one = |(subject, window): (&Subject, &Window)| {
        let t0 = Instant::now();
        let f = features::extract(subject, window);
        let t1 = Instant::now();
        let assessment = scorer.score(subject, &f);
        let t2 = Instant::now();
        let verdict = policy.decide(subject, &assessment, Duration::ZERO);
        let t3 = Instant::now();
        std::hint::black_box(verdict);
        let us = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1e6;
        [us(t0, t3), us(t0, t1), us(t1, t2), us(t2, t3)]
    };
    // Warm: one pass over every alert before timing.
    for &a in &alerts {
        one(a);
    }
    let mut times: [Vec<f64>; 4] = Default::default();
    for i in 0..calls {
        for (all, t) in times.iter_mut().zip(one(alerts[i % alerts.len()])) {
            all.push(t);
        }
    }
    for t in &mut times {
        t.sort_by(f64::total_cmp);
    }
    let [total, extract, score, decide] = &times;
    let (p50, p90, p99, max) =
        (percentile(total, 0.5), percentile(total, 0.9), percentile(total, 0.99), *total.last().expect("calls"));
    let points = windows.iter().map(|(_, w)| w.signals.values().map(|s| s.len()).sum::<usize>()).sum::<usize>();

    println!(
        "wardwatch rescoring, one alert: features + score + decision, warm, 1 thread ({calls} calls over {} alerts \
         on {} windows, {:.0} samples per window; prepared in {prepare_s:.1} s)",
        alerts.len(),
        windows.len(),
        points as f64 / windows.len() as f64,
    );
    println!("  p50 {p50:>7.1} us   p90 {p90:>7.1} us   p99 {p99:>7.1} us   max {max:>8.1} us");
    println!(
        "  of which p50: extract {:.1} us, score {:.1} us, decide {:.2} us",
        percentile(extract, 0.5),
        percentile(score, 0.5),
        percentile(decide, 0.5)
    );
    if full {
        println!("  target p99 <= {TARGET_US:.0} us: {}", if p99 <= TARGET_US { "met" } else { "NOT met" });
    } else {
        println!("  (smoke pass: short windows, any build profile; run `cargo bench --bench rescore` for figures)");
    }
    if let Ok(path) = std::env::var("WARDWATCH_RESCORE_DATA") {
        let bytes: Vec<u8> = patient_rows.iter().flatten().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
    if let Ok(path) = std::env::var("WARDWATCH_RESCORE_JSON") {
        let figures = serde_json::json!({
            "calls": calls, "alerts": alerts.len(), "windows": windows.len(),
            "p50_us": p50, "p90_us": p90, "p99_us": p99, "max_us": max, "target_p99_us": TARGET_US,
            "extract_p50_us": percentile(extract, 0.5), "score_p50_us": percentile(score, 0.5),
            "decide_p50_us": percentile(decide, 0.5),
            "patient_rows": patient_rows.len(), "patient_features": patient_rows.first().map_or(0, Vec::len),
        });
        std::fs::write(&path, figures.to_string()).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
}
