//! The sidecar's rescoring step in-process: a likely artifact reaches Slack at once and email only
//! if it persists; a genuine alert goes everywhere; alerts fail open when history cannot be had
//! (Prometheus down, hanging past the budget, answering garbage); every decision is audited and
//! counted.

mod common;

use common::rescoring::{eventually, hypoxia_payload, post_webhook, rescorer, start, Running};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wardwatch::alert::notification::Scoring;
use wardwatch::prometheus::PrometheusSource;
use wardwatch::rescore::history::InMemorySource;
use wardwatch::rescore::policy::Decision;

/// A Prometheus stand-in that accepts connections and answers each request with `reply`, or
/// never answers when `reply` is `None`.
async fn fake_prometheus(reply: Option<&'static str>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let _ = socket.read(&mut buf).await;
                match reply {
                    Some(body) => {
                        let head =
                            format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len());
                        let _ = socket.write_all(head.as_bytes()).await;
                        let _ = socket.write_all(body.as_bytes()).await;
                    }
                    None => tokio::time::sleep(Duration::from_secs(60)).await,
                }
            });
        }
    });
    url
}

/// A URL where nothing listens.
fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

async fn fails_open(prometheus_url: &str, failure: &str, expect: &str) {
    let dir = tempfile::tempdir().unwrap();
    let source = PrometheusSource::new(prometheus_url, Duration::from_secs(5)).unwrap();
    let running: Running = start(dir.path(), Ok(rescorer(Arc::new(source), Duration::from_millis(400)))).await;
    let started = Instant::now();
    let starts_at = (chrono::Utc::now() - chrono::Duration::seconds(15)).to_rfc3339();
    assert_eq!(post_webhook(running.addr, hypoxia_payload("firing", "p00003", &starts_at, "f1")).await, 200);
    for name in ["email", "slack", "file"] {
        let ch = running.channels[name].clone();
        eventually(Duration::from_secs(5), &format!("{name} receives the unscored alert"), || {
            !ch.received().is_empty()
        })
        .await;
        let got = ch.received();
        let Scoring::Unscored { reason } = &got[0].scoring else {
            panic!("{name}: expected unscored, got {:?}", got[0].scoring)
        };
        assert!(reason.contains(expect), "{name}: reason {reason:?} should mention {expect:?}");
    }
    assert!(started.elapsed() < Duration::from_secs(3), "the budget bounds the wait: {:?}", started.elapsed());
    let t = &running.sidecar.telemetry;
    assert_eq!(t.scoring_failures.with_label_values(&[failure]).get(), 1);
    assert_eq!(t.decisions.with_label_values(&["unscored"]).get(), 1);
    let audit = std::fs::read_to_string(dir.path().join("decisions.jsonl")).unwrap();
    let entry: serde_json::Value = serde_json::from_str(audit.lines().next().expect("one audit line")).unwrap();
    assert!(entry["decision"].is_null(), "{entry}");
    assert!(entry["reasons"][0].as_str().unwrap().contains(failure), "{entry}");
}

#[tokio::test]
async fn prometheus_down_sends_the_alert_unscored_to_every_channel() {
    fails_open(&closed_port(), "history", "history unavailable").await;
}

#[tokio::test]
async fn prometheus_hanging_past_the_budget_sends_the_alert_unscored() {
    let url = fake_prometheus(None).await;
    fails_open(&url, "timeout", "budget").await;
}

#[tokio::test]
async fn prometheus_answering_garbage_sends_the_alert_unscored() {
    let url = fake_prometheus(Some("<html>not prometheus</html>")).await;
    fails_open(&url, "history", "unexpected answer").await;
}

#[tokio::test]
async fn rescoring_disabled_still_delivers_everywhere_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), Err("rescoring is disabled in the configuration".into())).await;
    assert_eq!(post_webhook(running.addr, hypoxia_payload("firing", "p1", "2026-11-22T01:00:00Z", "d1")).await, 200);
    for name in ["email", "slack", "file"] {
        let ch = running.channels[name].clone();
        eventually(Duration::from_secs(5), name, || !ch.received().is_empty()).await;
        assert_eq!(ch.received()[0].scoring.line(), "unscored: rescoring is disabled in the configuration");
    }
}

