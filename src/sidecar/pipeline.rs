//! One notification's way through the sidecar, stage by stage.
//!
//! ```text
//! receive → persist → route → score → decide → escalate → deliver → record
//! ```
//!
//! 1. **receive** — [`super::receiver`]: `POST /webhook` is authenticated, held to its size and
//!    concurrency limits and parsed as Alertmanager's v4 payload; bad input gets a 4xx with a
//!    JSON body, an overloaded receiver a 503 (Alertmanager retries those, never a 4xx).
//! 2. **persist** — [`super::queue::Queue::enqueue`]: the notification is on disk (fsync) before
//!    Alertmanager hears 2xx, with the channels the routing chose; a retried group is stored once.
//!
//! From here the [dispatcher](super::dispatch) hands each due item to [`turn`], which runs the
//! remaining stages for it, one task per item:
//!
//! 3. **route** — [`route`]: a channel that a configuration change removed is replaced by what
//!    the routing chooses now ([`super::reroute`]); nothing waits on a channel that is gone.
//! 4. **score** — [`score`]: before the first delivery the alert is rescored on its history up
//!    to now ([`super::rescoring`]: Prometheus, the model, the artifact evidence, the policy).
//!    When Prometheus or the model fails — or the step panics — it goes out unscored, saying so.
//! 5. **decide** — inside the same step, and stored with the item before any delivery: escalate,
//!    keep or downgrade as a likely artifact; a downgrade goes to its own channels at once and
//!    holds the others until its re-escalation time ([`super::rescoring::plan`]).
//! 6. **escalate** — [`escalation::escalate`]: an escalation step that fell due is sent, or
//!    skipped because someone acknowledged the alert or it resolved, or waits with a downgraded
//!    alert's held channels; what it does is stored before anything is sent.
//! 7. **deliver** — [`deliver`]: every due channel with a free lane is tried side by side, so a
//!    slow channel holds up no other; a panicking channel counts as a failed attempt.
//! 8. **record** — [`record`]: each channel's outcome goes into the queue as soon as it is known
//!    (and its lane is given back) — delivered, retry at a
//!    time (the server's `Retry-After`, capped, else jittered backoff), or dead-lettered loudly
//!    once permanent or past the give-up age. An outcome the queue cannot write is reported back
//!    and kept by the dispatcher until it can be.

use super::dispatch::Lane;
use super::escalation;
use super::reroute::{self, Routing};
use super::rescoring;
use super::Sidecar;
use crate::alert::notification::{Acknowledged, Notification};
use crate::alert::payload::Status;
use crate::notify::retry::{self, Outcome};
use crate::sidecar::queue::{DeliveryState, Item, QueueError};
use chrono::{DateTime, Utc};
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;

/// A channel's outcome, to write into the queue.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// The channel confirmed delivery.
    Delivered {
        /// The channel.
        channel: String,
    },
    /// Try again at `at`.
    Retry {
        /// The channel.
        channel: String,
        /// When the next attempt is due.
        at: DateTime<Utc>,
        /// What failed.
        reason: String,
    },
    /// Given up on this channel.
    Dead {
        /// The channel.
        channel: String,
        /// Why it was given up.
        reason: String,
    },
}

/// What one turn reports back to the dispatcher.
#[derive(Debug, Default)]
pub struct Report {
    /// Outcomes still to be written.
    pub unrecorded: Vec<Record>,
    /// Not to be handed out before this.
    pub not_before: Option<DateTime<Utc>>,
    /// No configured channel takes it.
    pub unroutable: bool,
}

/// One queued item's turn: route, score and decide, escalate, deliver, record. The channels in
/// `later` have no free lane ([`super::dispatch`]): they stay due for a later turn; each of
/// `lanes` is given back as soon as its channel's attempt is recorded.
pub async fn turn(s: &Sidecar, item: Item, later: &[String], lanes: Vec<Lane>) -> Report {
    let item = match route(s, item).await {
        Ok(item) => item,
        Err(report) => return report,
    };
    let item = score(s, item).await;
    let item = escalation::escalate(s, item).await;
    deliver(s, &item, later, lanes).await
}

