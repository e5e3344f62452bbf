//! A notification: what the sidecar owes its channels for one alert group in one status.
//!
//! The idempotency key is derived from the group and its content, so the same group delivered
//! twice (an Alertmanager HA pair, a retry after a lost response) maps to one notification,
//! while firing and resolved — and a group whose alerts changed — are distinct notifications.

use crate::alert::decision::Decision;
use crate::alert::payload::{Alert, LabelSet, Status, WebhookPayload};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::hash::Hasher;

/// The kinds of channel a notification can go to. A channel is named by its kind (`email`), or by
/// its kind, a hyphen and a name of its own (`email-charge-nurse`), so one site can have several
/// of a kind (two recipient lists, two Slack webhooks).
pub const CHANNEL_KINDS: [&str; 3] = ["email", "file", "slack"];

/// The kind of the channel called `name`, when `name` is a channel name: a kind, or a kind, `-`
/// and one or more of `a-z`, `0-9`, `-`, `_`.
pub fn channel_kind(name: &str) -> Option<&'static str> {
    CHANNEL_KINDS.into_iter().find(|kind| match name.strip_prefix(kind) {
        Some("") => true,
        Some(rest) => rest.strip_prefix('-').is_some_and(|own| {
            !own.is_empty()
                && own.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        }),
        None => false,
    })
}

/// The priority of a critical firing notification: it is scored and delivered before the rest.
pub const PRIORITY_CRITICAL: u8 = 0;
/// The priority of a firing notification of no known severity (info, or none).
pub const PRIORITY_OTHER: u8 = 2;

/// In which order due notifications go out, lower first (then the older): a firing critical
/// alert (0), a firing warning (1), another firing alert (2), a resolved notification (3), so a
/// critical alert in a storm of warnings does not wait behind them. A group's most urgent alert
/// gives its priority.
pub fn priority(n: &Notification) -> u8 {
    if n.status == Status::Resolved {
        return 3;
    }
    let rank = |a: &Alert| match a.labels.get("severity").map(String::as_str) {
        Some("critical") => PRIORITY_CRITICAL,
        Some("warning") => 1,
        _ => PRIORITY_OTHER,
    };
    n.alerts.iter().filter(|a| a.status == Status::Firing).map(rank).min().unwrap_or(PRIORITY_OTHER)
}

/// How the alert was scored: a verdict, or why it went out unscored (it always goes out).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Scoring {
    /// Not scored, with the reason (e.g. rescoring disabled, Prometheus unreachable).
    Unscored {
        /// Why no score is attached.
        reason: String,
    },
    /// Rescored: the decision and why.
    Scored(Box<GroupVerdict>),
}

/// The rescoring verdict of a notification: its most urgent alert's decision, score and reasons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupVerdict {
    /// Escalate, keep or downgrade.
    pub decision: Decision,
    /// The deciding alert's score in [0, 1] (1 = genuine deterioration).
    pub score: f64,
    /// The deciding alert's artifact likelihood in [0, 1].
    pub artifact: f64,
    /// Why, most important first.
    pub reasons: Vec<String>,
    /// The model that scored it.
    pub model_version: String,
    /// The deciding alert, e.g. `HypoxiaDetected p00003`.
    pub alert: String,
    /// Alerts of the group that could not be scored, with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unscored: Vec<String>,
    /// Set when a downgraded alert was still firing at its re-escalation time.
    #[serde(default)]
    pub reescalated: bool,
    /// Set when, re-escalated, it was still a likely artifact: a technical notice (check the
    /// sensor), not a physiological alarm.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub technical: bool,
    /// The deciding alert's reading and where it was heading, e.g. "SpO2 86%, falling from 95%
    /// over 3 min", from the history it was scored on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trend: Option<String>,
}

impl Scoring {
    /// The decision, when scored.
    pub fn decision(&self) -> Option<Decision> {
        match self {
            Scoring::Scored(v) => Some(v.decision),
            Scoring::Unscored { .. } => None,
        }
    }

