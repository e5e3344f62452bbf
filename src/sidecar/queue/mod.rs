//! The sidecar's durable outbox: every alert Alertmanager hands us is on disk before we answer
//! 2xx, and leaves the disk only after every channel confirmed delivery (or gave up for good).
//!
//! # On-disk layout
//!
//! ```text
//! <dir>/
//!   LOCK                              flock(2)-held while a Queue is open: one process per directory
//!   00000000000000000042-<id>.json    one pending item (seq zero-padded to 20 digits, then its id)
//!   tmp/                              files being written; anything here at open is a leftover, deleted
//!   seen/<id>                         "recently completed" marker: a delivered item's own file,
//!                                     renamed here (retired at its mtime), or for a dead letter
//!                                     {"done_at","seq","outcome"} JSON
//!   dead/<seq:020>-<id>.json          items where at least one channel gave up, with per-channel errors
//!   corrupt/<name>                    files that failed their checksum or parse at open (quarantined)
//! ```
//!
//! An item file is two lines: the compact JSON envelope, then `crc32:<8 hex digits>` of the
//! envelope's bytes, each ending in `\n`:
//!
//! ```text
//! {"v":1,"id":"…","seq":42,"enqueued_at":"2024-05-01T12:00:00Z","payload":{…},
//!  "channels":{"pager":{"state":"pending","attempts":0,"next_attempt_at":null,"last_error":null}}}
//! crc32:1a2b3c4d
//! ```
//!
//! Compact JSON never contains a raw newline, so the last line is always the checksum. A file
//! that lacks the final newline, the checksum line, has a wrong checksum, does not parse, or
//! whose name disagrees with its `seq`/`id` is *corrupt*: at open it is moved to `corrupt/`
//! with an `error!` log, counted in [`Recovery::corrupt`], and never deleted by the queue.
//! Ids are restricted to `[A-Za-z0-9._-]` (no leading dot, at most 200 bytes) so they are
//! safe file names.
//!
//! # Write protocol
//!
//! Every file the queue creates or replaces (item, `seen/` marker, `dead/` copy) is written as:
//! write `tmp/<name>.tmp` → `fsync` it → `rename` onto its final name → `fsync` the directory
//! holding it. Only after the directory `fsync` does the operation succeed. Renames within one
//! filesystem are atomic, so a reader (including recovery after a crash) sees either the whole
//! old file, the whole new file, or (for a new item) no file; never a mix. With
//! [`QueueConfig::fsync`] off (tests, benchmarks) the two `fsync`s are skipped: a process crash
//! is still safe, a power loss is not.
//!
//! # Invariants
//!
//! 1. `enqueue` returns [`Enqueued::Stored`] only after the item's file is durable; the HTTP
//!    layer answers 2xx only then, so an acknowledged alert survives any crash.
//! 2. At most one item file per id exists: an id that is pending, or was completed less than
//!    [`QueueConfig::seen_retention`] ago (its `seen/<id>` marker), gets [`Enqueued::Duplicate`]
//!    and nothing is written. Concurrent enqueues of one id are serialised: the second waits for
//!    the first's write and then reports `Duplicate` (or stores it, if the first failed).
//! 3. An item file leaves the queue directory only after all its channels are delivered or dead:
//!    when all were delivered it is renamed into `seen/` (it becomes the marker); when one is
//!    dead it is removed only after its `dead/` copy and its `seen/` marker are durable.
//! 4. Seqs are unique among the files on disk and increase: at open the next seq is one past the
//!    largest seq found in the queue, `dead/`, `corrupt/` and the `seen/` markers.
//! 5. The in-memory index mirrors what is visible on disk. Writes to one item are serialised by a
//!    per-item lock held until the blocking write finished, even if the caller's future is dropped.
//!
//! # Crash at each step
//!
//! | step | crash leaves | recovery at open |
//! | --- | --- | --- |
//! | enqueue: writing/`fsync`ing `tmp/…` | partial tmp file | tmp deleted (counted in `removed_tmp`); the alert was not acknowledged, Alertmanager retries |
//! | enqueue: after `rename`, before dir `fsync` | item file, maybe not durable yet | item recovered if it reached the disk; either way it was not acknowledged |
//! | enqueue: after dir `fsync` | durable item | recovered as pending; a retry of the same alert is `Duplicate` |
//! | update (retry/partial delivery): before `rename` | old item file + tmp | tmp deleted; old state: the channel is attempted again (at-least-once) |
//! | update: after `rename` | new item file | new state |
//! | completion: before `dead/` copy or `seen/` marker durable | item file with the old state | the last channel is attempted again; a `dead/` copy, if written, is overwritten later |
//! | completion: marker durable, item not yet removed | item file **and** `seen/<id>` | item is pending (the file wins); the marker is rewritten when it completes again |
//! | completion: item removed | `seen/<id>` (+ `dead/` copy) | nothing pending; re-sends of the id are `Duplicate` until the marker expires |
//! | delivered: rename of the item file into `seen/` not yet durable | item file, or `seen/<id>` | either pending (the last channel is attempted again) or done: the rename is atomic, so never both and never neither |
//! | any torn write outside `tmp/` (should not happen: only renames reach the queue dir) | bad checksum | moved to `corrupt/`, logged, counted |
//!
//! Delivery is therefore *at least once* per channel: the only way to deliver twice is a crash
//! (or an I/O error) between a channel accepting the alert and the queue recording it.
//!
//! # Capacity
//!
//! `enqueue` fails with [`QueueError::Full`] when `max_items` pending items exist or the item
//! would push the sum of pending file sizes past `max_bytes`; an item larger than `max_bytes` on
//! its own fails with [`QueueError::TooLarge`]. State updates may grow a file by a bounded amount
//! (errors are truncated to 2 KiB), so the byte total can overshoot `max_bytes` slightly.
//!
//! [`Queue::due`] does not lease items: run one dispatch loop per queue (or track what is in
//! flight), or the same item is handed out twice.

