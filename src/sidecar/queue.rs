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

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::OwnedMutexGuard;
use tracing::{error, info, warn};

const TMP_DIR: &str = "tmp";
const SEEN_DIR: &str = "seen";
const DEAD_DIR: &str = "dead";
const CORRUPT_DIR: &str = "corrupt";
const LOCK_FILE: &str = "LOCK";
const ITEM_EXT: &str = ".json";
const SEQ_DIGITS: usize = 20;
const FORMAT_VERSION: u32 = 1;
const MAX_ID_LEN: usize = 200;
const MAX_ERROR_LEN: usize = 2048;
/// Seen markers are pruned at most this often (lazily, from `enqueue`).
const PRUNE_INTERVAL: TimeDelta = TimeDelta::seconds(60);

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
        source: io::Error,
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

/// Where one channel's delivery of an item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Still to be delivered.
    Pending,
    /// The channel confirmed delivery.
    Delivered,
    /// Given up on; the item goes to `dead/` when no channel is pending.
    Dead,
    /// Not sent, by decision (a downgraded alert that ended before it was re-escalated); final.
    Skipped,
    /// Not sent here because the channel was removed from the configuration: the notification was
    /// routed again to the channels configured now ([`Queue::reroute`]); final.
    Rerouted,
}

/// One channel's delivery state for an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelState {
    /// Pending, delivered or dead.
    pub state: DeliveryState,
    /// Attempts recorded so far (each `mark_*` call records one).
    pub attempts: u32,
    /// Not due before this; `None` means due now.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The error of the most recent failed attempt.
    pub last_error: Option<String>,
}

impl ChannelState {
    fn new_pending() -> Self {
        Self { state: DeliveryState::Pending, attempts: 0, next_attempt_at: None, last_error: None }
    }

    fn is_due(&self, now: DateTime<Utc>) -> bool {
        self.state == DeliveryState::Pending && self.next_attempt_at.is_none_or(|t| t <= now)
    }
}

/// A queued item's payload: JSON text, validated, parsed only when delivered.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Payload(Box<serde_json::value::RawValue>);

impl Payload {
    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }

    /// Parse into `T`.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.0.get())
    }

    /// As a JSON value.
    pub fn value(&self) -> serde_json::Value {
        self.parse().unwrap_or(serde_json::Value::Null)
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

/// One queued alert and its per-channel delivery state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// The idempotency key.
    pub id: String,
    /// Sequence number: unique, increasing with enqueue order.
    pub seq: u64,
    /// When it was enqueued.
    pub enqueued_at: DateTime<Utc>,
    /// The alert as received, kept as its JSON text (a quarter of the memory of a parsed tree).
    pub payload: Payload,
    /// Delivery state per channel name.
    pub channels: BTreeMap<String, ChannelState>,
    /// The rescoring verdict once one is recorded ([`Queue::record_verdict`]), as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<serde_json::Value>,
    /// Notes for the reader added on the way (e.g. why it was re-routed), shown in the messages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Item {
    /// Whether some channel is still pending.
    pub fn is_pending(&self) -> bool {
        self.channels.values().any(|c| c.state == DeliveryState::Pending)
    }

    /// Whether some pending channel is due at `now`.
    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        self.channels.values().any(|c| c.is_due(now))
    }

    fn file_name(&self) -> String {
        item_file_name(self.seq, &self.id)
    }
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

#[derive(Serialize)]
struct EnvelopeOut<'a> {
    v: u32,
    #[serde(flatten)]
    item: &'a Item,
}

/// The envelope as read back. Fields are spelled out rather than flattened: serde's `flatten`
/// buffers the content, which the raw JSON text of the payload cannot go through.
#[derive(Deserialize)]
struct EnvelopeIn {
    v: u32,
    id: String,
    seq: u64,
    enqueued_at: DateTime<Utc>,
    payload: Payload,
    channels: BTreeMap<String, ChannelState>,
    #[serde(default)]
    verdict: Option<serde_json::Value>,
    #[serde(default)]
    notes: Vec<String>,
}

/// A `seen/<id>` marker's content.
#[derive(Serialize, Deserialize)]
struct SeenMarker {
    done_at: DateTime<Utc>,
    seq: u64,
    outcome: DeliveryState,
}

fn item_file_name(seq: u64, id: &str) -> String {
    format!("{seq:0width$}-{id}{ITEM_EXT}", width = SEQ_DIGITS)
}

/// `(seq, id)` from `<seq:020>-<id>.json`.
fn parse_file_name(name: &str) -> Option<(u64, &str)> {
    let stem = name.strip_suffix(ITEM_EXT)?;
    let (digits, id) = (stem.get(..SEQ_DIGITS)?, stem.get(SEQ_DIGITS..)?.strip_prefix('-')?);
    if !digits.bytes().all(|b| b.is_ascii_digit()) || validate_id(id).is_err() {
        return None;
    }
    Some((digits.parse().ok()?, id))
}

fn validate_id(id: &str) -> Result<(), QueueError> {
    let reason = if id.is_empty() {
        "it is empty"
    } else if id.len() > MAX_ID_LEN {
        "it is longer than 200 bytes"
    } else if id.starts_with('.') {
        "it starts with a dot"
    } else if !id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
        "it contains a character other than A-Z a-z 0-9 . _ -"
    } else {
        return Ok(());
    };
    Err(QueueError::InvalidId { id: id.to_owned(), reason })
}

