//! A causal streaming anomaly detector for one metric series.

use std::io::Write;
use std::path::Path;

/// `wardwatch-sidecar detect`: read NAB's `timestamp,value`, write
/// `timestamp,value,anomaly_score,is_anomaly`, each row scored on itself and earlier rows only.
pub fn detect_csv(_csv: &Path, _out: &mut dyn Write) -> anyhow::Result<()> {
    anyhow::bail!("detect is not implemented yet")
}
