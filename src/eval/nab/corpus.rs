//! Reading NAB's data: `timestamp,value` CSV files, a windows file (`*_windows.json`: for each
//! file, its `[start, end]` windows) and a labels file (`*_labels.json`: the labelled anomaly
//! timestamps the windows are centred on).

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;

/// Errors from reading NAB's files.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// A file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A JSON label file is malformed.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
    /// A CSV line or a label is not what NAB writes.
    #[error("{path}:{line}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number (0 for a label).
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// Parses NAB's timestamps: `YYYY-MM-DD HH:MM:SS` with an optional fraction (`.000000`).
pub fn parse_timestamp(text: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S%.f").ok()
}

/// One row of a NAB series.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The timestamp as written in the file.
    pub timestamp_text: String,
    /// The parsed timestamp.
    pub timestamp: NaiveDateTime,
    /// The value.
    pub value: f64,
}

/// Parses one data line `timestamp,value` (1-based `line` for errors).
pub fn parse_row(path: &Path, line: usize, text: &str) -> Result<Row, CorpusError> {
    let parse_error = |reason: String| CorpusError::Parse { path: path.to_path_buf(), line, reason };
    let (ts, value) = text
        .trim_end_matches(['\r', '\n'])
        .split_once(',')
        .ok_or_else(|| parse_error(format!("expected 'timestamp,value', got {text:?}")))?;
    let timestamp =
        parse_timestamp(ts).ok_or_else(|| parse_error(format!("timestamp {ts:?} is not YYYY-MM-DD HH:MM:SS")))?;
    let value: f64 = value.trim().parse().map_err(|_| parse_error(format!("value {value:?} is not a number")))?;
    if !value.is_finite() {
        return Err(parse_error(format!("value {value} is not finite")));
    }
    Ok(Row { timestamp_text: ts.trim().to_string(), timestamp, value })
}

/// Reads a whole `timestamp,value` file (header row first).
pub fn read_series(path: &Path) -> Result<Vec<Row>, CorpusError> {
    let io = |source| CorpusError::Io { path: path.to_path_buf(), source };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut rows = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(io)?;
        if i == 0 || line.trim().is_empty() {
            continue;
        }
        rows.push(parse_row(path, i + 1, &line)?);
    }
    Ok(rows)
}

/// A labelled NAB file.
#[derive(Debug, Clone)]
pub struct LabelledSeries {
    /// The key in the label files, e.g. `realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv`.
    pub name: String,
    /// The rows.
    pub rows: Vec<Row>,
    /// The anomaly windows, `(start, end)` inclusive.
    pub windows: Vec<(NaiveDateTime, NaiveDateTime)>,
    /// The labelled anomalies (one per window).
    pub labels: Vec<NaiveDateTime>,
}

impl LabelledSeries {
    /// The timestamps, for the scorer.
    pub fn timestamps(&self) -> Vec<NaiveDateTime> {
        self.rows.iter().map(|r| r.timestamp).collect()
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, CorpusError> {
    let text = std::fs::read_to_string(path).map_err(|source| CorpusError::Io { path: path.to_path_buf(), source })?;
    serde_json::from_str(&text).map_err(|source| CorpusError::Json { path: path.to_path_buf(), source })
}

fn label_time(path: &Path, text: &str) -> Result<NaiveDateTime, CorpusError> {
    parse_timestamp(text).ok_or_else(|| CorpusError::Parse {
        path: path.to_path_buf(),
        line: 0,
        reason: format!("label timestamp {text:?} is not YYYY-MM-DD HH:MM:SS"),
    })
}

/// Loads every file named in `windows_file` from `data_dir`, with its windows and the labels
/// from `labels_file` (missing labels are allowed: they only feed the delay figures).
pub fn load(data_dir: &Path, windows_file: &Path, labels_file: &Path) -> Result<Vec<LabelledSeries>, CorpusError> {
    let windows: BTreeMap<String, Vec<[String; 2]>> = read_json(windows_file)?;
    let labels: BTreeMap<String, Vec<String>> =
        if labels_file.exists() { read_json(labels_file)? } else { BTreeMap::new() };
    let mut corpus = Vec::with_capacity(windows.len());
    for (name, limits) in windows {
        let rows = read_series(&data_dir.join(&name))?;
        let windows = limits
            .iter()
            .map(|[a, b]| Ok((label_time(windows_file, a)?, label_time(windows_file, b)?)))
            .collect::<Result<Vec<_>, CorpusError>>()?;
        let labels = labels
            .get(&name)
            .map(|l| l.iter().map(|t| label_time(labels_file, t)).collect::<Result<Vec<_>, _>>())
            .transpose()?
            .unwrap_or_default();
        corpus.push(LabelledSeries { name, rows, windows, labels });
    }
    Ok(corpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nab_timestamps_with_and_without_fraction() {
        let a = parse_timestamp("2014-02-26 13:45:00.000000").unwrap();
        let b = parse_timestamp("2014-02-26 13:45:00").unwrap();
        assert_eq!(a, b);
        assert!(parse_timestamp("2014-02-26").is_none());
    }

    #[test]
    fn bad_row_names_file_and_line() {
        let err = parse_row(Path::new("x.csv"), 7, "2014-02-26 13:45:00,abc").unwrap_err();
        assert_eq!(err.to_string(), "x.csv:7: value \"abc\" is not a number");
        let err = parse_row(Path::new("x.csv"), 3, "2014-02-26 13:45:00").unwrap_err();
        assert!(err.to_string().starts_with("x.csv:3: expected 'timestamp,value'"), "{err}");
    }
}