    /// A short tag for subjects and headers: `ESCALATED`, `likely artifact`, `not actionable`
    /// (downgraded without artifact evidence), `technical: check the sensor`, or none.
    pub fn tag(&self) -> Option<&'static str> {
        match self {
            Scoring::Scored(v) if v.technical => Some("technical: check the sensor"),
            Scoring::Scored(v) if v.reescalated && v.decision == Decision::Escalate => Some("ESCALATED"),
            Scoring::Scored(v) if v.reescalated => None,
            Scoring::Scored(v) => match v.decision {
                Decision::Escalate => Some("ESCALATED"),
                Decision::Downgrade if v.artifact >= 0.5 => Some("likely artifact"),
                Decision::Downgrade => Some("not actionable"),
                Decision::Keep => None,
            },
            Scoring::Unscored { .. } => None,
        }
    }

    /// One line for people: the decision, score and reasons, or why it is unscored.
    pub fn line(&self) -> String {
        match self {
            Scoring::Unscored { reason } => format!("unscored: {reason}"),
            Scoring::Scored(v) => {
                let decision = match (v.decision, v.reescalated) {
                    _ if v.technical => "technical notice: still firing, still a likely artifact",
                    (_, true) => "re-escalated: still firing after it was downgraded as a likely artifact",
                    (Decision::Escalate, _) => "escalated",
                    (Decision::Keep, _) => "kept",
                    (Decision::Downgrade, _) => "downgraded",
                };
                let mut line = format!("{decision} (score {:.2}, artifact {:.2}, {})", v.score, v.artifact, v.alert);
                for r in &v.reasons {
                    line.push_str("; ");
                    line.push_str(r);
                }
                line
            }
        }
    }
}

/// One notification to deliver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Idempotency key: 16 hex digits.
    pub id: String,
    /// Alertmanager's group key.
    pub group_key: String,
    /// Firing or resolved.
    pub status: Status,
    /// Receiver name in Alertmanager.
    pub receiver: String,
    /// Labels the group is grouped by.
    pub group_labels: LabelSet,
    /// Labels common to every alert.
    pub common_labels: LabelSet,
    /// The alerts.
    pub alerts: Vec<Alert>,
    /// Alerts Alertmanager left out (its `max_alerts`).
    pub truncated_alerts: u64,
    /// Alerts the sidecar left out because the group was larger than its `max_body_bytes`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub left_out: u64,
    /// What happened to the notification on its way that its reader should know, e.g. that it
    /// was re-routed because its channel was removed from the configuration.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Alertmanager's external URL.
    pub external_url: String,
    /// When the sidecar acknowledged it.
    pub received_at: DateTime<Utc>,
    /// The score, or why there is none.
    pub scoring: Scoring,
    /// Where a person acknowledges it ("I'm on it"): a signed link, set on a firing
    /// notification as it is delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledge_url: Option<String>,
    /// Set on the follow-up that tells a notification's channels someone acknowledged it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged: Option<Acknowledged>,
    /// Set, as it is delivered, on an escalation step's message: which step, and since when
    /// nobody acknowledged it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<String>,
}

/// Who acknowledged a notification, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledged {
    /// The name they gave (empty when none).
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// FNV-1a, 64 bits: stable across builds and platforms, unlike std's default hasher.
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01B3);
        }
    }
}

/// The idempotency key of a payload: group, status, and each alert's fingerprint, status and start.
pub fn idempotency_key(p: &WebhookPayload) -> String {
    key_of(&p.group_key, p.status, p.alerts.iter().map(alert_key).collect())
}

/// One alert's part of the idempotency key.
pub fn alert_key(a: &Alert) -> String {
    format!("{}|{}|{}", a.fingerprint, a.status.as_str(), a.starts_at.timestamp_millis())
}

