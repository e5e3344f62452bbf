//! NAB's own scorer tests, ported case by case with their expected numbers
//! (numenta/NAB `tests/integration/sweeper_test.py`, `scorer_test.py`, `true_positive_test.py`,
//! `false_positive_test.py`, `false_negative_test.py`). Timestamps are 5-minute steps as in
//! `nab/test_helpers.py`.

use super::*;

/// NAB's tests use `{"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 1.0}` unless they say otherwise.
const UNIT: CostMatrix = CostMatrix { tp_weight: 1.0, fp_weight: 1.0, fn_weight: 1.0 };

fn sweeper(cost: CostMatrix) -> Sweeper {
    Sweeper { probation_percent: 0.0, cost }
}

/// `generateTimestamps(start, 5 minutes, length)`, as seconds.
fn timestamps(length: usize) -> Vec<i64> {
    (0..length as i64).map(|i| i * 300).collect()
}

/// `generateWindows`: `num` windows of `size` rows, evenly spaced.
fn windows(ts: &[i64], num: usize, size: usize) -> Vec<(i64, i64)> {
    let delta = ts[1] - ts[0];
    let diff = ((ts.len() - num * size) as f64 / (num + 1) as f64).round() as i64;
    (0..num as i64)
        .map(|i| {
            let t1 = ts[0] + delta * diff * (i + 1) + delta * size as i64 * i;
            (t1, t1 + delta * (size as i64 - 1))
        })
        .collect()
}

fn index_of(ts: &[i64], t: i64) -> usize {
    ts.iter().position(|&x| x == t).unwrap()
}

fn score(s: &Sweeper, ts: &[i64], scores: &[f64], w: &[(i64, i64)], threshold: f64) -> ThresholdScore {
    s.score_data_set(ts, scores, w, (0, "testData"), threshold).unwrap().1.unwrap()
}

/// `_checkCounts(row, tn, tp, fp, fn)`.
fn assert_counts(row: &ThresholdScore, tn: usize, tp: usize, fp: usize, fn_: usize) {
    assert_eq!((row.tn, row.tp, row.fp, row.fn_), (tn, tp, fp, fn_), "counts (tn, tp, fp, fn)");
}

#[test]
fn probationary_length_matches_nab_cases() {
    // sweeper_test.py testGetProbationaryLength
    for (rows, percent, expected) in
        [(100, 0.0, 0), (100, 1.0, 100), (100, 0.1, 10), (100, 0.15, 15), (5000, 0.1, 500), (6000, 0.1, 500)]
    {
        assert_eq!(probation_length(percent, rows), expected, "{rows} rows at {percent}");
    }
    assert_eq!(probation_length(PROBATION_PERCENT, 4032), 604);
    assert_eq!(probation_length(PROBATION_PERCENT, 22695), 750);
}

#[test]
fn scaled_sigmoid_matches_nab_docstring() {
    // sweeper.py docstring: −1 → 0.98661, −0.5 → 0.84828, 0 → 0, 1 → −0.98661, > 3 → −1.
    assert!((scaled_sigmoid(-1.0) - 0.98661).abs() < 1e-5);
    assert!((scaled_sigmoid(-0.5) - 0.84828).abs() < 1e-5);
    assert_eq!(scaled_sigmoid(0.0), 0.0);
    assert!((scaled_sigmoid(1.0) + 0.98661).abs() < 1e-5);
    assert_eq!(scaled_sigmoid(3.5), -1.0);
}

