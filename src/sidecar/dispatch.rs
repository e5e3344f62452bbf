//! The dispatcher: hands due notifications from the queue to [`pipeline::turn`], one task each.
//!
//! One loop owns the queue's "due" view, so an item is never handed to a channel twice at once:
//! each item with a turn in flight is tracked, by the id of the task that carries it, until that
//! task has reported — or panicked: a task that panics gives its item back, which waits a
//! backoff and is tried again. What a turn does (route, score, decide, deliver, record) is in
//! [`super::pipeline`].
//!
//! Due items are handed out most urgent first ([`crate::alert::notification::priority`]), and
//! each channel has lanes of its own: at most `dispatch_concurrency` turns deliver to one channel
//! at once, and no more than its [`crate::notify::channel::Channel::ready`] says it can take
//! without waiting (a rate limit's free tokens). A turn takes only the due channels with a free
//! lane; the others stay due for a later turn. So a slow or rate-limited channel fills its own
//! lanes and holds up neither another channel nor another alert, and the next free Slack token
//! goes to the most urgent alert waiting for one.
//!
//! An outcome the queue cannot write (disk full, I/O error) is not forgotten: the dispatcher
//! keeps it and writes it again with backoff, and the item is not handed out meanwhile, so a
//! delivered notification is not sent again because its record failed. A crash between a
//! channel's confirmation and the record re-sends that one channel's message after restart; the
//! file channel recognises it, email repeats its Message-ID, Slack shows it twice.

use super::pipeline::{self, Record, Report};
use super::queue::Item;
use super::reroute;
use super::Sidecar;
use crate::notify::retry;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// How often the dispatcher looks for due retries when nothing wakes it.
const POLL: Duration = Duration::from_millis(250);
/// Pause after a wake-up, so one look at the queue serves a burst of new notifications.
const COALESCE: Duration = Duration::from_millis(2);

/// Turns in flight per channel. A turn holds a [`Lane`] for each channel it delivers to and
/// gives it back as soon as its attempt there is over, not when the whole turn is, so a turn
/// waiting on a hung channel holds no lane of another.
#[derive(Clone, Default)]
pub struct Lanes {
    busy: Arc<std::sync::Mutex<HashMap<String, usize>>>,
    /// Told when a lane is given back.
    freed: Arc<tokio::sync::Notify>,
}

impl Lanes {
    fn busy(&self, channel: &str) -> usize {
        self.busy.lock().unwrap_or_else(|p| p.into_inner()).get(channel).copied().unwrap_or(0)
    }

    fn take(&self, channel: &str) -> Lane {
        *self.busy.lock().unwrap_or_else(|p| p.into_inner()).entry(channel.to_owned()).or_default() += 1;
        Lane { lanes: self.clone(), channel: channel.to_owned() }
    }
}

/// One turn's hold on one channel's lane; dropping it (the attempt is over, or the turn ended
/// or panicked) gives the lane back and wakes the dispatcher.
pub struct Lane {
    lanes: Lanes,
    channel: String,
}

impl Lane {
    /// The channel.
    pub fn channel(&self) -> &str {
        &self.channel
    }
}

impl Drop for Lane {
    fn drop(&mut self) {
        if let Some(n) = self.lanes.busy.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&self.channel) {
            *n = n.saturating_sub(1);
        }
        self.lanes.freed.notify_one();
    }
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
    /// Turns in flight per channel.
    lanes: Lanes,
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
        lanes: Lanes::default(),
        in_flight: HashSet::new(),
        unrecorded: HashMap::new(),
        cooldown: HashMap::new(),
        unroutable: HashSet::new(),
    };
    let freed = d.lanes.freed.clone();
    loop {
        // Reap every finished task first: a finished task still counts in `tasks.len()`.
        while let Some(done) = d.tasks.try_join_next_with_id() {
            d.finished(done);
        }
        d.start_due().await;
        d.publish();
        tokio::select! {
            Some(done) = d.tasks.join_next_with_id(), if !d.tasks.is_empty() => d.finished(done),
            // A turn still waiting on one channel gave back the lane of another.
            _ = freed.notified() => {}
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
        let per_channel = self.sidecar.settings.dispatch_concurrency.max(1);
        let mut capacity = (per_channel * self.sidecar.channels.len().max(1)).saturating_sub(self.tasks.len());
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
            self.spawn(id, async move { pipeline::record(&s, &rid, rrecords).await });
            capacity -= 1;
        }
        if capacity == 0 {
            return;
        }
        // Free lanes per configured channel; a channel that is not configured has none to give
        // (the turn routes its item again first).
        let mut room: HashMap<String, usize> = self
            .sidecar
            .channels
            .iter()
            .map(|(name, channel)| {
                let busy = self.lanes.busy(name);
                (name.clone(), per_channel.saturating_sub(busy).min(channel.ready().saturating_sub(busy)))
            })
            .collect();
        let full = |room: &HashMap<String, usize>, c: &String| room.get(c).is_some_and(|r| *r == 0);
        let skip = |item: &Item| {
            let id = item.id.as_str();
            self.in_flight.contains(id)
                || self.unrecorded.contains_key(id)
                || self.cooldown.contains_key(id)
                || self.unroutable.contains(id)
                || pipeline::due_channels(item, now).iter().all(|c| full(&room, c))
                    && reroute::missing(&self.sidecar, item).is_empty()
        };
        let due = self.sidecar.queue.due_except(now, capacity, skip).await;
        for item in due {
            let (take, later): (Vec<String>, Vec<String>) =
                pipeline::due_channels(&item, now).into_iter().partition(|c| !full(&room, c));
            if take.is_empty() && reroute::missing(&self.sidecar, &item).is_empty() {
                continue;
            }
            let mut lanes = Vec::new();
            for c in &take {
                if let Some(r) = room.get_mut(c) {
                    *r -= 1;
                    lanes.push(self.lanes.take(c));
                }
            }
            let s = self.sidecar.clone();
            self.spawn(item.id.clone(), async move { pipeline::turn(&s, item, &later, lanes).await });
        }
    }

    fn spawn(&mut self, id: String, task: impl std::future::Future<Output = Report> + Send + 'static) {
        let handle = self.tasks.spawn(task);
        self.running.insert(handle.id(), id.clone());
        self.in_flight.insert(id);
    }

    /// The item task `task` carried, given back.
    fn release(&mut self, task: tokio::task::Id) -> Option<String> {
        let id = self.running.remove(&task)?;
        self.in_flight.remove(&id);
        Some(id)
    }

    /// Take a finished task's report, or give back the item of a task that panicked.
    fn finished(&mut self, done: Result<(tokio::task::Id, Report), tokio::task::JoinError>) {
        let (task, report) = match done {
            Ok((task, report)) => (task, report),
            Err(e) => {
                let Some(id) = self.release(e.id()) else { return };
                let why = if e.is_panic() { pipeline::panic_message(e.into_panic()) } else { e.to_string() };
                self.sidecar.telemetry.panics.with_label_values(&["dispatch"]).inc();
                let failures = self.cooldown.get(&id).map_or(0, |(_, n)| *n) + 1;
                let wait = self.sidecar.settings.backoff.wait(None, failures, &mut rand::rng());
                tracing::error!(id, reason = %why, retry_in_seconds = wait.as_secs_f64(), "a delivery task panicked; its notification will be tried again");
                self.cooldown.insert(id, (retry::after(Utc::now(), wait), failures));
                return;
            }
        };
        let Some(id) = self.release(task) else { return };
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
