//! The in-memory index: every pending item by id and in seq order, the ids completed recently,
//! and the bytes they take. It mirrors what is visible on disk (invariant 5 of [`super`]).

use super::record::Item;
use super::{QueueConfig, QueueError};
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OwnedMutexGuard;

/// One pending item, or one being written.
pub(super) struct Slot {
    /// Serialises writes to this item; held from before a write until the index reflects it.
    pub(super) lock: Arc<tokio::sync::Mutex<()>>,
    /// `None` while the enqueue that created the slot is still writing.
    pub(super) item: Option<Item>,
    /// Bytes of the item's file (reserved while writing).
    pub(super) size: u64,
}

/// The index of one queue.
pub(super) struct Index {
    /// Pending items and those being written, by id.
    pub(super) slots: HashMap<String, Slot>,
    /// Committed pending items by seq: `due` order.
    pub(super) order: BTreeMap<u64, String>,
    /// Completed ids and when they completed.
    pub(super) seen: HashMap<String, DateTime<Utc>>,
    /// Bytes of the pending item files (and of those being written).
    pub(super) bytes: u64,
    /// The seq the next enqueue takes.
    pub(super) next_seq: u64,
    /// When expired seen markers were last pruned.
    pub(super) last_prune: DateTime<Utc>,
}

impl Index {
    /// Record `item` as stored, in `size` bytes (new, or replacing its earlier state).
    pub(super) fn commit(&mut self, item: Item, size: u64) {
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

    /// Forget `id` and its bytes.
    pub(super) fn release(&mut self, id: &str) {
        if let Some(slot) = self.slots.remove(id) {
            self.bytes -= slot.size;
            if let Some(item) = slot.item {
                self.order.remove(&item.seq);
            }
        }
    }

    /// The error of a full queue, with what it holds.
    pub(super) fn full(&self, cfg: &QueueConfig) -> QueueError {
        QueueError::Full {
            items: self.slots.len(),
            bytes: self.bytes,
            max_items: cfg.max_items,
            max_bytes: cfg.max_bytes,
        }
    }
}

/// What [`super::store::Inner::reserve`] found for an id.
pub(super) enum Reservation {
    Duplicate,
    /// Another enqueue of this id is writing: wait for it, then look again.
    Wait(Arc<tokio::sync::Mutex<()>>),
    Reserved {
        seq: u64,
        enqueued_at: DateTime<Utc>,
        guard: OwnedMutexGuard<()>,
    },
}

/// A retention as a time delta (saturating).
pub(super) fn retention(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

/// Whether an id completed at `done_at` is still remembered at `now`.
pub(super) fn still_remembered(done_at: DateTime<Utc>, keep: TimeDelta, now: DateTime<Utc>) -> bool {
    done_at.checked_add_signed(keep).is_none_or(|expiry| expiry > now)
}
