//! Reading a webhook body of any size with a byte budget for its alerts.
//!
//! Alertmanager never retries a 4xx, so refusing a group for its size loses it. Instead the body
//! is parsed as it streams in, and the alerts are kept within `budget` bytes (their JSON as
//! sent): when a group is larger, the least urgent alerts are left out — resolved before firing,
//! then info before warning before critical, then the later before the earlier — and counted, so
//! the notification says how many it does not show. Memory stays bounded by the budget whatever
//! the body's size. The idempotency key still covers every alert of the group, kept or not, so a
//! re-send of the same large group is recognised as a duplicate.

use super::notification::{alert_key, key_of};
use super::payload::{Alert, LabelSet, PayloadError, Status, WebhookPayload};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::collections::BinaryHeap;
use std::fmt;
use std::io::Read;

/// A webhook body as read within a budget.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// The payload, with the alerts that fit the budget, in the order they were sent.
    pub payload: WebhookPayload,
    /// Alerts of the group left out because it was larger than the budget.
    pub left_out: u64,
    /// The idempotency key over every alert of the group (see [`super::notification`]).
    pub id: String,
}

/// Parse a v4 payload from `reader`, keeping alerts within `budget` bytes. Errors name what is
/// wrong (for a 400 body); a body cut short is an error too.
pub fn read(reader: impl Read, budget: usize) -> Result<Received, PayloadError> {
    let mut de = serde_json::Deserializer::from_reader(reader);
    let received = serde::Deserializer::deserialize_map(&mut de, PayloadVisitor { budget })
        .map_err(|e| PayloadError(e.to_string()))?;
    de.end().map_err(|e| PayloadError(e.to_string()))?;
    check(received)
}

/// [`read`] from a byte slice.
pub fn read_slice(body: &[u8], budget: usize) -> Result<Received, PayloadError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let received = serde::Deserializer::deserialize_map(&mut de, PayloadVisitor { budget })
        .map_err(|e| PayloadError(e.to_string()))?;
    de.end().map_err(|e| PayloadError(e.to_string()))?;
    check(received)
}

fn check(r: Received) -> Result<Received, PayloadError> {
    if r.payload.alerts.is_empty() && r.left_out == 0 {
        return Err(PayloadError("`alerts` is empty: nothing to notify".into()));
    }
    if !r.payload.version.is_empty() && r.payload.version != "4" {
        return Err(PayloadError(format!("version {:?} is not supported (expected \"4\")", r.payload.version)));
    }
    Ok(r)
}

/// How urgent an alert is for keeping it: lower is kept first.
fn rank(a: &Alert) -> u8 {
    let severity = match a.labels.get("severity").map(|s| s.to_ascii_lowercase()).as_deref() {
        Some("critical" | "page" | "emergency") => 0,
        Some("warning") => 1,
        Some("info") => 2,
        _ => 1,
    };
    match a.status {
        Status::Firing => severity,
        Status::Resolved => 3 + severity,
    }
}

struct PayloadVisitor {
    budget: usize,
}

impl<'de> Visitor<'de> for PayloadVisitor {
    type Value = Received;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an Alertmanager webhook payload (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Received, A::Error> {
        let (mut receiver, mut status, mut alerts) = (String::new(), None, None);
        let (mut group_labels, mut common_labels, mut common_annotations) =
            (LabelSet::new(), LabelSet::new(), LabelSet::new());
        let (mut external_url, mut version, mut group_key, mut truncated_alerts) =
            (String::new(), String::new(), String::new(), 0u64);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "receiver" => receiver = map.next_value()?,
                "status" => status = Some(map.next_value::<Status>()?),
                "alerts" => alerts = Some(map.next_value_seed(AlertsSeed { budget: self.budget })?),
                "groupLabels" => group_labels = map.next_value()?,
                "commonLabels" => common_labels = map.next_value()?,
                "commonAnnotations" => common_annotations = map.next_value()?,
                "externalURL" => external_url = map.next_value()?,
                "version" => version = map.next_value()?,
                "groupKey" => group_key = map.next_value()?,
                "truncatedAlerts" => truncated_alerts = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let status = status.ok_or_else(|| de::Error::missing_field("status"))?;
        let kept: Kept = alerts.ok_or_else(|| de::Error::missing_field("alerts"))?;
        let id = key_of(&group_key, status, kept.keys);
        let payload = WebhookPayload {
            receiver,
            status,
            alerts: kept.alerts,
            group_labels,
            common_labels,
            common_annotations,
            external_url,
            version,
            group_key,
            truncated_alerts,
        };
        Ok(Received { payload, left_out: kept.left_out, id })
    }
}

/// The alerts kept, how many were left out, and the key of every alert.
struct Kept {
    alerts: Vec<Alert>,
    left_out: u64,
    keys: Vec<String>,
}

struct AlertsSeed {
    budget: usize,
}

impl<'de> DeserializeSeed<'de> for AlertsSeed {
    type Value = Kept;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Kept, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for AlertsSeed {
    type Value = Kept;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of alerts")
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Kept, S::Error> {
        // `slots[i]` holds alert i while it is kept; `heap` finds the least urgent kept alert.
        let mut slots: Vec<Option<Alert>> = Vec::new();
        let mut sizes: Vec<usize> = Vec::new();
        let mut heap: BinaryHeap<(u8, usize)> = BinaryHeap::new();
        let (mut used, mut left_out, mut keys) = (0usize, 0u64, Vec::new());
        while let Some(raw) = seq.next_element::<Box<RawValue>>()? {
            let index = slots.len();
            let alert: Alert =
                serde_json::from_str(raw.get()).map_err(|e| de::Error::custom(format_args!("alerts[{index}]: {e}")))?;
            keys.push(alert_key(&alert));
            let size = raw.get().len();
            heap.push((rank(&alert), index));
            slots.push(Some(alert));
            sizes.push(size);
            used += size;
            while used > self.budget {
                let Some((_, drop)) = heap.pop() else { break };
                slots[drop] = None;
                used -= sizes[drop];
                left_out += 1;
            }
        }
        Ok(Kept { alerts: slots.into_iter().flatten().collect(), left_out, keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::notification::idempotency_key;

    fn group(alerts: &[(&str, &str, &str)]) -> String {
        let alerts: Vec<String> = alerts
            .iter()
            .enumerate()
            .map(|(i, (status, severity, filler))| {
                format!(
                    r#"{{"status":"{status}","labels":{{"alertname":"A","severity":"{severity}","n":"{i}"}},
                    "annotations":{{"description":"{filler}"}},"startsAt":"2026-12-01T00:00:00Z",
                    "fingerprint":"{i:016x}"}}"#
                )
            })
            .collect();
        format!(
            r#"{{"receiver":"w","status":"firing","alerts":[{}],"groupLabels":{{"alertname":"A"}},
            "commonLabels":{{"alertname":"A"}},"externalURL":"http://am","version":"4","groupKey":"{{}}:{{}}",
            "truncatedAlerts":2,"routeLabels":{{"x":"y"}}}}"#,
            alerts.join(",")
        )
    }