fn encode(item: &Item) -> Result<Vec<u8>, QueueError> {
    let envelope = EnvelopeOut { v: FORMAT_VERSION, item };
    let mut out = serde_json::to_vec(&envelope).map_err(|source| QueueError::Encode { id: item.id.clone(), source })?;
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(format!("\ncrc32:{crc:08x}\n").as_bytes());
    Ok(out)
}

/// The item in `bytes`, or why the file is corrupt.
fn decode(bytes: &[u8]) -> Result<Item, String> {
    let body = bytes.strip_suffix(b"\n").ok_or("no final newline (torn write)")?;
    let split = body.iter().rposition(|&b| b == b'\n').ok_or("no checksum line (torn write)")?;
    let (json, trailer) = (&body[..split], &body[split + 1..]);
    let stored = std::str::from_utf8(trailer)
        .ok()
        .and_then(|t| t.strip_prefix("crc32:"))
        .filter(|hex| hex.len() == 8)
        .and_then(|hex| u32::from_str_radix(hex, 16).ok())
        .ok_or("malformed checksum line")?;
    let computed = crc32fast::hash(json);
    if stored != computed {
        return Err(format!("checksum mismatch: file says {stored:08x}, content hashes to {computed:08x}"));
    }
    let envelope: EnvelopeIn = serde_json::from_slice(json).map_err(|e| format!("envelope is not valid: {e}"))?;
    if envelope.v != FORMAT_VERSION {
        return Err(format!("format version {} is not supported (expected {FORMAT_VERSION})", envelope.v));
    }
    let EnvelopeIn { id, seq, enqueued_at, payload, channels, verdict, notes, .. } = envelope;
    Ok(Item { id, seq, enqueued_at, payload, channels, verdict, notes })
}

/// The item in file `name` with content `bytes`, checked against its name.
fn decode_item_file(name: &str, bytes: &[u8]) -> Result<Item, String> {
    let (seq, id) = parse_file_name(name).ok_or("file name is not <seq:020>-<id>.json")?;
    let item = decode(bytes)?;
    if item.seq != seq || item.id != id {
        return Err(format!("file name says seq {seq} id {id}, content says seq {} id {}", item.seq, item.id));
    }
    Ok(item)
}

fn truncate_error(error: &str) -> String {
    if error.len() <= MAX_ERROR_LEN {
        return error.to_owned();
    }
    let mut end = MAX_ERROR_LEN;
    while !error.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &error[..end])
}

