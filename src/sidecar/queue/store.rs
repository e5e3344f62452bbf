//! The queue's synchronous core: reserve, write, update and retire items on disk (the write
//! protocol of [`super::io::Fs`]) and keep the [index](super::index) in step with what is visible.

use super::index::{retention, still_remembered, Index, Reservation, Slot};
use super::io::{io_err, Fs, Io, CORRUPT_DIR, DEAD_DIR, SEEN_DIR, TMP_DIR};
use super::record::{decode, decode_item_file, encode, parse_file_name, ChannelState, DeliveryState, Item, SeenMarker};
use super::{Enqueued, QueueConfig, QueueError, Recovery};
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::OwnedMutexGuard;
use tracing::{error, warn};

/// Seen markers are pruned at most this often (lazily, from `enqueue`).
const PRUNE_INTERVAL: TimeDelta = TimeDelta::seconds(60);

/// The queue's synchronous core: every method runs on a blocking thread.
pub(super) struct Inner {
    pub(super) cfg: QueueConfig,
    pub(super) fs: Fs,
    index: Mutex<Index>,
    probes: AtomicU64,
    /// Holds the directory's flock until the last clone of the queue is dropped.
    _lock: File,
}

impl Inner {
    pub(super) fn index(&self) -> MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn open(cfg: QueueConfig, io: Arc<dyn Io>) -> Result<(Self, Recovery), QueueError> {
        let fs = Fs::new(cfg.dir.clone(), cfg.fsync, io);
        fs.create_layout()?;
        let lock = fs.lock()?;
        let removed_tmp = fs.clean_tmp()?;
        let now = Utc::now();
        let scan = fs.scan_items()?;
        let (seen, seen_max) = fs.load_seen(now, retention(cfg.seen_retention))?;
        let max_seq = [seen_max, fs.max_seq_in(DEAD_DIR)?, fs.max_seq_in(CORRUPT_DIR)?]
            .into_iter()
            .chain(scan.items.iter().map(|(item, _)| item.seq))
            .max()
            .unwrap_or(0);
        let mut index = Index {
            slots: HashMap::new(),
            order: BTreeMap::new(),
            seen,
            bytes: 0,
            next_seq: max_seq + 1,
            last_prune: now,
        };
        for (item, size) in scan.items {
            index.commit(item, size);
        }
        let inner = Self { cfg, fs, index: Mutex::new(index), probes: AtomicU64::new(0), _lock: lock };
        inner.finish_leftovers(now);
        let recovery = Recovery { pending: inner.index().order.len(), removed_tmp, corrupt: scan.corrupt };
        Ok((inner, recovery))
    }

    /// Complete recovered items with no pending channel (not produced by this queue, but cheap to handle).
    fn finish_leftovers(&self, now: DateTime<Utc>) {
        let done: Vec<Item> =
            self.index().slots.values().filter_map(|s| s.item.clone()).filter(|item| !item.is_pending()).collect();
        for item in done {
            let id = item.id.clone();
            if let Err(e) = self.finish(item, now) {
                error!(id, error = %e, "could not complete a recovered item with no pending channel; retrying at next open");
            }
        }
    }

    pub(super) fn reserve(&self, id: &str, now: DateTime<Utc>) -> Result<Reservation, QueueError> {
        let mut index = self.index();
        if let Some(slot) = index.slots.get(id) {
            return Ok(match slot.item {
                Some(_) => Reservation::Duplicate,
                None => Reservation::Wait(Arc::clone(&slot.lock)),
            });
        }
        let keep = retention(self.cfg.seen_retention);
        if index.seen.get(id).is_some_and(|&done_at| still_remembered(done_at, keep, now)) {
            return Ok(Reservation::Duplicate);
        }
        if index.slots.len() >= self.cfg.max_items {
            return Err(index.full(&self.cfg));
        }
        let seq = index.next_seq;
        index.next_seq += 1;
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        let guard = Arc::clone(&lock).try_lock_owned().expect("a new mutex is unlocked");
        index.slots.insert(id.to_owned(), Slot { lock, item: None, size: 0 });
        Ok(Reservation::Reserved { seq, enqueued_at: now, guard })
    }

    /// Account `size` bytes for the reserved slot `id`, or give the slot up if they do not fit.
    pub(super) fn admit_bytes(&self, id: &str, size: u64) -> Result<(), QueueError> {
        let mut index = self.index();
        if size <= self.cfg.max_bytes && index.bytes + size <= self.cfg.max_bytes {
            index.bytes += size;
            if let Some(slot) = index.slots.get_mut(id) {
                slot.size = size;
            }
            return Ok(());
        }
        index.release(id);
        Err(if size > self.cfg.max_bytes {
            QueueError::TooLarge { id: id.to_owned(), size, max_bytes: self.cfg.max_bytes }
        } else {
            index.full(&self.cfg)
        })
    }

