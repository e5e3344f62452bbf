//! The Numenta Anomaly Benchmark's scorer, ported from numenta/NAB (`nab/sweeper.py`,
//! `nab/scorer.py`, `nab/util.py`, `nab/optimizer.py`, `nab/runner.py`).
//!
//! NAB scores a detector on a file as follows (the [`Sweeper`]):
//!
//! - The first `min(floor(0.15·n), 0.15·5000)` rows are probation: used for learning, never scored.
//! - Every row inside a labelled window gets the score it would earn as the first true positive:
//!   `scaled_sigmoid(−(right − i + 1)/width) · A_TP / scaled_sigmoid(−1)`, so the left edge of a
//!   window earns A_TP and later rows less. A window counts only its best (earliest) detection;
//!   a window with no detection costs −A_FN.
//! - Every row outside a window costs `A_FP · scaled_sigmoid(distance / (width − 1))` measured
//!   from the end of the previous window, or the full −A_FP when no window precedes it.
//! - Detections are rows whose anomaly score is `>=` the threshold.
//!
//! Over a corpus, NAB adds the files' raw scores and normalises the total against the null
//! detector (no detections) and the perfect detector (A_TP per window):
//! `100 · (S − S_null) / (S_perfect − S_null)` ([`normalized_score`]). The threshold is one per
//! detector and profile, tuned over the whole corpus ([`Sweeper::optimize_threshold`]).
//!
//! [`corpus`] reads NAB's data and label files; [`eval`] runs the streaming detector over a
//! corpus and reports the figures.

pub mod corpus;
pub mod eval;

use std::collections::HashMap;

/// Errors from scoring a file.
#[derive(Debug, thiserror::Error)]
pub enum NabError {
    /// NAB requires each window edge to be one of the file's timestamps.
    #[error("window {window} of {file}: edge {edge} is not a timestamp of the file")]
    WindowEdgeNotFound {
        /// The data file.
        file: String,
        /// The window's position in the label file.
        window: usize,
        /// The missing edge, as text.
        edge: String,
    },
    /// Scores and timestamps must pair up.
    #[error("{file}: {scores} anomaly scores for {rows} rows")]
    LengthMismatch {
        /// The data file.
        file: String,
        /// Number of scores.
        scores: usize,
        /// Number of rows.
        rows: usize,
    },
}

/// A profile's weights (NAB `config/profiles.json`, `CostMatrix`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostMatrix {
    /// Weight of a true positive (the first detection in a window).
    pub tp_weight: f64,
    /// Weight of a false positive.
    pub fp_weight: f64,
    /// Weight of a missed window.
    pub fn_weight: f64,
}

impl CostMatrix {
    /// NAB's standard profile: `{"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.11, "tnWeight": 1.0}`.
    pub const STANDARD: CostMatrix = CostMatrix { tp_weight: 1.0, fp_weight: 0.11, fn_weight: 1.0 };
    /// NAB's `reward_low_FP_rate` profile (A_FP 0.22).
    pub const REWARD_LOW_FP: CostMatrix = CostMatrix { tp_weight: 1.0, fp_weight: 0.22, fn_weight: 1.0 };
    /// NAB's `reward_low_FN_rate` profile (A_FN 2.0).
    pub const REWARD_LOW_FN: CostMatrix = CostMatrix { tp_weight: 1.0, fp_weight: 0.11, fn_weight: 2.0 };
}

/// NAB's probationary share of every file (`Runner.probationaryPercent`).
pub const PROBATION_PERCENT: f64 = 0.15;

/// `nab/util.py` `getProbationPeriod`: `min(floor(p·n), p·5000)` — 750 rows at most for p = 0.15.
pub fn probation_length(probation_percent: f64, rows: usize) -> usize {
    let length = (probation_percent * rows as f64).floor().min(probation_percent * 5000.0);
    length.ceil() as usize
}

/// `nab/sweeper.py` `scaledSigmoid`: 2/(1 + e^{5x}) − 1, and −1 beyond three window widths.
pub fn scaled_sigmoid(relative_position: f64) -> f64 {
    if relative_position > 3.0 {
        -1.0
    } else {
        2.0 / (1.0 + (5.0 * relative_position).exp()) - 1.0
    }
}

