//! The sidecar's rescoring step in-process: alerts fail open when history cannot be had (Prometheus
//! down, hanging past the budget, answering garbage), every decision is audited and counted.

mod common;

use common::rescoring::{eventually, hypoxia_payload, post_webhook, rescorer, start, Running};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wardwatch::alert::notification::Scoring;
use wardwatch::rescore::history::PrometheusSource;

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
