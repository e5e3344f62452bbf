//! The pipeline's score and decide stages: before a notification's first delivery it is
//! rescored, the verdict is logged, counted and stored with the queued item, and the channels are
//! chosen ([`plan`]).
//!
//! - escalate / keep: every routed channel, the verdict in the message;
//! - downgrade: the `downgraded_channels` at once, marked "likely artifact"; the other routed
//!   channels are *held* until `startsAt + reescalate_after`, then get the alert if Prometheus
//!   still shows it firing, or are skipped if it ended. Still firing, it is rescored on its
//!   history up to that moment: still a likely artifact, it goes out as a technical notice
//!   ("check the sensor"); still within its usual range and not dangerous, it stays downgraded
//!   (the held channels are skipped); otherwise re-escalated at full priority. A resolved notification of
//!   a downgraded alert skips them at once. Nothing is ever dropped: a downgraded alert always
//!   reaches at least one channel, and when the firing state or the recheck cannot be told it is
//!   re-escalated.
//!
//! The verdict is stored before any delivery, so a restart or a retry delivers the same message.

use super::audit::AuditLog;
use super::Sidecar;
use crate::alert::notification::{Notification, Scoring};
use crate::alert::payload::Status;
use crate::rescore::audit::AuditEntry;
use crate::rescore::engine::{self, ModelSlot, Rescorer};
use crate::rescore::policy::{Decision, Recheck};
use crate::rescore::score::Assessment;
use crate::rescore::shared::SharedHistory;
use crate::sidecar::queue::{DeliveryState, Item};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// The rescoring step's parts.
pub struct Rescoring {
    /// The chain, or `None` with the reason every alert is unscored.
    pub rescorer: Result<Rescorer, String>,
    /// The audit log, if it could be opened.
    pub audit: Option<Arc<AuditLog>>,
    /// Where a downgraded alert goes at once.
    pub downgraded_channels: Vec<String>,
    /// The shared history source the chain reads, for its counts.
    pub history: Option<Arc<SharedHistory>>,
    /// The model file scored with (`None`: the shipped one).
    pub model_file: std::sync::Mutex<Option<std::path::PathBuf>>,
    /// The chain's model, replaced by a reload ([`super::reload`]).
    pub model_slot: Option<Arc<ModelSlot>>,
}

impl Rescoring {
    /// No rescoring: every alert goes out unscored with `reason`.
    pub fn disabled(reason: &str) -> Self {
        Self {
            rescorer: Err(reason.to_owned()),
            audit: None,
            downgraded_channels: Vec::new(),
            history: None,
            model_file: Default::default(),
            model_slot: None,
        }
    }
}

/// What the queue stores with an item once it is rescored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredVerdict {
    /// What the messages say.
    pub scoring: Scoring,
    /// Channels held back until re-escalation.
    #[serde(default)]
    pub held: Vec<String>,
}

/// The stored verdict of an item, if it has one that parses.
pub fn stored(item: &Item) -> Option<StoredVerdict> {
    serde_json::from_value(item.verdict.clone()?).ok()
}

/// Item `id` and its notification with the verdict it was delivered with, while the queue
/// remembers it ([`crate::sidecar::queue::Queue::lookup`]).
pub async fn remembered(s: &Sidecar, id: &str) -> Option<(Item, Notification)> {
    let item = s.queue.lookup(id).await?;
    let mut n: Notification = item.payload.parse().ok()?;
    if let Some(v) = stored(&item) {
        n.scoring = v.scoring;
    }
    Some((item, n))
}

/// Rescore a new item, or re-escalate (or skip) its held channels when they fall due; the item
/// as it now stands.
pub async fn prepare(s: &Sidecar, item: Item) -> Item {
    let Ok(notification) = item.payload.parse::<Notification>() else { return item };
    if notification.acknowledged.is_some() {
        return item; // a follow-up: it carries the verdict of the notification it follows
    }
    match stored(&item) {
        None => decide(s, item, &notification).await,
        Some(v) if !v.held.is_empty() => reescalate_if_due(s, item, &notification, v).await,
        Some(_) => item,
    }
}

