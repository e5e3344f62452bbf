//! The file channel: notifications appended to a local JSON-lines file (and the log).
//!
//! It is the embedded default, so the whole pipeline can be tried with no mail or Slack account,
//! and a record of what went out. Each line is one [`Notification`] as JSON, starting with its
//! id (`{"id":"…",`), synced to disk before it counts as delivered.
//!
//! Exactly once: the queue records a delivery only after the line is on disk, so a crash between
//! the two makes the dispatcher deliver that notification again after restart. The channel
//! Each line also carries `message`: the message a person reads ([`View`]) — who, what, the
//! verdict in plain words, the runbook, each alert's times in the site's time zone — as email and
//! Slack show it.
//!
//! recognises it: when it opens the file it reads the ids of its last lines (a crash can only
//! leave the last few deliveries unrecorded: at most the dispatcher's concurrency), remembers
//! the ids it appends, and answers "delivered" without writing for an id already in the file.
//! A line a crash tore in half (no final newline) is cut off when the file is opened, so the file
//! stays valid JSON lines; that notification was not recorded as delivered and is written again.
//! The file belongs to the sidecar: nothing else should append to it.

use crate::alert::notification::Notification;
use crate::alert::view::{Site, View};
use crate::group_commit::GroupCommit;
use crate::notify::channel::{BoxFuture, Channel};
use crate::notify::retry::Outcome;
use std::collections::{HashSet, VecDeque};
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Lines read back from the end of the file at open, and ids remembered since.
const RECENT_IDS: usize = 4096;
/// Bytes read back at most at open (lines can be large: a group of thousands of alerts).
const TAIL_BYTES: u64 = 1 << 30;
/// Every line starts with the notification's id.
const ID_PREFIX: &[u8] = b"{\"id\":\"";
/// Longest id the queue accepts, plus its closing quote.
const MAX_ID_BYTES: usize = 201;

/// Appends each notification as one JSON line, synced to disk before it counts as delivered.
pub struct FileChannel {
    inner: Arc<Appender>,
    site: Site,
}

/// One line of the file: the notification, then the message made of it.
#[derive(serde::Serialize)]
struct Line<'a> {
    #[serde(flatten)]
    notification: &'a Notification,
    message: View,
}

struct Appender {
    path: PathBuf,
    open: Mutex<Option<Open>>,
    commit: GroupCommit,
}

/// The open file and the ids it is known to hold.
struct Open {
    file: File,
    recent: Recent,
}

/// A bounded set of ids, forgetting the oldest.
#[derive(Default)]
struct Recent {
    ids: HashSet<String>,
    order: VecDeque<String>,
}

impl Recent {
    fn insert(&mut self, id: String) {
        if self.ids.insert(id.clone()) {
            self.order.push_back(id);
            while self.order.len() > RECENT_IDS {
                if let Some(old) = self.order.pop_front() {
                    self.ids.remove(&old);
                }
            }
        }
    }
}

/// What an append did.
#[derive(Debug, PartialEq, Eq)]
enum Appended {
    Written,
    /// The file already holds this notification (a re-delivery after a crash).
    AlreadyThere,
}

impl FileChannel {
    /// A channel writing to `path` (opened on first delivery, created if missing).
    pub fn new(path: PathBuf) -> Self {
        Self::at_site(path, Site::default())
    }

    /// A channel writing to `path`, its messages made for `site` (its time zone and addresses).
    pub fn at_site(path: PathBuf, site: Site) -> Self {
        Self { inner: Arc::new(Appender { path, open: Mutex::new(None), commit: GroupCommit::default() }), site }
    }
}

impl Appender {
    fn append(&self, id: &str, line: &[u8]) -> io::Result<Appended> {
        let file = {
            let mut guard = self.open.lock().unwrap_or_else(|e| e.into_inner());
            if guard.is_none() {
                *guard = Some(open(&self.path)?);
            }
            let open = guard.as_mut().expect("opened above");
            if open.recent.ids.contains(id) {
                return Ok(Appended::AlreadyThere);
            }
            match open.file.write_all(line).and_then(|_| open.file.try_clone()) {
                Ok(handle) => {
                    open.recent.insert(id.to_owned());
                    handle
                }
                Err(e) => {
                    // Reopen (and re-read the tail) next time: the file may have been rotated, its
                    // disk replaced, or the line torn by a full disk.
                    *guard = None;
                    return Err(e);
                }
            }
        };
        // Concurrent deliveries share one fdatasync.
        match self.commit.sync(|| file.sync_data()) {
            Ok(()) => Ok(Appended::Written),
            Err(e) => {
                // Not known to be on disk: forget it, so the retry writes it (once more) if needed.
                *self.open.lock().unwrap_or_else(|e| e.into_inner()) = None;
                Err(e)
            }
        }
    }
}

/// Open `path` for appending, cut off a torn last line, and read the ids of its last lines.
fn open(path: &std::path::Path) -> io::Result<Open> {
    let file = std::fs::OpenOptions::new().create(true).read(true).append(true).open(path)?;
    let len = file.metadata()?.len();
    let tail = scan_tail(&file, len)?;
    if tail.complete < len {
        tracing::warn!(
            path = %path.display(), bytes = len - tail.complete,
            "cutting off a torn last line (an interrupted write); its notification is written again"
        );
        file.set_len(tail.complete)?;
        file.sync_data()?;
    }
    let mut recent = Recent::default();
    for id in tail.ids.into_iter().rev() {
        recent.insert(id);
    }
    Ok(Open { file, recent })
}

