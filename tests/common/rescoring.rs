//! An in-process sidecar with rescoring: recording channels, a history source of the test's
//! choosing and a transparent test model, so tests can drive the decision path end to end.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wardwatch::alert::notification::Notification;
use wardwatch::notify::channel::{BoxFuture, Channel};
use wardwatch::notify::retry::Outcome;
use wardwatch::rescore::engine::{Model, Rescorer};
use wardwatch::rescore::history::HistorySource;
use wardwatch::rescore::policy::Policy;
use wardwatch::rescore::score::{Assessment, Features, Reason, Subject};
use wardwatch::rescore::targets::{Targets, TargetsConfig};
use wardwatch::rescore::window::Window;
use wardwatch::sidecar::audit::AuditLog;
use wardwatch::sidecar::queue::{Queue, QueueConfig};
use wardwatch::sidecar::receiver::InboundAuth;
use wardwatch::sidecar::rescoring::Rescoring;
use wardwatch::sidecar::{self, Settings, Sidecar};

/// A channel that keeps what it is given.
pub struct Recorder {
    name: &'static str,
    got: Mutex<Vec<Notification>>,
}

impl Recorder {
    /// A recorder answering to `name`.
    pub fn new(name: &'static str) -> Arc<Self> {
        Arc::new(Self { name, got: Mutex::new(Vec::new()) })
    }

    /// What it received so far.
    pub fn received(&self) -> Vec<Notification> {
        self.got.lock().unwrap().clone()
    }
}

impl Channel for Recorder {
    fn name(&self) -> &'static str {
        self.name
    }
    fn deliver<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Outcome> {
        self.got.lock().unwrap().push(n.clone());
        Box::pin(async { Outcome::Success })
    }
}

/// A transparent model: the window's last SpO2 below 0.5 reads as an artifact (probe-off), 0.94
/// and above as usual and not dangerous (score 0.1), anything between as genuine; named features
/// `score` and `artifact` are taken as they are.
pub struct TestModel;

impl Model for TestModel {
    fn assess(&self, _subject: &Subject, window: &Window) -> Result<Assessment, String> {
        let spo2 = window.signal("spo2").and_then(|s| s.last()).map(|(_, v)| v).ok_or("no spo2")?;
        let artifact = if spo2 < 0.5 { 0.95 } else { 0.05 };
        let score = if spo2 >= 0.94 { 0.1 } else { 1.0 - artifact };
        let text = format!("SpO2 {:.0}% at the alert's start", spo2 * 100.0);
        Ok(Assessment { score, artifact, reasons: vec![Reason { text, weight: 1.0 }] })
    }
    fn assess_features(&self, _subject: &Subject, f: &Features) -> Result<Assessment, String> {
        if let Some(unknown) = f.keys().find(|k| *k != "score" && *k != "artifact") {
            return Err(format!("unknown feature `{unknown}` (known: artifact, score)"));
        }
        let get = |k: &str| f.get(k).copied().ok_or(format!("missing feature `{k}`"));
        Ok(Assessment { score: get("score")?, artifact: get("artifact")?, reasons: vec![] })
    }
    fn version(&self) -> String {
        "test-model-1".into()
    }
    fn info(&self) -> serde_json::Value {
        serde_json::json!({"features": {"patient": ["artifact", "score"]}, "training": {"rows": 0}})
    }
}

/// The chain with the test model and default targets and policy over `history`.
pub fn rescorer(history: Arc<dyn HistorySource>, budget: Duration) -> Rescorer {
    Rescorer {
        history,
        targets: Targets::new(&TargetsConfig::default()).unwrap(),
        model: Arc::new(TestModel),
        policy: Policy::default(),
        lookback: Duration::from_secs(600),
        step: Duration::from_secs(5),
        budget,
        shadow: None,
    }
}

/// A sidecar on port 0 with `email`, `slack` and `file` recorders; every alert routes to all three.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its state.
    pub sidecar: Arc<Sidecar>,
    /// The channels, by name.
    pub channels: BTreeMap<&'static str, Arc<Recorder>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A history source that panics, as a bug in it would.
pub struct PanickingHistory;

impl HistorySource for PanickingHistory {
    fn fetch_series<'a>(
        &'a self,
        _request: &'a wardwatch::rescore::history::HistoryRequest,
    ) -> wardwatch::rescore::history::FetchSeries<'a> {
        Box::pin(async { panic!("a bug while fetching history") })
    }
}