async fn decide(s: &Sidecar, item: Item, n: &Notification) -> Item {
    let now = Utc::now();
    let r = &s.rescoring;
    let (scoring, outcomes) = match &r.rescorer {
        Err(reason) => (Scoring::Unscored { reason: reason.clone() }, Vec::new()),
        Ok(rescorer) => {
            let outcomes = rescorer.rescore(n, now).await;
            (engine::summarise(&outcomes), outcomes)
        }
    };
    count(s, &outcomes);
    let mut entries = engine::audit_entries(&item.id, &outcomes, now);
    if outcomes.is_empty() {
        if let Scoring::Unscored { reason } = &scoring {
            entries = unscored_entries(&item.id, n, reason, now);
        }
    }
    audit(s, entries).await;
    let pending: Vec<String> =
        item.channels.iter().filter(|(_, c)| c.state == DeliveryState::Pending).map(|(k, _)| k.clone()).collect();
    let Plan { hold, skip } =
        plan(scoring.decision(), n.status, pending, &r.downgraded_channels, reescalation_time(s, n));
    let verdict = StoredVerdict { scoring, held: hold.iter().map(|(c, _)| c.clone()).collect() };
    let json = serde_json::to_value(&verdict).unwrap_or_default();
    let reason = "downgraded as a likely artifact; the alert had ended";
    match s.queue.record_verdict(&item.id, json, hold, skip.clone(), reason).await {
        Ok(recorded) => {
            tracing::info!(id = %item.id, scoring = %verdict.scoring.line(), held = ?verdict.held, skipped = ?skip, "rescored");
            recorded
        }
        Err(e) => {
            tracing::error!(id = %item.id, error = %e, "cannot store the verdict; delivering to every routed channel");
            item
        }
    }
}

/// The decide stage's channels: which of the pending ones a verdict holds back, and which it
/// skips. Only a downgrade holds or skips anything, and only when one of its own
/// `downgraded_channels` is among the pending ones — a downgraded alert always reaches a channel.
/// The rest wait until `until` while the alert fires; a resolved one skips them.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// Channels held until their re-escalation time.
    pub hold: Vec<(String, DateTime<Utc>)>,
    /// Channels that will not get this notification.
    pub skip: Vec<String>,
}

/// The [`Plan`] for a verdict's `decision` on a notification of `status`.
pub fn plan(
    decision: Option<Decision>,
    status: Status,
    pending: Vec<String>,
    downgraded_channels: &[String],
    until: DateTime<Utc>,
) -> Plan {
    let own = |c: &String| downgraded_channels.contains(c);
    if decision != Some(Decision::Downgrade) || !pending.iter().any(own) {
        return Plan::default();
    }
    let others = pending.into_iter().filter(|c| !own(c));
    match status {
        Status::Resolved => Plan { hold: Vec::new(), skip: others.collect() },
        Status::Firing => Plan { hold: others.map(|c| (c, until)).collect(), skip: Vec::new() },
    }
}

/// When a downgraded notification's held channels fall due: its earliest alert's `startsAt`
/// plus the policy's `reescalate_after`.
fn reescalation_time(s: &Sidecar, n: &Notification) -> DateTime<Utc> {
    let after = match &s.rescoring.rescorer {
        Ok(r) => r.policy.reescalate_after,
        Err(_) => Duration::ZERO,
    };
    let start = n.alerts.iter().map(|a| a.starts_at).min().unwrap_or_else(Utc::now);
    start + chrono::Duration::from_std(after).unwrap_or_default()
}

