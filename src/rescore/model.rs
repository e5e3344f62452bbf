//! The anomaly model behind the score: a fixed-order, scale-free feature vector per entity kind,
//! and the [`AnomalyModel`] trait an isolation forest implements.
//!
//! The vector is each signal's robust z against the entity's own baseline (see
//! [`super::features`]), so one model serves patients with different resting values. Until the
//! isolation forest is plugged in, [`RobustDistance`] stands in: the root-mean-square robust
//! distance of a row from the training rows' medians, mapped to scikit-learn's `score_samples`
//! scale.

use super::features::signals;
use super::score::{EntityKind, Features};

/// An unsupervised anomaly model on fixed-order rows, with scikit-learn's `score_samples`
/// convention: in [−1, 0], lower is more anomalous, about −0.5 at the edge of normal.
pub trait AnomalyModel: Send + Sync {
    /// Score one row.
    fn score_samples(&self, row: &[f32]) -> f64;
}

/// Fits an [`AnomalyModel`] on training rows; `seed` fixes any random draw.
pub type Fit = fn(rows: &[Vec<f32>], seed: u64) -> Box<dyn AnomalyModel>;

/// Names of the model's inputs for an entity kind, in row order: `<signal>.z` per signal.
pub fn vector_names(kind: EntityKind) -> Vec<String> {
    signals(kind).iter().map(|s| format!("{}.z", s.name)).collect()
}

/// The model's input row for an entity kind; a missing feature is 0 (at its baseline).
pub fn vector(kind: EntityKind, features: &Features, row: &mut Vec<f32>) {
    row.clear();
    let mut key = String::with_capacity(32);
    for s in signals(kind) {
        key.clear();
        key.push_str(s.name);
        key.push_str(".z");
        row.push(features.get(key.as_str()).copied().filter(|v| v.is_finite()).unwrap_or(0.0) as f32);
    }
}

/// Stand-in for the isolation forest: robust distance from the training medians.
#[derive(Debug, Clone, PartialEq)]
pub struct RobustDistance {
    median: Vec<f32>,
    scale: Vec<f32>,
}

/// Distances beyond this (per column, in robust sd) count no further.
const COLUMN_CAP: f32 = 10.0;

impl RobustDistance {
    /// Fit on rows of equal length.
    pub fn fit(rows: &[Vec<f32>]) -> Self {
        let width = rows.first().map_or(0, Vec::len);
        let mut median = Vec::with_capacity(width);
        let mut scale = Vec::with_capacity(width);
        let mut column = Vec::with_capacity(rows.len());
        for j in 0..width {
            column.clear();
            column.extend(rows.iter().map(|r| r[j]));
            let m = median_of(&mut column);
            for v in &mut column {
                *v = (*v - m).abs();
            }
            // 1.4826 × MAD estimates the sd of normal data; 0.5 keeps a constant column finite.
            scale.push((1.4826 * median_of(&mut column)).max(0.5));
            median.push(m);
        }
        Self { median, scale }
    }

    /// As a boxed [`AnomalyModel`], with the [`Fit`] signature.
    pub fn fit_boxed(rows: &[Vec<f32>], _seed: u64) -> Box<dyn AnomalyModel> {
        Box::new(Self::fit(rows))
    }
}

fn median_of(xs: &mut [f32]) -> f32 {
    if xs.is_empty() {
        return 0.0;
    }
    let mid = xs.len() / 2;
    *xs.select_nth_unstable_by(mid, f32::total_cmp).1
}

impl AnomalyModel for RobustDistance {
    fn score_samples(&self, row: &[f32]) -> f64 {
        let n = self.median.len().min(row.len()).max(1);
        let sum: f32 = row
            .iter()
            .zip(self.median.iter().zip(&self.scale))
            .map(|(&x, (&m, &s))| ((x - m) / s).abs().min(COLUMN_CAP).powi(2))
            .sum();
        let d = f64::from((sum / n as f32).sqrt());
        // About −0.5 within one robust sd, falling towards −1 far out, like score_samples.
        -1.0 + 0.5 * (-(d - 1.0).max(0.0).powi(2) / 8.0).exp()
    }
}

/// The isolation forest (scikit-learn's semantics, [`crate::ml::iforest`]) as the anomaly model.
impl AnomalyModel for crate::ml::iforest::IsolationForest {
    fn score_samples(&self, row: &[f32]) -> f64 {
        // Rows come from [`vector`]: the forest's width, finite values; an error cannot occur,
        // and would read as the edge of normal (-0.5) rather than as an anomaly.
        crate::ml::iforest::IsolationForest::score_samples(self, row).unwrap_or(-0.5)
    }
}

/// Fit an isolation forest (100 trees, 256-row subsamples) with the [`Fit`] signature.
pub fn fit_isolation_forest(rows: &[Vec<f32>], seed: u64) -> Box<dyn AnomalyModel> {
    let params = crate::ml::iforest::Params { seed, ..Default::default() };
    match crate::ml::iforest::IsolationForest::fit_rows(rows, &params) {
        Ok(forest) => Box::new(forest),
        // Only reachable with no rows or ragged rows, which training never produces.
        Err(_) => RobustDistance::fit_boxed(rows, seed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stand_in_scores_typical_rows_near_minus_half_and_outliers_lower() {
        let rows: Vec<Vec<f32>> = (0..200).map(|i| vec![(i % 7) as f32 - 3.0, ((i * 3) % 5) as f32 - 2.0]).collect();
        let m = RobustDistance::fit(&rows);
        let typical = m.score_samples(&[0.0, 0.0]);
        let far = m.score_samples(&[15.0, -12.0]);
        assert!((typical + 0.5).abs() < 0.05, "{typical}");
        assert!((-1.0..-0.85).contains(&far), "{far}");
    }

    #[test]
    fn vector_follows_the_kind_order_and_fills_missing_with_zero() {
        let mut f = Features::new();
        f.insert("spo2.z".into(), -4.0);
        let mut row = Vec::new();
        vector(EntityKind::Patient, &f, &mut row);
        let names = vector_names(EntityKind::Patient);
        assert_eq!(row.len(), names.len());
        let i = names.iter().position(|n| n == "spo2.z").unwrap();
        assert_eq!(row[i], -4.0);
        assert_eq!(row.iter().filter(|&&v| v == 0.0).count(), names.len() - 1);
    }
}