/// What a row is, for scoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowKind {
    /// In the probation period: never scored.
    Probationary,
    /// Outside every window: a detection here is a false positive.
    Outside,
    /// Inside a window: `(file, window)` names it uniquely across a corpus.
    Window(usize, usize),
}

/// One row's anomaly score and what detecting it would be worth (`AnomalyPoint`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnomalyPoint {
    /// The detector's anomaly score.
    pub anomaly_score: f64,
    /// NAB's weighted score of a detection on this row.
    pub sweep_score: f64,
    /// Probationary, outside or in which window.
    pub kind: RowKind,
}

/// The corpus or file score at one threshold (`ThresholdScore`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThresholdScore {
    /// Rows with an anomaly score `>=` this are detections.
    pub threshold: f64,
    /// The raw NAB score.
    pub score: f64,
    /// Window rows detected.
    pub tp: usize,
    /// Rows outside windows not detected.
    pub tn: usize,
    /// Rows outside windows detected.
    pub fp: usize,
    /// Window rows not detected.
    pub fn_: usize,
    /// Scored rows.
    pub total: usize,
}

/// NAB's sweeper: per-row sweep scores, and the score at every threshold.
#[derive(Debug, Clone, Copy)]
pub struct Sweeper {
    /// Share of each file used as probation.
    pub probation_percent: f64,
    /// The profile.
    pub cost: CostMatrix,
}

impl Sweeper {
    /// A sweeper with NAB's 15% probation and the given profile.
    pub fn new(cost: CostMatrix) -> Self {
        Sweeper { probation_percent: PROBATION_PERCENT, cost }
    }

    /// `calcSweepScore`: one [`AnomalyPoint`] per row. `windows` are `(start, end)` timestamps
    /// in file order; `file` tells this file's windows apart from other files' in a corpus.
    pub fn calc_sweep_score<T: PartialEq + std::fmt::Debug>(
        &self,
        timestamps: &[T],
        anomaly_scores: &[f64],
        windows: &[(T, T)],
        file: (usize, &str),
    ) -> Result<Vec<AnomalyPoint>, NabError> {
        if timestamps.len() != anomaly_scores.len() {
            return Err(NabError::LengthMismatch {
                file: file.1.to_string(),
                scores: anomaly_scores.len(),
                rows: timestamps.len(),
            });
        }
        let spans = window_spans(timestamps, windows, file.1)?;
        let max_tp = scaled_sigmoid(-1.0);
        let probation = probation_length(self.probation_percent, timestamps.len());
        let mut points = Vec::with_capacity(timestamps.len());
        let mut next = 0;
        let mut current: Option<(usize, usize, usize)> = None; // (window, left, right)
        let mut previous: Option<(usize, f64)> = None; // (right index, width)
        for (i, &anomaly_score) in anomaly_scores.iter().enumerate() {
            if current.is_none() && next < spans.len() && i == spans[next].0 {
                current = Some((next, spans[next].0, spans[next].1));
                next += 1;
            }
            let (sweep_score, kind) = match current {
                Some((w, left, right)) => {
                    let width = (right - left + 1) as f64;
                    let position = -((right as f64 - i as f64 + 1.0) / width);
                    (scaled_sigmoid(position) * self.cost.tp_weight / max_tp, RowKind::Window(file.0, w))
                }
                None => {
                    let unweighted = match previous {
                        None => -1.0,
                        Some((right, width)) => scaled_sigmoid((i - right) as f64 / (width - 1.0)),
                    };
                    (unweighted * self.cost.fp_weight, RowKind::Outside)
                }
            };
            let kind = if i >= probation { kind } else { RowKind::Probationary };
            points.push(AnomalyPoint { anomaly_score, sweep_score, kind });
            if let Some((_, left, right)) = current {
                if i == right {
                    previous = Some((right, (right - left + 1) as f64));
                    current = None;
                }
            }
        }
        Ok(points)
    }

