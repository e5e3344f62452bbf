//! The simulated evaluation: alerts as the repository's rules fire them, scored against ground truth.

use std::io::Write;

/// What to evaluate.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// First simulation seed.
    pub first_seed: u64,
    /// Number of seeds (one simulated day each by default).
    pub seeds: u64,
    /// Simulated hours per seed.
    pub hours: f64,
}

/// `wardwatch-sidecar eval`: run the evaluation and print its figures.
pub fn run(_options: &EvalOptions, _out: &mut dyn Write) -> anyhow::Result<()> {
    anyhow::bail!("eval is not implemented yet")
}