    /// Write a reserved new item; on failure give its slot back (or keep it if the file is visible).
    pub(super) fn store_new(
        &self,
        item: Item,
        bytes: Vec<u8>,
        guard: OwnedMutexGuard<()>,
    ) -> Result<Enqueued, QueueError> {
        let _guard = guard;
        let name = item.file_name();
        let path = self.fs.dir.join(&name);
        let result = self.fs.write_atomic(&format!("{name}.tmp"), &path, &bytes);
        let (error, on_disk) = match result {
            Ok(()) => (None, true),
            // Renamed into place but not durable: take it back. Whether it is on disk is whether
            // the file is still there; a directory `fsync` failing again after the removal does
            // not put it back (and a crash may: it was never acknowledged, recovery takes it).
            Err(failure) if failure.visible => {
                let gone = self.fs.io.remove_file(&path).is_ok();
                if gone {
                    let _ = self.fs.sync_dir(&self.fs.dir);
                }
                (Some(failure.error), !gone)
            }
            Err(failure) => (Some(failure.error), false),
        };
        let seq = item.seq;
        let mut index = self.index();
        if on_disk {
            index.commit(item, bytes.len() as u64);
        } else {
            index.release(&item.id);
        }
        match error {
            None => Ok(Enqueued::Stored { seq }),
            Some(error) => Err(error),
        }
    }

    /// A copy of pending item `id`.
    pub(super) fn pending_item(&self, id: &str) -> Result<Item, QueueError> {
        let index = self.index();
        index.slots.get(id).and_then(|s| s.item.clone()).ok_or_else(|| QueueError::NotFound { id: id.to_owned() })
    }

    pub(super) fn update(
        &self,
        guard: OwnedMutexGuard<()>,
        id: &str,
        channel: &str,
        change: impl FnOnce(&mut ChannelState),
    ) -> Result<(), QueueError> {
        let _guard = guard;
        let mut item = self.pending_item(id)?;
        let state = item
            .channels
            .get_mut(channel)
            .ok_or_else(|| QueueError::UnknownChannel { id: id.to_owned(), channel: channel.to_owned() })?;
        if state.state != DeliveryState::Pending {
            return Ok(()); // delivered and dead are final
        }
        change(state);
        self.store_updated(item)
    }

    pub(super) fn update_item(
        &self,
        guard: OwnedMutexGuard<()>,
        id: &str,
        change: impl FnOnce(&mut Item),
    ) -> Result<Item, QueueError> {
        let _guard = guard;
        let mut item = self.pending_item(id)?;
        change(&mut item);
        self.store_updated(item.clone())?;
        Ok(item)
    }

    fn store_updated(&self, item: Item) -> Result<(), QueueError> {
        if item.is_pending() {
            self.rewrite(item)
        } else {
            self.finish(item, Utc::now())
        }
    }

    /// Replace a pending item's file with its new state.
    fn rewrite(&self, item: Item) -> Result<(), QueueError> {
        let bytes = encode(&item)?;
        let name = item.file_name();
        match self.fs.write_atomic(&format!("{name}.tmp"), &self.fs.dir.join(&name), &bytes) {
            Ok(()) => {
                self.index().commit(item, bytes.len() as u64);
                Ok(())
            }
            Err(failure) => {
                if failure.visible {
                    self.index().commit(item, bytes.len() as u64);
                }
                Err(failure.error)
            }
        }
    }

