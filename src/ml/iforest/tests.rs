//! Parity with scikit-learn on the shared fixture, determinism, the model file and edge cases.

use super::*;
use std::path::Path;

/// `../shared/data/if_parity/fixture.json` (see `shared/data/README.md`).
#[derive(serde::Deserialize)]
struct Fixture {
    train: Vec<Vec<f64>>,
    test: Vec<Vec<f64>>,
    score_samples_mean32: Vec<f64>,
}

fn fixture() -> Option<Fixture> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the crate has a parent directory");
    let path = root.join("shared/data/if_parity/fixture.json");
    if !path.parent().expect("a folder").exists() {
        eprintln!("SKIPPED: {} is absent; the scikit-learn parity test needs it", path.display());
        return None;
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Some(serde_json::from_str(&text).expect("fixture.json parses"))
}

/// Rows as scikit-learn sees them: float64 cast to float32, flattened.
fn flat(rows: &[Vec<f64>]) -> Vec<f32> {
    rows.iter().flatten().map(|&v| v as f32).collect()
}

fn params(seed: u64) -> Params {
    Params { seed, ..Params::default() }
}

/// A small 2-feature data set: a cloud around the origin and nothing far away.
fn cloud(n: usize) -> Vec<f32> {
    (0..n).flat_map(|i| [((i * 37) % 101) as f32 / 50.0 - 1.0, ((i * 53) % 97) as f32 / 48.0 - 1.0]).collect()
}

#[test]
fn c_matches_scikit_learn() {
    assert_eq!(average_path_length(0), 0.0);
    assert_eq!(average_path_length(1), 0.0);
    assert_eq!(average_path_length(2), 1.0);
    let c3 = 2.0 * (2f64.ln() + 0.5772156649) - 2.0 * 2.0 / 3.0;
    assert!((average_path_length(3) - c3).abs() < 1e-9);
    assert!((average_path_length(256) - 10.24477).abs() < 5e-6, "{}", average_path_length(256));
}

#[test]
fn depth_limit_is_ceil_log2_of_the_subsample() {
    let cases = [(1, 1), (2, 1), (3, 2), (4, 2), (5, 3), (255, 8), (256, 8), (257, 9)];
    for (m, d) in cases {
        assert_eq!(max_depth(m), d, "subsample {m}");
    }
}

#[test]
fn seed_averaged_scores_match_scikit_learn() {
    let Some(fx) = fixture() else { return };
    let (train, test) = (flat(&fx.train), flat(&fx.test));
    let seeds = 32;
    let mut mean = vec![0.0; fx.test.len()];
    for seed in 0..seeds {
        let forest = IsolationForest::fit(&train, 4, &params(seed)).unwrap();
        for (m, s) in mean.iter_mut().zip(forest.score_batch(&test).unwrap()) {
            *m += s / seeds as f64;
        }
    }
    let diffs: Vec<f64> = mean.iter().zip(&fx.score_samples_mean32).map(|(a, b)| (a - b).abs()).collect();
    let mean_abs = diffs.iter().sum::<f64>() / diffs.len() as f64;
    let max_abs = diffs.iter().copied().fold(0.0, f64::max);
    println!("parity with scikit-learn 1.9.1 over 32 seeds: mean |diff| {mean_abs:.5}, max |diff| {max_abs:.5}");
    assert!(mean_abs <= 0.003, "mean absolute difference {mean_abs} > 0.003");
    assert!(max_abs <= 0.01, "max absolute difference {max_abs} > 0.01");
    let (inliers, outliers) = mean.split_at(190);
    let lowest_inlier = inliers.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(outliers.iter().all(|&o| o < lowest_inlier), "outliers {outliers:?} vs lowest inlier {lowest_inlier}");
}

#[test]
fn one_seed_ranks_the_fixture_outliers_below_the_inliers() {
    let Some(fx) = fixture() else { return };
    let forest = IsolationForest::fit(&flat(&fx.train), 4, &params(7)).unwrap();
    let scores = forest.score_batch(&flat(&fx.test)).unwrap();
    let (inliers, outliers) = scores.split_at(190);
    let lowest_inlier = inliers.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(outliers.iter().all(|&o| o < lowest_inlier));
    assert!(scores.iter().all(|s| (-1.0..=0.0).contains(s)));
    for (row, s) in fx.test.iter().zip(&scores) {
        let row: Vec<f32> = row.iter().map(|&v| v as f32).collect();
        assert_eq!(forest.decision_function(&row).unwrap(), s + 0.5);
    }
}