/// The end of a file, read back.
struct Tail {
    /// Length up to and including the last newline.
    complete: u64,
    /// Ids of the last complete lines, latest first.
    ids: Vec<String>,
}

fn scan_tail(file: &File, len: u64) -> io::Result<Tail> {
    let mut buf = vec![0u8; 64 * 1024];
    let (mut pos, mut complete, mut starts) = (len, None, Vec::new());
    while pos > 0 && starts.len() < RECENT_IDS && len - pos < TAIL_BYTES {
        let n = buf.len().min(usize::try_from(pos).unwrap_or(usize::MAX));
        pos -= n as u64;
        file.read_exact_at(&mut buf[..n], pos)?;
        for i in memchr::memrchr_iter(b'\n', &buf[..n]) {
            let next = pos + i as u64 + 1;
            let complete = *complete.get_or_insert(next);
            if next < complete {
                starts.push(next);
            }
        }
    }
    let complete = complete.unwrap_or(0);
    if pos == 0 && complete > 0 && starts.len() < RECENT_IDS {
        starts.push(0);
    }
    let mut ids = Vec::with_capacity(starts.len());
    let mut head = [0u8; ID_PREFIX.len() + MAX_ID_BYTES];
    for start in starts {
        let n = head.len().min(usize::try_from(complete - start).unwrap_or(usize::MAX));
        file.read_exact_at(&mut head[..n], start)?;
        if let Some(rest) = head[..n].strip_prefix(ID_PREFIX) {
            if let Some(end) = memchr::memchr(b'"', rest) {
                ids.push(String::from_utf8_lossy(&rest[..end]).into_owned());
            }
        }
    }
    Ok(Tail { complete, ids })
}

impl Channel for FileChannel {
    fn name(&self) -> &'static str {
        "file"
    }
    fn deliver<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let mut line = match serde_json::to_vec(&Line { notification: n, message: View::of(n, &self.site) }) {
                Ok(l) => l,
                Err(e) => return Outcome::Permanent { reason: format!("cannot encode the notification: {e}") },
            };
            line.push(b'\n');
            let alertname = n.common_labels.get("alertname").map(String::as_str).unwrap_or("(group)");
            let path = self.inner.path.display().to_string();
            let (inner, id) = (self.inner.clone(), n.id.clone());
            match tokio::task::spawn_blocking(move || inner.append(&id, &line)).await {
                Ok(Ok(Appended::Written)) => {
                    tracing::info!(id = %n.id, status = n.status.as_str(), alertname, alerts = n.alerts.len(), path, "notification written to file");
                    Outcome::Success
                }
                Ok(Ok(Appended::AlreadyThere)) => {
                    tracing::info!(id = %n.id, path, "notification already in the file (delivered before a restart); not written twice");
                    Outcome::Success
                }
                Ok(Err(e)) => Outcome::Retry { after: None, reason: format!("cannot append to {path}: {e}") },
                Err(e) => Outcome::Retry { after: None, reason: format!("file writer failed: {e}") },
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, pad: usize) -> String {
        format!("{{\"id\":\"{id}\",\"x\":\"{}\"}}\n", "p".repeat(pad))
    }

    #[test]
    fn the_ids_of_the_last_lines_are_read_back_across_chunk_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.jsonl");
        let mut text = String::new();
        for i in 0..50 {
            text.push_str(&line(&format!("{i:016x}"), 3000 * (i % 7)));
        }
        std::fs::write(&path, &text).unwrap();
        let open = open(&path).unwrap();
        assert_eq!(open.recent.ids.len(), 50);
        for i in 0..50 {
            assert!(open.recent.ids.contains(&format!("{i:016x}")), "{i}");
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "a complete file is left as it is");
    }

    #[test]
    fn a_torn_last_line_is_cut_off_and_an_id_already_there_is_not_written_twice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.jsonl");
        let whole = format!("{}{}", line("aaaaaaaaaaaaaaaa", 10), line("bbbbbbbbbbbbbbbb", 10));
        std::fs::write(&path, format!("{whole}{{\"id\":\"cccccccccccccccc\",\"x\":\"pp")).unwrap();
        let appender = Appender { path: path.clone(), open: Mutex::new(None), commit: GroupCommit::default() };
        let again = line("bbbbbbbbbbbbbbbb", 10);
        assert_eq!(appender.append("bbbbbbbbbbbbbbbb", again.as_bytes()).unwrap(), Appended::AlreadyThere);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), whole, "the torn line is gone, nothing added");
        let torn = line("cccccccccccccccc", 10);
        assert_eq!(appender.append("cccccccccccccccc", torn.as_bytes()).unwrap(), Appended::Written);
        assert_eq!(appender.append("cccccccccccccccc", torn.as_bytes()).unwrap(), Appended::AlreadyThere);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{whole}{torn}"));
    }

    #[test]
    fn a_file_without_any_newline_is_all_torn_and_an_empty_file_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.jsonl");
        std::fs::write(&path, "{\"id\":\"dddddddddddddddd\"").unwrap();
        assert!(open(&path).unwrap().recent.ids.is_empty());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        let fresh = dir.path().join("new.jsonl");
        assert!(open(&fresh).unwrap().recent.ids.is_empty());
    }

    #[test]
    fn notifications_serialise_with_their_id_first() {
        let payload = crate::alert::payload::WebhookPayload::parse(crate::alert::payload::tests::SAMPLE.as_bytes());
        let n = Notification::from_payload(payload.unwrap(), chrono::Utc::now());
        let json = serde_json::to_vec(&n).unwrap();
        assert!(json.starts_with(format!("{{\"id\":\"{}\",", n.id).as_bytes()));
    }
}
