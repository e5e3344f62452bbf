//! An isolation forest with scikit-learn's semantics, built for speed.
//!
//! Semantics are those of scikit-learn 1.9's `IsolationForest` (scikit-learn's `sklearn.ensemble.IsolationForest`; Liu, Ting & Zhou, ICDM 2008): `n_trees` trees
//! (100), each grown on `min(max_samples, n)` rows (256) drawn without replacement, to depth
//! `ceil(log2(subsample))`. A node splits on a random feature that is not constant in it, at a
//! threshold uniform in [min, max); features are `f32`. A row's path length in a tree is the
//! depth of its leaf plus c(rows in that leaf), and
//! `score_samples = -2^(-mean path length / c(subsample))`: in [-1, 0], lower is more anomalous.
//! `decision_function = score_samples - offset` with contamination "auto"'s offset of -0.5.
//! Random streams differ from scikit-learn's, so one seed's scores differ from one sklearn seed's
//! by about 0.008; averaged over seeds the two agree (see the parity test).
//!
//! One difference: scikit-learn 1.9 routes NaN down a random side; here a non-finite value is an
//! error, because in the sidecar it means a broken feature, not a missing one.
//!
//! Layout: `tree` grows and walks one tree; `model_file` is the JSON model file's text; `error` is
//! the module's [`Error`]. Reading and writing files is the caller's (`crate::tools::csv` for the
//! `wardwatch-sidecar model fit|score` commands).

mod error;
mod model_file;
mod tree;

use rand::{RngCore, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;
use tree::Node;

pub use error::Error;

/// The offset scikit-learn uses with `contamination="auto"` (`offset_ = -0.5`).
pub const OFFSET_AUTO: f64 = -0.5;

/// The largest subsample: node indices are `u16` and a tree on m rows has at most 2m - 1 nodes.
pub const MAX_SAMPLES_LIMIT: usize = 32_768;

/// Euler–Mascheroni constant, as `np.euler_gamma`.
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// Rows scored together, tree by tree, so a tree stays in L1 while it meets every row of a block.
const BLOCK_ROWS: usize = 256;

/// Rows walked through a tree in lock-step, so their independent loads overlap.
const LANES: usize = 8;

/// Forest parameters (scikit-learn's `n_estimators`, `max_samples`, `random_state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Trees in the forest (scikit-learn: 100).
    pub n_trees: usize,
    /// Rows drawn per tree, capped at the training rows (scikit-learn "auto": 256).
    pub max_samples: usize,
    /// Seed: the same seed and data give the same model.
    pub seed: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params { n_trees: 100, max_samples: 256, seed: 0 }
    }
}

/// Where one tree lies in the forest's flat arrays, and how many steps reach any of its leaves.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Span {
    start: usize,
    len: usize,
    steps: u32,
}

/// A fitted isolation forest. All trees' nodes lie in one flat array.
#[derive(Clone, Debug)]
pub struct IsolationForest {
    params: Params,
    feature_names: Vec<String>,
    n_train_rows: usize,
    /// The subsample each tree was grown on: `min(max_samples, n_train_rows)`.
    subsample: usize,
    nodes: Vec<Node>,
    /// Training rows that reached each node.
    n_samples: Vec<u32>,
    /// Per node: the path length of a row ending there (meaningful at leaves).
    path: Vec<f64>,
    spans: Vec<Span>,
    /// `n_trees * c(subsample)`, the divisor of the summed path lengths.
    denominator: f64,
    version: OnceLock<String>,
}

/// c(n): the average path length of an unsuccessful search in a binary search tree of n nodes,
/// as scikit-learn's `_average_path_length`: 0 for n ≤ 1, 1 for n = 2, else
/// 2(ln(n − 1) + γ) − 2(n − 1)/n.
pub fn average_path_length(n: u64) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let n = n as f64;
            2.0 * ((n - 1.0).ln() + EULER_GAMMA) - 2.0 * (n - 1.0) / n
        }
    }
}

/// `ceil(log2(max(m, 2)))`, scikit-learn's depth limit.
fn max_depth(subsample: usize) -> u32 {
    usize::BITS - (subsample.max(2) - 1).leading_zeros()
}

/// `x0`, `x1`, …: names for unnamed features.
pub fn default_feature_names(n_features: usize) -> Vec<String> {
    (0..n_features).map(|i| format!("x{i}")).collect()
}

impl IsolationForest {
    /// Fit on `data`, row-major with `n_features` values per row; features are named `x0`, `x1`, ….
    pub fn fit(data: &[f32], n_features: usize, params: &Params) -> Result<Self, Error> {
        Self::fit_named(default_feature_names(n_features), data, params)
    }

