//! Alertmanager's webhook payload, version 4 (Alertmanager's `webhook_config` documentation,
//! <https://prometheus.io/docs/alerting/latest/configuration/#webhook_config>).
//!
//! Parsed leniently: fields that newer Alertmanager versions add (`notification_reason` in 0.32,
//! `routeLabels` in 0.34, ...) are ignored, and fields that older senders omit take defaults.
//! Firing and resolved are told apart by `status`, never by `endsAt`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Label or annotation set.
pub type LabelSet = BTreeMap<String, String>;

/// Whether an alert (or group) is firing or resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The alert condition holds.
    Firing,
    /// The alert condition no longer holds.
    Resolved,
}

impl Status {
    /// Lower-case name, as in the payload.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Firing => "firing",
            Status::Resolved => "resolved",
        }
    }
}

/// One POST from Alertmanager: one alert group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookPayload {
    /// Name of the receiver in Alertmanager's configuration.
    #[serde(default)]
    pub receiver: String,
    /// Status of the group: firing if any alert fires.
    pub status: Status,
    /// The alerts of the group (at most `max_alerts` if configured).
    pub alerts: Vec<Alert>,
    /// Labels the group is grouped by.
    #[serde(default)]
    pub group_labels: LabelSet,
    /// Labels common to every alert.
    #[serde(default)]
    pub common_labels: LabelSet,
    /// Annotations common to every alert.
    #[serde(default)]
    pub common_annotations: LabelSet,
    /// Alertmanager's external URL, for links back.
    #[serde(default, rename = "externalURL")]
    pub external_url: String,
    /// Payload version; "4".
    #[serde(default)]
    pub version: String,
    /// Key identifying the group in Alertmanager.
    #[serde(default)]
    pub group_key: String,
    /// Alerts left out because of `max_alerts`.
    #[serde(default)]
    pub truncated_alerts: u64,
}

/// One alert of a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// Firing or resolved.
    pub status: Status,
    /// Identifying labels (alertname, severity, ward, patient, ...).
    #[serde(default)]
    pub labels: LabelSet,
    /// Descriptive annotations (summary, description, runbook_url, ...).
    #[serde(default)]
    pub annotations: LabelSet,
    /// When the alert started firing.
    pub starts_at: DateTime<Utc>,
    /// When it resolved; Alertmanager sends `0001-01-01T00:00:00Z` while it fires.
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
    /// Link to the expression in Prometheus.
    #[serde(default, rename = "generatorURL")]
    pub generator_url: String,
    /// Alertmanager's fingerprint of the label set (16 hex digits).
    #[serde(default)]
    pub fingerprint: String,
}

/// Why a payload was rejected: the message says what is wrong, for a 400 body.
#[derive(Debug, thiserror::Error)]
#[error("invalid Alertmanager payload: {0}")]
pub struct PayloadError(pub String);

impl WebhookPayload {
    /// Parse a request body; errors name the field and position.
    pub fn parse(body: &[u8]) -> Result<Self, PayloadError> {
        let p: Self = serde_json::from_slice(body).map_err(|e| PayloadError(e.to_string()))?;
        if p.alerts.is_empty() {
            return Err(PayloadError("`alerts` is empty: nothing to notify".into()));
        }
        if !p.version.is_empty() && p.version != "4" {
            return Err(PayloadError(format!("version {:?} is not supported (expected \"4\")", p.version)));
        }
        Ok(p)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A payload as Alertmanager 0.25 sends it, plus fields from newer versions.
    pub(crate) const SAMPLE: &str = r#"{
      "receiver": "wardwatch", "status": "firing",
      "alerts": [{
        "status": "firing",
        "labels": {"alertname": "HypoxiaDetected", "severity": "critical", "ward": "icu-1", "patient": "p00003"},
        "annotations": {"summary": "SpO2 below 90% for 10 s"},
        "startsAt": "2026-11-22T01:00:00.123Z", "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=x", "fingerprint": "1a2b3c4d5e6f7a8b"
      }],
      "groupLabels": {"alertname": "HypoxiaDetected"}, "commonLabels": {"alertname": "HypoxiaDetected"},
      "commonAnnotations": {}, "externalURL": "http://alertmanager:9093", "version": "4",
      "groupKey": "{}:{alertname=\"HypoxiaDetected\"}", "truncatedAlerts": 0,
      "notification_reason": "new", "routeLabels": {"team": "icu"}
    }"#;

    #[test]
    fn parses_alertmanager_v4_and_ignores_newer_fields() {
        let p = WebhookPayload::parse(SAMPLE.as_bytes()).unwrap();
        assert_eq!(p.status, Status::Firing);
        assert_eq!(p.alerts[0].labels["patient"], "p00003");
        assert_eq!(p.alerts[0].fingerprint, "1a2b3c4d5e6f7a8b");
        assert_eq!(p.external_url, "http://alertmanager:9093");
    }

    #[test]
    fn wrong_shapes_are_rejected_with_the_reason() {
        let err = WebhookPayload::parse(b"{\"status\":\"firing\"}").unwrap_err().to_string();
        assert!(err.contains("alerts"), "{err}");
        let err = WebhookPayload::parse(b"not json").unwrap_err().to_string();
        assert!(err.contains("expected"), "{err}");
        let err = WebhookPayload::parse(b"{\"status\":\"burning\",\"alerts\":[]}").unwrap_err().to_string();
        assert!(err.contains("burning"), "{err}");
        let empty = r#"{"status":"firing","alerts":[]}"#;
        assert!(WebhookPayload::parse(empty.as_bytes()).unwrap_err().to_string().contains("empty"));
    }
}
