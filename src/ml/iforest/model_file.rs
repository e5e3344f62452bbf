//! The model file: JSON holding the format and its version, the parameters, the feature names,
//! the training row count and every tree as parallel arrays in scikit-learn's `tree_` terms.
//!
//! ```json
//! {"format":"wardwatch-isolation-forest","format_version":1,
//!  "params":{"n_trees":100,"max_samples":256,"seed":0},
//!  "feature_names":["hr","spo2"],"n_train_rows":2000,"subsample":256,
//!  "trees":[{"feature":[1,-1,...],"threshold":[0.93,0.0,...],"left":[1,-1,...],"n_node_samples":[256,...]}]}
//! ```
//!
//! A split's right child is `left + 1`; a leaf has `feature` and `left` -1. Loading checks that
//! the arrays describe trees this module could have grown, so scoring a loaded model cannot fail.

use super::tree::{Node, Tree};
use super::{check_feature_names, check_params, max_depth, Error, IsolationForest, Params};
use serde::{Deserialize, Serialize};

/// The `format` field.
const FORMAT: &str = "wardwatch-isolation-forest";
/// The `format_version` field this code writes and reads.
const FORMAT_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelFile {
    format: String,
    format_version: u32,
    params: Params,
    feature_names: Vec<String>,
    n_train_rows: usize,
    subsample: usize,
    trees: Vec<TreeFile>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TreeFile {
    feature: Vec<i32>,
    threshold: Vec<f32>,
    left: Vec<i32>,
    n_node_samples: Vec<u32>,
}

impl IsolationForest {
    /// The model file as JSON.
    pub fn to_json(&self) -> String {
        let trees = self
            .spans
            .iter()
            .map(|s| {
                let nodes = &self.nodes[s.start..s.start + s.len];
                let leaf = |i: usize| nodes[i].is_leaf(i);
                TreeFile {
                    feature: (0..s.len).map(|i| if leaf(i) { -1 } else { nodes[i].feature as i32 }).collect(),
                    threshold: (0..s.len).map(|i| if leaf(i) { 0.0 } else { nodes[i].threshold }).collect(),
                    left: (0..s.len).map(|i| if leaf(i) { -1 } else { nodes[i].left as i32 }).collect(),
                    n_node_samples: self.n_samples[s.start..s.start + s.len].to_vec(),
                }
            })
            .collect();
        let file = ModelFile {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            params: self.params,
            feature_names: self.feature_names.clone(),
            n_train_rows: self.n_train_rows,
            subsample: self.subsample,
            trees,
        };
        serde_json::to_string(&file).expect("a model file always serialises")
    }

    /// Read a model from its JSON, checking that it describes a valid forest.
    pub fn from_json(json: &str) -> Result<Self, Error> {
        let file: ModelFile = serde_json::from_str(json)?;
        if file.format != FORMAT || file.format_version != FORMAT_VERSION {
            return Err(Error::InvalidModel(format!(
                "format '{}' version {}; this build reads '{FORMAT}' version {FORMAT_VERSION}",
                file.format, file.format_version
            )));
        }
        check_params(&file.params)?;
        check_feature_names(&file.feature_names)?;
        if file.trees.len() != file.params.n_trees {
            return Err(invalid(format!("{} trees, but params say {}", file.trees.len(), file.params.n_trees)));
        }
        if file.subsample == 0 || file.subsample != file.params.max_samples.min(file.n_train_rows) {
            return Err(invalid(format!(
                "subsample {} is not min(max_samples {}, n_train_rows {})",
                file.subsample, file.params.max_samples, file.n_train_rows
            )));
        }
        let depth = max_depth(file.subsample);
        let n_features = file.feature_names.len();
        let trees = (file.trees.iter().enumerate())
            .map(|(i, t)| {
                tree_from_file(t, n_features, file.subsample, depth).map_err(|e| invalid(format!("tree {i}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::assemble(file.params, file.feature_names, file.n_train_rows, file.subsample, trees))
    }
}

fn invalid(reason: String) -> Error {
    Error::InvalidModel(reason)
}

/// Check one tree's arrays: one root, every other node the child of exactly one split that comes
/// before it, counts that add up, leaves no deeper than the depth limit.
fn tree_from_file(t: &TreeFile, n_features: usize, subsample: usize, max_depth: u32) -> Result<Tree, String> {
    let len = t.feature.len();
    if len == 0 || [t.threshold.len(), t.left.len(), t.n_node_samples.len()].iter().any(|&l| l != len) {
        return Err("its arrays are empty or of different lengths".into());
    }
    if len > 2 * subsample - 1 {
        return Err(format!("{len} nodes; a tree on {subsample} rows has at most {}", 2 * subsample - 1));
    }
    if t.n_node_samples[0] as usize != subsample {
        return Err(format!("the root holds {} rows, not the subsample of {subsample}", t.n_node_samples[0]));
    }
    let mut nodes = Vec::with_capacity(len);
    let mut depth = vec![u32::MAX; len];
    depth[0] = 0;
    for i in 0..len {
        if depth[i] == u32::MAX {
            return Err(format!("node {i} is nobody's child"));
        }
        if t.left[i] < 0 {
            if t.feature[i] != -1 || t.n_node_samples[i] == 0 {
                return Err(format!("leaf {i} has a feature or no rows"));
            }
            nodes.push(Node { threshold: f32::INFINITY, feature: 0, left: i as u16 });
            continue;
        }
        let l = t.left[i] as usize;
        let f = t.feature[i];
        if l <= i || l + 1 >= len || f < 0 || f as usize >= n_features || !t.threshold[i].is_finite() {
            return Err(format!("split {i} has a bad child ({l}), feature ({f}) or threshold"));
        }
        if depth[l] != u32::MAX || depth[l + 1] != u32::MAX {
            return Err(format!("node {l} or {} has two parents", l + 1));
        }
        if t.n_node_samples[i] as u64 != t.n_node_samples[l] as u64 + t.n_node_samples[l + 1] as u64 {
            return Err(format!("split {i}'s row count is not the sum of its children's"));
        }
        if depth[i] + 1 > max_depth {
            return Err(format!("split {i} makes leaves deeper than the limit {max_depth}"));
        }
        depth[l] = depth[i] + 1;
        depth[l + 1] = depth[i] + 1;
        nodes.push(Node { threshold: t.threshold[i], feature: f as u16, left: l as u16 });
    }
    let steps = depth.into_iter().max().unwrap_or(0);
    Ok(Tree { nodes, n_samples: t.n_node_samples.clone(), steps })
}