#[test]
fn the_same_seed_gives_the_same_model_and_another_seed_another() {
    let data = cloud(1000);
    let a = IsolationForest::fit(&data, 2, &params(5)).unwrap();
    let b = IsolationForest::fit(&data, 2, &params(5)).unwrap();
    let c = IsolationForest::fit(&data, 2, &params(6)).unwrap();
    assert_eq!(a.to_json(), b.to_json());
    assert_eq!(a.version(), b.version());
    assert_ne!(a.version(), c.version());
    assert_eq!(a.version().len(), 16);
}

#[test]
fn single_batch_and_threaded_scores_are_identical() {
    let forest = IsolationForest::fit(&cloud(3000), 2, &params(1)).unwrap();
    // 1,003 rows: whole blocks, whole lock-step groups and a remainder of each.
    let rows: Vec<f32> =
        (0..1003).flat_map(|i| [(i as f32 * 0.37).sin() * 2.0, (i as f32 * 0.11).cos() * 3.0]).collect();
    let batch = forest.score_batch(&rows).unwrap();
    let one: Vec<f64> = rows.chunks(2).map(|r| forest.score_samples(r).unwrap()).collect();
    assert_eq!(batch, one);
    for threads in [1, 2, 3, 8] {
        assert_eq!(forest.score_batch_parallel(&rows, threads).unwrap(), batch, "{threads} threads");
    }
    assert!(forest.score_batch(&[]).unwrap().is_empty());
}

