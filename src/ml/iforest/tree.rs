//! One isolation tree: growing it as scikit-learn's `ExtraTreeRegressor(max_features=1,
//! splitter="random")` grows it inside `IsolationForest`, and walking it.
//!
//! Layout: a tree is a flat array of 8-byte [`Node`]s in which both children of a split are
//! adjacent (`right = left + 1`), so a step is `left + (x[feature] > threshold)`, with no branch.
//! A leaf points at itself with an infinite threshold, so walking a fixed number of steps (the
//! tree's deepest leaf) lands every row on its leaf; rows can then be walked in lock-step.

use rand::seq::index;
use rand::Rng;

/// scikit-learn's `FEATURE_THRESHOLD` (`sklearn/tree/_splitter.pxd`): a feature whose range in a
/// node is at most this is constant there and is not split on.
const FEATURE_THRESHOLD: f64 = 1e-7;

/// One node. A split sends `x[feature] <= threshold` to `left` and the rest to `left + 1`; a leaf
/// has `threshold = +inf` and `left` = its own index.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Node {
    pub threshold: f32,
    pub feature: u16,
    pub left: u16,
}

impl Node {
    fn leaf(own_index: usize) -> Self {
        Node { threshold: f32::INFINITY, feature: 0, left: own_index as u16 }
    }

    pub fn is_leaf(&self, own_index: usize) -> bool {
        self.left as usize == own_index
    }

    /// The next node for `row`: itself for a leaf.
    #[inline(always)]
    pub fn step(&self, row: &[f32]) -> usize {
        self.left as usize + (row[self.feature as usize] > self.threshold) as usize
    }
}

/// A grown tree: its nodes, the training rows that reached each node, and the number of steps
/// that brings any row to its leaf.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Tree {
    pub nodes: Vec<Node>,
    pub n_samples: Vec<u32>,
    pub steps: u32,
}

/// The training rows one tree sees, stored by column for the min/max scans.
struct Subsample {
    columns: Vec<f32>,
    rows: usize,
}

impl Subsample {
    fn draw<R: Rng>(data: &[f32], n_features: usize, max_samples: usize, rng: &mut R) -> Self {
        let n_rows = data.len() / n_features;
        let picked = index::sample(rng, n_rows, max_samples);
        let mut columns = vec![0.0; max_samples * n_features];
        for (i, r) in picked.iter().enumerate() {
            for (f, &v) in data[r * n_features..(r + 1) * n_features].iter().enumerate() {
                columns[f * max_samples + i] = v;
            }
        }
        Subsample { columns, rows: max_samples }
    }

    fn value(&self, feature: usize, sample: u32) -> f32 {
        self.columns[feature * self.rows + sample as usize]
    }

    fn min_max(&self, feature: usize, samples: &[u32]) -> (f32, f32) {
        let column = &self.columns[feature * self.rows..(feature + 1) * self.rows];
        samples.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &s| {
            let v = column[s as usize];
            (lo.min(v), hi.max(v))
        })
    }
}

/// A node waiting to be split: its node index, its rows `samples[start..end]`, its depth and the
/// features not yet known to be constant in it (constant in a node means constant in its children).
struct Pending {
    node: usize,
    start: usize,
    end: usize,
    depth: u32,
    candidates: Vec<u16>,
}

/// The largest `f32` not above `t`. `x <= floor_f32(t)` holds exactly when `x <= t` for every
/// `f32` x, so the tree keeps scikit-learn's float64 threshold semantics in an `f32`.
fn floor_f32(t: f64) -> f32 {
    let r = t as f32;
    if (r as f64) > t {
        r.next_down()
    } else {
        r
    }
}

/// Grow one tree on `max_samples` rows of `data` (row-major, `n_features` columns, all finite)
/// drawn without replacement, down to `max_depth`.
pub(super) fn grow<R: Rng>(data: &[f32], n_features: usize, max_samples: usize, max_depth: u32, rng: &mut R) -> Tree {
    let sub = Subsample::draw(data, n_features, max_samples, rng);
    let mut samples: Vec<u32> = (0..max_samples as u32).collect();
    let mut nodes = vec![Node::leaf(0)];
    let mut n_samples = vec![max_samples as u32];
    let mut depths = vec![0u32];
    let all: Vec<u16> = (0..n_features as u16).collect();
    let mut stack = vec![Pending { node: 0, start: 0, end: max_samples, depth: 0, candidates: all }];
    while let Some(mut p) = stack.pop() {
        // scikit-learn's DepthFirstTreeBuilder: a leaf at max_depth or below 2 samples (the random
        // targets it regresses on make every larger node impure).
        if p.depth >= max_depth || p.end - p.start < 2 {
            continue;
        }
        let Some((feature, threshold)) = choose_split(&sub, &samples[p.start..p.end], &mut p.candidates, rng) else {
            continue; // every feature is constant here
        };
        let rows = &mut samples[p.start..p.end];
        let mut pos = 0;
        for i in 0..rows.len() {
            if sub.value(feature as usize, rows[i]) <= threshold {
                rows.swap(i, pos);
                pos += 1;
            }
        }
        let mid = p.start + pos;
        let left = nodes.len();
        nodes[p.node] = Node { threshold, feature, left: left as u16 };
        nodes.extend([Node::leaf(left), Node::leaf(left + 1)]);
        n_samples.extend([(mid - p.start) as u32, (p.end - mid) as u32]);
        depths.extend([p.depth + 1; 2]);
        let right_candidates = p.candidates.clone();
        stack.push(Pending {
            node: left + 1,
            start: mid,
            end: p.end,
            depth: p.depth + 1,
            candidates: right_candidates,
        });
        stack.push(Pending { node: left, start: p.start, end: mid, depth: p.depth + 1, candidates: p.candidates });
    }
    let steps = depths.iter().copied().max().unwrap_or(0);
    Tree { nodes, n_samples, steps }
}