/// The idempotency key of a group from its key, status and every alert's [`alert_key`].
pub fn key_of(group_key: &str, status: Status, mut alerts: Vec<String>) -> String {
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    let mut field = |s: &str| {
        h.write(s.as_bytes());
        h.write(&[0xff]); // separator: ("ab","c") and ("a","bc") differ
    };
    field(group_key);
    field(status.as_str());
    alerts.sort();
    for a in &alerts {
        field(a);
    }
    format!("{:016x}", h.finish())
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Notification {
    /// The notification owed for a body read within a budget ([`crate::alert::budget`]).
    pub fn from_received(r: crate::alert::budget::Received, received_at: DateTime<Utc>) -> Self {
        let mut n = Self::from_payload(r.payload, received_at);
        n.id = r.id;
        n.left_out = r.left_out;
        n
    }

    /// Lines every channel shows after the alerts: alerts not shown, and the notes.
    pub fn notices(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.truncated_alerts > 0 {
            out.push(format!("{} more alert(s) left out by Alertmanager (max_alerts).", self.truncated_alerts));
        }
        if self.left_out > 0 {
            out.push(format!(
                "{} more alert(s) left out by wardwatch: the group was larger than its max_body_bytes; see Alertmanager for all of them.",
                self.left_out
            ));
        }
        out.extend(self.notes.iter().cloned());
        out
    }

    /// The notification owed for a payload received at `received_at`.
    pub fn from_payload(p: WebhookPayload, received_at: DateTime<Utc>) -> Self {
        Self {
            id: idempotency_key(&p),
            group_key: p.group_key,
            status: p.status,
            receiver: p.receiver,
            group_labels: p.group_labels,
            common_labels: p.common_labels,
            alerts: p.alerts,
            truncated_alerts: p.truncated_alerts,
            left_out: 0,
            notes: Vec::new(),
            external_url: p.external_url,
            received_at,
            scoring: Scoring::Unscored { reason: "rescoring is not enabled".into() },
            acknowledge_url: None,
            acknowledged: None,
            escalation: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_critical_firing_alert_comes_first_and_a_resolved_notification_last() {
        let p = WebhookPayload::parse(crate::alert::payload::tests::SAMPLE.as_bytes()).unwrap();
        let mut n = Notification::from_payload(p, Utc::now());
        let set = |n: &mut Notification, severity: &str| {
            for a in &mut n.alerts {
                a.labels.insert("severity".into(), severity.into());
            }
        };
        set(&mut n, "critical");
        assert_eq!(priority(&n), PRIORITY_CRITICAL);
        set(&mut n, "warning");
        assert_eq!(priority(&n), 1);
        set(&mut n, "info");
        assert_eq!(priority(&n), PRIORITY_OTHER);
        n.status = Status::Resolved;
        assert_eq!(priority(&n), 3);
    }

    #[test]
    fn a_channel_is_named_by_its_kind_or_its_kind_and_a_name_of_its_own() {
        assert_eq!(channel_kind("email"), Some("email"));
        assert_eq!(channel_kind("email-charge-nurse"), Some("email"));
        assert_eq!(channel_kind("slack-rapid_response-2"), Some("slack"));
        assert_eq!(channel_kind("file"), Some("file"));
        for bad in ["", "pager", "email-", "emailx", "email-Charge", "email charge", "Slack", "slack-ä"] {
            assert_eq!(channel_kind(bad), None, "{bad:?}");
        }
    }

    fn payload() -> WebhookPayload {
        WebhookPayload::parse(crate::alert::payload::tests::SAMPLE.as_bytes()).unwrap()
    }

    #[test]
    fn the_same_group_twice_has_one_key() {
        assert_eq!(idempotency_key(&payload()), idempotency_key(&payload()));
        let mut reordered = payload();
        let mut second = reordered.alerts[0].clone();
        second.fingerprint = "ffffffffffffffff".into();
        reordered.alerts.push(second.clone());
        let mut other_order = payload();
        other_order.alerts.insert(0, second);
        assert_eq!(idempotency_key(&reordered), idempotency_key(&other_order));
    }

    #[test]
    fn firing_and_resolved_are_distinct() {
        let firing = payload();
        let mut resolved = payload();
        resolved.status = Status::Resolved;
        resolved.alerts[0].status = Status::Resolved;
        assert_ne!(idempotency_key(&firing), idempotency_key(&resolved));
    }

    #[test]
    fn key_is_stable_across_builds() {
        // A change here would re-send every pending notification after an upgrade.
        assert_eq!(idempotency_key(&payload()).len(), 16);
        assert_eq!(Fnv(0xcbf2_9ce4_8422_2325).finish(), 0xcbf2_9ce4_8422_2325);
        let mut h = Fnv(0xcbf2_9ce4_8422_2325);
        h.write(b"a");
        assert_eq!(h.finish(), 0xaf63_dc4c_8601_ec8c, "FNV-1a test vector for \"a\"");
    }
}
