//! Real alerts rescored against a real Prometheus holding backfilled history: the exporter backfills
//! three hours with a probe-off artifact on one patient and real hypoxia on another, promtool turns
//! it into TSDB blocks, Prometheus serves them. Each alert is found where the repository's
//! `HypoxiaDetected` rule would fire it, scored through `query_range`, scored again (replay), and
//! scored on the same raw samples held in memory: all three give the same window and decision.

mod common;

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use wardwatch::alert::payload::{Alert, Status};
use wardwatch::prometheus::PrometheusSource;
use wardwatch::rescore::engine::{AlertOutcome, Rescorer};
use wardwatch::rescore::history::{HistoryRequest, HistorySource, InMemorySource, Naming};
use wardwatch::rescore::policy::{Decision, Policy};
use wardwatch::rescore::shared::{SharedHistory, Sharing};
use wardwatch::rescore::targets::{Targets, TargetsConfig};
use wardwatch::sidecar::assemble::load_model;

const SCENARIO: &str = "events:
  - {at: 2h, kind: spo2_probe_off, target: p00003, duration: 90s}
  - {at: 125m, kind: hypoxia, target: p00005, duration: 50m, severity: 1.0}
";

struct Event {
    kind: String,
    patient: String,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

fn events(path: &std::path::Path) -> Vec<Event> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter_map(|v| {
            Some(Event {
                kind: v["kind"].as_str()?.to_owned(),
                patient: v["entity"]["patient"].as_str()?.to_owned(),
                start: v["start"].as_str()?.parse().ok()?,
                end: v["end"].as_str()?.parse().ok()?,
            })
        })
        .collect()
}

fn backfill(dir: &std::path::Path, promtool: &std::path::Path, data: &std::path::Path) -> Vec<Event> {
    std::fs::write(dir.join("scenario.yml"), SCENARIO).unwrap();
    let (om, truth) = (dir.join("history.om"), dir.join("events.jsonl"));
    let out = Command::new(env!("CARGO_BIN_EXE_wardwatch-exporter"))
        .args(["--seed", "11", "--patients", "8", "--scenario"])
        .arg(dir.join("scenario.yml"))
        .args(["backfill", "--hours", "3", "--step", "5s", "--output"])
        .arg(&om)
        .arg("--events-output")
        .arg(&truth)
        .output()
        .unwrap();
    assert!(out.status.success(), "backfill failed: {}", String::from_utf8_lossy(&out.stderr));
    let imported =
        Command::new(promtool).args(["tsdb", "create-blocks-from", "openmetrics"]).arg(&om).arg(data).output();
    let imported = imported.unwrap();
    assert!(imported.status.success(), "promtool: {}", String::from_utf8_lossy(&imported.stderr));
    events(&truth)
}