//!
//! # Where it is
//!
//! - [`record`]: what an item is and its file format (envelope, checksum, file name);
//! - [`io`]: the file-system primitives behind the [`Io`] trait (faults can be injected) and the
//!   write protocol on them;
//! - `recovery`: what open does with what it finds;
//! - `index`: the in-memory mirror of what is on disk;
//! - `store`: the synchronous core that changes disk and index together;
//! - this file: configuration, errors and the async [`Queue`] handle.

mod index;
pub mod io;
pub mod record;
mod recovery;
mod store;

use crate::alert::notification::PRIORITY_OTHER;
pub use io::{Io, StdIo};
pub use record::{ChannelState, DeliveryState, Escalation, Item, Payload};

/// How a notification is to be delivered: its channels, its escalation steps as `(after,
/// channels)`, and its priority among due items ([`crate::alert::notification::priority`]).
#[derive(Debug, Clone, Copy)]
pub struct Plan<'a> {
    /// The channels it goes to at once.
    pub channels: &'a [String],
    /// The escalation steps.
    pub escalation: &'a [(std::time::Duration, Vec<String>)],
    /// Lower goes first.
    pub priority: u8,
}

use crate::notify::retry;
use index::Reservation;
use record::{encode, truncate_error, validate_id};
use std::collections::BTreeMap;
use std::io as stdio;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use store::Inner;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tracing::{info, warn};

/// Where the queue lives and how much it may hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConfig {
    /// The queue directory; created (with its subdirectories) if missing.
    pub dir: PathBuf,
    /// Most pending items; past this `enqueue` returns [`QueueError::Full`].
    pub max_items: usize,
    /// Most bytes of pending item files; past this `enqueue` returns [`QueueError::Full`].
    pub max_bytes: u64,
    /// How long a completed id is remembered, so a re-send is reported as a duplicate.
    pub seen_retention: Duration,
    /// `fsync` files and directories (default). Turn off only for tests and benchmarks.
    pub fsync: bool,
}

impl QueueConfig {
    /// Defaults for `dir`: 10 000 items, 256 MiB, ids remembered 24 h, fsync on.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            max_items: 10_000,
            max_bytes: 256 * 1024 * 1024,
            seen_retention: Duration::from_secs(24 * 60 * 60),
            fsync: true,
        }
    }
}