    #[test]
    fn a_group_within_the_budget_reads_as_the_plain_parser_does() {
        let body = crate::alert::payload::tests::SAMPLE;
        let plain = WebhookPayload::parse(body.as_bytes()).unwrap();
        for r in [read_slice(body.as_bytes(), usize::MAX).unwrap(), read(body.as_bytes(), 1 << 20).unwrap()] {
            assert_eq!(r.payload, plain);
            assert_eq!(r.left_out, 0);
            assert_eq!(r.id, idempotency_key(&plain));
        }
    }

    #[test]
    fn over_the_budget_the_least_urgent_alerts_are_left_out_and_counted() {
        let pad = "x".repeat(200);
        let body = group(&[
            ("resolved", "critical", &pad),
            ("firing", "info", &pad),
            ("firing", "critical", &pad),
            ("firing", "warning", &pad),
            ("firing", "critical", &pad),
        ]);
        let all = read_slice(body.as_bytes(), usize::MAX).unwrap();
        assert_eq!(all.payload.alerts.len(), 5);
        let size = body.len() / 5; // each alert's JSON is a bit less than this
        let r = read_slice(body.as_bytes(), 3 * size).unwrap();
        let kept: Vec<&str> = r.payload.alerts.iter().map(|a| a.labels["n"].as_str()).collect();
        assert_eq!(kept, ["2", "3", "4"], "critical and warning firing alerts kept, in their order");
        assert_eq!(r.left_out, 2);
        assert_eq!(r.payload.truncated_alerts, 2, "Alertmanager's own count is kept apart");
        assert_eq!(r.id, all.id, "the key covers every alert, kept or not");
        let tight = read(body.as_bytes(), size).unwrap();
        assert_eq!(tight.payload.alerts.len(), 1);
        assert_eq!(tight.payload.alerts[0].labels["n"], "2", "the first critical one");
        let none = read_slice(body.as_bytes(), 10).unwrap();
        assert!(none.payload.alerts.is_empty() && none.left_out == 5, "still a notification: 5 left out");
    }

    #[test]
    fn bad_bodies_are_errors_naming_what_is_wrong() {
        let cut = group(&[("firing", "critical", "x")]);
        let cut = &cut[..cut.len() - 20];
        assert!(read(cut.as_bytes(), 1 << 20).is_err(), "a body cut short");
        let err = read_slice(br#"{"status":"firing"}"#, 100).unwrap_err().to_string();
        assert!(err.contains("alerts"), "{err}");
        let err = read_slice(br#"{"status":"firing","alerts":[{"status":"x"}]}"#, 100).unwrap_err().to_string();
        assert!(err.contains("alerts[0]"), "{err}");
        let err = read_slice(br#"{"status":"firing","alerts":[]}"#, 100).unwrap_err().to_string();
        assert!(err.contains("empty"), "{err}");
        let err = read_slice(br#"{"status":"firing","alerts":[],"version":"3"}"#, 100).unwrap_err().to_string();
        assert!(err.contains("empty") || err.contains("version"), "{err}");
        assert!(read_slice(b"[1,2]", 100).is_err());
        assert!(read_slice(br#"{"status":"firing","alerts":[]} trailing"#, 100).is_err());
    }
}
