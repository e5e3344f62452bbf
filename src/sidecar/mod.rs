//! The `wardwatch-sidecar`: an Alertmanager webhook receiver that never loses an alert.
//!
//! - [`config`]: the YAML configuration, flag and environment overrides, secrets.
//! - [`assemble`]: from validated configuration to a running [`Sidecar`].
//! - [`receiver`]: `POST /webhook` — check, parse, persist, then acknowledge.
//! - [`queue`]: the durable outbox (its design is at the top of the module).
//! - [`pipeline`]: the stages of a notification, in order: receive → persist → route → score →
//!   decide → deliver → record. Start reading here.
//! - [`dispatch`]: hands due notifications from the queue to the pipeline, one task each.
//! - [`reroute`]: pending notifications whose channel was removed are routed again.
//! - [`rescoring`]: the verdict on each notification before its first delivery, and re-escalation.
//! - [`audit`]: the audit log, one JSON line per decision.
//! - [`telemetry`]: the sidecar's own metrics.
//!
//! - [`api`]: the REST API — health, model information, prediction — and its OpenAPI document.
//! - [`console`]: `GET /`, the recent decisions and who acknowledged them.
//! - [`runbooks`]: `GET /runbooks`, what each alert means and what to do.
//! - [`acknowledge`]: `GET`/`POST /acknowledge/<token>`, "I'm on it" from a signed link.
//!
//! Routes: `POST /webhook`, `GET /-/healthy`, `GET /-/ready`, `GET /metrics`, `GET /health`,
//! `GET /model_info`, `POST /predict`, `POST /batch_predict`, `POST /-/reload`, `GET /openapi.json`, `GET /runbooks`,
//! `GET /` (the console), `GET`/`POST /acknowledge/<token>`.

pub mod acknowledge;
pub mod api;
pub mod assemble;
pub mod audit;
pub mod config;
pub mod console;
pub mod detail;
pub mod dispatch;
pub mod escalation;
pub mod pipeline;
pub mod queue;
pub mod receiver;
pub mod reload;
pub mod reroute;
pub mod rescoring;
pub mod runbooks;
pub mod telemetry;

use crate::alert::payload::LabelSet;
use crate::exposition::{registry, Format};
use crate::notify::channel::Channel;
use crate::notify::retry::Backoff;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use queue::Queue;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};

/// Chooses the channels for a notification from its common labels and whether it is resolved.
pub type RouteFn = Box<dyn Fn(&LabelSet, bool) -> Vec<String> + Send + Sync>;

/// Chooses the escalation steps, `(after, channels)`, of a firing notification from its common
/// labels.
pub type EscalationFn = Box<dyn Fn(&LabelSet) -> Vec<(Duration, Vec<String>)> + Send + Sync>;

/// Plain settings of a running sidecar (built from the validated configuration).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Largest webhook body accepted; larger gets 413.
    pub max_body_bytes: usize,
    /// Concurrent webhook requests; beyond gets 503.
    pub max_in_flight: usize,
    /// Credentials Alertmanager must present.
    pub auth: receiver::InboundAuth,
    /// Credentials the REST API asks for.
    pub api_auth: receiver::InboundAuth,
    /// Credentials `/metrics` asks for.
    pub metrics_auth: receiver::InboundAuth,
    /// `/-/ready` fails when the oldest pending notification is older than this.
    pub stale_after: Duration,
    /// Backoff between attempts when the channel states no delay.
    pub backoff: Backoff,
    /// Retrying stops (dead letter) once a notification is this old.
    pub give_up_after: Duration,
    /// Turns in flight at once per channel: a turn counts against each channel it delivers to
    /// until its attempt there is over ([`dispatch`]).
    pub dispatch_concurrency: usize,
    /// The site the pages are read at (its time zone, its addresses).
    pub site: crate::alert::view::Site,
}