/// Why a queue operation failed; each message says what failed and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// A file-system operation failed (disk full, I/O error, permissions). Answer 503.
    #[error("queue I/O failed: could not {op} {}: {source}; check free space, permissions and health of the queue disk", path.display())]
    Io {
        /// What was being done, e.g. "rename into place".
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The OS error.
        source: stdio::Error,
    },
    /// The queue holds as much as it may. Answer 503 so the sender retries later.
    #[error("queue is full ({items} items, {bytes} bytes; limits {max_items} items, {max_bytes} bytes): deliveries are backing up — fix the failing channel or raise the limits")]
    Full {
        /// Pending items (including ones being written).
        items: usize,
        /// Bytes of pending items.
        bytes: u64,
        /// The configured item limit.
        max_items: usize,
        /// The configured byte limit.
        max_bytes: u64,
    },
    /// One item is larger than the whole queue may be; it can never be stored. Answer 413.
    #[error("item {id} is {size} bytes, more than the queue's whole limit of {max_bytes} bytes: raise max_bytes or send smaller alert groups")]
    TooLarge {
        /// The item's id.
        id: String,
        /// Its encoded size.
        size: u64,
        /// The configured byte limit.
        max_bytes: u64,
    },
    /// The id cannot be used as a file name.
    #[error("invalid queue item id {id:?}: {reason}; use a hash or other [A-Za-z0-9._-] key")]
    InvalidId {
        /// The id as given.
        id: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `enqueue` was given no channel, or an empty channel name.
    #[error("item {id} has no valid delivery channel ({reason}); configure at least one named channel")]
    NoChannels {
        /// The item's id.
        id: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// No pending item has this id.
    #[error("no pending item {id}: it was already completed, or never enqueued; drop this delivery result")]
    NotFound {
        /// The id asked for.
        id: String,
    },
    /// The item exists but was not enqueued for this channel.
    #[error("item {id} has no channel {channel:?}; report delivery only for the channels it was enqueued with")]
    UnknownChannel {
        /// The item's id.
        id: String,
        /// The channel asked for.
        channel: String,
    },
    /// Another process holds the queue directory.
    #[error("queue directory {} is in use by another process; stop it or point this one at another directory", dir.display())]
    Locked {
        /// The queue directory.
        dir: PathBuf,
    },
    /// An item could not be encoded as JSON.
    #[error("could not encode item {id} as JSON: {source}; this is a bug, please report it")]
    Encode {
        /// The item's id.
        id: String,
        /// The serde error.
        source: serde_json::Error,
    },
    /// A background file-system task panicked or was cancelled.
    #[error("queue background task failed: {0}; this is a bug — the files on disk are intact, restart the sidecar")]
    Background(#[from] tokio::task::JoinError),
}

/// The outcome of a successful [`Queue::enqueue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// Durably stored under this sequence number.
    Stored {
        /// The item's sequence number.
        seq: u64,
    },
    /// The id is pending or was completed recently: nothing was written.
    Duplicate,
}

/// What [`Queue::open`] found on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Recovery {
    /// Items recovered as pending.
    pub pending: usize,
    /// Leftover temporary files deleted (writes interrupted by a crash).
    pub removed_tmp: usize,
    /// Files moved to `corrupt/`.
    pub corrupt: usize,
}

/// The durable outbox. Cheap to clone; all clones share one queue. See the module docs.
#[derive(Clone)]
pub struct Queue {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue").field("dir", &self.inner.cfg.dir).field("depth", &self.depth()).finish()
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, QueueError> {
    Ok(tokio::task::spawn_blocking(f).await?)
}

impl Queue {
    /// Open (creating if needed) the queue in `cfg.dir`: take its lock, delete leftover temporary
    /// files, quarantine corrupt ones, and recover pending items in seq order.
    pub async fn open(cfg: QueueConfig) -> Result<(Queue, Recovery), QueueError> {
        Self::open_with(cfg, Arc::new(StdIo)).await
    }

    /// [`Queue::open`] on the file-system primitives `io` (a test's, to inject faults).
    pub async fn open_with(cfg: QueueConfig, io: Arc<dyn Io>) -> Result<(Queue, Recovery), QueueError> {
        let dir = cfg.dir.clone();
        let (inner, recovery) = blocking(move || Inner::open(cfg, io)).await??;
        info!(
            dir = %dir.display(), pending = recovery.pending, removed_tmp = recovery.removed_tmp,
            corrupt = recovery.corrupt, "queue opened"
        );
        Ok((Queue { inner: Arc::new(inner) }, recovery))
    }

