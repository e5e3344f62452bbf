//! Escalation: a firing alert that nobody acknowledges goes to the next people.
//!
//! A route names its steps (`escalation: [{after: 2m, channels: [email-charge-nurse]}, …]`).
//! When the notification is stored, each step's channels are stored with it, pending from the
//! step's time ([`crate::sidecar::queue::Queue::enqueue_planned`]), so a restart changes
//! nothing. When a step falls due, [`judge`] decides, and the decision is stored before anything
//! is sent:
//!
//! - **acknowledged** (someone followed the link and said "I'm on it"): the step is skipped;
//! - **resolved**: Alertmanager's resolved notification for the group arrived since, or
//!   Prometheus says the alert no longer fires: skipped;
//! - **downgraded** as a likely artifact and not re-escalated: while its held channels wait for
//!   their re-escalation time, the step waits with them (it goes out then if the alert was
//!   re-escalated and is still unacknowledged); once it stays downgraded, the step is skipped;
//! - otherwise, or when none of this can be told, it is **sent**, saying which step it is and
//!   for how long nobody acknowledged: a missed escalation costs more than an extra message.
//!
//! Each step's outcome is a line in the audit log and a count in
//! `wardwatch_sidecar_escalation_steps_total{outcome}`.

use super::acknowledge::Ack;
use super::rescoring::{self, StoredVerdict};
use super::Sidecar;
use crate::alert::decision::Decision;
use crate::alert::notification::{Notification, Scoring};
use crate::alert::view::Moment;
use crate::rescore::audit::AuditEntry;
use crate::sidecar::queue::{DeliveryState, Escalation, Item};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Mutex;

/// Groups whose resolved notification arrived, by group key, with when (kept a day).
#[derive(Debug, Default)]
pub struct Resolved(Mutex<HashMap<String, DateTime<Utc>>>);

/// Entries kept before old ones are dropped.
const RESOLVED_KEPT: usize = 10_000;

impl Resolved {
    /// Note that group `key` resolved at `at`.
    pub fn record(&self, key: &str, at: DateTime<Utc>) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= RESOLVED_KEPT {
            let day_ago = at - chrono::TimeDelta::days(1);
            map.retain(|_, t| *t > day_ago);
        }
        map.insert(key.to_owned(), at);
    }

    /// Whether group `key` resolved after `since`.
    pub fn since(&self, key: &str, since: DateTime<Utc>) -> bool {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).get(key).is_some_and(|t| *t > since)
    }
}

/// What a due step does.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Send it.
    Send,
    /// Not needed: the outcome label and why.
    Skip(&'static str, String),
    /// Wait until then (the held channels' re-escalation time).
    Wait(DateTime<Utc>),
}

/// What a step that fell due does, from what is known then: the acknowledgement, the stored
/// verdict and when its held channels fall due, whether a resolved notification arrived since,
/// and whether Prometheus says it still fires (`None`: cannot be told).
pub fn judge(
    ack: Option<&Ack>,
    verdict: Option<&StoredVerdict>,
    held_until: Option<DateTime<Utc>>,
    resolved: bool,
    firing: Option<bool>,
    tz: chrono_tz::Tz,
) -> Step {
    if let Some(a) = ack {
        let by = if a.by.is_empty() { String::new() } else { format!(" by {}", a.by) };
        return Step::Skip("acknowledged", format!("acknowledged{by} at {}", Moment::new(a.at, tz).both()));
    }
    if resolved {
        return Step::Skip("resolved", "resolved before escalation (Alertmanager's resolved notification)".into());
    }
    if let Some(Scoring::Scored(g)) = verdict.map(|v| &v.scoring) {
        if g.decision == Decision::Downgrade && !g.reescalated {
            return match held_until {
                Some(at) => Step::Wait(at),
                None => Step::Skip("downgraded", "downgraded as a likely artifact or routine: not escalated".into()),
            };
        }
    }
    match firing {
        Some(false) => Step::Skip("resolved", "resolved before escalation (no longer firing in Prometheus)".into()),
        _ => Step::Send,
    }
}

/// Pending escalation channels of `item` due at `now`, with their step.
fn due_steps(item: &Item, now: DateTime<Utc>) -> Vec<(&Escalation, &String)> {
    item.escalation
        .iter()
        .flat_map(|e| e.channels.iter().map(move |c| (e, c)))
        .filter(|(_, c)| {
            item.channels
                .get(*c)
                .is_some_and(|st| st.state == DeliveryState::Pending && st.next_attempt_at.is_none_or(|t| t <= now))
        })
        .collect()
}