/// Stage 3: the item with every channel it names configured, or the report that it waits.
pub async fn route(s: &Sidecar, item: Item) -> Result<Item, Report> {
    match reroute::reroute(s, item).await {
        Routing::Ready(item) => Ok(item),
        Routing::Unroutable => Err(Report { unroutable: true, ..Report::default() }),
        Routing::Later(_) => Err(cool_down(s, 0)),
    }
}

/// Stages 4 and 5: the item with its verdict stored (or its held channels re-escalated when
/// due). A panic in scoring sends the alert out unscored, saying why.
pub async fn score(s: &Sidecar, item: Item) -> Item {
    match AssertUnwindSafe(rescoring::prepare(s, item.clone())).catch_unwind().await {
        Ok(item) => item,
        Err(panic) => {
            s.telemetry.panics.with_label_values(&["rescoring"]).inc();
            let why = format!("rescoring failed (panic: {})", panic_message(panic));
            tracing::error!(id = %item.id, reason = %why, "rescoring panicked; the alert goes out unscored");
            rescoring::fail_open(s, item, &why).await
        }
    }
}

/// Stage 6: every channel due now, tried side by side; one outcome each.
pub async fn deliver(s: &Sidecar, item: &Item, later: &[String], mut lanes: Vec<Lane>) -> Report {
    let mut channels = due_channels(item, Utc::now());
    channels.retain(|c| !later.contains(c));
    let mut attempts: FuturesUnordered<_> =
        channels.iter().map(|c| async move { (c.as_str(), attempt(s, item, c).await) }).collect();
    let mut report = Report::default();
    while let Some((channel, outcome)) = attempts.next().await {
        let recorded = record(s, &item.id, vec![outcome]).await;
        report.unrecorded.extend(recorded.unrecorded);
        if let Some(at) = recorded.not_before {
            report.not_before = Some(report.not_before.map_or(at, |t| t.min(at)));
        }
        lanes.retain(|l| l.channel() != channel);
    }
    report
}

/// Channels of an item that wait for delivery at `now`.
pub fn due_channels(item: &Item, now: DateTime<Utc>) -> Vec<String> {
    item.channels
        .iter()
        .filter(|(_, s)| s.state == DeliveryState::Pending && s.next_attempt_at.is_none_or(|t| t <= now))
        .map(|(name, _)| name.clone())
        .collect()
}

/// A report asking the dispatcher to wait a backoff before handing the item out again.
fn cool_down(s: &Sidecar, attempts: u32) -> Report {
    let wait = s.settings.backoff.wait(None, attempts, &mut rand::rng());
    Report { not_before: Some(retry::after(Utc::now(), wait)), ..Report::default() }
}