    /// `calcScoreByThreshold`: the score at every distinct anomaly score, highest first, starting
    /// with 1.1 (no detections). Works on one file's points or on a whole corpus's.
    pub fn calc_score_by_threshold(&self, points: &[AnomalyPoint]) -> Vec<ThresholdScore> {
        let mut scorable: Vec<&AnomalyPoint> = points.iter().filter(|p| p.kind != RowKind::Probationary).collect();
        // Python's sort is stable, and so is this one.
        scorable.sort_by(|a, b| b.anomaly_score.total_cmp(&a.anomaly_score));
        let mut windows: HashMap<RowKind, f64> = HashMap::new();
        for p in &scorable {
            if matches!(p.kind, RowKind::Window(..)) {
                windows.insert(p.kind, -self.cost.fn_weight);
            }
        }
        let mut fp_part = 0.0;
        let total_score = |fp_part: f64, windows: &HashMap<RowKind, f64>| -> f64 {
            // NAB sums a dict of parts: "fp" first, then the windows in insertion order; the order
            // changes only the last bits of the float.
            fp_part + windows.values().sum::<f64>()
        };
        let mut tn = scorable.iter().filter(|p| p.kind == RowKind::Outside).count();
        let mut fn_ = scorable.len() - tn;
        let (mut tp, mut fp) = (0, 0);
        let mut threshold = 1.1;
        let mut out = Vec::new();
        for p in &scorable {
            if p.anomaly_score != threshold {
                let score = total_score(fp_part, &windows);
                out.push(ThresholdScore { threshold, score, tp, tn, fp, fn_, total: tp + tn + fp + fn_ });
                threshold = p.anomaly_score;
            }
            if p.kind == RowKind::Outside {
                fp += 1;
                tn -= 1;
                fp_part += p.sweep_score;
            } else {
                tp += 1;
                fn_ -= 1;
                let best = windows.get_mut(&p.kind).expect("every window row has a part");
                *best = best.max(p.sweep_score);
            }
        }
        let score = total_score(fp_part, &windows);
        out.push(ThresholdScore { threshold, score, tp, tn, fp, fn_, total: tp + tn + fp + fn_ });
        out
    }

    /// `scoreDataSet`: the per-row sweep scores and the [`ThresholdScore`] at `threshold`. As in
    /// NAB, the row is `None` when the threshold lies below every anomaly score of the file.
    pub fn score_data_set<T: PartialEq + std::fmt::Debug>(
        &self,
        timestamps: &[T],
        anomaly_scores: &[f64],
        windows: &[(T, T)],
        file: (usize, &str),
        threshold: f64,
    ) -> Result<(Vec<f64>, Option<ThresholdScore>), NabError> {
        let points = self.calc_sweep_score(timestamps, anomaly_scores, windows, file)?;
        let rows = self.calc_score_by_threshold(&points);
        Ok((points.iter().map(|p| p.sweep_score).collect(), row_at_threshold(&rows, threshold)))
    }

    /// `nab/optimizer.py` `optimizeThreshold`: the threshold with the best score over the points
    /// of every file of a corpus, as NAB tunes one threshold per detector and profile.
    pub fn optimize_threshold(&self, corpus_points: &[AnomalyPoint]) -> ThresholdScore {
        let rows = self.calc_score_by_threshold(corpus_points);
        // `sorted(..., key=score, reverse=True)[0]`: the first of the best, in sweep order.
        let mut best = rows[0];
        for row in &rows[1..] {
            if row.score > best.score {
                best = *row;
            }
        }
        best
    }
}

/// Each window's `(first, last)` row, found as `timestamps.index(edge)` does in NAB.
fn window_spans<T: PartialEq + std::fmt::Debug>(
    timestamps: &[T],
    windows: &[(T, T)],
    file: &str,
) -> Result<Vec<(usize, usize)>, NabError> {
    let find = |window: usize, edge: &T| {
        timestamps.iter().position(|t| t == edge).ok_or_else(|| NabError::WindowEdgeNotFound {
            file: file.to_string(),
            window,
            edge: format!("{edge:?}"),
        })
    };
    windows.iter().enumerate().map(|(w, (start, end))| Ok((find(w, start)?, find(w, end)?))).collect()
}

/// The row `scoreDataSet` picks: the one at `threshold`, or else the last one above it.
fn row_at_threshold(rows: &[ThresholdScore], threshold: f64) -> Option<ThresholdScore> {
    let mut previous = None;
    for row in rows {
        if row.threshold == threshold {
            return Some(*row);
        } else if row.threshold < threshold {
            return previous;
        }
        previous = Some(*row);
    }
    None
}

/// `nab/runner.py` `normalize`: 100 · (S − S_null) / (S_perfect − S_null).
pub fn normalized_score(raw: f64, null: f64, perfect: f64) -> f64 {
    100.0 * (raw - null) / (perfect - null)
}

#[cfg(test)]
mod tests;