/// scikit-learn's `node_split_random` with `max_features=1`: draw a feature among those not known
/// to be constant; if it is constant in this node, set it aside and draw again; split at a
/// threshold uniform in [min, max) (a draw equal to max becomes min). None when all are constant.
fn choose_split<R: Rng>(sub: &Subsample, rows: &[u32], candidates: &mut Vec<u16>, rng: &mut R) -> Option<(u16, f32)> {
    while !candidates.is_empty() {
        let j = rng.random_range(0..candidates.len());
        let feature = candidates[j];
        let (lo, hi) = sub.min_max(feature as usize, rows);
        let (lo, hi) = (lo as f64, hi as f64);
        if hi <= lo + FEATURE_THRESHOLD {
            candidates.swap_remove(j);
            continue;
        }
        let mut t = lo + (hi - lo) * rng.random::<f64>();
        if t == hi {
            t = lo;
        }
        return Some((feature, floor_f32(t)));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_pcg::Pcg64Mcg;

    #[test]
    fn floor_f32_keeps_float64_comparisons() {
        for t in [0.1f64, -0.1, 1.0 / 3.0, 2.5, -7.25, 1e-30, 123456.789] {
            let f = floor_f32(t);
            assert!((f as f64) <= t, "{t}");
            let above = f.next_up();
            assert!((above as f64) > t, "{t}: {f} is not the largest f32 <= t");
            for x in [f.next_down(), f, above] {
                assert_eq!(x <= f, (x as f64) <= t);
            }
        }
    }

    #[test]
    fn children_are_adjacent_counts_add_up_and_leaves_point_at_themselves() {
        let data: Vec<f32> = (0..300 * 3).map(|i| ((i * 7919) % 1000) as f32 / 10.0).collect();
        let tree = grow(&data, 3, 256, 8, &mut Pcg64Mcg::seed_from_u64(3));
        assert_eq!(tree.n_samples[0], 256);
        assert!(tree.nodes.len() > 100);
        let mut leaf_rows = 0;
        for (i, n) in tree.nodes.iter().enumerate() {
            if n.is_leaf(i) {
                assert_eq!(n.threshold, f32::INFINITY);
                leaf_rows += tree.n_samples[i];
            } else {
                let l = n.left as usize;
                assert!(l > i);
                assert_eq!(tree.n_samples[i], tree.n_samples[l] + tree.n_samples[l + 1]);
                assert!(tree.n_samples[l] > 0 && tree.n_samples[l + 1] > 0, "a split never leaves a side empty");
            }
        }
        assert_eq!(leaf_rows, 256);
        assert!(tree.steps <= 8);
    }

    #[test]
    fn a_constant_feature_is_never_split_on() {
        // Feature 1 is constant; feature 0 varies: every split must use feature 0.
        let data: Vec<f32> = (0..64).flat_map(|i| [i as f32, 5.0]).collect();
        let tree = grow(&data, 2, 64, 6, &mut Pcg64Mcg::seed_from_u64(1));
        let splits: Vec<&Node> =
            tree.nodes.iter().enumerate().filter(|(i, n)| !n.is_leaf(*i)).map(|(_, n)| n).collect();
        assert!(!splits.is_empty());
        assert!(splits.iter().all(|n| n.feature == 0));
    }

    #[test]
    fn identical_rows_make_a_single_leaf() {
        let data = vec![1.5f32; 10 * 3];
        let tree = grow(&data, 3, 10, 4, &mut Pcg64Mcg::seed_from_u64(9));
        assert_eq!(tree.nodes, vec![Node::leaf(0)]);
        assert_eq!(tree.n_samples, vec![10]);
        assert_eq!(tree.steps, 0);
    }
}