    /// Fit on rows given one `Vec` each; all rows must have the same length.
    pub fn fit_rows(rows: &[Vec<f32>], params: &Params) -> Result<Self, Error> {
        let n_features = rows.first().ok_or(Error::NoRows)?.len();
        if let Some((row, r)) = rows.iter().enumerate().find(|(_, r)| r.len() != n_features) {
            return Err(Error::RowLength { row, got: r.len(), expected: n_features });
        }
        Self::fit(&rows.concat(), n_features, params)
    }

    /// Fit on `data`, row-major with one value per name in `feature_names`.
    pub fn fit_named(feature_names: Vec<String>, data: &[f32], params: &Params) -> Result<Self, Error> {
        check_params(params)?;
        check_feature_names(&feature_names)?;
        let n_features = feature_names.len();
        let n_rows = check_matrix(data, &feature_names)?;
        if n_rows == 0 {
            return Err(Error::NoRows);
        }
        let subsample = params.max_samples.min(n_rows);
        let depth = max_depth(subsample);
        let mut master = Pcg64Mcg::seed_from_u64(params.seed);
        let trees = (0..params.n_trees)
            .map(|_| {
                let mut rng = Pcg64Mcg::seed_from_u64(master.next_u64());
                tree::grow(data, n_features, subsample, depth, &mut rng)
            })
            .collect();
        Ok(Self::assemble(*params, feature_names, n_rows, subsample, trees))
    }

    /// Lay grown (or loaded and checked) trees out in the flat arrays and precompute path lengths.
    fn assemble(
        params: Params,
        feature_names: Vec<String>,
        n_train_rows: usize,
        subsample: usize,
        trees: Vec<tree::Tree>,
    ) -> Self {
        let total: usize = trees.iter().map(|t| t.nodes.len()).sum();
        let mut forest = IsolationForest {
            params,
            feature_names,
            n_train_rows,
            subsample,
            nodes: Vec::with_capacity(total),
            n_samples: Vec::with_capacity(total),
            path: Vec::with_capacity(total),
            spans: Vec::with_capacity(trees.len()),
            denominator: trees.len() as f64 * average_path_length(subsample as u64),
            version: OnceLock::new(),
        };
        for t in trees {
            // Children come after their parent, so depths fill in one pass.
            let mut depth = vec![0u32; t.nodes.len()];
            let start = forest.nodes.len();
            for (i, n) in t.nodes.iter().enumerate() {
                if n.is_leaf(i) {
                    // As scikit-learn sums it: decision path length (depth + 1) + c(n) - 1.
                    let d = (depth[i] + 1) as f64 + average_path_length(t.n_samples[i] as u64) - 1.0;
                    forest.path.push(d);
                } else {
                    let l = n.left as usize;
                    depth[l] = depth[i] + 1;
                    depth[l + 1] = depth[i] + 1;
                    forest.path.push(0.0);
                }
            }
            forest.spans.push(Span { start, len: t.nodes.len(), steps: t.steps });
            forest.nodes.extend(t.nodes);
            forest.n_samples.extend(t.n_samples);
        }
        forest
    }

    /// scikit-learn's `score_samples` for one row: in [-1, 0], lower is more anomalous.
    pub fn score_samples(&self, row: &[f32]) -> Result<f64, Error> {
        if row.len() != self.n_features() {
            return Err(Error::RowLength { row: 0, got: row.len(), expected: self.n_features() });
        }
        check_matrix(row, &self.feature_names)?;
        Ok(self.score_from_sum(self.path_sum(row)))
    }

    /// `score_samples` for every row of `flat` (row-major), on this thread.
    pub fn score_batch(&self, flat: &[f32]) -> Result<Vec<f64>, Error> {
        let rows = check_matrix(flat, &self.feature_names)?;
        let mut out = vec![0.0; rows];
        self.score_rows(flat, &mut out);
        Ok(out)
    }

    /// `score_samples` for every row of `flat`, split over up to `threads` threads. The result is
    /// the same as [`Self::score_batch`]'s.
    pub fn score_batch_parallel(&self, flat: &[f32], threads: usize) -> Result<Vec<f64>, Error> {
        let rows = check_matrix(flat, &self.feature_names)?;
        let mut out = vec![0.0; rows];
        let threads = threads.clamp(1, rows.div_ceil(BLOCK_ROWS).max(1));
        if threads == 1 {
            self.score_rows(flat, &mut out);
            return Ok(out);
        }
        let per_thread = rows.div_ceil(threads).div_ceil(BLOCK_ROWS) * BLOCK_ROWS;
        let d = self.n_features();
        std::thread::scope(|s| {
            for (x, o) in flat.chunks(per_thread * d).zip(out.chunks_mut(per_thread)) {
                s.spawn(move || self.score_rows(x, o));
            }
        });
        Ok(out)
    }

