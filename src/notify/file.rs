//! The file channel: notifications appended to a local JSON-lines file (and the log).
//!
//! It is the embedded default, so the whole pipeline can be tried with no mail or Slack account,
//! and a record of what went out.

use crate::alert::notification::Notification;
use crate::group_commit::GroupCommit;
use crate::notify::channel::{BoxFuture, Channel};
use crate::notify::retry::Outcome;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Appends each notification as one JSON line, synced to disk before it counts as delivered.
pub struct FileChannel {
    inner: Arc<Appender>,
}

struct Appender {
    path: PathBuf,
    file: Mutex<Option<std::fs::File>>,
    commit: GroupCommit,
}

impl FileChannel {
    /// A channel writing to `path` (opened on first delivery, created if missing).
    pub fn new(path: PathBuf) -> Self {
        Self { inner: Arc::new(Appender { path, file: Mutex::new(None), commit: GroupCommit::default() }) }
    }
}

impl Appender {
    fn append(&self, line: &[u8]) -> std::io::Result<()> {
        let file = {
            let mut guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
            if guard.is_none() {
                *guard = Some(std::fs::OpenOptions::new().create(true).append(true).open(&self.path)?);
            }
            let file = guard.as_mut().expect("opened above");
            match file.write_all(line).and_then(|_| file.try_clone()) {
                Ok(handle) => handle,
                Err(e) => {
                    // Reopen next time: the file may have been rotated or its disk replaced.
                    *guard = None;
                    return Err(e);
                }
            }
        };
        // Concurrent deliveries share one fdatasync.
        self.commit.sync(|| file.sync_data())
    }
}

impl Channel for FileChannel {
    fn name(&self) -> &'static str {
        "file"
    }
    fn deliver<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let mut line = match serde_json::to_vec(n) {
                Ok(l) => l,
                Err(e) => return Outcome::Permanent { reason: format!("cannot encode the notification: {e}") },
            };
            line.push(b'\n');
            let alertname = n.common_labels.get("alertname").map(String::as_str).unwrap_or("(group)");
            let path = self.inner.path.display().to_string();
            tracing::info!(id = %n.id, status = n.status.as_str(), alertname, alerts = n.alerts.len(), path, "notification written to file");
            let inner = self.inner.clone();
            match tokio::task::spawn_blocking(move || inner.append(&line)).await {
                Ok(Ok(())) => Outcome::Success,
                Ok(Err(e)) => Outcome::Retry { after: None, reason: format!("cannot append to {path}: {e}") },
                Err(e) => Outcome::Retry { after: None, reason: format!("file writer failed: {e}") },
            }
        })
    }
}