#[test]
fn window_rows_score_positive_and_all_others_negative() {
    // sweeper_test.py testCalcSweepScoreWindowScoreInteraction
    let ts: Vec<i64> = (0..100).collect();
    let scores = vec![1.0; 100];
    let w = [(30, 39), (75, 95)];
    let s = Sweeper { probation_percent: 0.1, cost: CostMatrix::STANDARD };
    let points = s.calc_sweep_score(&ts, &scores, &w, (0, "TestDataSet")).unwrap();
    assert_eq!(points.len(), 100);
    let probationary = points.iter().filter(|p| p.kind == RowKind::Probationary).count();
    assert_eq!(probationary, probation_length(0.1, 100));
    let in_window = points.iter().filter(|p| matches!(p.kind, RowKind::Window(..))).count();
    assert_eq!(in_window, 10 + 21);
    for p in &points {
        if matches!(p.kind, RowKind::Window(..)) {
            assert!(p.sweep_score > 0.0, "{p:?}");
        } else {
            assert!(p.sweep_score < 0.0, "{p:?}");
        }
    }
}

#[test]
fn score_by_threshold_matches_nab_expected_rows() {
    // sweeper_test.py testCalcScoreByThresholdReturnsExpectedScores (fnWeight 5).
    let s = Sweeper { probation_percent: 0.15, cost: CostMatrix { tp_weight: 0.0, fp_weight: 0.0, fn_weight: 5.0 } };
    let a = RowKind::Window(0, 0);
    let b = RowKind::Window(0, 1);
    let point = |anomaly_score, sweep_score, kind| AnomalyPoint { anomaly_score, sweep_score, kind };
    let input = [
        point(0.5, -1000.0, RowKind::Probationary),
        point(0.5, -1000.0, RowKind::Probationary),
        point(0.0, -3.0, RowKind::Outside),
        point(0.2, 20.0, a),
        point(0.3, 10.0, a),
        point(0.5, 5.0, b),
        point(0.5, -3.0, RowKind::Outside),
    ];
    let row = |threshold, score, tp, tn, fp, fn_| ThresholdScore { threshold, score, tp, tn, fp, fn_, total: 5 };
    let expected = [
        row(1.1, -2.0 * 5.0, 0, 2, 0, 3),
        row(0.5, 5.0 - 3.0 - 5.0, 1, 1, 1, 2),
        row(0.3, 5.0 - 3.0 + 10.0, 2, 1, 1, 1),
        row(0.2, 5.0 - 3.0 + 20.0, 3, 1, 1, 0),
        row(0.0, 5.0 - 3.0 + 20.0 - 3.0, 3, 0, 2, 0),
    ];
    assert_eq!(s.calc_score_by_threshold(&input), expected);
}

#[test]
fn null_case_scores_zero() {
    // scorer_test.py testNullCase
    let ts = timestamps(10);
    let row = score(&sweeper(UNIT), &ts, &[0.0; 10], &[], 0.5);
    assert_eq!(row.score, 0.0);
    assert_counts(&row, 10, 0, 0, 0);
}

#[test]
fn reward_low_false_negatives_profile_doubles_the_miss() {
    // scorer_test.py testRewardLowFalseNegatives
    let ts = timestamps(100);
    let w = windows(&ts, 1, 10);
    let zeros = vec![0.0; 100];
    let fn_profile = CostMatrix { fn_weight: 2.0, fp_weight: 0.055, ..UNIT };
    let row1 = score(&sweeper(UNIT), &ts, &zeros, &w, 0.5);
    let row2 = score(&sweeper(fn_profile), &ts, &zeros, &w, 0.5);
    assert_eq!(row1.score, 0.5 * row2.score);
    assert_counts(&row1, 90, 0, 0, 10);
    assert_counts(&row2, 90, 0, 0, 10);
}

#[test]
fn reward_low_false_positives_profile_doubles_the_false_alarm() {
    // scorer_test.py testRewardLowFalsePositives
    let ts = timestamps(100);
    let mut scores = vec![0.0; 100];
    scores[0] = 1.0;
    let fp_profile = CostMatrix { fp_weight: 2.0, fn_weight: 0.5, ..UNIT };
    let row1 = score(&sweeper(UNIT), &ts, &scores, &[], 0.5);
    let row2 = score(&sweeper(fp_profile), &ts, &scores, &[], 0.5);
    assert_eq!(row1.score, 0.5 * row2.score);
    assert_counts(&row1, 99, 0, 1, 0);
    assert_counts(&row2, 99, 0, 1, 0);
}