/// A running sidecar's shared state.
pub struct Sidecar {
    /// Settings.
    pub settings: Settings,
    /// The durable outbox.
    pub queue: Queue,
    /// Channels by name.
    pub channels: BTreeMap<String, Arc<dyn Channel>>,
    /// Routing.
    pub route: RouteFn,
    /// Own metrics.
    pub telemetry: telemetry::Telemetry,
    /// Admission control for webhook requests.
    pub in_flight: Semaphore,
    /// Wakes the dispatcher when something was stored.
    pub wake: Notify,
    /// Rescoring before delivery.
    pub rescoring: rescoring::Rescoring,
    /// Acknowledge links and what people acknowledged, once set (off when never set).
    pub acknowledge: std::sync::OnceLock<acknowledge::Acknowledger>,
    /// Escalation of unacknowledged alerts, once set (none when never set).
    pub escalation: std::sync::OnceLock<EscalationFn>,
    /// The Prometheus the console's charts read, once set (no charts when never set).
    pub history: std::sync::OnceLock<crate::prometheus::PrometheusHistory>,
    /// Groups whose resolved notification arrived, and when (in memory: after a restart,
    /// whether an alert still fires is asked of Prometheus).
    pub resolved: escalation::Resolved,
    /// What `SIGHUP` and `POST /-/reload` reload from, once set (the binary sets it).
    pub reloader: std::sync::OnceLock<reload::Reloader>,
}

impl Sidecar {
    /// Assemble a sidecar from its parts (the queue opened, the channels built).
    pub fn new(
        settings: Settings,
        queue: Queue,
        channels: Vec<Arc<dyn Channel>>,
        route: RouteFn,
        rescoring: rescoring::Rescoring,
    ) -> Arc<Self> {
        let in_flight = Semaphore::new(settings.max_in_flight.max(1));
        let channels = channels.into_iter().map(|c| (c.name().to_owned(), c)).collect();
        Arc::new(Self {
            settings,
            queue,
            channels,
            route,
            telemetry: telemetry::Telemetry::new(),
            in_flight,
            wake: Notify::new(),
            rescoring,
            acknowledge: std::sync::OnceLock::new(),
            escalation: std::sync::OnceLock::new(),
            history: std::sync::OnceLock::new(),
            resolved: escalation::Resolved::default(),
            reloader: std::sync::OnceLock::new(),
        })
    }

    /// Update the queue gauges.
    pub fn refresh_gauges(&self) {
        self.telemetry.queue_depth.set(self.queue.depth() as i64);
        let age = self.queue.oldest_pending_age(chrono::Utc::now()).unwrap_or_default();
        self.telemetry.oldest_pending_age.set(age.as_secs_f64());
        if let Some(history) = &self.rescoring.history {
            self.telemetry.history.sync(history.stats());
        }
    }
}

/// The sidecar's routes. The webhook checks Alertmanager's credentials itself (after admission
/// control); the REST API and the console ask for `api_auth`, `/metrics` for `metrics_auth`; the health checks
/// and the OpenAPI document are open.
pub fn router(sidecar: Arc<Sidecar>) -> Router {
    let api = Router::new()
        .route("/", get(console::page))
        .route(&format!("{}/{{id}}", detail::PATH), get(detail::page))
        .route(&format!("{}/{{id}}/chart.png", detail::PATH), get(detail::chart))
        .route(&format!("{}/{{id}}/feedback", detail::PATH), post(detail::feedback))
        .route("/model_info", get(api::model_info))
        .route("/-/reload", post(reload_handler))
        .route("/predict", post(api::predict))
        .route("/batch_predict", post(api::batch_predict))
        .route_layer(middleware::from_fn_with_state(sidecar.clone(), require_api_auth));
    let metrics = Router::new()
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(sidecar.clone(), require_metrics_auth));
    Router::new()
        .route("/webhook", post(receiver::webhook))
        .route("/-/healthy", get(|| async { "wardwatch-sidecar is healthy\n" }))
        .route("/-/ready", get(ready))
        .route("/health", get(api::health))
        .route("/openapi.json", get(api::openapi))
        .route(runbooks::PATH, get(runbooks::page))
        // The signed link is the credential: no login is needed to acknowledge from a phone.
        .route(&format!("{}/{{token}}", acknowledge::PATH), get(acknowledge::confirm).post(acknowledge::acknowledge))
        .merge(api)
        .merge(metrics)
        .fallback(|| async { receiver::error(StatusCode::NOT_FOUND, "not found: see GET /openapi.json") })
        // The receiver reads bodies of any size within its alert budget; the API has its own limits.
        .layer(DefaultBodyLimit::disable())
        .with_state(sidecar)
}

