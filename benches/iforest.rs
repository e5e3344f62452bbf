//! Isolation forest benchmark: fit on 100,000 × 6 rows, score them all in one batch (one thread,
//! then every core) and score single rows one call at a time. Prints figures; asserts nothing.
//!
//! `bench/iforest.sh` runs this and `bench/iforest_sklearn.py` on the same data set and prints
//! the two side by side. `cargo bench --bench iforest` runs it alone; under `cargo test` it runs a
//! small smoke pass. Environment: `WARDWATCH_BENCH_ROWS` (default 100000),
//! `WARDWATCH_BENCH_REPEAT` (default 10), `WARDWATCH_IFOREST_DATA` (also write the data set there,
//! raw little-endian f32, row-major, 6 per row), `WARDWATCH_IFOREST_JSON` (write the figures there).

use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use rand_pcg::Pcg64Mcg;
use std::time::Instant;
use wardwatch::ml::iforest::{IsolationForest, Params};

const FEATURES: usize = 6;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A deterministic data set: correlated vitals-like features around a baseline, and 1% of rows
/// shifted far away in a few features.
fn dataset(rows: usize) -> Vec<f32> {
    let mut rng = Pcg64Mcg::seed_from_u64(20_261_122);
    let normal = Normal::new(0.0f64, 1.0).expect("a valid normal");
    let mut data = Vec::with_capacity(rows * FEATURES);
    for i in 0..rows {
        let common = normal.sample(&mut rng);
        let shift = if i % 100 == 99 { 6.0 } else { 0.0 };
        for f in 0..FEATURES {
            let v = 0.6 * common + 0.8 * normal.sample(&mut rng) + if f < 3 { shift } else { 0.0 };
            data.push((10.0 * (f + 1) as f64 + v * (f + 1) as f64) as f32);
        }
    }
    data
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let rows = if full { env_or("WARDWATCH_BENCH_ROWS", 100_000) } else { 2_000 };
    let repeat = if full { env_or("WARDWATCH_BENCH_REPEAT", 10) } else { 2 };
    let single_calls = if full { 20_000 } else { 200 };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let data = dataset(rows);
    if let Ok(path) = std::env::var("WARDWATCH_IFOREST_DATA") {
        let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
    let params = Params { seed: 1, ..Params::default() };

    let mut fit_ms: Vec<f64> = (0..repeat)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(IsolationForest::fit(&data, FEATURES, &params).expect("fits"));
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    let forest = IsolationForest::fit(&data, FEATURES, &params).expect("fits");
    let batch = |threads: usize| {
        let mut secs: Vec<f64> = (0..repeat)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(forest.score_batch_parallel(&data, threads).expect("scores"));
                t.elapsed().as_secs_f64()
            })
            .collect();
        rows as f64 / median(&mut secs)
    };
    let batch_1 = batch(1);
    let batch_n = batch(threads);
    let mut single_us: Vec<f64> = (0..single_calls)
        .map(|i| {
            let row = &data[(i % rows) * FEATURES..(i % rows + 1) * FEATURES];
            let t = Instant::now();
            std::hint::black_box(forest.score_samples(row).expect("scores"));
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    single_us.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile(&single_us, 0.5), percentile(&single_us, 0.99));
    let fit = median(&mut fit_ms);

    println!("wardwatch isolation forest: {rows} rows x {FEATURES} features, 100 trees, 256-row subsample");
    println!("fit                       {fit:>12.2} ms (median of {repeat})");
    println!("score_batch, 1 thread     {:>12.0} rows/s", batch_1);
    println!("score_batch, {threads} threads    {:>12.0} rows/s", batch_n);
    println!("score_samples, one row    {p50:>12.2} us p50, {p99:.2} us p99 ({single_calls} calls)");
    if let Ok(path) = std::env::var("WARDWATCH_IFOREST_JSON") {
        let figures = serde_json::json!({
            "rows": rows, "features": FEATURES, "repeat": repeat, "threads": threads,
            "fit_ms": fit, "batch_rows_per_s_1_thread": batch_1, "batch_rows_per_s_threads": batch_n,
            "single_p50_us": p50, "single_p99_us": p99, "single_calls": single_calls,
            "nodes": forest.n_nodes(),
        });
        std::fs::write(&path, figures.to_string()).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
}