/// When rescoring itself failed (it panicked): a new item goes out unscored with `reason`; a
/// downgraded one whose held channels are due is re-escalated, since whether it still fires
/// cannot be told. Either way it is delivered, and says so.
pub async fn fail_open(s: &Sidecar, item: Item, reason: &str) -> Item {
    let Ok(n) = item.payload.parse::<Notification>() else { return item };
    match stored(&item) {
        None => {
            count(s, &[]);
            let now = Utc::now();
            audit(s, unscored_entries(&item.id, &n, reason, now)).await;
            let verdict = StoredVerdict { scoring: Scoring::Unscored { reason: reason.to_owned() }, held: Vec::new() };
            let json = serde_json::to_value(&verdict).unwrap_or_default();
            match s.queue.record_verdict(&item.id, json, Vec::new(), Vec::new(), "").await {
                Ok(recorded) => recorded,
                Err(e) => {
                    tracing::error!(id = %item.id, error = %e, "cannot store the unscored verdict; delivering anyway");
                    item
                }
            }
        }
        Some(v) if held_due(&item, &v, Utc::now()) => reescalate(s, item, &n, v, None).await,
        Some(_) => item,
    }
}

/// Whether a held channel of `item` is due at `now`.
fn held_due(item: &Item, v: &StoredVerdict, now: DateTime<Utc>) -> bool {
    v.held.iter().any(|c| {
        item.channels
            .get(c)
            .is_some_and(|st| st.state == DeliveryState::Pending && st.next_attempt_at.is_none_or(|t| t <= now))
    })
}

async fn reescalate_if_due(s: &Sidecar, item: Item, n: &Notification, v: StoredVerdict) -> Item {
    let now = Utc::now();
    if !held_due(&item, &v, now) {
        return item;
    }
    let Ok(rescorer) = &s.rescoring.rescorer else { return reescalate(s, item, n, v, None).await };
    let firing = rescorer.still_firing(&n.alerts, now).await;
    let looked = match firing {
        Some(true) => Some(rescorer.recheck(&n.alerts, reescalation_time(s, n).min(now)).await),
        _ => None,
    };
    reescalate(s, item, n, v, firing.map(|f| (f, looked))).await
}

/// One alert's recheck at its re-escalation time, or why there is none.
type Looked = Result<(Recheck, Assessment), String>;

/// The group's recheck: the most urgent full-priority decision if any alert needs one (`keep`
/// when one could not be rescored); else a technical notice if any alert is still a likely
/// artifact; else it stays downgraded (every alert still usual and not dangerous).
fn group_recheck(looked: &[Looked]) -> (Recheck, Option<&Assessment>) {
    if let Some(Err(why)) = looked.iter().find(|l| l.is_err()) {
        let why = format!("re-escalated: it could not be rescored at its re-escalation time ({why})");
        return (Recheck { decision: Decision::Keep, technical: false, why }, None);
    }
    let ok = || looked.iter().filter_map(|l| l.as_ref().ok());
    if let Some((r, a)) = ok().filter(|(r, _)| r.decision >= Decision::Keep).max_by_key(|(r, _)| r.decision) {
        return (r.clone(), Some(a));
    }
    let technical = ok().filter(|(r, _)| r.technical).max_by(|(_, a), (_, b)| a.artifact.total_cmp(&b.artifact));
    match technical.or_else(|| ok().next()) {
        Some((r, a)) => (r.clone(), Some(a)),
        None => {
            let why = "re-escalated: nothing to rescore at its re-escalation time".to_owned();
            (Recheck { decision: Decision::Keep, technical: false, why }, None)
        }
    }
}

