//! A local HTTP server that answers as Slack's incoming webhooks document: `200 ok`, `429` with
//! `Retry-After`, `400 invalid_payload`, `404 channel_not_found`, `500 rollup_error`, or slowly.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wardwatch::notify::slack::{SlackConfig, SlackSender};

/// The secret part of the webhook URL: must never show up in an outcome.
pub const SECRET_PATH: &str = "/services/T000/B000/s3cr3tT0k3n";

/// How the fake Slack answers one request.
#[derive(Debug, Clone, Copy)]
pub enum Reply {
    Ok,
    RateLimited,
    InvalidPayload,
    ChannelNotFound,
    RollupError,
    /// Answer `ok`, but only after this long.
    Slow(Duration),
    /// `302` to elsewhere, as a captive portal answers.
    Redirect,
    /// `429` with this `Retry-After` value, however strange.
    RateLimitedFor(&'static str),
    /// Answer this reply, but only after this long.
    After(Duration, &'static Reply),
}

/// One request the fake Slack received.
pub struct Received {
    at: Instant,
    content_type: String,
    body: Bytes,
}

#[derive(Default)]
struct Shared {
    script: Mutex<VecDeque<Reply>>,
    /// The answer once the script is used up (`None`: `ok`).
    then: Mutex<Option<Reply>>,
    received: Mutex<Vec<Received>>,
    accepted: Mutex<usize>,
}

pub struct FakeSlack {
    /// The webhook URL to configure.
    pub url: String,
    shared: Arc<Shared>,
}

impl FakeSlack {
    /// Serve on 127.0.0.1:0, answering requests with `script` in order, then `ok`.
    pub async fn start(script: &[Reply]) -> Self {
        Self::start_then(script, None).await
    }

    /// Like [`start`](Self::start), answering `then` once the script is used up.
    pub async fn start_then(script: &[Reply], then: Option<Reply>) -> Self {
        let shared = Arc::new(Shared {
            script: Mutex::new(script.iter().copied().collect()),
            then: Mutex::new(then),
            ..Default::default()
        });
        let app = Router::new().route(SECRET_PATH, post(webhook)).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}{SECRET_PATH}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, shared }
    }

    pub fn received(&self) -> Vec<(Instant, String, serde_json::Value)> {
        let received = self.shared.received.lock().unwrap();
        received
            .iter()
            .map(|r| (r.at, r.content_type.clone(), serde_json::from_slice(&r.body).expect("valid JSON")))
            .collect()
    }

    pub fn accepted(&self) -> usize {
        *self.shared.accepted.lock().unwrap()
    }

    pub fn sender(&self, timeout: Duration) -> SlackSender {
        SlackSender::new(SlackConfig { timeout, ..SlackConfig::new(self.url.clone()) }).unwrap()
    }
}

async fn webhook(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    shared.received.lock().unwrap().push(Received { at: Instant::now(), content_type, body });
    let reply = shared.script.lock().unwrap().pop_front();
    let reply = reply.or(*shared.then.lock().unwrap()).unwrap_or(Reply::Ok);
    answer(&shared, reply).await
}

async fn answer(shared: &Shared, reply: Reply) -> Response {
    match reply {
        Reply::Ok => {
            *shared.accepted.lock().unwrap() += 1;
            (StatusCode::OK, "ok").into_response()
        }
        Reply::RateLimited => {
            (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "1")], "rate_limited").into_response()
        }
        Reply::InvalidPayload => (StatusCode::BAD_REQUEST, "invalid_payload").into_response(),
        Reply::ChannelNotFound => (StatusCode::NOT_FOUND, "channel_not_found").into_response(),
        Reply::RollupError => (StatusCode::INTERNAL_SERVER_ERROR, "rollup_error").into_response(),
        Reply::Slow(delay) => {
            tokio::time::sleep(delay).await;
            *shared.accepted.lock().unwrap() += 1;
            (StatusCode::OK, "ok").into_response()
        }
        Reply::Redirect => {
            (StatusCode::FOUND, [(header::LOCATION, "http://portal.invalid/login")], "<html>log in</html>")
                .into_response()
        }
        Reply::RateLimitedFor(value) => {
            (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, value)], "rate_limited").into_response()
        }
        Reply::After(delay, reply) => {
            tokio::time::sleep(delay).await;
            Box::pin(answer(shared, *reply)).await
        }
    }
}
