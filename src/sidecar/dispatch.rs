//! The dispatcher: takes due notifications from the queue and delivers them, channel by channel.
//!
//! One loop owns the queue's "due" view, so an item is never handed to a channel twice at once:
//! each (notification, channel) pair in flight is tracked until its attempt has been recorded.
//! Success removes the channel's share from the queue; a retryable failure schedules the next
//! attempt (the server's `Retry-After` if it gave one, else capped jittered backoff); a permanent
//! failure, or retrying past the give-up age, dead-letters it with a loud log line and a metric.
//! A crash between a channel's confirmation and the queue update re-sends that one channel's
//! message after restart (email threads it under the same Message-ID): at least once, never lost.

use super::Sidecar;
use crate::alert::notification::Notification;
use crate::notify::retry::Outcome;
use crate::sidecar::queue::{DeliveryState, Item};
use crate::sidecar::rescoring;
use chrono::Utc;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// How often the dispatcher looks for due retries when nothing wakes it.
const POLL: Duration = Duration::from_millis(250);
/// Pause after a wake-up, so one look at the queue serves a burst of new notifications.
const COALESCE: Duration = Duration::from_millis(2);

/// Deliver until `shutdown` resolves; in-flight attempts are finished and recorded first.
pub async fn run(sidecar: Arc<Sidecar>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    // Items with an attempt in flight: left out of `due`, so nothing is handed out twice.
    let mut in_flight: HashSet<String> = HashSet::new();
    let mut tasks: JoinSet<String> = JoinSet::new();
    loop {
        // Reap every finished attempt first: a finished task still counts in `tasks.len()`.
        while let Some(done) = tasks.try_join_next() {
            if let Ok(id) = done {
                in_flight.remove(&id);
            }
        }
        let capacity = sidecar.settings.dispatch_concurrency.saturating_sub(tasks.len());
        if capacity > 0 {
            for item in sidecar.queue.due_except(Utc::now(), capacity, |id| in_flight.contains(id)).await {
                if due_channels(&item).is_empty() {
                    continue;
                }
                in_flight.insert(item.id.clone());
                let s = sidecar.clone();
                tasks.spawn(async move {
                    let item = rescoring::prepare(&s, item).await;
                    let channels = due_channels(&item);
                    // The channels of one notification are tried side by side.
                    let attempts = channels.iter().map(|c| attempt(&s, &item, c));
                    futures_util::future::join_all(attempts).await;
                    item.id
                });
            }
        }
        sidecar.refresh_gauges();
        tokio::select! {
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                if let Ok(id) = done {
                    in_flight.remove(&id);
                }
            }
            _ = sidecar.wake.notified() => {
                // Let a burst of acknowledgements land before looking at the queue again.
                tokio::time::sleep(COALESCE).await;
            }
            _ = tokio::time::sleep(POLL) => {}
            _ = shutdown.changed() => break,
        }
    }
    while tasks.join_next().await.is_some() {}
}

/// Channels of an item that wait for delivery now.
fn due_channels(item: &Item) -> Vec<String> {
    let now = Utc::now();
    item.channels
        .iter()
        .filter(|(_, s)| s.state == DeliveryState::Pending && s.next_attempt_at.is_none_or(|t| t <= now))
        .map(|(name, _)| name.clone())
        .collect()
}

/// One attempt on one channel, and its record in the queue.
async fn attempt(sidecar: &Sidecar, item: &Item, channel: &str) {
    let queue = &sidecar.queue;
    let mut notification: Notification = match item.payload.parse() {
        Ok(n) => n,
        Err(e) => return dead(sidecar, item, channel, &format!("stored notification unreadable: {e}")).await,
    };
    if let Some(verdict) = rescoring::stored(item) {
        notification.scoring = verdict.scoring;
    }
    let Some(ch) = sidecar.channels.get(channel) else {
        return dead(sidecar, item, channel, "channel no longer configured").await;
    };
    let outcome = ch.deliver(&notification).await;
    let attempts = item.channels.get(channel).map_or(0, |s| s.attempts);
    let result = match outcome {
        Outcome::Success => {
            let waited = (Utc::now() - item.enqueued_at).to_std().unwrap_or_default();
            sidecar.telemetry.delivered.with_label_values(&[channel]).inc();
            sidecar.telemetry.delivery_duration.with_label_values(&[channel]).observe(waited.as_secs_f64());
            tracing::info!(id = %item.id, channel, attempts = attempts + 1, waited_seconds = waited.as_secs_f64(), "delivered");
            queue.mark_delivered(&item.id, channel).await
        }
        Outcome::Retry { after, reason } => {
            let age = (Utc::now() - item.enqueued_at).to_std().unwrap_or_default();
            if age >= sidecar.settings.give_up_after {
                let why = format!("gave up after {}s of retries; last error: {reason}", age.as_secs());
                sidecar.telemetry.failed.with_label_values(&[channel, "gave_up"]).inc();
                return dead(sidecar, item, channel, &why).await;
            }
            let delay = after.unwrap_or_else(|| sidecar.settings.backoff.delay(attempts, &mut rand::rng()));
            sidecar.telemetry.failed.with_label_values(&[channel, "retry"]).inc();
            tracing::warn!(id = %item.id, channel, attempt = attempts + 1, retry_in_seconds = delay.as_secs_f64(), reason = %reason, "delivery failed, will retry");
            let next = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
            queue.mark_retry(&item.id, channel, next, &reason).await
        }
        Outcome::Permanent { reason } => {
            sidecar.telemetry.failed.with_label_values(&[channel, "permanent"]).inc();
            return dead(sidecar, item, channel, &reason).await;
        }
    };
    if let Err(e) = result {
        tracing::error!(id = %item.id, channel, error = %e, "cannot record the delivery attempt; it will be repeated");
    }
}

/// Dead-letter a channel's share of an item, loudly.
async fn dead(sidecar: &Sidecar, item: &Item, channel: &str, reason: &str) {
    tracing::error!(id = %item.id, channel, reason, "DEAD LETTER: notification will not be delivered on this channel");
    if let Err(e) = sidecar.queue.mark_dead(&item.id, channel, reason).await {
        tracing::error!(id = %item.id, channel, error = %e, "cannot record the dead letter");
    }
}