/// Deliver the held channels of `item` — as a technical notice or re-escalated, by the recheck
/// — or skip them, when it is known to have ended. `firing` is `None` when whether it still
/// fires cannot be told, else whether it does with its rechecks.
async fn reescalate(
    s: &Sidecar,
    item: Item,
    n: &Notification,
    mut v: StoredVerdict,
    firing: Option<(bool, Option<Vec<Looked>>)>,
) -> Item {
    let now = Utc::now();
    let held = std::mem::take(&mut v.held);
    let recheck = match &firing {
        Some((true, Some(looked))) => Some(group_recheck(looked)),
        _ => None,
    };
    let stays = recheck.as_ref().is_some_and(|(r, _)| r.stays_downgraded());
    let (skip, reason) = if matches!(firing, Some((false, _))) {
        (held.clone(), "downgraded as a likely artifact; it ended before re-escalation")
    } else if stays {
        if let (Scoring::Scored(g), Some((r, _))) = (&mut v.scoring, &recheck) {
            g.reasons.insert(0, r.why.clone());
        }
        (held.clone(), "downgraded: still within its usual range and not dangerous at re-escalation")
    } else {
        if let Scoring::Scored(g) = &mut v.scoring {
            g.reescalated = true;
            match &recheck {
                Some((r, assessment)) => {
                    g.decision = r.decision;
                    g.technical = r.technical;
                    if let Some(a) = assessment {
                        (g.score, g.artifact) = (a.score, a.artifact);
                    }
                    g.reasons.insert(0, r.why.clone());
                }
                None => {
                    g.decision = Decision::Keep;
                    g.reasons.insert(0, "re-escalated: whether it still fires cannot be told".to_owned());
                }
            }
        }
        (Vec::new(), "")
    };
    let json = serde_json::to_value(&v).unwrap_or_default();
    let recorded = match s.queue.record_verdict(&item.id, json, Vec::new(), skip.clone(), reason).await {
        Ok(recorded) => recorded,
        Err(e) => {
            tracing::error!(id = %item.id, error = %e, "cannot store the re-escalation; delivering the held channels");
            return item;
        }
    };
    let still_firing = firing.as_ref().map(|(f, _)| *f);
    let technical = recheck.as_ref().is_some_and(|(r, _)| r.technical);
    tracing::info!(id = %item.id, still_firing = ?still_firing, technical, held = ?held, skipped = ?skip, "held channels due");
    let looked = match &firing {
        Some((_, Some(looked))) => looked.as_slice(),
        _ => &[],
    };
    audit(s, reescalation_entries(&item.id, n, still_firing, looked, now)).await;
    recorded
}

fn count(s: &Sidecar, outcomes: &[engine::AlertOutcome]) {
    let t = &s.telemetry;
    if outcomes.is_empty() {
        t.decisions.with_label_values(&["unscored"]).inc();
    }
    for o in outcomes {
        t.scoring_duration.observe(o.elapsed.as_secs_f64());
        match &o.result {
            Ok(scored) => {
                t.decisions.with_label_values(&[scored.verdict.decision.as_str()]).inc();
                t.alert_score.observe(scored.assessment.score);
                if let Some(shadow) = &scored.shadow {
                    let outcome = if shadow.decision == scored.verdict.decision { "agreed" } else { "differed" };
                    t.shadow.with_label_values(&[outcome]).inc();
                }
            }
            Err((failure, _)) => {
                t.decisions.with_label_values(&["unscored"]).inc();
                t.scoring_failures.with_label_values(&[failure.as_str()]).inc();
            }
        }
    }
}

/// Append `entries` to the audit log, if there is one; a failure is logged, never blocks delivery.
pub(super) async fn audit(s: &Sidecar, entries: Vec<AuditEntry>) {
    let Some(log) = s.rescoring.audit.clone() else { return };
    if entries.is_empty() {
        return;
    }
    let written = tokio::task::spawn_blocking(move || log.record(&entries)).await;
    if let Ok(Err(e)) | Err(e) = written.map_err(std::io::Error::other) {
        tracing::error!(error = %e, "cannot write the audit log; the alert is delivered anyway");
    }
}

/// One entry per alert of `n`, with `reason` and no decision.
fn unscored_entries(id: &str, n: &Notification, reason: &str, now: DateTime<Utc>) -> Vec<AuditEntry> {
    n.alerts
        .iter()
        .map(|a| AuditEntry {
            reasons: vec![format!("unscored: {reason}")],
            ..AuditEntry::new(id, &a.fingerprint, &a.labels, a.starts_at, now)
        })
        .collect()
}

