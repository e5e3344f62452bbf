//! The audit log: one JSON line per decision ([`AuditEntry`]), with its score, reasons, model
//! and inputs.
//!
//! Each line is written with a single `write` on a file opened for appending, so concurrent
//! writers never interleave within a line, and is flushed to the disk before the alert is
//! delivered: what a notification said can always be traced back to why. Concurrent writers share
//! one `fdatasync` ([`crate::group_commit`]): one each would cap deliveries at the disk's fsync
//! rate.

use crate::rescore::audit::AuditEntry;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The append-only audit file.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<File>,
    /// The same file, to sync without holding the writers' lock.
    sync: File,
    commit: crate::group_commit::GroupCommit,
}

impl AuditLog {
    /// Open (creating) the log at `path` for appending.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let sync = file.try_clone()?;
        Ok(Self { path: path.to_owned(), file: Mutex::new(file), sync, commit: Default::default() })
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
        self.file.lock().unwrap_or_else(|p| p.into_inner()).write_all(&buf)?;
        self.commit.sync(|| self.sync.sync_data())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rescore::audit::WindowSpan;
    use crate::rescore::policy::Decision;
    use chrono::DateTime;

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
            escalation_step: None,
            shadow: None,
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
