//! `POST /webhook`: accept an Alertmanager group, make it durable, then acknowledge.
//!
//! The order of checks decides what Alertmanager does next, because it retries 5xx and never 4xx:
//! overloaded → 503 (retry later); bad credentials → 401; body over the limit → 413; not a v4
//! payload → 400; queue full or disk failing → 503. A 2xx goes out only after the notification is
//! on disk (fsync), so an acknowledged alert is never lost.

use super::Sidecar;
use crate::alert::budget::{self, Received};
use crate::alert::notification::{priority, Notification};
use crate::alert::payload::{PayloadError, Status};
use crate::sidecar::queue::{Enqueued, Plan, QueueError};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use futures_util::StreamExt;
use std::io::Read;
use std::sync::Arc;
use std::time::Instant;

/// Credentials Alertmanager's `http_config` must present (either is accepted when both are set).
#[derive(Clone, Default, PartialEq, Eq)]
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
    /// Whether any credentials are asked for.
    pub fn is_set(&self) -> bool {
        self.bearer_token.is_some() || self.basic.is_some()
    }

    /// True when no credentials are configured, or the request presents valid ones.
    pub fn allows(&self, authorization: Option<&str>) -> bool {
        if !self.is_set() {
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
    let received = match read_body(body, sidecar.settings.max_body_bytes).await {
        Ok(r) => r,
        Err(BodyError::Payload(e)) => return ("bad_request", error(StatusCode::BAD_REQUEST, &e.to_string())),
        Err(BodyError::Read(e)) => {
            // The connection broke mid-body: Alertmanager sees no answer and retries.
            tracing::warn!(error = %e, "webhook body could not be read");
            return ("unavailable", overloaded(&format!("cannot read the body: {e}")));
        }
    };
    if received.left_out > 0 {
        sidecar.telemetry.alerts_left_out.inc_by(received.left_out);
        tracing::warn!(
            id = %received.id, kept = received.payload.alerts.len(), left_out = received.left_out,
            limit = sidecar.settings.max_body_bytes,
            "alert group larger than max_body_bytes: the least urgent alerts are left out of the notification, which says how many"
        );
    }
    let notification = Notification::from_received(received, chrono::Utc::now());
    let channels = (sidecar.route)(&notification.common_labels, notification.status == Status::Resolved);
    if channels.is_empty() {
        tracing::info!(id = %notification.id, status = notification.status.as_str(), "no channel takes this notification (send_resolved off)");
        return ("not_routed", json_ok(&notification.id, "not_routed"));
    }
    let escalation = match (notification.status, sidecar.escalation.get()) {
        (Status::Firing, Some(steps)) => steps(&notification.common_labels),
        _ => Vec::new(),
    };
    if notification.status == Status::Resolved {
        sidecar.resolved.record(&notification.group_key, notification.received_at);
    }
    let plan = Plan { channels: &channels, escalation: &escalation, priority: priority(&notification) };
    match sidecar.queue.enqueue_planned(&notification.id, &plan, &notification).await {
        Ok(Enqueued::Stored { .. }) => {
            tracing::info!(id = %notification.id, status = notification.status.as_str(), alerts = notification.alerts.len(), channels = ?channels, escalation_steps = escalation.len(), "notification stored");
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

/// Bodies up to this size are read into memory and parsed at once; larger ones stream through
/// the parser on a blocking thread, so memory stays within the alert budget whatever their size.
const IN_MEMORY_BODY_BYTES: usize = 256 * 1024;

enum BodyError {
    /// The body is not a usable payload: 400.
    Payload(PayloadError),
    /// The body could not be read (connection lost): nothing was stored.
    Read(std::io::Error),
}

/// Read and parse a webhook body, keeping its alerts within `budget` bytes (see
/// [`crate::alert::budget`]): a group is never refused for its size.
async fn read_body(body: Body, budget: usize) -> Result<Received, BodyError> {
    let mut stream = body.into_data_stream();
    let mut head = Vec::new();
    while head.len() <= IN_MEMORY_BODY_BYTES {
        match stream.next().await {
            Some(Ok(chunk)) => head.extend_from_slice(&chunk),
            Some(Err(e)) => return Err(BodyError::Read(std::io::Error::other(e))),
            None => return budget::read_slice(&head, budget).map_err(BodyError::Payload),
        }
    }
    let rest = tokio_util::io::StreamReader::new(stream.map(|c| c.map_err(std::io::Error::other)));
    let reader =
        Watched { inner: std::io::Cursor::new(head).chain(tokio_util::io::SyncIoBridge::new(rest)), failed: None };
    let (parsed, failed) = tokio::task::spawn_blocking(move || {
        let mut reader = std::io::BufReader::with_capacity(64 * 1024, reader);
        let parsed = budget::read(&mut reader, budget);
        (parsed, reader.into_inner().failed)
    })
    .await
    .map_err(|e| BodyError::Read(std::io::Error::other(e)))?;
    match (parsed, failed) {
        (Ok(received), _) => Ok(received),
        (Err(_), Some(e)) => Err(BodyError::Read(e)),
        (Err(e), None) => Err(BodyError::Payload(e)),
    }
}

/// A reader that remembers its first error, so a broken connection is not taken for bad JSON.
struct Watched<R> {
    inner: R,
    failed: Option<std::io::Error>,
}

impl<R: Read> Read for Watched<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            self.failed.get_or_insert_with(|| std::io::Error::new(e.kind(), e.to_string()));
        })
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