fn retention(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

fn still_remembered(done_at: DateTime<Utc>, keep: TimeDelta, now: DateTime<Utc>) -> bool {
    done_at.checked_add_signed(keep).is_none_or(|expiry| expiry > now)
}

// ---------------------------------------------------------------------------------------------
// Blocking file-system helpers
// ---------------------------------------------------------------------------------------------

/// A failed write, and whether its result is nevertheless visible on disk (the rename happened
/// but the directory `fsync` failed).
struct WriteFailure {
    error: QueueError,
    visible: bool,
}

impl WriteFailure {
    fn hidden(error: QueueError) -> Self {
        Self { error, visible: false }
    }
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> QueueError + 'a {
    move |source| QueueError::Io { op, path: path.to_path_buf(), source }
}

struct Fs {
    dir: PathBuf,
    fsync: bool,
    /// One group commit per directory, so concurrent renames share a directory `fsync`.
    dir_syncs: std::sync::Mutex<std::collections::HashMap<PathBuf, Arc<crate::group_commit::GroupCommit>>>,
}

impl Fs {
    fn sub(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn sync_dir(&self, dir: &Path) -> Result<(), QueueError> {
        if self.fsync {
            let group = {
                let mut syncs = self.dir_syncs.lock().unwrap_or_else(|e| e.into_inner());
                Arc::clone(syncs.entry(dir.to_path_buf()).or_default())
            };
            group.sync(|| File::open(dir).and_then(|d| d.sync_all())).map_err(io_err("fsync directory", dir))?;
        }
        Ok(())
    }

    fn write_file(&self, path: &Path, bytes: &[u8]) -> Result<(), QueueError> {
        let mut file = File::create(path).map_err(io_err("create", path))?;
        file.write_all(bytes).map_err(io_err("write", path))?;
        if self.fsync {
            file.sync_all().map_err(io_err("fsync", path))?;
        }
        Ok(())
    }

    /// Write `tmp/<tmp_name>`, fsync, rename to `dest`, fsync `dest`'s directory.
    fn write_atomic(&self, tmp_name: &str, dest: &Path, bytes: &[u8]) -> Result<(), WriteFailure> {
        let tmp = self.sub(TMP_DIR).join(tmp_name);
        let staged = self.write_file(&tmp, bytes).and_then(|()| fs::rename(&tmp, dest).map_err(io_err("rename", &tmp)));
        if let Err(error) = staged {
            let _ = fs::remove_file(&tmp);
            return Err(WriteFailure::hidden(error));
        }
        let parent = dest.parent().unwrap_or(&self.dir);
        self.sync_dir(parent).map_err(|error| WriteFailure { error, visible: true })
    }

    /// Rename a finished item file into `seen/`, then fsync both directories.
    fn retire(&self, item: &Path, marker: &Path) -> Result<(), WriteFailure> {
        fs::rename(item, marker).map_err(|e| WriteFailure::hidden(io_err("rename", item)(e)))?;
        let visible = |error| WriteFailure { error, visible: true };
        self.sync_dir(marker.parent().unwrap_or(&self.dir)).map_err(visible)?;
        self.sync_dir(item.parent().unwrap_or(&self.dir)).map_err(visible)
    }

    /// Remove `path` and fsync its directory.
    fn remove(&self, path: &Path) -> Result<(), WriteFailure> {
        fs::remove_file(path).map_err(|e| WriteFailure::hidden(io_err("remove", path)(e)))?;
        let parent = path.parent().unwrap_or(&self.dir);
        self.sync_dir(parent).map_err(|error| WriteFailure { error, visible: true })
    }

    fn create_layout(&self) -> Result<(), QueueError> {
        fs::create_dir_all(&self.dir).map_err(io_err("create directory", &self.dir))?;
        for sub in [TMP_DIR, SEEN_DIR, DEAD_DIR, CORRUPT_DIR] {
            let path = self.sub(sub);
            fs::create_dir_all(&path).map_err(io_err("create directory", &path))?;
        }
        if let Some(parent) = self.dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            self.sync_dir(parent)?;
        }
        self.sync_dir(&self.dir)
    }

    fn lock(&self) -> Result<File, QueueError> {
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

    /// File names (UTF-8 only) of the regular files in `dir`.
    fn list_files(&self, dir: &Path) -> Result<Vec<String>, QueueError> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_err("list directory", dir))? {
            let entry = entry.map_err(io_err("list directory", dir))?;
            if !entry.file_type().map_err(io_err("stat", &entry.path()))?.is_file() {
                continue;
            }
            match entry.file_name().into_string() {
                Ok(name) => names.push(name),
                Err(name) => warn!(dir = %dir.display(), ?name, "ignoring a file whose name is not UTF-8"),
            }
        }
        names.sort();
        Ok(names)
    }

    /// Delete everything in `tmp/`: writes a crash interrupted.
    fn clean_tmp(&self) -> Result<usize, QueueError> {
        let tmp = self.sub(TMP_DIR);
        let names = self.list_files(&tmp)?;
        for name in &names {
            let path = tmp.join(name);
            fs::remove_file(&path).map_err(io_err("remove leftover temporary file", &path))?;
        }
        if !names.is_empty() {
            warn!(count = names.len(), files = ?names, "removed temporary files left by an interrupted write");
        }
        Ok(names.len())
    }

    /// Move `name` from the queue directory to `corrupt/`, loudly.
    fn quarantine(&self, name: &str, reason: &str) -> Result<(), QueueError> {
        let from = self.dir.join(name);
        let mut to = self.sub(CORRUPT_DIR).join(name);
        if to.exists() {
            to = self.sub(CORRUPT_DIR).join(format!("{name}.{}", Utc::now().timestamp_nanos_opt().unwrap_or(0)));
        }
        fs::rename(&from, &to).map_err(io_err("move corrupt file to corrupt/", &from))?;
        self.sync_dir(&self.sub(CORRUPT_DIR))?;
        self.sync_dir(&self.dir)?;
        error!(
            file = %from.display(), moved_to = %to.display(), reason,
            "CORRUPT queue file quarantined: the alert in it was NOT delivered; inspect it by hand"
        );
        Ok(())
    }

    /// Largest seq in the names of `dir`'s item files (`dead/`, `corrupt/`).
    fn max_seq_in(&self, dir: &str) -> Result<u64, QueueError> {
        let names = self.list_files(&self.sub(dir))?;
        Ok(names.iter().filter_map(|n| parse_file_name(n).map(|(seq, _)| seq)).max().unwrap_or(0))
    }
}

// ---------------------------------------------------------------------------------------------
// Recovery scan
// ---------------------------------------------------------------------------------------------

struct Scan {
    items: Vec<(Item, u64)>,
    corrupt: usize,
}

impl Fs {
    /// Every item file in the queue directory, valid ones in seq order; bad ones quarantined.
    fn scan_items(&self) -> Result<Scan, QueueError> {
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
            let bytes = fs::read(&path).map_err(io_err("read", &path))?;
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
    fn drop_duplicate_ids(&self, scan: &mut Scan) -> Result<(), QueueError> {
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
    fn load_seen(
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
            let bytes = fs::read(&path).ok();
            let marker = bytes.as_deref().and_then(|b| serde_json::from_slice::<SeenMarker>(b).ok());
            // A delivered item's own file serves as its marker: its seq, and when it was retired.
            let retired = || bytes.as_deref().and_then(|b| decode(b).ok()).map(|item| item.seq);
            let (done_at, seq) = match marker {
                Some(m) => (m.done_at, m.seq),
                None => {
                    let seq = retired().unwrap_or(0);
                    let modified = fs::metadata(&path).and_then(|m| m.modified()).map_err(io_err("stat", &path))?;
                    (DateTime::<Utc>::from(modified), seq)
                }
            };
            if still_remembered(done_at, keep, now) {
                max_seq = max_seq.max(seq);
                seen.insert(id, done_at);
            } else if let Err(e) = fs::remove_file(&path) {
                warn!(file = %path.display(), error = %e, "could not prune an expired seen marker");
            }
        }
        Ok((seen, max_seq))
    }
}

// ---------------------------------------------------------------------------------------------
// The index
// ---------------------------------------------------------------------------------------------

struct Slot {
    /// Serialises writes to this item; held from before a write until the index reflects it.
    lock: Arc<tokio::sync::Mutex<()>>,
    /// `None` while the enqueue that created the slot is still writing.
    item: Option<Item>,
    /// Bytes of the item's file (reserved while writing).
    size: u64,
}

struct Index {
    slots: HashMap<String, Slot>,
    /// Committed pending items by seq: `due` order.
    order: BTreeMap<u64, String>,
    /// Completed ids and when they completed.
    seen: HashMap<String, DateTime<Utc>>,
    bytes: u64,
    next_seq: u64,
    last_prune: DateTime<Utc>,
}

impl Index {
    fn commit(&mut self, item: Item, size: u64) {
        let slot = self.slots.entry(item.id.clone()).or_insert_with(|| Slot {
            lock: Arc::new(tokio::sync::Mutex::new(())),
            item: None,
            size: 0,
        });
        self.bytes = self.bytes - slot.size + size;
        slot.size = size;
        self.order.insert(item.seq, item.id.clone());
        slot.item = Some(item);
    }