#[test]
fn scoring_all_metrics_gives_nab_number() {
    // scorer_test.py testScoringAllMetrics: TP, an extra TP and an FP → −0.9540.
    let ts = timestamps(100);
    let w = windows(&ts, 2, 5);
    let mut scores = vec![0.0; 100];
    let index = index_of(&ts, w[0].0);
    for i in [index, index + 1, index + 7] {
        scores[i] = 1.0;
    }
    let row = score(&sweeper(UNIT), &ts, &scores, &w, 0.5);
    assert!((row.score - -0.9540).abs() < 0.5e-4, "{}", row.score);
    assert_counts(&row, 100 - 10 - 1, 2, 1, 8);
}

#[test]
fn first_true_positive_in_window_earns_tp_weight() {
    // true_positive_test.py testFirstTruePositiveWithinWindow
    let ts = timestamps(10);
    let w = windows(&ts, 1, 2);
    let mut scores = vec![0.0; 10];
    scores[index_of(&ts, w[0].0)] = 1.0;
    let row = score(&sweeper(UNIT), &ts, &scores, &w, 0.5);
    assert_eq!(row.score, UNIT.tp_weight);
    assert_counts(&row, 8, 1, 0, 1);
}

#[test]
fn earlier_true_positive_is_better() {
    // true_positive_test.py testEarlierTruePositiveIsBetter
    let ts = timestamps(10);
    let w = windows(&ts, 1, 2);
    let (mut early, mut late) = (vec![0.0; 10], vec![0.0; 10]);
    early[index_of(&ts, w[0].0)] = 1.0;
    late[index_of(&ts, w[0].1)] = 1.0;
    let row1 = score(&sweeper(UNIT), &ts, &early, &w, 0.5);
    let row2 = score(&sweeper(UNIT), &ts, &late, &w, 0.5);
    assert!(row1.score > row2.score, "{} vs {}", row1.score, row2.score);
    assert_counts(&row1, 8, 1, 0, 1);
    assert_counts(&row2, 8, 1, 0, 1);
}

#[test]
fn only_first_true_positive_in_window_counts() {
    // true_positive_test.py testOnlyScoreFirstTruePositiveWithinWindow
    let ts = timestamps(10);
    let w = windows(&ts, 1, 2);
    let mut scores = vec![0.0; 10];
    scores[index_of(&ts, w[0].0)] = 1.0;
    let row1 = score(&sweeper(UNIT), &ts, &scores, &w, 0.5);
    scores[index_of(&ts, w[0].1)] = 1.0;
    let row2 = score(&sweeper(UNIT), &ts, &scores, &w, 0.5);
    assert_eq!(row1.score, row2.score);
    assert_counts(&row1, 8, 1, 0, 1);
    assert_counts(&row2, 8, 2, 0, 0);
}

#[test]
fn true_positive_at_left_edge_scores_the_same_for_any_width() {
    // true_positive_test.py testTruePositivesWithDifferentWindowSizes
    let ts = timestamps(10);
    let (w1, w2) = (windows(&ts, 1, 2), windows(&ts, 1, 3));
    let (mut s1, mut s2) = (vec![0.0; 10], vec![0.0; 10]);
    s1[index_of(&ts, w1[0].0)] = 1.0;
    s2[index_of(&ts, w2[0].0)] = 1.0;
    let row1 = score(&sweeper(UNIT), &ts, &s1, &w1, 0.5);
    let row2 = score(&sweeper(UNIT), &ts, &s2, &w2, 0.5);
    assert_eq!(row1.score, row2.score);
    assert_counts(&row1, 8, 1, 0, 1);
    assert_counts(&row2, 7, 1, 0, 2);
}

