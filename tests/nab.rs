//! The streaming detector on real data: NAB's labelled AWS CloudWatch series, scored with the
//! ported NAB scorer. `cargo test --release --test nab -- --nocapture` prints the figures.

use std::path::{Path, PathBuf};
use std::process::Command;

use wardwatch::eval::nab::eval::evaluate_nab;
use wardwatch::ml::detect::THRESHOLD;

/// NAB's data lies outside the repository, beside the checkout (`../shared/data/nab`).
fn nab_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/nab");
    if dir.join("aws_windows.json").exists() {
        Some(dir)
    } else {
        eprintln!("\n==== SKIPPED: NAB data not found at {} (NAB: github.com/numenta/NAB) ====\n", dir.display());
        None
    }
}

#[test]
fn detector_scores_at_least_50_on_nab_aws_with_the_shipped_threshold() {
    let Some(dir) = nab_dir() else { return };
    let reports = evaluate_nab(&dir).expect("evaluation runs");
    for report in &reports {
        println!("{report}\n");
    }
    let aws = reports.iter().find(|r| r.corpus == "aws").expect("the AWS corpus is evaluated");
    assert_eq!(aws.threshold, THRESHOLD);
    assert_eq!(aws.files.len(), 17);
    assert_eq!(aws.windows(), 30);
    assert!(aws.scores[0] >= 50.0, "NAB standard score {:.1} is below 50", aws.scores[0]);
}

#[derive(Debug, PartialEq)]
struct Row {
    timestamp: String,
    value: f64,
    anomaly_score: f64,
    is_anomaly: bool,
}

/// Runs `wardwatch-sidecar detect --csv FILE` and parses its output.
fn detect(csv: &Path) -> Vec<Row> {
    let output = Command::new(env!("CARGO_BIN_EXE_wardwatch-sidecar"))
        .args(["detect", "--csv"])
        .arg(csv)
        .output()
        .expect("wardwatch-sidecar runs");
    assert!(output.status.success(), "detect failed: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).expect("UTF-8 output");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("timestamp,value,anomaly_score,is_anomaly"));
    lines
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            assert_eq!(fields.len(), 4, "{line}");
            let is_anomaly = match fields[3] {
                "0" => false,
                "1" => true,
                other => panic!("is_anomaly {other:?} in {line}"),
            };
            Row {
                timestamp: fields[0].to_string(),
                value: fields[1].parse().expect("value"),
                anomaly_score: fields[2].parse().expect("anomaly_score"),
                is_anomaly,
            }
        })
        .collect()
}

#[test]
fn binary_detect_is_causal_and_covers_every_row() {
    let Some(dir) = nab_dir() else { return };
    let csv = dir.join("realAWSCloudwatch/ec2_cpu_utilization_ac20cd.csv");
    let input = std::fs::read_to_string(&csv).unwrap();
    let data_rows = input.lines().count() - 1;

    let full = detect(&csv);
    assert_eq!(full.len(), data_rows);
    for (row, line) in full.iter().zip(input.lines().skip(1)) {
        let (ts, value) = line.split_once(',').unwrap();
        assert_eq!(row.timestamp, ts);
        assert_eq!(row.value, value.parse::<f64>().unwrap());
        assert!((0.0..=1.0).contains(&row.anomaly_score), "{row:?}");
        assert_eq!(row.is_anomaly, row.anomaly_score >= THRESHOLD, "{row:?}");
    }
    assert!(full.iter().any(|r| r.is_anomaly), "this file has a clear anomaly (at 2014-04-15 00:49)");

    // The first 3,000 rows alone (before the anomaly window) score exactly as in the full run.
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("prefix.csv");
    let head: Vec<&str> = input.lines().take(1 + 3000).collect();
    std::fs::write(&prefix, head.join("\n") + "\n").unwrap();
    let truncated = detect(&prefix);
    assert_eq!(truncated.len(), 3000);
    assert_eq!(&full[..3000], &truncated[..]);
}

#[test]
fn binary_detect_names_the_file_and_line_of_a_bad_row() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("bad.csv");
    std::fs::write(&csv, "timestamp,value\n2014-01-01 00:00:00,1\n2014-01-01 00:05:00,oops\n").unwrap();
    let output =
        Command::new(env!("CARGO_BIN_EXE_wardwatch-sidecar")).args(["detect", "--csv"]).arg(&csv).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bad.csv:3") && stderr.contains("oops"), "{stderr}");
}
