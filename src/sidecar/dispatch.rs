//! The dispatcher: takes due notifications from the queue and delivers them, channel by channel.
//!
//! One loop owns the queue's "due" view, so an item is never handed to a channel twice at once:
//! each item with an attempt in flight is tracked, by the id of the task that carries it, until
//! that task has reported — or panicked: a task that panics gives its item back, which waits a
//! backoff and is tried again. For each item the task
//!
//! 1. routes it again if one of its channels is no longer configured ([`super::reroute`]);
//! 2. rescores it before its first delivery ([`super::rescoring`]); a panic there sends it
//!    unscored, saying so;
//! 3. tries each due channel side by side; a channel that panics counts as a failed attempt;
//! 4. records each outcome: success removes the channel's share; a retryable failure schedules
//!    the next attempt (the server's `Retry-After`, capped at `retry.cap`, else jittered
//!    backoff); a permanent failure, or retrying past the give-up age, dead-letters it loudly.
//!
//! An outcome the queue cannot write (disk full, I/O error) is not forgotten: the dispatcher
//! keeps it and writes it again with backoff, and the item is not handed out meanwhile, so a
//! delivered notification is not sent again because its record failed. A crash between a
//! channel's confirmation and the record re-sends that one channel's message after restart; the
//! file channel recognises it, email repeats its Message-ID, Slack shows it twice.

use super::reroute::{self, Routing};
use super::Sidecar;
use crate::alert::notification::Notification;
use crate::notify::retry::{self, Outcome};
use crate::sidecar::queue::{DeliveryState, Item, QueueError};
use crate::sidecar::rescoring;
use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// How often the dispatcher looks for due retries when nothing wakes it.
const POLL: Duration = Duration::from_millis(250);
/// Pause after a wake-up, so one look at the queue serves a burst of new notifications.
const COALESCE: Duration = Duration::from_millis(2);

/// An outcome to write into the queue.
#[derive(Debug, Clone, PartialEq)]
enum Record {
    /// The channel confirmed delivery.
    Delivered { channel: String },
    /// Try again at `at`.
    Retry { channel: String, at: DateTime<Utc>, reason: String },
    /// Given up on this channel.
    Dead { channel: String, reason: String },
}

/// What a task reports back to the loop.
#[derive(Debug, Default)]
struct Report {
    /// Outcomes still to be written.
    unrecorded: Vec<Record>,
    /// Not to be handed out before this.
    not_before: Option<DateTime<Utc>>,
    /// No configured channel takes it.
    unroutable: bool,
}

/// Outcomes kept in memory because the queue could not write them yet.
struct Unrecorded {
    records: Vec<Record>,
    failures: u32,
    at: DateTime<Utc>,
}

/// The loop's state.
struct Dispatcher {
    sidecar: Arc<Sidecar>,
    tasks: JoinSet<Report>,
    /// Task → the item it carries, so a task that panicked still gives its item back.
    running: HashMap<tokio::task::Id, String>,
    /// Items with a task in flight.
    in_flight: HashSet<String>,
    unrecorded: HashMap<String, Unrecorded>,
    /// Items not handed out before a time (after a panic, or a retry that could not be written).
    cooldown: HashMap<String, (DateTime<Utc>, u32)>,
    /// Items no configured channel takes; they wait until the configuration changes.
    unroutable: HashSet<String>,
}

/// Deliver until `shutdown` resolves; in-flight attempts are finished and recorded first.
pub async fn run(sidecar: Arc<Sidecar>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut d = Dispatcher {
        sidecar,
        tasks: JoinSet::new(),
        running: HashMap::new(),
        in_flight: HashSet::new(),
        unrecorded: HashMap::new(),
        cooldown: HashMap::new(),
        unroutable: HashSet::new(),
    };
    loop {
        // Reap every finished task first: a finished task still counts in `tasks.len()`.
        while let Some(done) = d.tasks.try_join_next_with_id() {
            d.finished(done);
        }
        d.start_due().await;
        d.publish();
        tokio::select! {
            Some(done) = d.tasks.join_next_with_id(), if !d.tasks.is_empty() => d.finished(done),
            _ = d.sidecar.wake.notified() => {
                // Let a burst of acknowledgements land before looking at the queue again.
                tokio::time::sleep(COALESCE).await;
            }
            _ = tokio::time::sleep(POLL) => {}
            _ = shutdown.changed() => break,
        }
    }
    while let Some(done) = d.tasks.join_next_with_id().await {
        d.finished(done);
    }
    d.publish();
}