/// `(time, value)` samples of a range query.
async fn range(url: &str, query: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<(f64, f64)> {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let params = [
        ("query", query.to_owned()),
        ("start", start.timestamp().to_string()),
        ("end", end.timestamp().to_string()),
        ("step", "5".to_owned()),
    ];
    let v: serde_json::Value =
        client.post(format!("{url}/api/v1/query_range")).form(&params).send().await.unwrap().json().await.unwrap();
    let values = v["data"]["result"][0]["values"].as_array().cloned().unwrap_or_default();
    values.iter().map(|p| (p[0].as_f64().unwrap(), p[1].as_str().unwrap().parse().unwrap())).collect()
}

/// When `HypoxiaDetected` (SpO2 < 0.90 for 10 s, evaluated every 5 s) fires for a patient during
/// an event: the third consecutive evaluation below 0.90.
async fn fired_at(url: &str, e: &Event, until: DateTime<Utc>) -> DateTime<Utc> {
    let query = format!("wardwatch_patient_spo2_ratio{{patient=\"{}\"}}", e.patient);
    let samples = range(url, &query, e.start, until).await;
    let below: Vec<bool> = samples.iter().map(|(_, v)| *v < 0.90).collect();
    let i = (0..below.len().saturating_sub(2))
        .find(|&i| below[i] && below[i + 1] && below[i + 2])
        .unwrap_or_else(|| panic!("HypoxiaDetected never fires for {} ({}): {samples:?}", e.patient, e.kind));
    DateTime::from_timestamp(samples[i + 2].0 as i64, 0).unwrap()
}

fn alert(patient: &str, starts_at: DateTime<Utc>) -> Alert {
    let labels: BTreeMap<String, String> =
        [("alertname", "HypoxiaDetected"), ("severity", "critical"), ("patient", patient)]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    Alert {
        status: Status::Firing,
        labels,
        annotations: BTreeMap::new(),
        starts_at,
        ends_at: None,
        generator_url: String::new(),
        fingerprint: format!("fp-{patient}"),
    }
}

fn chain(history: Arc<dyn HistorySource>, model: Arc<dyn wardwatch::rescore::engine::Model>) -> Rescorer {
    Rescorer {
        history,
        targets: Targets::new(&TargetsConfig::default()).unwrap(),
        model,
        policy: Policy::default(),
        lookback: Duration::from_secs(7200),
        step: Duration::from_secs(5),
        budget: Duration::from_secs(20),
        shadow: None,
    }
}

/// The raw samples Prometheus holds for a patient over the window (a range selector at `at`),
/// as an in-memory source.
async fn raw_history(url: &str, patient: &str, at: DateTime<Utc>) -> InMemorySource {
    let targets = Targets::new(&TargetsConfig::default()).unwrap();
    let labels = [("patient".to_string(), patient.to_string())].into_iter().collect();
    let resolved = targets.resolve(&labels, "").unwrap();
    let naming = &resolved.groups[0].naming;
    assert!(matches!(naming, Naming::ByMetric(_)), "patient signals by metric");
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let query = format!("{{__name__=~\"wardwatch_patient_.+\",patient=\"{patient}\"}}[2h10m]");
    let params = [("query", query), ("time", format!("{:.3}", at.timestamp_millis() as f64 / 1000.0))];
    let v: serde_json::Value =
        client.post(format!("{url}/api/v1/query")).form(&params).send().await.unwrap().json().await.unwrap();
    let mut source = InMemorySource::new();
    for series in v["data"]["result"].as_array().unwrap() {
        let labels: std::collections::BTreeMap<String, String> = series["metric"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect();
        let Some(signal) = naming.signal_of(&labels) else { continue };
        for p in series["values"].as_array().unwrap() {
            let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
            source.push(&resolved.key, &signal, t, p[1].as_str().unwrap().parse().unwrap());
        }
    }
    source
}

fn scored(o: &AlertOutcome) -> &wardwatch::rescore::engine::Scored {
    o.result.as_ref().unwrap_or_else(|e| panic!("unscored: {e:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_alerts_are_rescored_on_backfilled_history_and_replays_agree() {
    let Some(promtool) = common::require_tool("promtool") else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut truth = Vec::new();
    let Some(prom) = common::Prometheus::start_with(&[], "15s", None, |data| {
        truth = backfill(dir.path(), &promtool, data);
    }) else {
        return;
    };
    let url = prom.url().to_owned();
    let end = Utc::now();
    let probe_off = truth.iter().find(|e| e.kind == "spo2_probe_off").expect("the scenario's probe-off");
    let hypoxia = truth.iter().find(|e| e.kind == "hypoxia").expect("the scenario's hypoxia");
    let model = load_model(None).expect("the shipped model");
    let live = chain(Arc::new(PrometheusSource::new(&url, Duration::from_secs(10)).unwrap()), model.clone());
    let firing_for = Duration::from_secs(20);

    let artifact_alert = alert(&probe_off.patient, fired_at(&url, probe_off, probe_off.end).await);
    let artifact = live.rescore_alert(&artifact_alert, firing_for).await;
    let a = scored(&artifact);
    assert_eq!(a.verdict.decision, Decision::Downgrade, "probe-off is downgraded: {a:#?}");
    assert!(a.assessment.artifact >= 0.5 && a.window.signals >= 10, "{a:#?}");
    assert_eq!(a.window.end_ms, artifact_alert.starts_at.timestamp_millis(), "the window ends at startsAt");

    let true_alert = alert(&hypoxia.patient, fired_at(&url, hypoxia, end).await);
    let genuine = live.rescore_alert(&true_alert, firing_for).await;
    let g = scored(&genuine);
    assert!(g.verdict.decision >= Decision::Keep, "real hypoxia is kept at full priority: {g:#?}");
    assert!(
        g.assessment.score > a.assessment.score,
        "genuine {} vs artifact {}",
        g.assessment.score,
        a.assessment.score
    );

    for (original, alert) in [(&artifact, &artifact_alert), (&genuine, &true_alert)] {
        let replay = live.rescore_alert(alert, firing_for).await;
        assert_eq!(scored(&replay), scored(original), "replaying on Prometheus gives the same decision");
        let memory = Arc::new(raw_history(&url, &alert.labels["patient"], alert.starts_at).await);
        let request = HistoryRequest {
            entity: format!("patient={}", alert.labels["patient"]),
            groups: Targets::new(&TargetsConfig::default()).unwrap().resolve(&alert.labels, "").unwrap().groups,
            end_ms: alert.starts_at.timestamp_millis(),
            lookback: live.lookback,
            step: live.step,
        };
        let from_prometheus = live.history.fetch(&request).await.unwrap();
        assert_eq!(memory.window(&request), from_prometheus, "in memory, samples are taken as query_range takes them");
        let offline = chain(memory, model.clone()).rescore_alert(alert, firing_for).await;
        assert_eq!(scored(&offline), scored(original), "scoring the same samples in memory gives the same decision");

        // Nearby alerts of the patient share one fetch, and each window is the one it would get alone.
        let prometheus = Arc::new(PrometheusSource::new(&url, Duration::from_secs(10)).unwrap());
        let shared = Arc::new(SharedHistory::new(prometheus, Sharing::default()));
        let nearby: Vec<HistoryRequest> = [0, -3, 7, -60, 100]
            .iter()
            .map(|k| HistoryRequest { end_ms: request.end_ms + k * 5_000, ..request.clone() })
            .collect();
        let windows = futures_util::future::join_all(nearby.iter().map(|r| shared.fetch(r))).await;
        for (r, w) in nearby.iter().zip(windows) {
            assert_eq!(w.unwrap(), live.history.fetch(r).await.unwrap(), "the window ending at {}", r.end_ms);
        }
        assert_eq!(shared.stats().fetches, 1, "{:?}", shared.stats());
        let via_shared = chain(shared.clone(), model.clone()).rescore_alert(alert, firing_for).await;
        assert_eq!(scored(&via_shared), scored(original), "a shared fetch gives the same decision");
        assert_eq!(shared.stats().fetches, 1, "the alert itself is served from memory: {:?}", shared.stats());
    }
}
