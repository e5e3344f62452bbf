//! `wardwatch-sidecar detect`: the streaming detector ([`crate::ml::detect`]) over a NAB CSV file.

use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::eval::nab::corpus::{parse_row, CorpusError};
use crate::ml::detect::Detector;

/// Errors from `detect`.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// Reading the input or writing the output failed.
    #[error("{path}: {source}")]
    Io {
        /// The input file, or `<output>`.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The input is not NAB's `timestamp,value` CSV.
    #[error(transparent)]
    Parse(#[from] CorpusError),
}

/// `wardwatch-sidecar detect`: read NAB's `timestamp,value`, write
/// `timestamp,value,anomaly_score,is_anomaly`, each row scored on itself and earlier rows only.
pub fn detect_csv(csv: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
    Ok(detect_stream(csv, out)?)
}

fn detect_stream(csv: &Path, out: &mut dyn Write) -> Result<(), DetectError> {
    let input_error = |source| DetectError::Io { path: csv.to_path_buf(), source };
    let output_error = |source| DetectError::Io { path: PathBuf::from("<output>"), source };
    let file = std::fs::File::open(csv).map_err(input_error)?;
    let mut out = BufWriter::new(out);
    let mut detector = Detector::default();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(input_error)?;
        if i == 0 {
            let header: Vec<&str> = line.trim().split(',').map(str::trim).collect();
            if header != ["timestamp", "value"] {
                return Err(CorpusError::Parse {
                    path: csv.to_path_buf(),
                    line: 1,
                    reason: format!("expected the header 'timestamp,value', got {line:?}"),
                }
                .into());
            }
            writeln!(out, "timestamp,value,anomaly_score,is_anomaly").map_err(output_error)?;
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        let row = parse_row(csv, i + 1, &line)?;
        let scored = detector.update(row.value);
        writeln!(out, "{},{},{},{}", row.timestamp_text, row.value, scored.anomaly_score, u8::from(scored.is_anomaly))
            .map_err(output_error)?;
    }
    out.flush().map_err(output_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_csv_rejects_missing_header_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.csv");
        std::fs::write(&path, "2014-01-01 00:00:00,1\n").unwrap();
        let err = detect_csv(&path, &mut Vec::new()).unwrap_err().to_string();
        assert!(err.contains("s.csv:1: expected the header"), "{err}");
    }
}
