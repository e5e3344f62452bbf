//! The record format: what one queued item is, and how it is written as a file.
//!
//! An item file is two lines: the compact JSON envelope (`{"v":1,…}`), then `crc32:<8 hex>` of
//! the envelope's bytes, each ending in `\n` (the module docs of [`super`] show one). Its name is
//! `<seq:020>-<id>.json`; ids are restricted to `[A-Za-z0-9._-]` so they are safe file names.

use super::QueueError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub(super) const ITEM_EXT: &str = ".json";
const SEQ_DIGITS: usize = 20;
const FORMAT_VERSION: u32 = 1;
const MAX_ID_LEN: usize = 200;
pub(super) const MAX_ERROR_LEN: usize = 2048;

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
    /// routed again to the channels configured now ([`super::Queue::reroute`]); final.
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
    pub(super) fn new_pending() -> Self {
        Self { state: DeliveryState::Pending, attempts: 0, next_attempt_at: None, last_error: None }
    }

    pub(super) fn is_due(&self, now: DateTime<Utc>) -> bool {
        self.state == DeliveryState::Pending && self.next_attempt_at.is_none_or(|t| t <= now)
    }
}

/// A queued item's payload: JSON text, validated, parsed only when delivered.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Payload(pub(super) Box<serde_json::value::RawValue>);

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
    /// The rescoring verdict once one is recorded ([`super::Queue::record_verdict`]), as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<serde_json::Value>,
    /// Notes for the reader added on the way (e.g. why it was re-routed), shown in the messages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The escalation steps of a firing notification, in order: each step's channels are on the
    /// item, pending from the step's time ([`super::Queue::enqueue_planned`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub escalation: Vec<Escalation>,
    /// Which due items go first: lower first, then the older
    /// ([`crate::alert::notification::priority`]: a critical firing alert is 0).
    #[serde(default = "default_priority", skip_serializing_if = "is_default_priority")]
    pub priority: u8,
}

/// The priority of an item stored without one (before items had one, or of the usual kind): a
/// firing alert of no known severity.
fn default_priority() -> u8 {
    crate::alert::notification::PRIORITY_OTHER
}

fn is_default_priority(p: &u8) -> bool {
    *p == default_priority()
}

/// One escalation step: its channels get the notification at `due_at` unless it was
/// acknowledged or has ended by then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    /// 1 for the first step.
    pub step: u32,
    /// How long after the notification arrived the step is due, milliseconds.
    pub after_ms: u64,
    /// When it is due.
    pub due_at: DateTime<Utc>,
    /// The channels it goes to.
    pub channels: Vec<String>,
}

impl Item {
    /// The escalation step `channel` belongs to, if it is one's.
    pub fn escalation_of(&self, channel: &str) -> Option<&Escalation> {
        self.escalation.iter().find(|e| e.channels.iter().any(|c| c == channel))
    }
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

    pub(super) fn file_name(&self) -> String {
        item_file_name(self.seq, &self.id)
    }
}

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
    #[serde(default)]
    escalation: Vec<Escalation>,
    #[serde(default = "default_priority")]
    priority: u8,
}

/// A `seen/<id>` marker's content.
#[derive(Serialize, Deserialize)]
pub(super) struct SeenMarker {
    pub(super) done_at: DateTime<Utc>,
    pub(super) seq: u64,
    pub(super) outcome: DeliveryState,
}

pub(super) fn item_file_name(seq: u64, id: &str) -> String {
    format!("{seq:0width$}-{id}{ITEM_EXT}", width = SEQ_DIGITS)
}

/// `(seq, id)` from `<seq:020>-<id>.json`.
pub(super) fn parse_file_name(name: &str) -> Option<(u64, &str)> {
    let stem = name.strip_suffix(ITEM_EXT)?;
    let (digits, id) = (stem.get(..SEQ_DIGITS)?, stem.get(SEQ_DIGITS..)?.strip_prefix('-')?);
    if !digits.bytes().all(|b| b.is_ascii_digit()) || validate_id(id).is_err() {
        return None;
    }
    Some((digits.parse().ok()?, id))
}

pub(super) fn validate_id(id: &str) -> Result<(), QueueError> {
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

pub(super) fn encode(item: &Item) -> Result<Vec<u8>, QueueError> {
    let envelope = EnvelopeOut { v: FORMAT_VERSION, item };
    let mut out = serde_json::to_vec(&envelope).map_err(|source| QueueError::Encode { id: item.id.clone(), source })?;
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(format!("\ncrc32:{crc:08x}\n").as_bytes());
    Ok(out)
}

/// The item in `bytes`, or why the file is corrupt.
pub(super) fn decode(bytes: &[u8]) -> Result<Item, String> {
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
    let EnvelopeIn { id, seq, enqueued_at, payload, channels, verdict, notes, escalation, priority, .. } = envelope;
    Ok(Item { id, seq, enqueued_at, payload, channels, verdict, notes, escalation, priority })
}

/// The item in file `name` with content `bytes`, checked against its name.
pub(super) fn decode_item_file(name: &str, bytes: &[u8]) -> Result<Item, String> {
    let (seq, id) = parse_file_name(name).ok_or("file name is not <seq:020>-<id>.json")?;
    let item = decode(bytes)?;
    if item.seq != seq || item.id != id {
        return Err(format!("file name says seq {seq} id {id}, content says seq {} id {}", item.seq, item.id));
    }
    Ok(item)
}

pub(super) fn truncate_error(error: &str) -> String {
    if error.len() <= MAX_ERROR_LEN {
        return error.to_owned();
    }
    let mut end = MAX_ERROR_LEN;
    while !error.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &error[..end])
}
