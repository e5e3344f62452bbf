//! Request handlers; [`scrape`] is the plain function behind the telemetry path.

use super::{waveform, Exporter, Source};
use crate::exposition::{gzip, negotiate, registry, Format, Writer};
use crate::sim::Simulation;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use bytes::Bytes;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// A finished scrape: body, its content type, and whether it is gzipped.
#[derive(Debug)]
pub struct Scrape {
    /// Body bytes (gzipped when `gzip`); the buffer returns to the exporter's pool when dropped.
    pub body: Bytes,
    /// Format of the (uncompressed) body.
    pub format: Format,
    /// True when the body is gzip-compressed.
    pub gzip: bool,
}

/// Seconds since the epoch now.
pub fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Advance the source to `now` and write every metric in `format`, gzipped if asked.
pub fn scrape<S: Source>(exporter: &Exporter<S>, now: f64, format: Format, gzip: bool) -> Scrape {
    let started = Instant::now();
    let mut body = exporter.buffers.take();
    let mut truth = Vec::new();
    {
        let mut source = exporter.source.lock().unwrap_or_else(|e| e.into_inner());
        let step_started = Instant::now();
        source.advance_to(now, &mut truth);
        exporter.telemetry.step_duration.observe(step_started.elapsed().as_secs_f64());
        let mut w = Writer::new(&mut body, format);
        // `# EOF` comes after the exporter's own metrics, below.
        source.write(&mut w);
    }
    if !truth.is_empty() {
        exporter.truth.lock().unwrap_or_else(|e| e.into_inner()).record(&truth);
    }
    exporter.telemetry.observe_scrape(format, started.elapsed().as_secs_f64());
    registry::encode(&exporter.telemetry.registry.gather(), format, &mut body);
    if format == Format::OpenMetrics {
        body.extend_from_slice(b"# EOF\n");
    }
    if !gzip {
        return Scrape { body: exporter.buffers.into_bytes(body), format, gzip };
    }
    let mut compressed = exporter.buffers.take();
    gzip::compress_into(&body, &mut compressed);
    exporter.buffers.give_back(body);
    Scrape { body: exporter.buffers.into_bytes(compressed), format, gzip }
}

/// `GET <telemetry path>`: negotiate format and encoding, scrape off the async threads.
pub async fn metrics<S: Source>(State(exporter): State<Arc<Exporter<S>>>, headers: HeaderMap) -> Response {
    let get = |h| headers.get(h).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let format = negotiate::format(get(header::ACCEPT).as_deref());
    let gzip = negotiate::wants_gzip(get(header::ACCEPT_ENCODING).as_deref());
    let result = tokio::task::spawn_blocking(move || scrape(&exporter, unix_now(), format, gzip)).await;
    match result {
        Ok(s) => {
            let mut r = (StatusCode::OK, [(header::CONTENT_TYPE, s.format.content_type())], s.body).into_response();
            if s.gzip {
                r.headers_mut().insert(header::CONTENT_ENCODING, header::HeaderValue::from_static("gzip"));
            }
            r
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &format!("scrape failed: {e}")),
    }
}

/// A JSON error body with a status.
pub fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

/// Anything not routed: 404 with a pointer to the landing page.
pub async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "not found: see / for the endpoints")
}

/// `GET /events`: ground truth of the events started so far, as JSON lines.
pub async fn events(State(exporter): State<Arc<Exporter<Simulation>>>) -> Response {
    let truth = exporter.truth.lock().unwrap_or_else(|e| e.into_inner());
    let mut body = Vec::new();
    for r in truth.recent() {
        if serde_json::to_writer(&mut body, r).is_ok() {
            body.push(b'\n');
        }
    }
    ([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response()
}

/// `GET /ecg?patient=p00001&seconds=10&format=json|csv|svg`: the patient's synthetic ECG.
pub async fn ecg(State(exporter): State<Arc<Exporter<Simulation>>>, Query(q): Query<waveform::EcgQuery>) -> Response {
    let result = tokio::task::spawn_blocking(move || {
        let sim = exporter.source.lock().unwrap_or_else(|e| e.into_inner());
        waveform::render(&sim, &q)
    })
    .await;
    match result {
        Ok(Ok((content_type, body))) => ([(header::CONTENT_TYPE, content_type)], body).into_response(),
        Ok(Err(e)) => error(e.status(), &e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &format!("waveform failed: {e}")),
    }
}

/// `GET /`: what this is and where to look.
pub async fn landing<S: Source>(State(exporter): State<Arc<Exporter<S>>>) -> Html<String> {
    let (summary, links) = {
        let source = exporter.source.lock().unwrap_or_else(|e| e.into_inner());
        (source.summary(), source.links())
    };
    let path = &exporter.options.telemetry_path;
    let mut items =
        format!("<li><a href=\"{path}\">{path}</a>: metrics (Prometheus text 0.0.4 or OpenMetrics 1.0.0)</li>");
    for link in &links {
        let href = html_escape(&link.href);
        items.push_str(&format!("<li><a href=\"{href}\">{href}</a>: {}</li>", html_escape(link.text)));
    }
    items.push_str("<li><a href=\"/-/healthy\">/-/healthy</a></li>");
    Html(format!(
        "<!doctype html><html><head><title>wardwatch exporter</title></head><body>\
         <h1>wardwatch exporter</h1><p>{summary}</p><ul>{items}</ul></body></html>\n",
        summary = html_escape(&summary),
    ))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
