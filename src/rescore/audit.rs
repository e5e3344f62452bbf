//! The audit log: one JSON line per decision, with its score, reasons, model and inputs.
//!
//! Each line is written with a single `write` on a file opened for appending, so concurrent
//! writers never interleave within a line, and is flushed to the disk before the alert is
//! delivered: what a notification said can always be traced back to why.

use super::policy::Decision;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// One decision about one alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When the decision was made.
    pub decided_at: DateTime<Utc>,
    /// The notification (idempotency key) the alert arrived in.
    pub notification: String,
    /// The alert's fingerprint.
    pub fingerprint: String,
    /// The alert's name.
    pub alertname: String,
    /// The alert's labels.
    pub labels: BTreeMap<String, String>,
    /// The alert's `startsAt`: the end of the history window.
    pub starts_at: DateTime<Utc>,
    /// The decision; `None` when the alert went out unscored.
    pub decision: Option<Decision>,
    /// The score in [0, 1], if scored.
    pub score: Option<f64>,
    /// The artifact likelihood in [0, 1], if scored.
    pub artifact: Option<f64>,
    /// The reasons, most important first (or why the alert is unscored).
    pub reasons: Vec<String>,
    /// The model version, if scored.
    pub model_version: Option<String>,
    /// The entity whose history was read, e.g. `patient=p00003`.
    pub entity: Option<String>,
    /// The history window: start and end (Unix milliseconds) and step (milliseconds).
    pub window: Option<WindowSpan>,
}

impl AuditEntry {
    /// An entry for one alert with nothing decided yet: no score, decision, reasons or window.
    pub fn new(
        notification: &str,
        fingerprint: &str,
        labels: &BTreeMap<String, String>,
        starts_at: DateTime<Utc>,
        decided_at: DateTime<Utc>,
    ) -> Self {
        Self {
            decided_at,
            notification: notification.to_owned(),
            fingerprint: fingerprint.to_owned(),
            alertname: labels.get("alertname").cloned().unwrap_or_default(),
            labels: labels.clone(),
            starts_at,
            decision: None,
            score: None,
            artifact: None,
            reasons: Vec::new(),
            model_version: None,
            entity: None,
            window: None,
        }
    }
}

/// The time range of a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowSpan {
    /// Start, Unix milliseconds.
    pub start_ms: i64,
    /// End, Unix milliseconds (the alert's `startsAt`).
    pub end_ms: i64,
    /// Step, milliseconds.
    pub step_ms: i64,
    /// Signals that had data.
    pub signals: usize,
}

/// The append-only audit file.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<File>,
}

impl AuditLog {
    /// Open (creating) the log at `path` for appending.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self { path: path.to_owned(), file: Mutex::new(file) })
    }

    /// Where the log is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append entries, one line each, and flush them to the disk.
    pub fn record(&self, entries: &[AuditEntry]) -> std::io::Result<()> {
        let mut buf = Vec::new();
        for e in entries {
            serde_json::to_writer(&mut buf, e).map_err(std::io::Error::other)?;
            buf.push(b'\n');
        }
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(&buf)?;
        file.sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: usize) -> AuditEntry {
        AuditEntry {
            decided_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            notification: format!("{n:016x}"),
            fingerprint: "abc".into(),
            alertname: "HypoxiaDetected".into(),
            labels: [("patient".to_string(), "p00003".to_string())].into_iter().collect(),
            starts_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            decision: Some(Decision::Downgrade),
            score: Some(0.1),
            artifact: Some(0.9),
            reasons: vec!["SpO2 84% but heart rate unchanged".into()],
            model_version: Some("m1".into()),
            entity: Some("patient=p00003".into()),
            window: Some(WindowSpan { start_ms: 0, end_ms: 7_200_000, step_ms: 5_000, signals: 17 }),
        }
    }

    #[test]
    fn entries_append_as_json_lines_that_parse_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit/decisions.jsonl");
        let log = AuditLog::open(&path).unwrap();
        log.record(&[entry(1), entry(2)]).unwrap();
        drop(log);
        AuditLog::open(&path).unwrap().record(&[entry(3)]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let back: Vec<AuditEntry> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(back, vec![entry(1), entry(2), entry(3)]);
    }
}