/// The stage: decide every escalation step of `item` that is due, store what it does, and
/// return the item as stored (its channels still to send pending, the others skipped or
/// waiting). A step is judged when it first falls due; its retries are not judged again.
pub async fn escalate(s: &Sidecar, item: Item) -> Item {
    let now = Utc::now();
    let due: Vec<(Escalation, String)> = due_steps(&item, now)
        .into_iter()
        .filter(|(_, c)| item.channels.get(*c).is_some_and(|st| st.attempts == 0))
        .map(|(e, c)| (e.clone(), c.clone()))
        .collect();
    if due.is_empty() {
        return item;
    }
    let Ok(n) = item.payload.parse::<Notification>() else { return item };
    let tz = s.settings.site.time_zone;
    let ack = s.acknowledge.get().and_then(|a| a.log.get(&item.id));
    let verdict = rescoring::stored(&item);
    let held_until = verdict
        .as_ref()
        .into_iter()
        .flat_map(|v| v.held.iter())
        .filter_map(|c| item.channels.get(c).filter(|st| st.state == DeliveryState::Pending)?.next_attempt_at)
        .max();
    let resolved = s.resolved.since(&n.group_key, item.enqueued_at);
    let decided_without_prometheus = ack.is_some() || resolved || held_until.is_some();
    let firing = match (&s.rescoring.rescorer, decided_without_prometheus) {
        (Ok(r), false) => r.still_firing(&n.alerts, now).await,
        _ => None,
    };
    let step = judge(ack.as_ref(), verdict.as_ref(), held_until, resolved, firing, tz);
    let channels: Vec<String> = due.iter().map(|(_, c)| c.clone()).collect();
    let steps: Vec<u32> = due.iter().map(|(e, _)| e.step).collect();
    let (outcome, why) = match &step {
        Step::Send => ("sent", format!("not acknowledged: escalated to {}", channels.join(", "))),
        Step::Skip(outcome, why) => (*outcome, format!("escalation to {} not needed: {why}", channels.join(", "))),
        Step::Wait(at) => ("waiting", format!("held with the downgraded alert until {}", Moment::new(*at, tz).both())),
    };
    let stored = match &step {
        Step::Send => Ok(item.clone()),
        Step::Skip(_, why) => s.queue.reschedule(&item.id, Vec::new(), channels.clone(), why).await,
        Step::Wait(at) => {
            let hold = channels.iter().map(|c| (c.clone(), *at)).collect();
            s.queue.reschedule(&item.id, hold, Vec::new(), "").await
        }
    };
    let item = match stored {
        Ok(stored) => stored,
        Err(e) => {
            // Sending is the safe side of a step whose skipping cannot be stored.
            tracing::error!(id = %item.id, error = %e, "cannot store the escalation step; it is sent");
            return item;
        }
    };
    if !matches!(step, Step::Wait(_)) {
        s.telemetry.escalations.with_label_values(&[outcome]).inc();
    }
    tracing::info!(id = %item.id, steps = ?steps, channels = ?channels, outcome, reason = %why, "escalation step due");
    let decision = match verdict.as_ref().map(|v| &v.scoring) {
        Some(Scoring::Scored(g)) => Some(g.decision),
        _ => None,
    };
    let step_no = steps.iter().copied().min();
    let entries = n
        .alerts
        .iter()
        .map(|a| AuditEntry {
            decision,
            reasons: vec![why.clone()],
            escalation_step: step_no,
            ..AuditEntry::new(&item.id, &a.fingerprint, &a.labels, a.starts_at, now)
        })
        .collect();
    rescoring::audit(s, entries).await;
    item
}

/// The note an escalation channel's message carries: which step, and since when nobody
/// acknowledged.
pub fn note(item: &Item, channel: &str, tz: chrono_tz::Tz) -> Option<String> {
    let e = item.escalation_of(channel)?;
    let minutes = e.after_ms as f64 / 60_000.0;
    let waited =
        if minutes >= 1.0 { format!("{minutes:.0} min") } else { format!("{:.0} s", e.after_ms as f64 / 1000.0) };
    Some(format!(
        "Step {} of {}: nobody acknowledged it within {waited} of {}.",
        e.step,
        item.escalation.len(),
        Moment::new(item.enqueued_at, tz).both()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::notification::GroupVerdict;

    fn verdict(decision: Decision, reescalated: bool) -> StoredVerdict {
        let g = GroupVerdict {
            decision,
            score: 0.3,
            artifact: 0.9,
            reasons: vec![],
            model_version: "m".into(),
            alert: "HypoxiaDetected p00003".into(),
            unscored: vec![],
            reescalated,
            technical: false,
            trend: None,
        };
        StoredVerdict { scoring: Scoring::Scored(Box::new(g)), held: vec![] }
    }

    #[test]
    fn a_step_is_skipped_only_for_a_known_reason_and_sent_when_in_doubt() {
        let tz = chrono_tz::Europe::London;
        let at = DateTime::from_timestamp(1_796_126_607, 0).unwrap();
        let ack = Ack { id: "n".into(), by: "Sam".into(), at, client: String::new() };
        let kept = verdict(Decision::Keep, false);
        let downgraded = verdict(Decision::Downgrade, false);
        match judge(Some(&ack), Some(&kept), None, false, Some(true), tz) {
            Step::Skip("acknowledged", why) => assert!(why.contains("by Sam at 2026-12-01"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(judge(None, Some(&kept), None, true, Some(true), tz), Step::Skip("resolved", _)));
        assert!(matches!(judge(None, Some(&kept), None, false, Some(false), tz), Step::Skip("resolved", _)));
        assert_eq!(judge(None, Some(&kept), None, false, Some(true), tz), Step::Send);
        assert_eq!(judge(None, Some(&kept), None, false, None, tz), Step::Send, "cannot tell: sent");
        assert_eq!(judge(None, None, None, false, None, tz), Step::Send, "unscored: sent");
        assert_eq!(judge(None, Some(&downgraded), Some(at), false, None, tz), Step::Wait(at), "waits with the held");
        assert!(matches!(judge(None, Some(&downgraded), None, false, None, tz), Step::Skip("downgraded", _)));
        let reescalated = verdict(Decision::Downgrade, true);
        assert_eq!(judge(None, Some(&reescalated), None, false, Some(true), tz), Step::Send);
    }

    #[test]
    fn resolved_groups_are_remembered_after_the_notification_they_end() {
        let r = Resolved::default();
        let t0 = DateTime::from_timestamp(1_796_126_607, 0).unwrap();
        r.record("{}:{a}", t0);
        assert!(r.since("{}:{a}", t0 - chrono::TimeDelta::seconds(1)));
        assert!(!r.since("{}:{a}", t0), "a resolution before the notification does not end it");
        assert!(!r.since("{}:{b}", t0 - chrono::TimeDelta::seconds(1)));
    }
}
