//! `POST /webhook`: accept an Alertmanager group, make it durable, then acknowledge.
//!
//! The order of checks decides what Alertmanager does next, because it retries 5xx and never 4xx:
//! overloaded → 503 (retry later); bad credentials → 401; body over the limit → 413; not a v4
//! payload → 400; queue full or disk failing → 503. A 2xx goes out only after the notification is
//! on disk (fsync), so an acknowledged alert is never lost.

use super::Sidecar;
use crate::alert::notification::Notification;
use crate::alert::payload::{Status, WebhookPayload};
use crate::sidecar::queue::{Enqueued, QueueError};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use std::sync::Arc;
use std::time::Instant;

/// Credentials Alertmanager's `http_config` must present (either is accepted when both are set).
#[derive(Clone, Default)]
pub struct InboundAuth {
    /// `Authorization: Bearer <token>`.
    pub bearer_token: Option<String>,
    /// `Authorization: Basic base64(user:password)`.
    pub basic: Option<(String, String)>,
}

impl std::fmt::Debug for InboundAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundAuth")
            .field("bearer_token", &self.bearer_token.as_ref().map(|_| "<redacted>"))
            .field("basic", &self.basic.as_ref().map(|(u, _)| (u.as_str(), "<redacted>")))
            .finish()
    }
}

/// Compare without an early exit, so response time does not reveal how much of a secret matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl InboundAuth {
    /// True when no credentials are configured, or the request presents valid ones.
    pub fn allows(&self, authorization: Option<&str>) -> bool {
        if self.bearer_token.is_none() && self.basic.is_none() {
            return true;
        }
        let Some(value) = authorization else { return false };
        if let (Some(token), Some(given)) = (&self.bearer_token, value.strip_prefix("Bearer ")) {
            if constant_time_eq(token.as_bytes(), given.trim().as_bytes()) {
                return true;
            }
        }
        if let (Some((user, password)), Some(given)) = (&self.basic, value.strip_prefix("Basic ")) {
            let expected = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            return constant_time_eq(expected.as_bytes(), given.trim().as_bytes());
        }
        false
    }
}

/// A JSON error body with a status.
pub fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

fn overloaded(message: &str) -> Response {
    let mut r = error(StatusCode::SERVICE_UNAVAILABLE, message);
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    r
}

/// `POST /webhook`.
pub async fn webhook(State(sidecar): State<Arc<Sidecar>>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let (result, response) = accept(&sidecar, &headers, body).await;
    sidecar.telemetry.received.with_label_values(&[result]).inc();
    if response.status().is_success() {
        sidecar.telemetry.ack_duration.observe(started.elapsed().as_secs_f64());
    }
    response
}

/// Check, parse and persist one request; returns the result label and the response.
async fn accept(sidecar: &Sidecar, headers: &HeaderMap, body: Body) -> (&'static str, Response) {
    let Ok(_permit) = sidecar.in_flight.try_acquire() else {
        return ("overloaded", overloaded("overloaded: too many requests in flight, retry later"));
    };
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if !sidecar.settings.auth.allows(authorization) {
        return ("unauthorized", error(StatusCode::UNAUTHORIZED, "missing or wrong credentials"));
    }
    let limit = sidecar.settings.max_body_bytes;
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => {
            let message = format!("body larger than the limit of {limit} bytes (or unreadable)");
            return ("too_large", error(StatusCode::PAYLOAD_TOO_LARGE, &message));
        }
    };
    let payload = match WebhookPayload::parse(&bytes) {
        Ok(p) => p,
        Err(e) => return ("bad_request", error(StatusCode::BAD_REQUEST, &e.to_string())),
    };
    let notification = Notification::from_payload(payload, chrono::Utc::now());
    let channels = (sidecar.route)(&notification.common_labels, notification.status == Status::Resolved);
    if channels.is_empty() {
        tracing::info!(id = %notification.id, status = notification.status.as_str(), "no channel takes this notification (send_resolved off)");
        return ("not_routed", json_ok(&notification.id, "not_routed"));
    }
    match sidecar.queue.enqueue(&notification.id, &channels, &notification).await {
        Ok(Enqueued::Stored { .. }) => {
            tracing::info!(id = %notification.id, status = notification.status.as_str(), alerts = notification.alerts.len(), channels = ?channels, "notification stored");
            sidecar.wake.notify_one();
            ("stored", json_ok(&notification.id, "stored"))
        }
        Ok(Enqueued::Duplicate) => {
            tracing::info!(id = %notification.id, "duplicate delivery of a stored notification ignored");
            ("duplicate", json_ok(&notification.id, "duplicate"))
        }
        Err(QueueError::TooLarge { .. }) => {
            ("too_large", error(StatusCode::PAYLOAD_TOO_LARGE, "notification too large for the queue"))
        }
        Err(e @ QueueError::Full { .. }) => {
            tracing::warn!(error = %e, "queue full: answering 503 so Alertmanager retries");
            ("overloaded", overloaded(&e.to_string()))
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot persist a notification: answering 503 so Alertmanager retries");
            ("unavailable", overloaded(&format!("cannot store the notification: {e}")))
        }
    }
}

fn json_ok(id: &str, result: &str) -> Response {
    (StatusCode::OK, axum::Json(serde_json::json!({ "id": id, "result": result }))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_configured_credentials_allow_everything() {
        assert!(InboundAuth::default().allows(None));
    }

    #[test]
    fn bearer_and_basic_are_checked() {
        let auth = InboundAuth { bearer_token: Some("s3cret".into()), basic: Some(("am".into(), "pw".into())) };
        assert!(auth.allows(Some("Bearer s3cret")));
        assert!(!auth.allows(Some("Bearer s3cre")));
        assert!(!auth.allows(None));
        let basic = base64::engine::general_purpose::STANDARD.encode("am:pw");
        assert!(auth.allows(Some(&format!("Basic {basic}"))));
        let wrong = base64::engine::general_purpose::STANDARD.encode("am:px");
        assert!(!auth.allows(Some(&format!("Basic {wrong}"))));
    }

    #[test]
    fn debug_redacts_secrets() {
        let auth = InboundAuth { bearer_token: Some("s3cret".into()), basic: Some(("am".into(), "pw".into())) };
        let shown = format!("{auth:?}");
        assert!(!shown.contains("s3cret") && !shown.contains("\"pw\""), "{shown}");
    }
}