/// A sidecar whose history has `patient`'s SpO2 at `spo2` for the minute before `starts_at`,
/// and, when `still_firing`, Prometheus's `ALERTS` series for the alert; re-escalation after 2 s.
async fn downgrade_stack(
    dir: &std::path::Path,
    patient: &str,
    spo2: f64,
    starts_at: chrono::DateTime<chrono::Utc>,
    still_firing: bool,
) -> Running {
    let mut history = InMemorySource::new();
    let end = starts_at.timestamp_millis();
    for i in 0..=12 {
        history.push(&format!("patient={patient}"), "spo2", end - 60_000 + i * 5_000, spo2);
    }
    if still_firing {
        history.push(&format!("ALERTS:HypoxiaDetected:patient={patient}"), "firing", end, 1.0);
    }
    let mut chain = rescorer(Arc::new(history), Duration::from_secs(1));
    chain.policy.reescalate_after = Duration::from_secs(2);
    start(dir, Ok(chain)).await
}

fn decision_of(n: &wardwatch::alert::notification::Notification) -> Option<Decision> {
    n.scoring.decision()
}

#[tokio::test]
async fn a_likely_artifact_reaches_slack_at_once_and_email_only_if_it_persists() {
    let dir = tempfile::tempdir().unwrap();
    let starts_at = chrono::Utc::now() - chrono::Duration::milliseconds(500);
    let running = downgrade_stack(dir.path(), "p00003", 0.3, starts_at, true).await;
    let body = hypoxia_payload("firing", "p00003", &starts_at.to_rfc3339(), "a1");
    assert_eq!(post_webhook(running.addr, body).await, 200);
    let (slack, email) = (running.channels["slack"].clone(), running.channels["email"].clone());
    eventually(Duration::from_secs(5), "slack gets the downgraded alert", || !slack.received().is_empty()).await;
    let first = &slack.received()[0];
    assert_eq!(decision_of(first), Some(Decision::Downgrade));
    assert_eq!(first.scoring.tag(), Some("likely artifact"));
    assert!(email.received().is_empty(), "email is held while the alert may be an artifact");
    assert_eq!(running.channels["file"].received().len(), 1);
    eventually(Duration::from_secs(8), "email gets it once it persists", || !email.received().is_empty()).await;
    // Rescored at its re-escalation time, the reading is still implausible: a technical notice.
    let later = &email.received()[0];
    assert_eq!(decision_of(later), Some(Decision::Downgrade));
    assert_eq!(later.scoring.tag(), Some("technical: check the sensor"));
    assert!(later.scoring.line().starts_with("technical notice"), "{}", later.scoring.line());
    assert!(later.scoring.line().contains("check the sensor"), "{}", later.scoring.line());
    assert!(starts_at + chrono::Duration::seconds(2) <= chrono::Utc::now(), "not before reescalate_after");
    eventually(Duration::from_secs(2), "the queue empties", || running.sidecar.queue.depth() == 0).await;
    assert_eq!(slack.received().len(), 1, "slack is not sent twice");
    // The audit line follows the queue's record of the verdict.
    let audit_path = dir.path().join("decisions.jsonl");
    let lines = || std::fs::read_to_string(&audit_path).unwrap_or_default().lines().count();
    eventually(Duration::from_secs(2), "the re-escalation is audited", || lines() >= 2).await;
    let audit = std::fs::read_to_string(&audit_path).unwrap();
    let decisions: Vec<serde_json::Value> = audit.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(decisions.len(), 2, "the decision and the re-escalation are audited: {audit}");
    assert_eq!(decisions[0]["decision"], "downgrade");
    assert_eq!(decisions[0]["window"]["end_ms"], starts_at.timestamp_millis(), "the window ends at startsAt");
    assert_eq!(decisions[1]["decision"], "downgrade", "a technical notice: {audit}");
    assert!(decisions[1]["reasons"][0].as_str().unwrap().contains("still a likely artifact"), "{audit}");
}

