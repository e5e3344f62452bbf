//! The sidecar's REST API: `GET /health`, `GET /model_info`, `POST /predict`,
//! `POST /batch_predict` and `GET /openapi.json` (the contract, tested against these handlers).
//!
//! A sample is one alert's named features (as `/model_info` lists them) and its context; the
//! answer is the score, the artifact likelihood, the decision and the reasons — the same chain
//! the webhook path runs after fetching history. Bad input gets a 4xx with a JSON `error` that
//! names the field; without a model, 503.

use super::Sidecar;
use crate::rescore::engine::Rescorer;
use crate::rescore::policy::Decision;
use crate::rescore::score::{EntityKind, Features, Subject};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// The OpenAPI 3.0 document of the routes.
pub const OPENAPI: &str = include_str!("openapi.json");
/// Largest `/predict` body.
pub const MAX_PREDICT_BYTES: usize = 64 * 1024;
/// Largest `/batch_predict` body.
pub const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;
/// Most samples in one `/batch_predict`.
pub const MAX_BATCH_SAMPLES: usize = 10_000;

/// One sample to score.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sample {
    /// The alert's name (optional; used in reasons).
    #[serde(default)]
    pub alertname: String,
    /// The alert's severity (`critical`, `warning`, `info`); default `warning`.
    #[serde(default = "default_severity")]
    pub severity: String,
    /// What the alert is about; default `patient`.
    #[serde(default = "default_entity")]
    pub entity: EntityKind,
    /// The signal the alert's threshold is on.
    #[serde(default)]
    pub focus: Option<String>,
    /// Named features.
    pub features: Features,
    /// How long the alert has fired, seconds (default 0).
    #[serde(default)]
    pub firing_for_seconds: f64,
}

fn default_severity() -> String {
    "warning".into()
}
fn default_entity() -> EntityKind {
    EntityKind::Patient
}

/// The answer for one sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// Score in [0, 1]; 1 = genuine deterioration.
    pub score: f64,
    /// Artifact likelihood in [0, 1].
    pub artifact: f64,
    /// The policy's decision.
    pub decision: Decision,
    /// Why: the policy's reason, then the model's, most important first.
    pub reasons: Vec<String>,
    /// The model that scored it.
    pub model_version: String,
}

/// A refused request: its status and message, answered as a JSON `error`.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        super::receiver::error(self.0, &self.1)
    }
}

fn error(status: StatusCode, message: &str) -> ApiError {
    ApiError(status, message.to_owned())
}

fn json_response(value: &impl Serialize) -> Response {
    (StatusCode::OK, axum::Json(value)).into_response()
}

async fn read_body(body: Body, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| error(StatusCode::PAYLOAD_TOO_LARGE, &format!("request body exceeds {limit} bytes")))
}

/// Score one sample with the chain's model and policy; errors name the field under `at`.
pub fn predict_one(r: &Rescorer, sample: &Sample, at: &str) -> Result<Prediction, String> {
    if let Some((name, _)) = sample.features.iter().find(|(_, v)| !v.is_finite()) {
        return Err(format!("{at}features.{name}: must be a finite number"));
    }
    if !(sample.firing_for_seconds.is_finite() && sample.firing_for_seconds >= 0.0) {
        return Err(format!("{at}firing_for_seconds: must be a number ≥ 0"));
    }
    let subject = Subject {
        alertname: sample.alertname.clone(),
        severity: sample.severity.clone(),
        entity: sample.entity,
        focus: sample.focus.clone(),
    };
    let assessment = r.model.assess_features(&subject, &sample.features).map_err(|e| format!("{at}features: {e}"))?;
    let verdict = r.policy.decide(&subject, &assessment, Duration::from_secs_f64(sample.firing_for_seconds));
    let reasons = verdict.reasons.into_iter().map(|r| r.text).collect();
    Ok(Prediction {
        score: assessment.score,
        artifact: assessment.artifact,
        decision: verdict.decision,
        reasons,
        model_version: r.model.version(),
    })
}