/// Start a sidecar whose rescoring uses `rescorer` (or is disabled with its reason).
pub async fn start(dir: &Path, rescorer: Result<Rescorer, String>) -> Running {
    let names = ["email", "slack", "file"];
    let channels: BTreeMap<&'static str, Arc<Recorder>> = names.iter().map(|n| (*n, Recorder::new(n))).collect();
    let dyn_channels: Vec<Arc<dyn Channel>> = channels.values().map(|c| c.clone() as Arc<dyn Channel>).collect();
    let mut running = start_with_channels(dir, rescorer, dyn_channels).await;
    running.channels = channels;
    running
}

/// Start a sidecar delivering to `dyn_channels`, every alert routed to all of them.
pub async fn start_with_channels(
    dir: &Path,
    rescorer: Result<Rescorer, String>,
    dyn_channels: Vec<Arc<dyn Channel>>,
) -> Running {
    let names: Vec<String> = dyn_channels.iter().map(|c| c.name().to_string()).collect();
    start_routed(dir, rescorer, dyn_channels, Box::new(move |_, _| names.clone()), 8).await
}

/// Start a sidecar without rescoring delivering to `dyn_channels` by `route`.
pub async fn start_with_routes(dir: &Path, dyn_channels: Vec<Arc<dyn Channel>>, route: sidecar::RouteFn) -> Running {
    start_routed(dir, Err("rescoring is off in this test".into()), dyn_channels, route, 8).await
}

/// [`start_with_routes`] delivering one notification at a time, so that work queues up.
pub async fn start_one_at_a_time(dir: &Path, dyn_channels: Vec<Arc<dyn Channel>>, route: sidecar::RouteFn) -> Running {
    start_routed(dir, Err("rescoring is off in this test".into()), dyn_channels, route, 1).await
}

async fn start_routed(
    dir: &Path,
    rescorer: Result<Rescorer, String>,
    dyn_channels: Vec<Arc<dyn Channel>>,
    route: sidecar::RouteFn,
    dispatch_concurrency: usize,
) -> Running {
    let (queue, _) = Queue::open(QueueConfig { fsync: false, ..QueueConfig::new(dir.join("queue")) }).await.unwrap();
    let settings = Settings {
        max_body_bytes: 64 * 1024,
        max_in_flight: 64,
        auth: InboundAuth::default(),
        api_auth: InboundAuth::default(),
        metrics_auth: InboundAuth::default(),
        stale_after: Duration::from_secs(600),
        backoff: wardwatch::notify::retry::Backoff { base: Duration::from_millis(50), cap: Duration::from_millis(300) },
        give_up_after: Duration::from_secs(60),
        dispatch_concurrency,
        site: Default::default(),
    };
    let audit = Some(Arc::new(AuditLog::open(&dir.join("decisions.jsonl")).unwrap()));
    let downgraded_channels = vec!["slack".into(), "file".into()];
    let rescoring = Rescoring { rescorer, audit, downgraded_channels, ..Rescoring::disabled("") };
    let sidecar = Sidecar::new(settings, queue, dyn_channels, route, rescoring);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(sidecar::run(listener, sidecar.clone(), async {
        let _ = stopped.await;
    }));
    Running { addr, sidecar, channels: BTreeMap::new(), stop: Some(stop) }
}

/// An Alertmanager v4 payload with one HypoxiaDetected alert for `patient` starting at `starts_at`.
pub fn hypoxia_payload(status: &str, patient: &str, starts_at: &str, fingerprint: &str) -> String {
    let ends_at = if status == "resolved" { "2026-11-22T01:30:00Z" } else { "0001-01-01T00:00:00Z" };
    serde_json::json!({
        "receiver": "wardwatch", "status": status, "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"HypoxiaDetected\",patient=\"{patient}\"}}"),
        "externalURL": "http://alertmanager:9093",
        "groupLabels": {"alertname": "HypoxiaDetected", "patient": patient},
        "commonLabels": {"alertname": "HypoxiaDetected", "severity": "critical", "ward": "icu-1", "patient": patient},
        "alerts": [{
            "status": status,
            "labels": {"alertname": "HypoxiaDetected", "severity": "critical", "ward": "icu-1", "patient": patient},
            "annotations": {"summary": "SpO2 below 90% for 10 s"},
            "startsAt": starts_at, "endsAt": ends_at,
            "generatorURL": "http://prometheus:9090/graph?g0.expr=wardwatch_patient_spo2_ratio+%3C+0.9",
            "fingerprint": fingerprint
        }]
    })
    .to_string()
}

/// POST a webhook; the status code.
pub async fn post_webhook(addr: SocketAddr, body: String) -> u16 {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    client.post(format!("http://{addr}/webhook")).body(body).send().await.unwrap().status().as_u16()
}

/// Wait until `check` holds, or panic with `what` after `limit`.
pub async fn eventually(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
