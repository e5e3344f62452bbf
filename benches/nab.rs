//! `cargo bench --bench nab`: the streaming detector on NAB's labelled corpora (AWS CloudWatch
//! here), scored with the ported NAB scorer at the shipped threshold, then the same score over
//! a grid of neighbouring parameters, to show how much the figure depends on the tuning.
//! Under `cargo test --bench nab` it prints the report only.

use std::path::Path;
use std::time::Instant;

use wardwatch::ml::detect::{DetectorConfig, THRESHOLD};
use wardwatch::ml::nab::eval::{evaluate_corpus, evaluate_nab};

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

    println!("sensitivity on 'aws' (standard profile; shipped: history 1000, refractory 150, threshold {THRESHOLD})");
    println!(
        "{:>8} {:>11} {:>10} {:>10} {:>10} {:>10}",
        "history", "refractory", "0.9985", "0.9990", "0.9991", "0.9995"
    );
    for history in [500, 1000, 2000] {
        for refractory in [50, 150, 300] {
            let config = DetectorConfig { history, refractory, ..DetectorConfig::default() };
            let scores: Vec<String> = [0.9985, 0.9990, THRESHOLD, 0.9995]
                .iter()
                .map(|&t| {
                    let r = evaluate_corpus(&dir, "aws", t, config).expect("evaluation runs");
                    format!("{:.1} ({})", r.scores[0], r.detected())
                })
                .collect();
            println!(
                "{history:>8} {refractory:>11} {:>10} {:>10} {:>10} {:>10}",
                scores[0], scores[1], scores[2], scores[3]
            );
        }
    }
}