#[tokio::test]
async fn a_likely_artifact_that_ends_never_reaches_email_and_leaves_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let starts_at = chrono::Utc::now() - chrono::Duration::milliseconds(500);
    let running = downgrade_stack(dir.path(), "p00004", 0.3, starts_at, false).await;
    let body = hypoxia_payload("firing", "p00004", &starts_at.to_rfc3339(), "b1");
    assert_eq!(post_webhook(running.addr, body).await, 200);
    let slack = running.channels["slack"].clone();
    eventually(Duration::from_secs(5), "slack gets the downgraded alert", || !slack.received().is_empty()).await;
    eventually(Duration::from_secs(8), "the held email is settled", || running.sidecar.queue.depth() == 0).await;
    assert!(running.channels["email"].received().is_empty(), "ended before re-escalation: email skipped");
    // The audit line follows the queue's record of the verdict.
    let audit_path = dir.path().join("decisions.jsonl");
    let audit = || std::fs::read_to_string(&audit_path).unwrap_or_default();
    eventually(Duration::from_secs(2), "the skip is audited", || audit().contains("ended before re-escalation")).await;
    assert_eq!(running.sidecar.telemetry.decisions.with_label_values(&["downgrade"]).get(), 1);
}

#[tokio::test]
async fn a_genuine_alert_goes_everywhere_at_once_with_its_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let starts_at = chrono::Utc::now() - chrono::Duration::seconds(1);
    let running = downgrade_stack(dir.path(), "p00005", 0.84, starts_at, true).await;
    let body = hypoxia_payload("firing", "p00005", &starts_at.to_rfc3339(), "c1");
    assert_eq!(post_webhook(running.addr, body).await, 200);
    for name in ["email", "slack", "file"] {
        let ch = running.channels[name].clone();
        eventually(Duration::from_secs(3), name, || !ch.received().is_empty()).await;
        let n = &ch.received()[0];
        assert_eq!(decision_of(n), Some(Decision::Escalate), "{name}");
        assert!(n.scoring.line().contains("SpO2 84%"), "{name}: {}", n.scoring.line());
    }
    assert_eq!(running.sidecar.telemetry.decisions.with_label_values(&["escalate"]).get(), 1);
}

#[tokio::test]
async fn a_resolved_artifact_skips_the_channels_its_firing_was_held_from() {
    let dir = tempfile::tempdir().unwrap();
    let starts_at = chrono::Utc::now() - chrono::Duration::milliseconds(800);
    let running = downgrade_stack(dir.path(), "p00006", 0.3, starts_at, false).await;
    let mut body: serde_json::Value =
        serde_json::from_str(&hypoxia_payload("resolved", "p00006", &starts_at.to_rfc3339(), "d1")).unwrap();
    body["alerts"][0]["endsAt"] = serde_json::json!((starts_at + chrono::Duration::seconds(1)).to_rfc3339());
    assert_eq!(post_webhook(running.addr, body.to_string()).await, 200);
    let slack = running.channels["slack"].clone();
    eventually(Duration::from_secs(5), "slack gets the resolution", || !slack.received().is_empty()).await;
    eventually(Duration::from_secs(3), "the queue empties", || running.sidecar.queue.depth() == 0).await;
    assert!(running.channels["email"].received().is_empty(), "the email was never told it fired");
}

#[tokio::test]
async fn a_warning_still_usual_at_its_recheck_stays_downgraded_and_skips_email() {
    let dir = tempfile::tempdir().unwrap();
    let starts_at = chrono::Utc::now() - chrono::Duration::milliseconds(500);
    // SpO2 at a steady 95%: neither dangerous nor unusual for this patient, before and after.
    let running = downgrade_stack(dir.path(), "p00006", 0.95, starts_at, true).await;
    let body = hypoxia_payload("firing", "p00006", &starts_at.to_rfc3339(), "e1").replace("critical", "warning");
    assert_eq!(post_webhook(running.addr, body).await, 200);
    let slack = running.channels["slack"].clone();
    eventually(Duration::from_secs(5), "slack gets the downgraded alert", || !slack.received().is_empty()).await;
    assert_eq!(slack.received()[0].scoring.tag(), Some("not actionable"), "{}", slack.received()[0].scoring.line());
    eventually(Duration::from_secs(8), "the held email is settled", || running.sidecar.queue.depth() == 0).await;
    assert!(running.channels["email"].received().is_empty(), "still usual at its recheck: email skipped");
    let audit_path = dir.path().join("decisions.jsonl");
    let audit = || std::fs::read_to_string(&audit_path).unwrap_or_default();
    eventually(Duration::from_secs(2), "the recheck is audited", || audit().contains("stays downgraded")).await;
    assert!(audit().contains("held channels skipped"), "{}", audit());
}
