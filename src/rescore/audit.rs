//! What the audit log records: one entry per decision, with its score, reasons, model and inputs
//! (the sidecar writes them, one JSON line each: `sidecar::audit`).

use super::policy::Decision;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One decision about one alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When the decision was made.
    pub decided_at: DateTime<Utc>,
    /// The notification (idempotency key) the alert arrived in.
    pub notification: String,
    /// The alert's fingerprint.
    pub fingerprint: String,
    /// The alert's name.
    pub alertname: String,
    /// The alert's labels.
    pub labels: BTreeMap<String, String>,
    /// The alert's `startsAt`: the end of the history window.
    pub starts_at: DateTime<Utc>,
    /// The decision; `None` when the alert went out unscored.
    pub decision: Option<Decision>,
    /// The score in [0, 1], if scored.
    pub score: Option<f64>,
    /// The artifact likelihood in [0, 1], if scored.
    pub artifact: Option<f64>,
    /// The reasons, most important first (or why the alert is unscored).
    pub reasons: Vec<String>,
    /// The model version, if scored.
    pub model_version: Option<String>,
    /// The entity whose history was read, e.g. `patient=p00003`.
    pub entity: Option<String>,
    /// The history window: start and end (Unix milliseconds) and step (milliseconds).
    pub window: Option<WindowSpan>,
    /// The escalation step this line records (1 for the first), when it records one rather
    /// than a decision; `decision` is then the one in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation_step: Option<u32>,
    /// What a candidate model (`rescoring.shadow_model`) decided on the same window; it decides
    /// nothing itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<Shadow>,
}

/// A candidate model's verdict on an alert's window, beside the decision the model in use made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shadow {
    /// The candidate's version.
    pub model_version: String,
    /// What the policy would have decided on its assessment.
    pub decision: Decision,
    /// Its score in [0, 1].
    pub score: f64,
    /// Its artifact likelihood in [0, 1].
    pub artifact: f64,
}

impl AuditEntry {
    /// What the line records, as the console lists it: the decision (`escalate`, `keep`,
    /// `downgrade`, `unscored`) or `escalation step N`.
    pub fn what_was_decided(&self) -> String {
        match self.escalation_step {
            Some(step) => format!("escalation step {step}"),
            None => self.decision.map_or("unscored", |d| d.as_str()).to_owned(),
        }
    }

    /// An entry for one alert with nothing decided yet: no score, decision, reasons or window.
    pub fn new(
        notification: &str,
        fingerprint: &str,
        labels: &BTreeMap<String, String>,
        starts_at: DateTime<Utc>,
        decided_at: DateTime<Utc>,
    ) -> Self {
        Self {
            decided_at,
            notification: notification.to_owned(),
            fingerprint: fingerprint.to_owned(),
            alertname: labels.get("alertname").cloned().unwrap_or_default(),
            labels: labels.clone(),
            starts_at,
            decision: None,
            score: None,
            artifact: None,
            reasons: Vec::new(),
            model_version: None,
            entity: None,
            window: None,
            escalation_step: None,
            shadow: None,
        }
    }
}

/// The time range of a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowSpan {
    /// Start, Unix milliseconds.
    pub start_ms: i64,
    /// End, Unix milliseconds (the alert's `startsAt`).
    pub end_ms: i64,
    /// Step, milliseconds.
    pub step_ms: i64,
    /// Signals that had data.
    pub signals: usize,
}