#[test]
fn true_positive_at_right_edge_balances_false_positive_just_after() {
    // true_positive_test.py testTruePositiveAtRightEdgeOfWindow: TP + FP + 1 ≈ 0 (3 places).
    let ts = timestamps(1000);
    let w = windows(&ts, 1, 100);
    let mut scores = vec![0.0; 1000];
    let index = index_of(&ts, w[0].1);
    scores[index] = 1.0;
    let row1 = score(&sweeper(UNIT), &ts, &scores, &w, 0.5);
    scores[index] = 0.0;
    scores[index + 1] = 1.0;
    let row2 = score(&sweeper(UNIT), &ts, &scores, &w, 0.5);
    assert!((row1.score + row2.score + 1.0).abs() < 0.5e-3, "{} {}", row1.score, row2.score);
    assert_counts(&row1, 900, 1, 0, 99);
    assert_counts(&row2, 899, 0, 1, 100);
}

#[test]
fn false_positive_makes_score_negative_and_two_are_worse() {
    // false_positive_test.py testFalsePositiveMeansNegativeScore, testTwoFalsePositivesIsWorseThanOne
    let ts = timestamps(1000);
    let w = windows(&ts, 1, 10);
    let mut scores = vec![0.0; 1000];
    scores[0] = 1.0;
    let row1 = score(&sweeper(UNIT), &ts, &scores, &w, 0.5);
    assert!(row1.score < 0.0);
    assert_counts(&row1, 989, 0, 1, 10);
    scores[1] = 1.0;
    let row2 = score(&sweeper(UNIT), &ts, &scores, &w, 0.5);
    assert!(row2.score < row1.score);
    assert_counts(&row2, 988, 0, 2, 10);
}

#[test]
fn false_positive_without_window_costs_fp_weight() {
    // false_positive_test.py testOneFalsePositiveNoWindow
    let ts = timestamps(1000);
    let mut scores = vec![0.0; 1000];
    scores[0] = 1.0;
    let row = score(&sweeper(UNIT), &ts, &scores, &[], 0.5);
    assert_eq!(row.score, -UNIT.fp_weight);
    assert_counts(&row, 999, 0, 1, 0);
}

#[test]
fn earlier_false_positive_after_window_costs_less() {
    // false_positive_test.py testEarlierFalsePositiveAfterWindowIsBetter
    let ts = timestamps(10);
    let w = windows(&ts, 1, 2);
    let index = index_of(&ts, w[0].1) + 1;
    let (mut s1, mut s2) = (vec![0.0; 10], vec![0.0; 10]);
    s1[index] = 1.0;
    s2[index + 1] = 1.0;
    let row1 = score(&sweeper(UNIT), &ts, &s1, &w, 0.5);
    let row2 = score(&sweeper(UNIT), &ts, &s2, &w, 0.5);
    assert!(row1.score > row2.score);
    assert_counts(&row1, 7, 0, 1, 2);
    assert_counts(&row2, 7, 0, 1, 2);
}

#[test]
fn missed_windows_cost_fn_weight_each() {
    // false_negative_test.py testFalseNegativeCausesNegativeScore, testFourFalseNegatives
    for (length, num, expected) in [(1000, 1, -1.0), (2000, 4, -4.0)] {
        let ts = timestamps(length);
        let w = windows(&ts, num, 10);
        let row = score(&sweeper(UNIT), &ts, &vec![0.0; length], &w, 1.0);
        assert_eq!(row.score, expected);
        assert_counts(&row, length - 10 * num, 0, 0, 10 * num);
    }
}

#[test]
fn threshold_below_every_score_has_no_row_as_in_nab() {
    let ts = timestamps(10);
    let (_, row) = sweeper(UNIT).score_data_set(&ts, &[0.8; 10], &[], (0, "t"), 0.2).unwrap();
    assert!(row.is_none());
}

#[test]
fn missing_window_edge_is_an_error() {
    let ts = timestamps(10);
    let err = sweeper(UNIT).score_data_set(&ts, &[0.0; 10], &[(1, 300)], (0, "f.csv"), 0.5).unwrap_err();
    assert!(matches!(err, NabError::WindowEdgeNotFound { window: 0, .. }), "{err}");
}