    /// Store `payload` under `id` for delivery to each of `channels`. Returns only once the item
    /// is durable ([`Enqueued::Stored`]), or when `id` is pending or recently completed
    /// ([`Enqueued::Duplicate`], nothing written).
    pub async fn enqueue(
        &self,
        id: &str,
        channels: &[String],
        payload: impl Serialize,
    ) -> Result<Enqueued, QueueError> {
        self.enqueue_planned(id, &Plan { channels, escalation: &[], priority: PRIORITY_OTHER }, payload).await
    }

    /// [`Queue::enqueue`] by a [`Plan`]: its priority, and its escalation steps, each step's
    /// channels stored pending from `after` past the time it is stored, in the same durable
    /// write, so the steps survive a restart. A step's channel must not be one of the plan's
    /// channels or of an earlier step (the configuration checks this).
    pub async fn enqueue_planned(
        &self,
        id: &str,
        plan: &Plan<'_>,
        payload: impl Serialize,
    ) -> Result<Enqueued, QueueError> {
        let Plan { channels, escalation, priority } = *plan;
        validate_id(id)?;
        check_channels(id, channels)?;
        for (_, step) in escalation {
            check_channels(id, step)?;
        }
        self.prune_seen_if_due().await;
        let (seq, enqueued_at, guard) = loop {
            match self.inner.reserve(id, Utc::now())? {
                Reservation::Duplicate => return Ok(Enqueued::Duplicate),
                Reservation::Wait(lock) => drop(lock.lock().await),
                Reservation::Reserved { seq, enqueued_at, guard } => break (seq, enqueued_at, guard),
            }
        };
        let mut channels: BTreeMap<String, ChannelState> =
            channels.iter().map(|c| (c.clone(), ChannelState::new_pending())).collect();
        let mut steps = Vec::new();
        for (i, (after, step)) in escalation.iter().enumerate() {
            let due_at = retry::after(enqueued_at, *after);
            for c in step {
                channels
                    .entry(c.clone())
                    .or_insert(ChannelState { next_attempt_at: Some(due_at), ..ChannelState::new_pending() });
            }
            let after_ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX);
            steps.push(Escalation { step: i as u32 + 1, after_ms, due_at, channels: step.clone() });
        }
        let payload = match serde_json::value::to_raw_value(&payload).map(Payload) {
            Ok(p) => p,
            Err(source) => {
                self.inner.index().release(id);
                return Err(QueueError::Encode { id: id.to_owned(), source });
            }
        };
        let item = Item {
            id: id.to_owned(),
            seq,
            enqueued_at,
            payload,
            channels,
            verdict: None,
            notes: Vec::new(),
            escalation: steps,
            priority,
        };
        let bytes = match encode(&item) {
            Ok(bytes) => bytes,
            Err(e) => {
                self.inner.index().release(id);
                return Err(e);
            }
        };
        self.inner.admit_bytes(id, bytes.len() as u64)?;
        let inner = Arc::clone(&self.inner);
        blocking(move || inner.store_new(item, bytes, guard)).await?
    }

    /// Up to `limit` items with a pending channel due at `now`, oldest first. Items are not
    /// leased: the caller reports each channel's outcome with a `mark_*` call.
    pub async fn due(&self, now: DateTime<Utc>, limit: usize) -> Vec<Item> {
        self.due_except(now, limit, |_| false).await
    }

    /// Like [`Queue::due`], leaving out the items `skip` picks (e.g. those already in flight), so
    /// they are neither cloned nor counted against `limit`.
    pub async fn due_except(&self, now: DateTime<Utc>, limit: usize, skip: impl Fn(&Item) -> bool) -> Vec<Item> {
        let index = self.inner.index();
        let mut due: Vec<&Item> = index
            .order
            .values()
            .filter_map(|id| index.slots.get(id)?.item.as_ref())
            .filter(|item| item.is_due(now) && !skip(item))
            .collect();
        // The most urgent first, then the oldest: `order` is by seq and the sort is stable.
        due.sort_by_key(|item| item.priority);
        due.into_iter().take(limit).cloned().collect()
    }