    /// Retire an item with no pending channel: `dead/` copy if needed, `seen/` marker, remove.
    pub(super) fn finish(&self, item: Item, now: DateTime<Utc>) -> Result<(), QueueError> {
        let name = item.file_name();
        let dead = item.channels.values().any(|c| c.state == DeliveryState::Dead);
        if dead {
            let dest = self.fs.sub(DEAD_DIR).join(&name);
            self.fs.write_atomic(&format!("dead-{name}.tmp"), &dest, &encode(&item)?).map_err(|f| f.error)?;
            let reasons: BTreeMap<&str, Option<&str>> =
                item.channels.iter().map(|(ch, st)| (ch.as_str(), st.last_error.as_deref())).collect();
            warn!(id = item.id, file = %dest.display(), ?reasons, "alert moved to dead letters: a channel gave up");
        }
        let seen_path = self.fs.sub(SEEN_DIR).join(&item.id);
        let removed = if dead {
            let marker = SeenMarker { done_at: now, seq: item.seq, outcome: DeliveryState::Dead };
            let marker =
                serde_json::to_vec(&marker).map_err(|source| QueueError::Encode { id: item.id.clone(), source })?;
            self.fs.write_atomic(&format!("seen-{}.tmp", item.id), &seen_path, &marker).map_err(|f| f.error)?;
            self.fs.remove(&self.fs.dir.join(&name))
        } else {
            // Delivered: the item file itself becomes the seen marker. One rename retires it, with
            // no new file to write and fsync; its directories' syncs are shared (group commit).
            self.fs.retire(&self.fs.dir.join(&name), &seen_path)
        };
        if let Err(failure) = &removed {
            if !failure.visible {
                return removed.map_err(|f| f.error);
            }
        }
        let mut index = self.index();
        index.release(&item.id);
        index.seen.insert(item.id, now);
        removed.map_err(|f| f.error)
    }

    /// Ids whose seen marker expired, if a prune is due now.
    pub(super) fn expired_seen(&self, now: DateTime<Utc>) -> Vec<(String, DateTime<Utc>)> {
        let mut index = self.index();
        if now - index.last_prune < PRUNE_INTERVAL {
            return Vec::new();
        }
        index.last_prune = now;
        let keep = retention(self.cfg.seen_retention);
        index
            .seen
            .iter()
            .filter(|(_, &at)| !still_remembered(at, keep, now))
            .map(|(id, &at)| (id.clone(), at))
            .collect()
    }

    /// Delete expired markers, then forget them (file first: a later enqueue can only start after).
    pub(super) fn prune_seen(&self, expired: Vec<(String, DateTime<Utc>)>) {
        let dir = self.fs.sub(SEEN_DIR);
        let mut forgotten = Vec::with_capacity(expired.len());
        for (id, at) in expired {
            match self.fs.io.remove_file(&dir.join(&id)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    warn!(id, error = %e, "could not prune an expired seen marker; will retry");
                }
                _ => forgotten.push((id, at)),
            }
        }
        let mut index = self.index();
        for (id, at) in forgotten {
            if index.seen.get(&id) == Some(&at) {
                index.seen.remove(&id);
            }
        }
    }

    pub(super) fn probe(&self) -> bool {
        let n = self.probes.fetch_add(1, Ordering::Relaxed);
        let path = self.fs.sub(TMP_DIR).join(format!("probe-{n}.tmp"));
        let result = self.fs.write_file(&path, b"probe").and_then(|()| {
            self.fs
                .io
                .remove_file(&path)
                .map_err(io_err("remove", &path))
                .and_then(|()| self.fs.sync_dir(&self.fs.sub(TMP_DIR)))
        });
        if let Err(e) = result {
            let _ = self.fs.io.remove_file(&path);
            warn!(error = %e, "queue directory is not writable");
            return false;
        }
        true
    }

    /// A delivered item, from its seen marker (a dead letter's marker holds no item).
    pub(super) fn retired(&self, id: &str) -> Option<Item> {
        let bytes = self.fs.io.read(&self.fs.sub(SEEN_DIR).join(id)).ok()?;
        let mut item = decode(&bytes).ok().filter(|item| item.id == id)?;
        // Only a delivered item becomes its own seen marker, renamed as it was last written:
        // the channels still pending in it are those whose delivery completed it.
        for c in item.channels.values_mut().filter(|c| c.state == DeliveryState::Pending) {
            c.state = DeliveryState::Delivered;
            c.next_attempt_at = None;
            c.attempts += 1;
        }
        Some(item)
    }

    pub(super) fn dead_letters(&self) -> Vec<Item> {
        let dir = self.fs.sub(DEAD_DIR);
        let names = match self.fs.list_files(&dir) {
            Ok(names) => names,
            Err(e) => {
                warn!(error = %e, "could not list dead letters");
                return Vec::new();
            }
        };
        let mut items = Vec::new();
        for name in names.iter().filter(|n| parse_file_name(n).is_some()) {
            let path = dir.join(name);
            match self.fs.io.read(&path).map_err(|e| e.to_string()).and_then(|b| decode_item_file(name, &b)) {
                Ok(item) => items.push(item),
                Err(reason) => warn!(file = %path.display(), reason, "skipping unreadable dead letter"),
            }
        }
        items.sort_by_key(|item| item.seq);
        items
    }
}