fn rescorer(s: &Sidecar) -> Result<&Rescorer, ApiError> {
    s.rescoring.rescorer.as_ref().map_err(|why| error(StatusCode::SERVICE_UNAVAILABLE, &format!("no model: {why}")))
}

fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| error(StatusCode::BAD_REQUEST, &format!("invalid request body: {e}")))
}

/// `POST /predict`: one sample.
pub async fn predict(State(s): State<Arc<Sidecar>>, body: Body) -> Result<Response, ApiError> {
    let bytes = read_body(body, MAX_PREDICT_BYTES).await?;
    let r = rescorer(&s)?;
    let sample: Sample = parse(&bytes)?;
    let p = predict_one(r, &sample, "").map_err(|e| error(StatusCode::UNPROCESSABLE_ENTITY, &e))?;
    Ok(json_response(&p))
}

/// The `/batch_predict` request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch {
    samples: Vec<Sample>,
}

/// `POST /batch_predict`: `{"samples": [...]}` → `{"results": [...]}`, in order.
pub async fn batch_predict(State(s): State<Arc<Sidecar>>, body: Body) -> Result<Response, ApiError> {
    let bytes = read_body(body, MAX_BATCH_BYTES).await?;
    let r = rescorer(&s)?;
    let batch: Batch = parse(&bytes)?;
    if batch.samples.len() > MAX_BATCH_SAMPLES {
        let message = format!("samples: {} given, at most {MAX_BATCH_SAMPLES} per request", batch.samples.len());
        return Err(error(StatusCode::PAYLOAD_TOO_LARGE, &message));
    }
    let results = batch
        .samples
        .iter()
        .enumerate()
        .map(|(i, sample)| predict_one(r, sample, &format!("samples[{i}].")))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| error(StatusCode::UNPROCESSABLE_ENTITY, &e))?;
    Ok(json_response(&json!({ "results": results })))
}

/// `GET /health`: alive, with what works and what does not.
pub async fn health(State(s): State<Arc<Sidecar>>) -> Response {
    let (rescoring, model) = match &s.rescoring.rescorer {
        Ok(r) => ("enabled".to_owned(), Value::String(r.model.version())),
        Err(why) => (format!("unscored: {why}"), Value::Null),
    };
    json_response(&json!({
        "status": "ok",
        "rescoring": rescoring,
        "model_version": model,
        "queue_depth": s.queue.depth(),
        "audit_log": s.rescoring.audit.as_ref().map(|a| a.path().display().to_string()),
    }))
}

/// `GET /model_info`: version, training data range, features, thresholds.
pub async fn model_info(State(s): State<Arc<Sidecar>>) -> Result<Response, ApiError> {
    let r = rescorer(&s)?;
    let mut info = r.model.info();
    if let Value::Object(map) = &mut info {
        map.insert("version".into(), Value::String(r.model.version()));
        let file =
            s.rescoring.model_file.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(|p| p.display().to_string());
        map.insert("file".into(), Value::String(file.unwrap_or_else(|| "models/default.json (shipped)".into())));
        if let Some(shadow) = &r.shadow {
            let (agreed, differed) = (
                s.telemetry.shadow.with_label_values(&["agreed"]).get(),
                s.telemetry.shadow.with_label_values(&["differed"]).get(),
            );
            let compared = agreed + differed;
            map.insert(
                "shadow".into(),
                json!({"version": shadow.version(), "training": shadow.info()["training"], "compared": compared,
                       "agreed": agreed, "differed": differed,
                       "agreement": if compared > 0 { Some(agreed as f64 / compared as f64) } else { None }}),
            );
        }
        map.insert("policy".into(), serde_json::to_value(&r.policy).unwrap_or(Value::Null));
        map.insert(
            "window".into(),
            json!({"lookback_seconds": r.lookback.as_secs_f64(), "step_seconds": r.step.as_secs_f64(),
                   "budget_seconds": r.budget.as_secs_f64()}),
        );
    }
    Ok(json_response(&info))
}

/// `GET /openapi.json`.
pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}