    fn release(&mut self, id: &str) {
        if let Some(slot) = self.slots.remove(id) {
            self.bytes -= slot.size;
            if let Some(item) = slot.item {
                self.order.remove(&item.seq);
            }
        }
    }

    fn full(&self, cfg: &QueueConfig) -> QueueError {
        QueueError::Full {
            items: self.slots.len(),
            bytes: self.bytes,
            max_items: cfg.max_items,
            max_bytes: cfg.max_bytes,
        }
    }
}

enum Reservation {
    Duplicate,
    /// Another enqueue of this id is writing: wait for it, then look again.
    Wait(Arc<tokio::sync::Mutex<()>>),
    Reserved {
        seq: u64,
        enqueued_at: DateTime<Utc>,
        guard: OwnedMutexGuard<()>,
    },
}

struct Inner {
    cfg: QueueConfig,
    fs: Fs,
    index: Mutex<Index>,
    probes: AtomicU64,
    /// Holds the directory's flock until the last clone of the queue is dropped.
    _lock: File,
}

impl Inner {
    fn index(&self) -> MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn open(cfg: QueueConfig) -> Result<(Self, Recovery), QueueError> {
        let fs = Fs { dir: cfg.dir.clone(), fsync: cfg.fsync, dir_syncs: Default::default() };
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

    fn reserve(&self, id: &str, now: DateTime<Utc>) -> Result<Reservation, QueueError> {
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
    fn admit_bytes(&self, id: &str, size: u64) -> Result<(), QueueError> {
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
    fn store_new(&self, item: Item, bytes: Vec<u8>, guard: OwnedMutexGuard<()>) -> Result<Enqueued, QueueError> {
        let _guard = guard;
        let name = item.file_name();
        let path = self.fs.dir.join(&name);
        let result = self.fs.write_atomic(&format!("{name}.tmp"), &path, &bytes);
        let (error, on_disk) = match result {
            Ok(()) => (None, true),
            Err(failure) if failure.visible => (Some(failure.error), self.fs.remove(&path).is_err()),
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
    fn pending_item(&self, id: &str) -> Result<Item, QueueError> {
        let index = self.index();
        index.slots.get(id).and_then(|s| s.item.clone()).ok_or_else(|| QueueError::NotFound { id: id.to_owned() })
    }

    fn update(
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

    fn update_item(
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
    fn finish(&self, item: Item, now: DateTime<Utc>) -> Result<(), QueueError> {
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
    fn expired_seen(&self, now: DateTime<Utc>) -> Vec<(String, DateTime<Utc>)> {
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
    fn prune_seen(&self, expired: Vec<(String, DateTime<Utc>)>) {
        let dir = self.fs.sub(SEEN_DIR);
        let mut forgotten = Vec::with_capacity(expired.len());
        for (id, at) in expired {
            match fs::remove_file(dir.join(&id)) {
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

    fn probe(&self) -> bool {
        let n = self.probes.fetch_add(1, Ordering::Relaxed);
        let path = self.fs.sub(TMP_DIR).join(format!("probe-{n}.tmp"));
        let result = self.fs.write_file(&path, b"probe").and_then(|()| {
            fs::remove_file(&path)
                .map_err(io_err("remove", &path))
                .and_then(|()| self.fs.sync_dir(&self.fs.sub(TMP_DIR)))
        });
        if let Err(e) = result {
            let _ = fs::remove_file(&path);
            warn!(error = %e, "queue directory is not writable");
            return false;
        }
        true
    }

    fn dead_letters(&self) -> Vec<Item> {
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
            match fs::read(&path).map_err(|e| e.to_string()).and_then(|b| decode_item_file(name, &b)) {
                Ok(item) => items.push(item),
                Err(reason) => warn!(file = %path.display(), reason, "skipping unreadable dead letter"),
            }
        }
        items.sort_by_key(|item| item.seq);
        items
    }
}

// ---------------------------------------------------------------------------------------------
// The public handle
// ---------------------------------------------------------------------------------------------

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
        let dir = cfg.dir.clone();
        let (inner, recovery) = blocking(move || Inner::open(cfg)).await??;
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
        validate_id(id)?;
        check_channels(id, channels)?;
        self.prune_seen_if_due().await;
        let (seq, enqueued_at, guard) = loop {
            match self.inner.reserve(id, Utc::now())? {
                Reservation::Duplicate => return Ok(Enqueued::Duplicate),
                Reservation::Wait(lock) => drop(lock.lock().await),
                Reservation::Reserved { seq, enqueued_at, guard } => break (seq, enqueued_at, guard),
            }
        };
        let channels = channels.iter().map(|c| (c.clone(), ChannelState::new_pending())).collect();
        let payload = match serde_json::value::to_raw_value(&payload).map(Payload) {
            Ok(p) => p,
            Err(source) => {
                self.inner.index().release(id);
                return Err(QueueError::Encode { id: id.to_owned(), source });
            }
        };
        let item = Item { id: id.to_owned(), seq, enqueued_at, payload, channels, verdict: None, notes: Vec::new() };
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

    /// Like [`Queue::due`], leaving out the items `skip` names (e.g. those already in flight), so
    /// they are neither cloned nor counted against `limit`.
    pub async fn due_except(&self, now: DateTime<Utc>, limit: usize, skip: impl Fn(&str) -> bool) -> Vec<Item> {
        let index = self.inner.index();
        index
            .order
            .values()
            .filter(|id| !skip(id))
            .filter_map(|id| index.slots.get(id)?.item.as_ref())
            .filter(|item| item.is_due(now))
            .take(limit)
            .cloned()
            .collect()
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
        })
        .await
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
        let lock = {
            let index = self.inner.index();
            match index.slots.get(id) {
                Some(slot) if slot.item.is_some() => Arc::clone(&slot.lock),
                _ => return Err(QueueError::NotFound { id: id.to_owned() }),
            }
        };
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
mod tests {
    use super::*;
    use serde_json::json;

    fn config(dir: &Path) -> QueueConfig {
        QueueConfig { fsync: false, ..QueueConfig::new(dir) }
    }

    fn channels(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    async fn open(dir: &Path) -> (Queue, Recovery) {
        Queue::open(config(dir)).await.unwrap()
    }

    fn item_files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(ITEM_EXT))
            .collect();
        names.sort();
        names
    }

    fn far_future() -> DateTime<Utc> {
        Utc::now() + TimeDelta::days(365)
    }

    #[tokio::test]
    async fn enqueue_then_deliver_removes_the_file_and_empties_the_queue() {
        let tmp = tempfile::tempdir().unwrap();
        let (q, _) = open(tmp.path()).await;
        let stored = q.enqueue("a1", &channels(&["pager"]), json!({"alert": 1})).await.unwrap();
        assert!(matches!(stored, Enqueued::Stored { .. }));
        assert_eq!(item_files(tmp.path()).len(), 1);
        let due = q.due(Utc::now(), 10).await;
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].payload.value(), json!({"alert": 1}));
        q.mark_delivered("a1", "pager").await.unwrap();
        assert!(item_files(tmp.path()).is_empty());
        assert_eq!(q.depth(), 0);
        assert!(q.due(far_future(), 10).await.is_empty());
        assert!(q.dead_letters().await.is_empty());
    }

    #[tokio::test]
    async fn file_is_checksummed_json_envelope() {
        let tmp = tempfile::tempdir().unwrap();
        let (q, _) = open(tmp.path()).await;
        q.enqueue("a1", &channels(&["pager"]), json!([1, 2])).await.unwrap();
        let name = item_files(tmp.path()).remove(0);
        assert_eq!(name, "00000000000000000001-a1.json");
        let text = fs::read_to_string(tmp.path().join(&name)).unwrap();
        let (json, crc) = text.trim_end().split_once('\n').unwrap();
        assert_eq!(crc, format!("crc32:{:08x}", crc32fast::hash(json.as_bytes())));
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(v["v"], 1);
        assert_eq!(v["channels"]["pager"]["state"], "pending");
        assert_eq!(v["payload"], json!([1, 2]));
    }

    #[tokio::test]
    async fn duplicate_id_is_reported_and_stored_once() {
        let tmp = tempfile::tempdir().unwrap();
        let (q, _) = open(tmp.path()).await;
        q.enqueue("a1", &channels(&["pager"]), json!(1)).await.unwrap();
        let again = q.enqueue("a1", &channels(&["pager"]), json!(2)).await.unwrap();
        assert_eq!(again, Enqueued::Duplicate);
        assert_eq!(item_files(tmp.path()).len(), 1);
        assert_eq!(q.due(Utc::now(), 10).await[0].payload.value(), json!(1));
    }

    #[tokio::test]
    async fn pending_duplicate_is_still_detected_after_reopen() {
        let tmp = tempfile::tempdir().unwrap();
        let (q, _) = open(tmp.path()).await;
        q.enqueue("a1", &channels(&["pager"]), json!(1)).await.unwrap();
        drop(q);
        let (q, recovery) = open(tmp.path()).await;
        assert_eq!(recovery, Recovery { pending: 1, removed_tmp: 0, corrupt: 0 });
        assert_eq!(q.enqueue("a1", &channels(&["pager"]), json!(1)).await.unwrap(), Enqueued::Duplicate);
        assert_eq!(item_files(tmp.path()).len(), 1);
    }

    #[tokio::test]
    async fn delivered_id_is_still_duplicate_after_reopen_within_retention() {
        let tmp = tempfile::tempdir().unwrap();
        let (q, _) = open(tmp.path()).await;
        q.enqueue("a1", &channels(&["pager"]), json!(1)).await.unwrap();
        q.mark_delivered("a1", "pager").await.unwrap();
        drop(q);
        let (q, recovery) = open(tmp.path()).await;
        assert_eq!(recovery.pending, 0);
        assert_eq!(q.enqueue("a1", &channels(&["pager"]), json!(1)).await.unwrap(), Enqueued::Duplicate);
        assert!(item_files(tmp.path()).is_empty());
    }

    #[tokio::test]
    async fn seen_ids_are_forgotten_after_the_retention_window() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = QueueConfig { seen_retention: Duration::ZERO, ..config(tmp.path()) };
        let (q, _) = Queue::open(cfg.clone()).await.unwrap();
        q.enqueue("a1", &channels(&["pager"]), json!(1)).await.unwrap();
        q.mark_delivered("a1", "pager").await.unwrap();
        assert!(tmp.path().join(SEEN_DIR).join("a1").exists());
        drop(q);
        let (q, _) = Queue::open(cfg).await.unwrap();
        assert!(!tmp.path().join(SEEN_DIR).join("a1").exists(), "expired marker pruned at open");
        assert!(matches!(q.enqueue("a1", &channels(&["pager"]), json!(1)).await.unwrap(), Enqueued::Stored { .. }));
    }

    #[tokio::test]
    async fn retry_sets_next_attempt_and_due_respects_it() {
        let tmp = tempfile::tempdir().unwrap();
        let (q, _) = open(tmp.path()).await;
        q.enqueue("a1", &channels(&["pager"]), json!(1)).await.unwrap();
        let now = Utc::now();
        let later = now + TimeDelta::minutes(5);
        q.mark_retry("a1", "pager", later, "connection refused").await.unwrap();
        assert!(q.due(now, 10).await.is_empty());
        let due = q.due(later, 10).await;
        let pager = &due[0].channels["pager"];
        assert_eq!((pager.attempts, pager.next_attempt_at), (1, Some(later)));
        assert_eq!(pager.last_error.as_deref(), Some("connection refused"));
        drop(q);
        let (q, _) = open(tmp.path()).await;
        assert!(q.due(now, 10).await.is_empty(), "retry time survives reopen");
        assert_eq!(q.due(later, 10).await.len(), 1);
    }

    #[tokio::test]
    async fn all_channels_dead_moves_the_item_to_dead_letters_with_the_reason() {
        let tmp = tempfile::tempdir().unwrap();
        let (q, _) = open(tmp.path()).await;
        q.enqueue("a1", &channels(&["pager", "mail"]), json!(1)).await.unwrap();
        q.mark_dead("a1", "pager", "404 no such pager").await.unwrap();
        assert_eq!(q.depth(), 1);
        q.mark_dead("a1", "mail", "mailbox unknown").await.unwrap();
        assert_eq!(q.depth(), 0);
        assert!(item_files(tmp.path()).is_empty());
        let dead = q.dead_letters().await;
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].channels["pager"].last_error.as_deref(), Some("404 no such pager"));
        assert_eq!(dead[0].channels["mail"].state, DeliveryState::Dead);
        assert_eq!(q.enqueue("a1", &channels(&["pager"]), json!(1)).await.unwrap(), Enqueued::Duplicate);
    }

    #[tokio::test]
    async fn partial_delivery_survives_reopen_without_redelivering_the_done_channel() {
        let tmp = tempfile::tempdir().unwrap();
        let (q, _) = open(tmp.path()).await;
        q.enqueue("a1", &channels(&["pager", "mail"]), json!(1)).await.unwrap();
        q.mark_delivered("a1", "pager").await.unwrap();
        drop(q);
        let (q, recovery) = open(tmp.path()).await;
        assert_eq!(recovery.pending, 1);
        let due = q.due(Utc::now(), 10).await;
        assert_eq!(due[0].channels["pager"].state, DeliveryState::Delivered);
        assert_eq!(due[0].channels["mail"].state, DeliveryState::Pending);
        q.mark_delivered("a1", "pager").await.unwrap(); // idempotent: still delivered
        q.mark_delivered("a1", "mail").await.unwrap();
        assert_eq!(q.depth(), 0);
        assert!(q.dead_letters().await.is_empty());
    }

    #[tokio::test]
    async fn a_reroute_replaces_gone_channels_durably_and_keeps_the_note() {
        let tmp = tempfile::tempdir().unwrap();
        let (q, _) = open(tmp.path()).await;
        q.enqueue("a1", &channels(&["slack", "email"]), json!(1)).await.unwrap();
        q.mark_delivered("a1", "email").await.unwrap();
        let note = "Re-routed to file: slack is no longer configured.";
        let item = q.reroute("a1", vec!["slack".into()], vec!["file".into(), "email".into()], note).await.unwrap();
        assert_eq!(item.channels["slack"].state, DeliveryState::Rerouted);
        assert_eq!(item.channels["email"].state, DeliveryState::Delivered, "a channel already on the item stays");
        assert_eq!(item.channels["file"].state, DeliveryState::Pending);
        drop(q);
        let (q, recovery) = open(tmp.path()).await;
        assert_eq!(recovery.pending, 1);
        let due = q.due(Utc::now(), 10).await;
        assert_eq!(due[0].notes, [note]);
        assert_eq!(due[0].channels["slack"].last_error.as_deref(), Some(note));
        q.mark_delivered("a1", "file").await.unwrap();
        assert_eq!(q.depth(), 0, "rerouted is final: the item is done");
        assert!(q.dead_letters().await.is_empty(), "and not a dead letter");
    }

    #[tokio::test]
    async fn a_recorded_verdict_holds_and_skips_channels_durably() {
        let tmp = tempfile::tempdir().unwrap();
        let (q, _) = open(tmp.path()).await;
        q.enqueue("a1", &channels(&["slack", "email", "file"]), json!(1)).await.unwrap();
        let until = Utc::now() + TimeDelta::minutes(2);
        q.record_verdict(
            "a1",
            json!({"decision": "downgrade"}),
            vec![("email".into(), until)],
            vec!["file".into()],
            "r",
        )
        .await
        .unwrap();
        drop(q);
        let (q, _) = open(tmp.path()).await;
        let due = q.due(Utc::now(), 10).await;
        assert_eq!(due[0].verdict, Some(json!({"decision": "downgrade"})));
        assert_eq!(due[0].channels["file"].state, DeliveryState::Skipped);
        assert_eq!(due[0].channels["email"].next_attempt_at, Some(until), "held until re-escalation");
        assert!(due[0].channels["slack"].is_due(Utc::now()));
        q.mark_delivered("a1", "slack").await.unwrap();
        assert!(q.due(Utc::now(), 10).await.is_empty(), "only the held channel is left, not yet due");
        q.record_verdict("a1", json!({"decision": "downgrade"}), vec![], vec!["email".into()], "ended").await.unwrap();
        assert_eq!(q.depth(), 0, "skipped and delivered channels complete the item");
        assert!(q.dead_letters().await.is_empty());
    }

    #[tokio::test]
    async fn full_when_over_max_items() {
        let tmp = tempfile::tempdir().unwrap();
        let (q, _) = Queue::open(QueueConfig { max_items: 2, ..config(tmp.path()) }).await.unwrap();
        q.enqueue("a1", &channels(&["c"]), json!(1)).await.unwrap();
        q.enqueue("a2", &channels(&["c"]), json!(1)).await.unwrap();
        let err = q.enqueue("a3", &channels(&["c"]), json!(1)).await.unwrap_err();
        assert!(matches!(err, QueueError::Full { items: 2, max_items: 2, .. }), "{err}");
        assert_eq!(q.enqueue("a1", &channels(&["c"]), json!(1)).await.unwrap(), Enqueued::Duplicate);
        q.mark_delivered("a1", "c").await.unwrap();
        assert!(matches!(q.enqueue("a3", &channels(&["c"]), json!(1)).await.unwrap(), Enqueued::Stored { .. }));
    }

    #[tokio::test]
    async fn full_when_over_max_bytes_and_too_large_when_over_the_whole_limit() {
        let tmp = tempfile::tempdir().unwrap();
        let (q, _) = Queue::open(QueueConfig { max_bytes: 1000, ..config(tmp.path()) }).await.unwrap();
        let blob = json!("x".repeat(300));
        q.enqueue("a1", &channels(&["c"]), blob.clone()).await.unwrap();
        q.enqueue("a2", &channels(&["c"]), blob.clone()).await.unwrap();
        let err = q.enqueue("a3", &channels(&["c"]), blob.clone()).await.unwrap_err();
        assert!(matches!(err, QueueError::Full { items: 2, .. }), "{err}");
        let err = q.enqueue("a4", &channels(&["c"]), json!("x".repeat(2000))).await.unwrap_err();
        assert!(matches!(err, QueueError::TooLarge { .. }), "{err}");
        assert_eq!(item_files(tmp.path()).len(), 2);
        assert_eq!(q.depth(), 2);
    }

    #[tokio::test]
    async fn corrupt_files_are_quarantined_on_open_and_the_rest_recovered() {
        let tmp = tempfile::tempdir().unwrap();
        let (q, _) = open(tmp.path()).await;
        for id in ["a1", "a2", "a3"] {
            q.enqueue(id, &channels(&["c"]), json!({"id": id})).await.unwrap();
        }
        drop(q);
        let files = item_files(tmp.path());
        let torn = tmp.path().join(&files[0]);
        let len = fs::metadata(&torn).unwrap().len();
        OpenOptions::new().write(true).open(&torn).unwrap().set_len(len / 2).unwrap();
        let flipped = tmp.path().join(&files[1]);
        let mut bytes = fs::read(&flipped).unwrap();
        bytes[10] ^= 0x01;
        fs::write(&flipped, bytes).unwrap();
        let (q, recovery) = open(tmp.path()).await;
        assert_eq!(recovery, Recovery { pending: 1, removed_tmp: 0, corrupt: 2 });
        assert_eq!(item_files(tmp.path()), vec![files[2].clone()]);
        assert_eq!(fs::read_dir(tmp.path().join(CORRUPT_DIR)).unwrap().count(), 2);
        assert_eq!(q.due(Utc::now(), 10).await[0].id, "a3");
        let stored = q.enqueue("a4", &channels(&["c"]), json!(1)).await.unwrap();
        assert_eq!(stored, Enqueued::Stored { seq: 4 }, "seq continues past quarantined files");
    }

    #[tokio::test]
    async fn leftover_tmp_files_are_removed_on_open() {
        let tmp = tempfile::tempdir().unwrap();
        let (q, _) = open(tmp.path()).await;
        q.enqueue("a1", &channels(&["c"]), json!(1)).await.unwrap();
        drop(q);
        fs::write(tmp.path().join(TMP_DIR).join("00000000000000000002-a2.json.tmp"), b"{\"v\":1,").unwrap();
        let (q, recovery) = open(tmp.path()).await;
        assert_eq!(recovery, Recovery { pending: 1, removed_tmp: 1, corrupt: 0 });
        assert_eq!(fs::read_dir(tmp.path().join(TMP_DIR)).unwrap().count(), 0);
        assert_eq!(q.depth(), 1);
    }

    #[tokio::test]
    async fn seq_continues_after_reopen_even_when_the_queue_drained() {
        let tmp = tempfile::tempdir().unwrap();
        let (q, _) = open(tmp.path()).await;
        q.enqueue("a1", &channels(&["c"]), json!(1)).await.unwrap();
        q.enqueue("a2", &channels(&["c"]), json!(1)).await.unwrap();
        q.mark_delivered("a2", "c").await.unwrap();
        q.mark_delivered("a1", "c").await.unwrap();
        drop(q);
        let (q, _) = open(tmp.path()).await;
        assert_eq!(q.enqueue("a3", &channels(&["c"]), json!(1)).await.unwrap(), Enqueued::Stored { seq: 3 });
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_enqueues_are_all_stored_with_distinct_seqs() {
        let tmp = tempfile::tempdir().unwrap();
        let (q, _) = open(tmp.path()).await;
        let tasks: Vec<_> = (0..100)
            .map(|i| {
                let q = q.clone();
                tokio::spawn(async move { q.enqueue(&format!("a{i}"), &channels(&["c"]), json!(i)).await.unwrap() })
            })
            .collect();
        let mut seqs = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                Enqueued::Stored { seq } => seqs.push(seq),
                Enqueued::Duplicate => panic!("distinct ids reported as duplicate"),
            }
        }
        seqs.sort_unstable();
        seqs.dedup();
        assert_eq!(seqs.len(), 100);
        assert_eq!(q.depth(), 100);
        assert_eq!(item_files(tmp.path()).len(), 100);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_enqueues_of_one_id_store_it_once() {
        let tmp = tempfile::tempdir().unwrap();
        let (q, _) = open(tmp.path()).await;
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let q = q.clone();
                tokio::spawn(async move { q.enqueue("same", &channels(&["c"]), json!(1)).await.unwrap() })
            })
            .collect();
        let mut stored = 0;
        for task in tasks {
            stored += usize::from(matches!(task.await.unwrap(), Enqueued::Stored { .. }));
        }
        assert_eq!(stored, 1);
        assert_eq!(item_files(tmp.path()).len(), 1);
    }

    #[tokio::test]
    async fn a_second_open_of_the_same_directory_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let (q, _) = open(tmp.path()).await;
        let err = Queue::open(config(tmp.path())).await.unwrap_err();
        assert!(matches!(err, QueueError::Locked { .. }), "{err}");
        drop(q);
        open(tmp.path()).await;
    }

    #[tokio::test]
    async fn ids_and_channels_that_are_unsafe_are_rejected() {
        let tmp = tempfile::tempdir().unwrap();
        let (q, _) = open(tmp.path()).await;
        for id in ["", "../etc", ".hidden", "a/b", "a b", &"x".repeat(201)] {
            let err = q.enqueue(id, &channels(&["c"]), json!(1)).await.unwrap_err();
            assert!(matches!(err, QueueError::InvalidId { .. }), "{id}: {err}");
        }
        assert!(matches!(q.enqueue("a1", &[], json!(1)).await, Err(QueueError::NoChannels { .. })));
        assert!(matches!(q.enqueue("a1", &channels(&[""]), json!(1)).await, Err(QueueError::NoChannels { .. })));
        assert_eq!(q.depth(), 0);
    }

    #[tokio::test]
    async fn marking_an_unknown_id_or_channel_fails() {
        let tmp = tempfile::tempdir().unwrap();
        let (q, _) = open(tmp.path()).await;
        q.enqueue("a1", &channels(&["c"]), json!(1)).await.unwrap();
        assert!(matches!(q.mark_delivered("nope", "c").await, Err(QueueError::NotFound { .. })));
        assert!(matches!(q.mark_dead("a1", "other", "x").await, Err(QueueError::UnknownChannel { .. })));
        assert_eq!(q.depth(), 1);
    }

    #[tokio::test]
    async fn age_and_writability_are_reported() {
        let tmp = tempfile::tempdir().unwrap();
        let (q, _) = open(tmp.path()).await;
        assert_eq!(q.oldest_pending_age(Utc::now()), None);
        q.enqueue("a1", &channels(&["c"]), json!(1)).await.unwrap();
        let age = q.oldest_pending_age(Utc::now() + TimeDelta::seconds(30)).unwrap();
        assert!(age >= Duration::from_secs(29) && age <= Duration::from_secs(31), "{age:?}");
        assert!(q.writable().await);
        assert_eq!(fs::read_dir(tmp.path().join(TMP_DIR)).unwrap().count(), 0);
    }

    #[test]
    fn long_errors_are_truncated_on_a_char_boundary() {
        let long = "é".repeat(MAX_ERROR_LEN);
        let short = truncate_error(&long);
        assert!(short.len() <= MAX_ERROR_LEN + "…".len());
        assert!(short.ends_with('…'));
    }
}