    /// Record that `channel` delivered item `id`; the item is removed once no channel is pending.
    pub async fn mark_delivered(&self, id: &str, channel: &str) -> Result<(), QueueError> {
        self.update(id, channel, |c| {
            c.state = DeliveryState::Delivered;
            c.attempts = c.attempts.saturating_add(1);
            c.next_attempt_at = None;
        })
        .await
    }

    /// Record a failed attempt of `channel` for item `id`, to be retried at `next_attempt_at`.
    pub async fn mark_retry(
        &self,
        id: &str,
        channel: &str,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), QueueError> {
        let error = truncate_error(error);
        self.update(id, channel, move |c| {
            c.attempts = c.attempts.saturating_add(1);
            c.next_attempt_at = Some(next_attempt_at);
            c.last_error = Some(error);
        })
        .await
    }

    /// Give up on `channel` for item `id` because of `error`; once no channel is pending the item
    /// is copied to `dead/` (see [`Queue::dead_letters`]) and removed.
    pub async fn mark_dead(&self, id: &str, channel: &str, error: &str) -> Result<(), QueueError> {
        let error = truncate_error(error);
        self.update(id, channel, move |c| {
            c.state = DeliveryState::Dead;
            c.attempts = c.attempts.saturating_add(1);
            c.next_attempt_at = None;
            c.last_error = Some(error);
        })
        .await
    }

    /// Record the rescoring verdict of item `id` in one durable rewrite: `verdict` is stored with
    /// the item, each channel in `hold` is not due before its time, each in `skip` is final
    /// ([`DeliveryState::Skipped`], with `reason`). Channels not pending are left as they are.
    /// Returns the item as recorded.
    pub async fn record_verdict(
        &self,
        id: &str,
        verdict: serde_json::Value,
        hold: Vec<(String, DateTime<Utc>)>,
        skip: Vec<String>,
        reason: &str,
    ) -> Result<Item, QueueError> {
        let reason = truncate_error(reason);
        self.update_item(id, move |item| {
            item.verdict = Some(verdict);
            plan(item, hold, skip, reason);
        })
        .await
    }

    /// Hold and skip channels of item `id` in one durable rewrite: each pending channel of `hold`
    /// is not due before its time, each of `skip` becomes [`DeliveryState::Skipped`] (final, with
    /// `reason`). Returns the item as recorded.
    pub async fn reschedule(
        &self,
        id: &str,
        hold: Vec<(String, DateTime<Utc>)>,
        skip: Vec<String>,
        reason: &str,
    ) -> Result<Item, QueueError> {
        let reason = truncate_error(reason);
        self.update_item(id, move |item| plan(item, hold, skip, reason)).await
    }

    /// Route item `id` again in one durable rewrite, because the channels in `gone` were removed
    /// from the configuration: each of them still pending becomes [`DeliveryState::Rerouted`]
    /// (final, with `note` as its reason), each of `added` not yet on the item becomes pending, and
    /// `note` is added to the item's notes for its readers. Returns the item as recorded.
    pub async fn reroute(
        &self,
        id: &str,
        gone: Vec<String>,
        added: Vec<String>,
        note: &str,
    ) -> Result<Item, QueueError> {
        let note = truncate_error(note);
        self.update_item(id, move |item| {
            for channel in gone {
                if let Some(c) = item.channels.get_mut(&channel).filter(|c| c.state == DeliveryState::Pending) {
                    c.state = DeliveryState::Rerouted;
                    c.next_attempt_at = None;
                    c.last_error = Some(note.clone());
                }
            }
            for channel in added.into_iter().filter(|c| !c.is_empty()) {
                item.channels.entry(channel).or_insert_with(ChannelState::new_pending);
            }
            item.notes.push(note);
        })
        .await
    }

    /// Pending items (stored, with at least one channel pending).
    pub fn depth(&self) -> usize {
        self.inner.index().order.len()
    }