#[test]
fn save_and_load_keep_scores_and_version() {
    let names = vec!["hr".to_string(), "spo2".to_string()];
    let forest = IsolationForest::fit_named(names, &cloud(500), &params(2)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.json");
    std::fs::write(&path, forest.to_json()).unwrap();
    let loaded = IsolationForest::from_json(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(loaded.to_json(), forest.to_json());
    assert_eq!(loaded.version(), forest.version());
    assert_eq!(loaded.feature_names(), ["hr", "spo2"]);
    assert_eq!((loaded.n_train_rows(), loaded.subsample(), loaded.n_nodes()), (500, 256, forest.n_nodes()));
    let rows = cloud(300);
    assert_eq!(loaded.score_batch(&rows).unwrap(), forest.score_batch(&rows).unwrap());
}

#[test]
fn a_corrupt_model_file_is_rejected_with_the_reason() {
    let forest = IsolationForest::fit(&cloud(300), 2, &Params { n_trees: 3, ..params(0) }).unwrap();
    let json = forest.to_json();
    let mut file: serde_json::Value = serde_json::from_str(&json).unwrap();
    file["trees"][1]["left"][0] = serde_json::json!(0);
    let message = IsolationForest::from_json(&file.to_string()).unwrap_err().to_string();
    assert!(message.contains("tree 1: split 0 has a bad child"), "{message}");
    let mut file: serde_json::Value = serde_json::from_str(&json).unwrap();
    file["trees"][0]["feature"][0] = serde_json::json!(2);
    assert!(IsolationForest::from_json(&file.to_string()).unwrap_err().to_string().contains("feature (2)"));
    let mut file: serde_json::Value = serde_json::from_str(&json).unwrap();
    file["format_version"] = serde_json::json!(99);
    assert!(IsolationForest::from_json(&file.to_string()).unwrap_err().to_string().contains("version 99"));
    assert!(matches!(IsolationForest::from_json("{"), Err(Error::Json(_))));
}

#[test]
fn fewer_rows_than_max_samples_use_them_all() {
    let forest = IsolationForest::fit(&cloud(50), 2, &params(0)).unwrap();
    assert_eq!(forest.subsample(), 50);
    assert!(forest.spans.iter().all(|s| s.steps <= 6), "depth limit ceil(log2(50)) = 6");
    assert!(forest.spans.iter().all(|s| forest.n_samples[s.start] == 50));
    assert!((forest.denominator - 100.0 * average_path_length(50)).abs() < 1e-9);
    let far = forest.score_samples(&[40.0, -40.0]).unwrap();
    let near = forest.score_samples(&[0.0, 0.0]).unwrap();
    assert!(far < near, "far {far}, near {near}");
}

#[test]
fn one_training_row_scores_everything_minus_one_half() {
    // scikit-learn: with one row both the path lengths and c(1) are 0, and the ratio is taken as 1.
    let forest = IsolationForest::fit(&[1.0, 2.0, 3.0], 3, &params(0)).unwrap();
    assert_eq!(forest.score_samples(&[1.0, 2.0, 3.0]).unwrap(), -0.5);
    assert_eq!(forest.score_samples(&[100.0, -5.0, 0.0]).unwrap(), -0.5);
    assert_eq!(forest.decision_function(&[0.0, 0.0, 0.0]).unwrap(), 0.0);
}

#[test]
fn a_constant_feature_does_not_affect_scores() {
    let data: Vec<f32> = cloud(400).chunks(2).flat_map(|r| [r[0], 7.0, r[1]]).collect();
    let forest = IsolationForest::fit(&data, 3, &params(3)).unwrap();
    for row in [[0.5, 7.0, 0.5], [3.0, 7.0, -2.0]] {
        let changed = [row[0], -1000.0, row[2]];
        assert_eq!(forest.score_samples(&row).unwrap(), forest.score_samples(&changed).unwrap());
    }
    // All features constant: every tree is one leaf holding the whole subsample, so every row
    // has path length c(256) and scores -2^-1.
    let forest = IsolationForest::fit(&[4.0f32; 300 * 2], 2, &params(3)).unwrap();
    assert_eq!(forest.n_nodes(), 100);
    assert!((forest.score_samples(&[4.0, 9.0]).unwrap() + 0.5).abs() < 1e-12);
}

#[test]
fn non_finite_values_are_clear_errors() {
    let mut data = cloud(100);
    data[2 * 41 + 1] = f32::NAN;
    let err = IsolationForest::fit(&data, 2, &params(0)).unwrap_err();
    assert!(matches!(err, Error::NotFinite { row: 41, feature: 1, .. }), "{err}");
    assert!(err.to_string().contains("row 41, feature 1 ('x1') is NaN"), "{err}");
    let forest = IsolationForest::fit(&cloud(100), 2, &params(0)).unwrap();
    assert!(matches!(forest.score_samples(&[f32::INFINITY, 0.0]), Err(Error::NotFinite { feature: 0, .. })));
    assert!(matches!(forest.score_batch(&[0.0, 0.0, 0.0, f32::NAN]), Err(Error::NotFinite { row: 1, .. })));
}

#[test]
fn bad_shapes_and_parameters_are_errors() {
    assert!(matches!(IsolationForest::fit(&[], 2, &params(0)), Err(Error::NoRows)));
    assert!(matches!(IsolationForest::fit(&[1.0, 2.0, 3.0], 2, &params(0)), Err(Error::Shape { .. })));
    assert!(matches!(IsolationForest::fit(&[1.0], 0, &params(0)), Err(Error::FeatureNames(_))));
    assert!(matches!(
        IsolationForest::fit_rows(&[vec![1.0, 2.0], vec![1.0]], &params(0)),
        Err(Error::RowLength { row: 1, .. })
    ));
    let zero_trees = Params { n_trees: 0, ..params(0) };
    assert!(matches!(IsolationForest::fit(&[1.0], 1, &zero_trees), Err(Error::Params(_))));
    let huge = Params { max_samples: MAX_SAMPLES_LIMIT + 1, ..params(0) };
    assert!(matches!(IsolationForest::fit(&[1.0], 1, &huge), Err(Error::Params(_))));
    let forest = IsolationForest::fit_rows(&[vec![1.0, 2.0], vec![3.0, 4.0]], &params(0)).unwrap();
    assert!(matches!(forest.score_samples(&[1.0]), Err(Error::RowLength { got: 1, expected: 2, .. })));
}