impl Dispatcher {
    /// Spawn tasks for outcomes to write again and for due items, up to the concurrency limit.
    async fn start_due(&mut self) {
        let now = Utc::now();
        self.cooldown.retain(|_, (until, _)| *until > now);
        let mut capacity = self.sidecar.settings.dispatch_concurrency.saturating_sub(self.tasks.len());
        let rewrites: Vec<String> = self
            .unrecorded
            .iter()
            .filter(|(id, u)| u.at <= now && !self.in_flight.contains(*id))
            .map(|(id, _)| id.clone())
            .take(capacity)
            .collect();
        for id in rewrites {
            let records = self.unrecorded.get(&id).map(|u| u.records.clone()).unwrap_or_default();
            let s = self.sidecar.clone();
            let (rid, rrecords) = (id.clone(), records);
            self.spawn(id, async move { write_all(&s, &rid, rrecords).await });
            capacity -= 1;
        }
        if capacity == 0 {
            return;
        }
        let skip = |id: &str| {
            self.in_flight.contains(id)
                || self.unrecorded.contains_key(id)
                || self.cooldown.contains_key(id)
                || self.unroutable.contains(id)
        };
        let due = self.sidecar.queue.due_except(now, capacity, skip).await;
        for item in due {
            if due_channels(&item, now).is_empty() && reroute::missing(&self.sidecar, &item).is_empty() {
                continue;
            }
            let s = self.sidecar.clone();
            self.spawn(item.id.clone(), async move { work(&s, item).await });
        }
    }

    fn spawn(&mut self, id: String, task: impl std::future::Future<Output = Report> + Send + 'static) {
        let handle = self.tasks.spawn(task);
        self.running.insert(handle.id(), id.clone());
        self.in_flight.insert(id);
    }

    /// Take a finished task's report, or give back the item of a task that panicked.
    fn finished(&mut self, done: Result<(tokio::task::Id, Report), tokio::task::JoinError>) {
        let (task, report) = match done {
            Ok((task, report)) => (task, report),
            Err(e) => {
                let Some(id) = self.running.remove(&e.id()) else { return };
                self.in_flight.remove(&id);
                let why = if e.is_panic() { panic_message(e.into_panic()) } else { e.to_string() };
                self.sidecar.telemetry.panics.with_label_values(&["dispatch"]).inc();
                let failures = self.cooldown.get(&id).map_or(0, |(_, n)| *n) + 1;
                let wait = self.sidecar.settings.backoff.wait(None, failures, &mut rand::rng());
                tracing::error!(id, reason = %why, retry_in_seconds = wait.as_secs_f64(), "a delivery task panicked; its notification will be tried again");
                self.cooldown.insert(id, (retry::after(Utc::now(), wait), failures));
                return;
            }
        };
        let Some(id) = self.running.remove(&task) else { return };
        self.in_flight.remove(&id);
        if report.unroutable {
            self.unroutable.insert(id.clone());
        }
        if let Some(at) = report.not_before {
            let failures = self.cooldown.get(&id).map_or(0, |(_, n)| *n) + 1;
            self.cooldown.insert(id.clone(), (at, failures));
        }
        if report.unrecorded.is_empty() {
            self.unrecorded.remove(&id);
            return;
        }
        let failures = self.unrecorded.get(&id).map_or(0, |u| u.failures) + 1;
        let wait = self.sidecar.settings.backoff.wait(None, failures, &mut rand::rng());
        let at = retry::after(Utc::now(), wait.max(Duration::from_millis(100)));
        self.unrecorded.insert(id, Unrecorded { records: report.unrecorded, failures, at });
    }

    /// Gauges of what waits outside the queue's own state.
    fn publish(&self) {
        let t = &self.sidecar.telemetry;
        t.unrecorded.set(self.unrecorded.values().map(|u| u.records.len() as i64).sum());
        t.unroutable.set(self.unroutable.len() as i64);
        self.sidecar.refresh_gauges();
    }
}

/// Channels of an item that wait for delivery at `now`.
fn due_channels(item: &Item, now: DateTime<Utc>) -> Vec<String> {
    item.channels
        .iter()
        .filter(|(_, s)| s.state == DeliveryState::Pending && s.next_attempt_at.is_none_or(|t| t <= now))
        .map(|(name, _)| name.clone())
        .collect()
}

/// One item's turn: route, rescore, attempt every due channel, record.
async fn work(s: &Sidecar, item: Item) -> Report {
    let id = item.id.clone();
    let item = match reroute::reroute(s, item).await {
        Routing::Ready(item) => item,
        Routing::Unroutable => return Report { unroutable: true, ..Report::default() },
        Routing::Later(_) => return cool_down(s, 0),
    };
    let item = match AssertUnwindSafe(rescoring::prepare(s, item.clone())).catch_unwind().await {
        Ok(item) => item,
        Err(panic) => {
            s.telemetry.panics.with_label_values(&["rescoring"]).inc();
            let why = format!("rescoring failed (panic: {})", panic_message(panic));
            tracing::error!(id, reason = %why, "rescoring panicked; the alert goes out unscored");
            rescoring::fail_open(s, item, &why).await
        }
    };
    let channels = due_channels(&item, Utc::now());
    let attempts = channels.iter().map(|c| attempt(s, &item, c));
    let records = futures_util::future::join_all(attempts).await;
    write_all(s, &id, records).await
}

/// A report asking the loop to wait a backoff before handing the item out again.
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
    let Some(ch) = s.channels.get(channel) else {
        // Re-routing ran just before; a channel can only be missing here if that failed.
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

/// Write `records` for item `id`; those the queue could not write are reported back. A retry
/// that cannot be written is kept in memory as the item's cool-down instead.
async fn write_all(s: &Sidecar, id: &str, records: Vec<Record>) -> Report {
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
fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
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