    /// How long the oldest pending item has waited at `now`; `None` when the queue is empty.
    pub fn oldest_pending_age(&self, now: DateTime<Utc>) -> Option<Duration> {
        let index = self.inner.index();
        let oldest = index.order.values().filter_map(|id| index.slots.get(id)?.item.as_ref()).next()?;
        Some((now - oldest.enqueued_at).to_std().unwrap_or(Duration::ZERO))
    }

    /// Whether a probe file can be created, synced and deleted in the queue directory.
    pub async fn writable(&self) -> bool {
        let inner = Arc::clone(&self.inner);
        blocking(move || inner.probe()).await.unwrap_or(false)
    }

    /// The queue's directory.
    pub fn dir(&self) -> &std::path::Path {
        &self.inner.cfg.dir
    }

    /// Item `id` while the queue remembers it: pending, or delivered within `seen_retention`
    /// (its file is its seen marker); `None` otherwise.
    pub async fn lookup(&self, id: &str) -> Option<Item> {
        if validate_id(id).is_err() {
            return None;
        }
        if let Some(item) = self.inner.index().slots.get(id).and_then(|s| s.item.clone()) {
            return Some(item);
        }
        let inner = Arc::clone(&self.inner);
        let id = id.to_owned();
        blocking(move || inner.retired(&id)).await.ok().flatten()
    }

    /// The items in `dead/`, oldest first; each dead channel's `last_error` says why.
    pub async fn dead_letters(&self) -> Vec<Item> {
        let inner = Arc::clone(&self.inner);
        blocking(move || inner.dead_letters()).await.unwrap_or_default()
    }

    async fn update_item<F>(&self, id: &str, change: F) -> Result<Item, QueueError>
    where
        F: FnOnce(&mut Item) + Send + 'static,
    {
        let lock = self.item_lock(id)?;
        let guard = lock.lock_owned().await;
        let (inner, id) = (Arc::clone(&self.inner), id.to_owned());
        blocking(move || inner.update_item(guard, &id, change)).await?
    }

    fn item_lock(&self, id: &str) -> Result<Arc<tokio::sync::Mutex<()>>, QueueError> {
        let index = self.inner.index();
        match index.slots.get(id) {
            Some(slot) if slot.item.is_some() => Ok(Arc::clone(&slot.lock)),
            _ => Err(QueueError::NotFound { id: id.to_owned() }),
        }
    }

    async fn update<F>(&self, id: &str, channel: &str, change: F) -> Result<(), QueueError>
    where
        F: FnOnce(&mut ChannelState) + Send + 'static,
    {
        let lock = self.item_lock(id)?;
        let guard = lock.lock_owned().await;
        let (inner, id, channel) = (Arc::clone(&self.inner), id.to_owned(), channel.to_owned());
        blocking(move || inner.update(guard, &id, &channel, change)).await?
    }

    async fn prune_seen_if_due(&self) {
        let expired = self.inner.expired_seen(Utc::now());
        if expired.is_empty() {
            return;
        }
        let inner = Arc::clone(&self.inner);
        if let Err(e) = blocking(move || inner.prune_seen(expired)).await {
            warn!(error = %e, "pruning seen markers failed");
        }
    }
}

/// Hold the pending channels of `hold` until their times and skip those of `skip`.
fn plan(item: &mut Item, hold: Vec<(String, DateTime<Utc>)>, skip: Vec<String>, reason: String) {
    for (channel, until) in hold {
        if let Some(c) = item.channels.get_mut(&channel).filter(|c| c.state == DeliveryState::Pending) {
            c.next_attempt_at = Some(until);
        }
    }
    for channel in skip {
        if let Some(c) = item.channels.get_mut(&channel).filter(|c| c.state == DeliveryState::Pending) {
            c.state = DeliveryState::Skipped;
            c.next_attempt_at = None;
            c.last_error = Some(reason.clone());
        }
    }
}

fn check_channels(id: &str, channels: &[String]) -> Result<(), QueueError> {
    let reason = if channels.is_empty() {
        "the channel list is empty"
    } else if channels.iter().any(|c| c.is_empty()) {
        "a channel name is empty"
    } else {
        return Ok(());
    };
    Err(QueueError::NoChannels { id: id.to_owned(), reason })
}

#[cfg(test)]
mod tests;
