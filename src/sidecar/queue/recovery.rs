//! Recovery at open: the directory layout, the lock, leftovers of interrupted writes, corrupt
//! files quarantined, pending items and recently completed ids read back (the crash table of
//! [`super`] says what each step leaves and what becomes of it).

use super::index::still_remembered;
use super::io::{io_err, Fs, CORRUPT_DIR, DEAD_DIR, LOCK_FILE, SEEN_DIR, TMP_DIR};
use super::record::{decode, decode_item_file, parse_file_name, validate_id, Item, SeenMarker, ITEM_EXT};
use super::QueueError;
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use tracing::{error, warn};

impl Fs {
    pub(super) fn create_layout(&self) -> Result<(), QueueError> {
        self.io.create_dir_all(&self.dir).map_err(io_err("create directory", &self.dir))?;
        for sub in [TMP_DIR, SEEN_DIR, DEAD_DIR, CORRUPT_DIR] {
            let path = self.sub(sub);
            self.io.create_dir_all(&path).map_err(io_err("create directory", &path))?;
        }
        if let Some(parent) = self.dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            self.sync_dir(parent)?;
        }
        self.sync_dir(&self.dir)
    }

    pub(super) fn lock(&self) -> Result<File, QueueError> {
        let path = self.sub(LOCK_FILE);
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err("create lock file", &path))?;
        // Held open for reading only: flock needs no write access, and a file held open for
        // writing would keep an operator from remounting the queue's filesystem read-only.
        let file = File::open(&path).map_err(io_err("open lock file", &path))?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(fs::TryLockError::WouldBlock) => Err(QueueError::Locked { dir: self.dir.clone() }),
            Err(fs::TryLockError::Error(e)) => Err(io_err("lock", &path)(e)),
        }
    }

    /// Delete everything in `tmp/`: writes a crash interrupted.
    pub(super) fn clean_tmp(&self) -> Result<usize, QueueError> {
        let tmp = self.sub(TMP_DIR);
        let names = self.list_files(&tmp)?;
        for name in &names {
            let path = tmp.join(name);
            self.io.remove_file(&path).map_err(io_err("remove leftover temporary file", &path))?;
        }
        if !names.is_empty() {
            warn!(count = names.len(), files = ?names, "removed temporary files left by an interrupted write");
        }
        Ok(names.len())
    }

    /// Move `name` from the queue directory to `corrupt/`, loudly.
    pub(super) fn quarantine(&self, name: &str, reason: &str) -> Result<(), QueueError> {
        let from = self.dir.join(name);
        let mut to = self.sub(CORRUPT_DIR).join(name);
        if self.io.exists(&to) {
            to = self.sub(CORRUPT_DIR).join(format!("{name}.{}", Utc::now().timestamp_nanos_opt().unwrap_or(0)));
        }
        self.io.rename(&from, &to).map_err(io_err("move corrupt file to corrupt/", &from))?;
        self.sync_dir(&self.sub(CORRUPT_DIR))?;
        self.sync_dir(&self.dir)?;
        error!(
            file = %from.display(), moved_to = %to.display(), reason,
            "CORRUPT queue file quarantined: the alert in it was NOT delivered; inspect it by hand"
        );
        Ok(())
    }

    /// Largest seq in the names of `dir`'s item files (`dead/`, `corrupt/`).
    pub(super) fn max_seq_in(&self, dir: &str) -> Result<u64, QueueError> {
        let names = self.list_files(&self.sub(dir))?;
        Ok(names.iter().filter_map(|n| parse_file_name(n).map(|(seq, _)| seq)).max().unwrap_or(0))
    }
}

/// The valid item files found at open, and how many were quarantined.
pub(super) struct Scan {
    pub(super) items: Vec<(Item, u64)>,
    pub(super) corrupt: usize,
}

impl Fs {
    /// Every item file in the queue directory, valid ones in seq order; bad ones quarantined.
    pub(super) fn scan_items(&self) -> Result<Scan, QueueError> {
        let mut scan = Scan { items: Vec::new(), corrupt: 0 };
        for name in self.list_files(&self.dir)? {
            if name == LOCK_FILE {
                continue;
            }
            if !name.ends_with(ITEM_EXT) {
                warn!(file = %self.dir.join(&name).display(), "ignoring a file that is not a queue item");
                continue;
            }
            let path = self.dir.join(&name);
            let bytes = self.io.read(&path).map_err(io_err("read", &path))?;
            match decode_item_file(&name, &bytes) {
                Ok(item) => scan.items.push((item, bytes.len() as u64)),
                Err(reason) => {
                    self.quarantine(&name, &reason)?;
                    scan.corrupt += 1;
                }
            }
        }
        scan.items.sort_by_key(|(item, _)| item.seq);
        self.drop_duplicate_ids(&mut scan)?;
        Ok(scan)
    }

    /// Two files for one id cannot come from this queue; keep the oldest, quarantine the rest.
    pub(super) fn drop_duplicate_ids(&self, scan: &mut Scan) -> Result<(), QueueError> {
        let mut first: HashMap<String, u64> = HashMap::new();
        let mut kept = Vec::with_capacity(scan.items.len());
        for (item, size) in scan.items.drain(..) {
            if let Some(seq) = first.get(&item.id) {
                self.quarantine(&item.file_name(), &format!("duplicate of item seq {seq} with the same id"))?;
                scan.corrupt += 1;
            } else {
                first.insert(item.id.clone(), item.seq);
                kept.push((item, size));
            }
        }
        scan.items = kept;
        Ok(())
    }

    /// Unexpired `seen/` markers (expired ones are deleted) and the largest seq they name.
    pub(super) fn load_seen(
        &self,
        now: DateTime<Utc>,
        keep: TimeDelta,
    ) -> Result<(HashMap<String, DateTime<Utc>>, u64), QueueError> {
        let dir = self.sub(SEEN_DIR);
        let (mut seen, mut max_seq) = (HashMap::new(), 0);
        for id in self.list_files(&dir)? {
            if validate_id(&id).is_err() {
                warn!(file = %dir.join(&id).display(), "ignoring a seen marker whose name is not an id");
                continue;
            }
            let path = dir.join(&id);
            let bytes = self.io.read(&path).ok();
            let marker = bytes.as_deref().and_then(|b| serde_json::from_slice::<SeenMarker>(b).ok());
            // A delivered item's own file serves as its marker: its seq, and when it was retired.
            let retired = || bytes.as_deref().and_then(|b| decode(b).ok()).map(|item| item.seq);
            let (done_at, seq) = match marker {
                Some(m) => (m.done_at, m.seq),
                None => {
                    let seq = retired().unwrap_or(0);
                    let modified = self.io.modified(&path).map_err(io_err("stat", &path))?;
                    (DateTime::<Utc>::from(modified), seq)
                }
            };
            if still_remembered(done_at, keep, now) {
                max_seq = max_seq.max(seq);
                seen.insert(id, done_at);
            } else if let Err(e) = self.io.remove_file(&path) {
                warn!(file = %path.display(), error = %e, "could not prune an expired seen marker");
            }
        }
        Ok((seen, max_seq))
    }
}
