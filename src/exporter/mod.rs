//! The `wardwatch-exporter` HTTP server: the simulated hospital, or replayed records, as
//! Prometheus metrics.
//!
//! Each scrape advances the [`Source`] to the present and writes its state (values are computed
//! at scrape time, never on a timer). Routes: `/` landing page, the telemetry path (default
//! `/metrics`) and `/-/healthy`; the simulated hospital adds `/ecg` (the synthetic ECG waveform
//! of one patient) and `/events` (ground truth of the events started so far). Unknown paths get
//! 404, wrong methods 405.

pub mod backfill;
pub mod buffers;
pub mod handlers;
pub mod source;
pub mod telemetry;
pub mod waveform;

pub use source::Source;

use crate::sim::events::GroundTruth;
use crate::sim::Simulation;
use axum::routing::get;
use axum::Router;
use std::collections::VecDeque;
use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// Default listen address: port 10464, outside the fully allocated 9100–9999 exporter range.
pub const DEFAULT_LISTEN_ADDRESS: &str = "0.0.0.0:10464";
/// Default listen address of a replay: port 10466, so that it runs beside the simulated
/// hospital (10464) and the sidecar (10465).
pub const DEFAULT_REPLAY_LISTEN_ADDRESS: &str = "0.0.0.0:10466";
/// Ground-truth records kept in memory for `/events`.
pub const EVENTS_KEPT: usize = 10_000;

/// Options of the HTTP server.
#[derive(Debug, Clone)]
pub struct Options {
    /// Path the metrics are served on, e.g. `/metrics`.
    pub telemetry_path: String,
    /// File the ground truth is appended to as JSON lines, if any.
    pub events_log: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Self { telemetry_path: "/metrics".into(), events_log: None }
    }
}

/// Errors of the exporter's set-up.
#[derive(Debug, thiserror::Error)]
pub enum ExporterError {
    /// The telemetry path is not usable.
    #[error("--web.telemetry-path `{0}`: must start with `/`, and not be `/`, `/ecg`, `/events` or `/-/healthy`")]
    TelemetryPath(String),
    /// The events log cannot be opened.
    #[error("cannot open events log {path}: {source}")]
    EventsLog {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// What the simulation produced that is not metrics: ground truth, kept and logged.
pub struct GroundTruthSink {
    recent: VecDeque<GroundTruth>,
    file: Option<std::io::BufWriter<std::fs::File>>,
}

impl GroundTruthSink {
    /// Record new ground truth: keep it for `/events` and append it to the log file.
    pub fn record(&mut self, records: &[GroundTruth]) {
        for r in records {
            if self.recent.len() == EVENTS_KEPT {
                self.recent.pop_front();
            }
            self.recent.push_back(r.clone());
            if let Some(f) = &mut self.file {
                if let Err(e) =
                    serde_json::to_writer(&mut *f, r).map_err(std::io::Error::from).and_then(|_| f.write_all(b"\n"))
                {
                    tracing::error!(error = %e, "cannot append to the events log");
                }
            }
        }
        if let Some(f) = &mut self.file {
            let _ = f.flush();
        }
    }

    /// The ground truth kept in memory, oldest first.
    pub fn recent(&self) -> impl Iterator<Item = &GroundTruth> {
        self.recent.iter()
    }
}

/// Shared state of the exporter.
pub struct Exporter<S: Source = Simulation> {
    /// What is served: the simulated hospital, or replayed records.
    pub source: Mutex<S>,
    /// Ground truth of the events started.
    pub truth: Mutex<GroundTruthSink>,
    /// The exporter's own instrumentation.
    pub telemetry: telemetry::Telemetry,
    /// Server options.
    pub options: Options,
    /// Response buffers, reused between scrapes.
    pub buffers: buffers::BufferPool,
}

impl<S: Source> Exporter<S> {
    /// Wrap a source for serving; opens the events log (I/O happens here, not in validation).
    pub fn new(source: S, options: Options) -> Result<Arc<Self>, ExporterError> {
        let p = &options.telemetry_path;
        if !p.starts_with('/') || ["/", "/ecg", "/events", "/-/healthy"].contains(&p.as_str()) {
            return Err(ExporterError::TelemetryPath(p.clone()));
        }
        let file = match &options.events_log {
            Some(path) => Some(std::io::BufWriter::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| ExporterError::EventsLog { path: path.display().to_string(), source })?,
            )),
            None => None,
        };
        Ok(Arc::new(Self {
            source: Mutex::new(source),
            truth: Mutex::new(GroundTruthSink { recent: VecDeque::new(), file }),
            telemetry: telemetry::Telemetry::new(),
            options,
            buffers: buffers::BufferPool::default(),
        }))
    }
}

/// The exporter's routes, and its source's own.
pub fn router<S: Source>(exporter: Arc<Exporter<S>>) -> Router {
    let path = exporter.options.telemetry_path.clone();
    let common = Router::new()
        .route("/", get(handlers::landing::<S>))
        .route(&path, get(handlers::metrics::<S>))
        .route("/-/healthy", get(|| async { "wardwatch-exporter is healthy\n" }));
    S::routes(common).fallback(handlers::not_found).with_state(exporter)
}

/// Serve on a bound listener until `shutdown` completes.
pub async fn run<S: Source>(
    listener: TcpListener,
    exporter: Arc<Exporter<S>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(exporter)).with_graceful_shutdown(shutdown).await
}
