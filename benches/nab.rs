//! `cargo bench --bench nab`: the streaming detector on NAB's labelled corpora (AWS CloudWatch
//! here), scored with the ported NAB scorer at the shipped threshold; then, on AWS, the score
//! over a grid of neighbouring parameters, and a leave-one-file-out estimate in which each
//! file is scored with the grid point chosen on the other files.
//! Under `cargo test --bench nab` it prints the report only.

use std::path::Path;
use std::time::Instant;

use wardwatch::eval::nab::corpus::{self, LabelledSeries};
use wardwatch::eval::nab::eval::{evaluate_corpus, evaluate_nab};
use wardwatch::eval::nab::{normalized_score, CostMatrix, Sweeper};
use wardwatch::ml::detect::{score_series, DetectorConfig, THRESHOLD};

const HISTORIES: [usize; 3] = [500, 1000, 2000];
const REFRACTORIES: [usize; 3] = [50, 150, 300];
const THRESHOLDS: [f64; 5] = [0.9985, THRESHOLD, 0.9991, 0.9993, 0.9995];

fn grid() -> Vec<DetectorConfig> {
    let mut configs = Vec::new();
    for history in HISTORIES {
        for refractory in REFRACTORIES {
            for threshold in THRESHOLDS {
                configs.push(DetectorConfig { history, refractory, threshold, ..DetectorConfig::default() });
            }
        }
    }
    configs
}

/// Raw standard-profile NAB score of one file under one configuration.
fn raw_score(sweeper: &Sweeper, index: usize, series: &LabelledSeries, config: DetectorConfig) -> f64 {
    let values: Vec<f64> = series.rows.iter().map(|r| r.value).collect();
    let scores: Vec<f64> = score_series(&values, config).iter().map(|s| s.anomaly_score).collect();
    let (_, row) = sweeper
        .score_data_set(&series.timestamps(), &scores, &series.windows, (index, &series.name), config.threshold)
        .expect("labels fit the data");
    row.expect("threshold above some score").score
}

fn leave_one_file_out(dir: &Path) {
    let corpus = corpus::load(dir, &dir.join("aws_windows.json"), &dir.join("aws_labels.json")).expect("AWS corpus");
    let sweeper = Sweeper::new(CostMatrix::STANDARD);
    let configs = grid();
    let raw: Vec<Vec<f64>> = configs
        .iter()
        .map(|&c| corpus.iter().enumerate().map(|(i, s)| raw_score(&sweeper, i, s, c)).collect())
        .collect();
    let mut held_out = 0.0;
    for (f, series) in corpus.iter().enumerate() {
        let others = |c: usize| raw[c].iter().enumerate().filter(|&(g, _)| g != f).map(|(_, r)| r).sum::<f64>();
        let chosen = (0..configs.len()).max_by(|&a, &b| others(a).total_cmp(&others(b))).expect("grid");
        held_out += raw[chosen][f];
        let c = configs[chosen];
        println!(
            "  {:<56} history {:>4}, refractory {:>3}, threshold {}: raw {:>7.3}",
            series.name, c.history, c.refractory, c.threshold, raw[chosen][f]
        );
    }
    let windows: usize = corpus.iter().map(|s| s.windows.len()).sum();
    let null = -(windows as f64) * CostMatrix::STANDARD.fn_weight;
    println!(
        "leave-one-file-out NAB score (standard): {:.1}",
        normalized_score(held_out, null, windows as f64 * CostMatrix::STANDARD.tp_weight)
    );
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/nab");
    if !dir.join("aws_windows.json").exists() {
        eprintln!("SKIPPED: NAB data not found at {}", dir.display());
        return;
    }
    let started = Instant::now();
    let reports = evaluate_nab(&dir).expect("evaluation runs");
    let elapsed = started.elapsed();
    for report in &reports {
        println!("{report}\n");
    }
    println!("evaluated {} corpora in {:.2} s\n", reports.len(), elapsed.as_secs_f64());
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }

    println!("sensitivity on 'aws': standard score (windows detected); shipped: history 1000, refractory 150, threshold {THRESHOLD}");
    print!("{:>8} {:>11}", "history", "refractory");
    for t in THRESHOLDS {
        print!(" {t:>10}");
    }
    println!();
    for history in HISTORIES {
        for refractory in REFRACTORIES {
            print!("{history:>8} {refractory:>11}");
            for threshold in THRESHOLDS {
                let config = DetectorConfig { history, refractory, threshold, ..DetectorConfig::default() };
                let r = evaluate_corpus(&dir, "aws", config).expect("evaluation runs");
                print!(" {:>10}", format!("{:.1} ({})", r.scores[0], r.detected()));
            }
            println!();
        }
    }
    println!("\nleave-one-file-out on 'aws': each file scored with the grid point best on the other 16");
    leave_one_file_out(&dir);
}
