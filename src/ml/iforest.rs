//! An isolation forest with scikit-learn's semantics.

use std::io::Write;
use std::path::Path;

/// `wardwatch-sidecar model fit`: fit on a CSV (header row of feature names) and write the model.
pub fn fit_csv(_csv: &Path, _out: &Path, _seed: u64) -> anyhow::Result<()> {
    anyhow::bail!("model fit is not implemented yet")
}

/// `wardwatch-sidecar model score`: one `score_samples` value per CSV row.
pub fn score_csv(_model: &Path, _csv: &Path, _out: &mut dyn Write) -> anyhow::Result<()> {
    anyhow::bail!("model score is not implemented yet")
}