    /// scikit-learn's `decision_function` for one row: `score_samples - offset`, negative for
    /// outliers (contamination "auto", offset -0.5).
    pub fn decision_function(&self, row: &[f32]) -> Result<f64, Error> {
        Ok(self.score_samples(row)? - OFFSET_AUTO)
    }

    /// The feature names, in column order.
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    /// Features per row.
    pub fn n_features(&self) -> usize {
        self.feature_names.len()
    }

    /// The parameters the forest was fitted with.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Rows the forest was fitted on.
    pub fn n_train_rows(&self) -> usize {
        self.n_train_rows
    }

    /// Rows each tree was grown on, `min(max_samples, training rows)`.
    pub fn subsample(&self) -> usize {
        self.subsample
    }

    /// Total nodes over all trees.
    pub fn n_nodes(&self) -> usize {
        self.nodes.len()
    }

    /// A stable identifier of this exact model: a 64-bit FNV-1a hash of its JSON model file, in
    /// hex. Equal models have equal versions, and saving and loading keeps it.
    pub fn version(&self) -> &str {
        self.version.get_or_init(|| format!("{:016x}", fnv1a(self.to_json().as_bytes())))
    }

    /// Sum over trees (in tree order) of one row's path length.
    fn path_sum(&self, row: &[f32]) -> f64 {
        self.spans
            .iter()
            .map(|s| {
                let nodes = &self.nodes[s.start..s.start + s.len];
                let mut at = 0;
                for _ in 0..s.steps {
                    at = nodes[at].step(row);
                }
                self.path[s.start + at]
            })
            .sum()
    }

    fn score_from_sum(&self, sum: f64) -> f64 {
        // scikit-learn: with a single training row the ratio is taken as 1.
        let ratio = if self.denominator != 0.0 { sum / self.denominator } else { 1.0 };
        -(2f64.powf(-ratio))
    }

    /// The batch kernel: blocks of rows, tree by tree, `LANES` rows in lock-step.
    fn score_rows(&self, flat: &[f32], out: &mut [f64]) {
        let d = self.n_features();
        for (block, sums) in flat.chunks(BLOCK_ROWS * d).zip(out.chunks_mut(BLOCK_ROWS)) {
            sums.fill(0.0);
            for s in &self.spans {
                let nodes = &self.nodes[s.start..s.start + s.len];
                let path = &self.path[s.start..s.start + s.len];
                let mut groups = block.chunks_exact(LANES * d);
                let mut group_sums = sums.chunks_exact_mut(LANES);
                for (g, gs) in (&mut groups).zip(&mut group_sums) {
                    let mut at = [0usize; LANES];
                    for _ in 0..s.steps {
                        for (k, a) in at.iter_mut().enumerate() {
                            *a = nodes[*a].step(&g[k * d..(k + 1) * d]);
                        }
                    }
                    for (sum, a) in gs.iter_mut().zip(at) {
                        *sum += path[a];
                    }
                }
                for (row, sum) in groups.remainder().chunks_exact(d).zip(group_sums.into_remainder()) {
                    let mut a = 0;
                    for _ in 0..s.steps {
                        a = nodes[a].step(row);
                    }
                    *sum += path[a];
                }
            }
            for v in sums.iter_mut() {
                *v = self.score_from_sum(*v);
            }
        }
    }
}

fn check_params(p: &Params) -> Result<(), Error> {
    if p.n_trees == 0 {
        return Err(Error::Params("n_trees must be at least 1".into()));
    }
    if p.max_samples == 0 || p.max_samples > MAX_SAMPLES_LIMIT {
        return Err(Error::Params(format!("max_samples {} is outside 1..={MAX_SAMPLES_LIMIT}", p.max_samples)));
    }
    Ok(())
}

/// Check feature names: 1 to 65,535 of them, none empty, none twice.
pub fn check_feature_names(names: &[String]) -> Result<(), Error> {
    if names.is_empty() || names.len() > u16::MAX as usize {
        return Err(Error::FeatureNames(format!("{} features; 1..={} are supported", names.len(), u16::MAX)));
    }
    let mut seen = std::collections::HashSet::new();
    for n in names {
        if n.trim().is_empty() {
            return Err(Error::FeatureNames("a feature name is empty".into()));
        }
        if !seen.insert(n.as_str()) {
            return Err(Error::FeatureNames(format!("'{n}' appears twice")));
        }
    }
    Ok(())
}

/// Rows in a row-major matrix over `names`, after checking its shape and that every value is finite.
fn check_matrix(data: &[f32], names: &[String]) -> Result<usize, Error> {
    let d = names.len();
    if !data.len().is_multiple_of(d) {
        return Err(Error::Shape { len: data.len(), n_features: d });
    }
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        let feature = i % d;
        return Err(Error::NotFinite { row: i / d, feature, name: names[feature].clone(), value: data[i] });
    }
    Ok(data.len() / d)
}

/// 64-bit FNV-1a.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests;