/// 401 with a JSON body unless the request carries `auth`'s credentials.
fn authorize(auth: &receiver::InboundAuth, request: &Request, realm: &str) -> Option<Response> {
    let given = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if auth.allows(given) {
        return None;
    }
    let mut r = receiver::error(StatusCode::UNAUTHORIZED, "missing or wrong credentials");
    let challenge = if auth.basic.is_some() { format!("Basic realm=\"{realm}\"") } else { "Bearer".to_owned() };
    if let Ok(value) = header::HeaderValue::from_str(&challenge) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    Some(r)
}

async fn require_api_auth(State(s): State<Arc<Sidecar>>, request: Request, next: Next) -> Response {
    match authorize(&s.settings.api_auth, &request, "wardwatch API") {
        Some(refused) => refused,
        None => next.run(request).await,
    }
}

async fn require_metrics_auth(State(s): State<Arc<Sidecar>>, request: Request, next: Next) -> Response {
    match authorize(&s.settings.metrics_auth, &request, "wardwatch metrics") {
        Some(refused) => refused,
        None => next.run(request).await,
    }
}

/// `GET /-/ready`: ready when the queue directory is writable and nothing pending is stale.
async fn ready(State(s): State<Arc<Sidecar>>) -> Response {
    if !s.queue.writable().await {
        return receiver::error(StatusCode::SERVICE_UNAVAILABLE, "queue directory is not writable");
    }
    let unroutable = s.telemetry.unroutable.get();
    if unroutable > 0 {
        let message =
            format!("{unroutable} pending notification(s) have no configured channel: fix channels or routes");
        return receiver::error(StatusCode::SERVICE_UNAVAILABLE, &message);
    }
    if let Some(age) = s.queue.oldest_pending_age(chrono::Utc::now()) {
        if age > s.settings.stale_after {
            let message = format!(
                "oldest pending notification is {}s old (limit {}s)",
                age.as_secs(),
                s.settings.stale_after.as_secs()
            );
            return receiver::error(StatusCode::SERVICE_UNAVAILABLE, &message);
        }
    }
    (StatusCode::OK, "wardwatch-sidecar is ready\n").into_response()
}

/// `POST /-/reload`: reload the configuration and the model ([`reload`]); 200 with what was
/// done, 500 with why nothing was, 503 when the sidecar was not started by its binary.
async fn reload_handler(State(s): State<Arc<Sidecar>>) -> Response {
    if s.reloader.get().is_none() {
        let body = serde_json::json!({"error": "this sidecar was not started from a configuration file"});
        return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    }
    match reload::reload(&s) {
        Ok(done) => (StatusCode::OK, axum::Json(done)).into_response(),
        Err(why) => {
            tracing::error!(reason = %why, "reload failed; the configuration and model in use are kept");
            let body = serde_json::json!({"error": format!("reload failed, nothing changed: {why}")});
            (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
        }
    }
}

/// Reload on every `SIGHUP` until the process ends ([`reload`]).
pub fn reload_on_sighup(s: Arc<Sidecar>) -> std::io::Result<()> {
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            match reload::reload(&s) {
                Ok(done) => tracing::info!(?done, "reloaded on SIGHUP"),
                Err(why) => {
                    tracing::error!(reason = %why, "reload on SIGHUP failed; the configuration and model in use are kept")
                }
            }
        }
    });
    Ok(())
}

/// `GET /metrics`: the sidecar's own metrics in text format 0.0.4.
async fn metrics(State(s): State<Arc<Sidecar>>) -> Response {
    s.refresh_gauges();
    let mut body = Vec::new();
    registry::encode(&s.telemetry.registry.gather(), Format::Text, &mut body);
    ([(header::CONTENT_TYPE, Format::Text.content_type())], body).into_response()
}

/// Serve on a bound listener and deliver from the queue until `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    sidecar: Arc<Sidecar>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let dispatcher = tokio::spawn(dispatch::run(sidecar.clone(), stopped));
    let served = axum::serve(listener, router(sidecar)).with_graceful_shutdown(shutdown).await;
    let _ = stop.send(true);
    let _ = dispatcher.await;
    served
}