fn reescalation_entries(
    id: &str,
    n: &Notification,
    firing: Option<bool>,
    looked: &[Looked],
    now: DateTime<Utc>,
) -> Vec<AuditEntry> {
    n.alerts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let (decision, why) = match (firing, looked.get(i)) {
                (Some(false), _) => {
                    (Decision::Downgrade, "held channels skipped: the alert ended before re-escalation".to_owned())
                }
                (Some(true), Some(Ok((r, _)))) if r.stays_downgraded() => {
                    (Decision::Downgrade, format!("held channels skipped: {}", r.why))
                }
                (Some(true), Some(Ok((r, _)))) => (r.decision, r.why.clone()),
                (Some(true), Some(Err(why))) => (Decision::Keep, format!("re-escalated: not rescored ({why})")),
                (Some(true), None) => {
                    (Decision::Keep, "re-escalated: still firing at its re-escalation time".to_owned())
                }
                (None, _) => (Decision::Keep, "re-escalated: whether it still fires cannot be told".to_owned()),
            };
            AuditEntry {
                decision: Some(decision),
                reasons: vec![why],
                ..AuditEntry::new(id, &a.fingerprint, &a.labels, a.starts_at, now)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn looked(decision: Decision, technical: bool, artifact: f64) -> Looked {
        let why = format!("{decision:?} {technical}");
        Ok((Recheck { decision, technical, why }, Assessment { score: 0.1, artifact, reasons: Vec::new() }))
    }

    #[test]
    fn only_a_downgrade_holds_channels_and_only_when_one_of_its_own_is_routed() {
        let until = Utc::now();
        let names = |v: &[&str]| v.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>();
        let own = names(&["file"]);
        let pending = names(&["email", "file", "slack"]);
        for decision in [None, Some(Decision::Escalate), Some(Decision::Keep)] {
            assert_eq!(plan(decision, Status::Firing, pending.clone(), &own, until), Plan::default(), "{decision:?}");
        }
        let firing = plan(Some(Decision::Downgrade), Status::Firing, pending.clone(), &own, until);
        assert_eq!(firing.hold, vec![("email".to_owned(), until), ("slack".to_owned(), until)]);
        assert!(firing.skip.is_empty());
        let resolved = plan(Some(Decision::Downgrade), Status::Resolved, pending, &own, until);
        assert_eq!((resolved.hold.len(), resolved.skip), (0, names(&["email", "slack"])));
        let elsewhere = plan(Some(Decision::Downgrade), Status::Firing, names(&["email", "slack"]), &own, until);
        assert_eq!(elsewhere, Plan::default(), "no channel of its own routed: it goes everywhere, never nowhere");
    }

    #[test]
    fn a_group_is_a_technical_notice_only_if_every_alert_still_looks_like_an_artifact() {
        let all = [looked(Decision::Downgrade, true, 0.7), looked(Decision::Downgrade, true, 0.9)];
        let (r, a) = group_recheck(&all);
        assert!(r.technical);
        assert_eq!(a.map(|a| a.artifact), Some(0.9), "the strongest evidence speaks for the group");
        let mixed = [looked(Decision::Downgrade, true, 0.9), looked(Decision::Escalate, false, 0.1)];
        let (r, _) = group_recheck(&mixed);
        assert_eq!((r.decision, r.technical), (Decision::Escalate, false), "one real alert: full priority");
        let failed = [looked(Decision::Downgrade, true, 0.9), Err("history unavailable".into())];
        let (r, a) = group_recheck(&failed);
        assert_eq!((r.decision, r.technical), (Decision::Keep, false), "not rescored: full priority");
        assert!(r.why.contains("history unavailable") && a.is_none(), "{}", r.why);
        let (r, _) = group_recheck(&[]);
        assert_eq!((r.decision, r.technical), (Decision::Keep, false));
        let usual = [looked(Decision::Downgrade, false, 0.0), looked(Decision::Downgrade, true, 0.8)];
        let (r, _) = group_recheck(&usual);
        assert!(r.technical, "a sensor still off is told even if another alert stays downgraded");
        let (r, _) = group_recheck(&[looked(Decision::Downgrade, false, 0.0)]);
        assert_eq!((r.decision, r.technical), (Decision::Downgrade, false), "stays downgraded");
    }
}
