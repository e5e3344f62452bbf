//! `wardwatch-sidecar model fit|score`: the real binary on the scikit-learn parity fixture
//! (`../shared/data/if_parity/fixture.json`) written out as CSV files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use wardwatch::ml::iforest::{IsolationForest, Params};

const HEADER: &str = "hr,spo2,rr,temp";

#[derive(serde::Deserialize)]
struct Fixture {
    train: Vec<Vec<f64>>,
    test: Vec<Vec<f64>>,
}

fn fixture() -> Option<Fixture> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("shared/data/if_parity/fixture.json");
    if !path.parent().unwrap().exists() {
        eprintln!("SKIPPED: {} is absent; the isolation forest CLI tests need it", path.display());
        return None;
    }
    Some(serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).expect("fixture.json parses"))
}

fn write_csv(dir: &Path, name: &str, header: &str, rows: &[Vec<f64>]) -> PathBuf {
    let mut text = format!("{header}\n");
    for r in rows {
        let cells: Vec<String> = r.iter().map(|v| v.to_string()).collect();
        text.push_str(&cells.join(","));
        text.push('\n');
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn sidecar(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wardwatch-sidecar")).args(args).output().expect("wardwatch-sidecar runs")
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn fit_then_score_writes_one_score_per_row_with_outliers_lowest() {
    let Some(fx) = fixture() else { return };
    let dir = tempfile::tempdir().unwrap();
    let train = write_csv(dir.path(), "train.csv", HEADER, &fx.train);
    let test = write_csv(dir.path(), "test.csv", HEADER, &fx.test);
    let model = dir.path().join("model.json");
    let fit = sidecar(&["model", "fit", "--csv", path(&train), "--out", path(&model), "--seed", "3"]);
    assert!(fit.status.success(), "fit failed: {}", stderr(&fit));
    let scored = sidecar(&["model", "score", "--model", path(&model), "--csv", path(&test)]);
    assert!(scored.status.success(), "score failed: {}", stderr(&scored));
    let scores: Vec<f64> =
        String::from_utf8(scored.stdout).unwrap().lines().map(|l| l.parse().expect("one number per line")).collect();
    assert_eq!(scores.len(), 200);
    assert!(scores.iter().all(|s| (-1.0..=0.0).contains(s)));
    let (inliers, outliers) = scores.split_at(190);
    let lowest_inlier = inliers.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(outliers.iter().all(|&o| o < lowest_inlier), "outliers {outliers:?}, lowest inlier {lowest_inlier}");

    // Full precision: the printed scores are exactly those of the same fit through the library.
    let names: Vec<String> = HEADER.split(',').map(String::from).collect();
    let flat = |rows: &[Vec<f64>]| rows.iter().flatten().map(|&v| v as f32).collect::<Vec<f32>>();
    let forest = IsolationForest::fit_named(names, &flat(&fx.train), &Params { seed: 3, ..Params::default() }).unwrap();
    assert_eq!(scores, forest.score_batch(&flat(&fx.test)).unwrap());
    assert_eq!(wardwatch::tools::csv::load_forest(&model).unwrap().version(), forest.version());
}

#[test]
fn the_same_seed_writes_the_same_model_file() {
    let Some(fx) = fixture() else { return };
    let dir = tempfile::tempdir().unwrap();
    let train = write_csv(dir.path(), "train.csv", HEADER, &fx.train);
    let (a, b, c) = (dir.path().join("a.json"), dir.path().join("b.json"), dir.path().join("c.json"));
    for (out, seed) in [(&a, "11"), (&b, "11"), (&c, "12")] {
        let fit = sidecar(&["model", "fit", "--csv", path(&train), "--out", path(out), "--seed", seed]);
        assert!(fit.status.success(), "{}", stderr(&fit));
    }
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_ne!(std::fs::read(&a).unwrap(), std::fs::read(&c).unwrap());
}

#[test]
fn a_header_that_does_not_match_the_model_fails_with_a_message() {
    let Some(fx) = fixture() else { return };
    let dir = tempfile::tempdir().unwrap();
    let train = write_csv(dir.path(), "train.csv", HEADER, &fx.train);
    let test = write_csv(dir.path(), "test.csv", "hr,spo2,temp,rr", &fx.test);
    let model = dir.path().join("model.json");
    assert!(sidecar(&["model", "fit", "--csv", path(&train), "--out", path(&model)]).status.success());
    let scored = sidecar(&["model", "score", "--model", path(&model), "--csv", path(&test)]);
    assert!(!scored.status.success());
    assert!(scored.stdout.is_empty());
    let message = stderr(&scored);
    assert!(
        message.contains("test.csv: header") && message.contains("does not match the model's features"),
        "{message}"
    );
}

#[test]
fn bad_values_and_missing_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "a,b\n1,2\n3,x4\n").unwrap();
    let model = dir.path().join("model.json");
    let fit = sidecar(&["model", "fit", "--csv", path(&bad), "--out", path(&model)]);
    assert!(!fit.status.success());
    assert!(stderr(&fit).contains("bad.csv:3: column 2 ('b'): 'x4' is not a number"), "{}", stderr(&fit));
    assert!(!model.exists());

    let missing = dir.path().join("missing.csv");
    let fit = sidecar(&["model", "fit", "--csv", path(&missing), "--out", path(&model)]);
    assert!(!fit.status.success());
    assert!(stderr(&fit).contains("missing.csv"), "{}", stderr(&fit));
    let scored = sidecar(&["model", "score", "--model", path(&dir.path().join("none.json")), "--csv", path(&bad)]);
    assert!(!scored.status.success());
    assert!(stderr(&scored).contains("none.json"), "{}", stderr(&scored));
}