/// One attempt on one channel: what to record.
async fn attempt(s: &Sidecar, item: &Item, channel: &str) -> Record {
    let attempts = item.channels.get(channel).map_or(0, |st| st.attempts);
    let mut notification: Notification = match item.payload.parse() {
        Ok(n) => n,
        Err(e) => return dead(item, channel, format!("stored notification unreadable: {e}")),
    };
    if let Some(verdict) = rescoring::stored(item) {
        notification.scoring = verdict.scoring;
    }
    notification.notes.extend(item.notes.iter().cloned());
    notification.escalation = escalation::note(item, channel, s.settings.site.time_zone);
    if let Some(a) = s.acknowledge.get().and_then(|a| a.log.get(&item.id)) {
        notification.acknowledged = Some(Acknowledged { by: a.by, at: a.at });
    }
    if let (Some(ack), Status::Firing, None) = (s.acknowledge.get(), notification.status, &notification.acknowledged) {
        notification.acknowledge_url = Some(ack.link(&notification.id, Utc::now()));
    }
    let Some(ch) = s.channels.get(channel) else {
        // Routing ran just before; a channel can only be missing here if that failed.
        let at = retry::after(Utc::now(), s.settings.backoff.wait(None, attempts, &mut rand::rng()));
        return Record::Retry { channel: channel.to_owned(), at, reason: "channel is not configured".into() };
    };
    let outcome = match AssertUnwindSafe(ch.deliver(&notification)).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(panic) => {
            s.telemetry.panics.with_label_values(&["channel"]).inc();
            Outcome::Retry { after: None, reason: format!("the {channel} channel panicked: {}", panic_message(panic)) }
        }
    };
    let age = (Utc::now() - item.enqueued_at).to_std().unwrap_or_default();
    match outcome {
        Outcome::Success => {
            s.telemetry.delivered.with_label_values(&[channel]).inc();
            s.telemetry.delivery_duration.with_label_values(&[channel]).observe(age.as_secs_f64());
            tracing::info!(id = %item.id, channel, attempts = attempts + 1, waited_seconds = age.as_secs_f64(), "delivered");
            Record::Delivered { channel: channel.to_owned() }
        }
        Outcome::Retry { reason, .. } if age >= s.settings.give_up_after => {
            s.telemetry.failed.with_label_values(&[channel, "gave_up"]).inc();
            dead(item, channel, format!("gave up after {}s of retries; last error: {reason}", age.as_secs()))
        }
        Outcome::Retry { after, reason } => {
            let wait = s.settings.backoff.wait(after, attempts, &mut rand::rng());
            s.telemetry.failed.with_label_values(&[channel, "retry"]).inc();
            tracing::warn!(id = %item.id, channel, attempt = attempts + 1, retry_in_seconds = wait.as_secs_f64(), asked_seconds = ?after.map(|d| d.as_secs_f64()), reason = %reason, "delivery failed, will retry");
            Record::Retry { channel: channel.to_owned(), at: retry::after(Utc::now(), wait), reason }
        }
        Outcome::Permanent { reason } => {
            s.telemetry.failed.with_label_values(&[channel, "permanent"]).inc();
            dead(item, channel, reason)
        }
    }
}

/// Dead-letter a channel's share of an item, loudly.
fn dead(item: &Item, channel: &str, reason: String) -> Record {
    tracing::error!(id = %item.id, channel, reason, "DEAD LETTER: notification will not be delivered on this channel");
    Record::Dead { channel: channel.to_owned(), reason }
}

/// Stage 7: write `records` for item `id`; those the queue could not write are reported back.
/// A retry that cannot be written is kept in memory as the item's cool-down instead.
pub async fn record(s: &Sidecar, id: &str, records: Vec<Record>) -> Report {
    let mut report = Report::default();
    for record in records {
        let written = match &record {
            Record::Delivered { channel } => s.queue.mark_delivered(id, channel).await,
            Record::Retry { channel, at, reason } => s.queue.mark_retry(id, channel, *at, reason).await,
            Record::Dead { channel, reason } => s.queue.mark_dead(id, channel, reason).await,
        };
        match written {
            Ok(()) => {}
            // The item or channel is gone: there is nothing left to record.
            Err(e @ (QueueError::NotFound { .. } | QueueError::UnknownChannel { .. })) => {
                tracing::warn!(id, error = %e, "delivery outcome has nothing left to record");
            }
            Err(e) => {
                tracing::error!(id, ?record, error = %e, "cannot record a delivery outcome; it is kept and written again, the item waits");
                match record {
                    Record::Retry { at, .. } => {
                        report.not_before = Some(report.not_before.map_or(at, |t| t.min(at)));
                    }
                    other => report.unrecorded.push(other),
                }
            }
        }
    }
    report
}

/// The message of a panic's payload.
pub fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    match panic.downcast::<String>() {
        Ok(s) => *s,
        Err(panic) => panic.downcast_ref::<&str>().map_or_else(|| "unknown panic".to_owned(), |s| (*s).to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_messages_are_read_from_either_payload_type() {
        assert_eq!(panic_message(Box::new("static")), "static");
        assert_eq!(panic_message(Box::new(String::from("owned"))), "owned");
        assert_eq!(panic_message(Box::new(42u8)), "unknown panic");
    }
}
