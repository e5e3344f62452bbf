//! The Slack sender against a local server that answers as Slack's incoming webhooks document:
//! `200 ok`, `429` with `Retry-After`, `400 invalid_payload`, `404 channel_not_found`, `500 rollup_error`,
//! plus a server too slow to answer and a port nobody listens on.

mod common;

use common::slack::{FakeSlack, Reply, SECRET_PATH};
use std::time::{Duration, Instant};
use wardwatch::alert::notification::Notification;
use wardwatch::alert::payload::WebhookPayload;
use wardwatch::notify::retry::Outcome;
use wardwatch::notify::slack::{render, Links, SlackConfig, SlackSender};

fn message() -> serde_json::Value {
    let payload = r#"{
      "receiver": "wardwatch", "status": "firing",
      "alerts": [{
        "status": "firing",
        "labels": {"alertname": "HypoxiaDetected", "severity": "critical", "ward": "icu-1", "patient": "p00003"},
        "annotations": {"summary": "SpO2 below 90% for 10 s"},
        "startsAt": "2026-11-22T01:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=x", "fingerprint": "1a2b3c4d5e6f7a8b"
      }],
      "groupLabels": {"alertname": "HypoxiaDetected"}, "commonLabels": {"alertname": "HypoxiaDetected"},
      "externalURL": "http://alertmanager:9093", "version": "4", "groupKey": "{}:{alertname=\"HypoxiaDetected\"}"
    }"#;
    let n = Notification::from_payload(WebhookPayload::parse(payload.as_bytes()).unwrap(), chrono::Utc::now());
    render(&n, &Links { grafana_url: Some("http://grafana:3000".into()), ..Links::default() })
}

/// The reason of a Retry or Permanent outcome, checked free of the webhook's secret.
fn reason(outcome: &Outcome) -> &str {
    let reason = match outcome {
        Outcome::Success => panic!("expected a failure, got Success"),
        Outcome::Retry { reason, .. } | Outcome::Permanent { reason } => reason.as_str(),
    };
    assert!(!reason.contains("s3cr3tT0k3n"), "the webhook URL leaked: {reason}");
    reason
}

#[tokio::test]
async fn ok_is_success_and_slack_receives_text_and_blocks() {
    let slack = FakeSlack::start(&[Reply::Ok]).await;
    let outcome = slack.sender(Duration::from_secs(5)).send(&message()).await;
    assert_eq!(outcome, Outcome::Success);
    let received = slack.received();
    assert_eq!(received.len(), 1);
    let (_, content_type, body) = &received[0];
    assert_eq!(content_type, "application/json");
    let text = body["text"].as_str().expect("a text fallback");
    assert!(text.contains("HypoxiaDetected") && text.contains("p00003"), "{text}");
    assert!(!body["blocks"].as_array().expect("blocks").is_empty());
    assert_eq!(body["blocks"][0]["type"], "header");
}

#[tokio::test]
async fn rate_limited_then_ok_after_waiting_retry_after() {
    let slack = FakeSlack::start(&[Reply::RateLimited, Reply::Ok]).await;
    let sender = slack.sender(Duration::from_secs(5));
    let msg = message();
    let first = sender.send(&msg).await;
    let Outcome::Retry { after, .. } = &first else { panic!("expected Retry, got {first:?}") };
    assert_eq!(*after, Some(Duration::from_secs(1)));
    assert!(reason(&first).contains("429"));
    // The test plays the dispatcher: wait as told, then try again.
    tokio::time::sleep(after.unwrap()).await;
    assert_eq!(sender.send(&msg).await, Outcome::Success);
    let received = slack.received();
    assert_eq!(received.len(), 2);
    assert!(received[1].0 - received[0].0 >= Duration::from_secs(1), "the retry honoured Retry-After");
    assert_eq!(slack.accepted(), 1, "exactly one message posted");
}

#[tokio::test]
async fn invalid_payload_is_permanent() {
    let slack = FakeSlack::start(&[Reply::InvalidPayload]).await;
    let outcome = slack.sender(Duration::from_secs(5)).send(&message()).await;
    assert!(matches!(outcome, Outcome::Permanent { .. }), "{outcome:?}");
    assert!(reason(&outcome).contains("invalid_payload"));
}

#[tokio::test]
async fn channel_not_found_is_permanent() {
    let slack = FakeSlack::start(&[Reply::ChannelNotFound]).await;
    let outcome = slack.sender(Duration::from_secs(5)).send(&message()).await;
    assert!(matches!(outcome, Outcome::Permanent { .. }), "{outcome:?}");
    assert!(reason(&outcome).contains("channel_not_found"));
}

#[tokio::test]
async fn server_error_is_retried() {
    let slack = FakeSlack::start(&[Reply::RollupError]).await;
    let outcome = slack.sender(Duration::from_secs(5)).send(&message()).await;
    assert!(matches!(outcome, Outcome::Retry { after: None, .. }), "{outcome:?}");
    assert!(reason(&outcome).contains("rollup_error"));
    assert_eq!(slack.accepted(), 0);
}

#[tokio::test]
async fn timeout_is_retried() {
    let slack = FakeSlack::start(&[Reply::Slow(Duration::from_secs(2))]).await;
    let sender = slack.sender(Duration::from_millis(200));
    let start = Instant::now();
    let outcome = sender.send(&message()).await;
    assert!(matches!(outcome, Outcome::Retry { after: None, .. }), "{outcome:?}");
    assert!(reason(&outcome).contains("timed out"), "{outcome:?}");
    assert!(start.elapsed() < Duration::from_secs(1), "gave up after the timeout: {:?}", start.elapsed());
}

#[tokio::test]
async fn connection_refused_is_retried() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener); // nothing listens there now
    let cfg =
        SlackConfig { timeout: Duration::from_secs(2), ..SlackConfig::new(format!("http://{addr}{SECRET_PATH}")) };
    let outcome = SlackSender::new(cfg).unwrap().send(&message()).await;
    assert!(matches!(outcome, Outcome::Retry { after: None, .. }), "{outcome:?}");
    assert!(reason(&outcome).contains("connection failed"), "{outcome:?}");
}
