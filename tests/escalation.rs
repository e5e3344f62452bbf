//! Escalation against the real binary: a firing alert nobody acknowledges goes to the next
//! channel on time, and a restart in between changes nothing; one acknowledged, or resolved,
//! before its step does not escalate, and an acknowledgement is told to the channels that had it.

mod common;

use common::binary::{group, json_lines, long_alert, SidecarBinary};
use std::path::Path;
use std::time::{Duration, Instant};

/// The ward's channel (`file`) at once, the charge nurse's (`file-charge-nurse`) after `after`.
fn config(dir: &Path, after: &str) -> String {
    format!(
        "queue:\n  dir: {}\nrescoring:\n  enabled: false\nchannels:\n  file:\n    path: {}\n  \
         file-charge-nurse:\n    path: {}\nroutes:\n  - matchers: {{class: clinical}}\n    channels: [file]\n    \
         escalation:\n      - after: {after}\n        channels: [file-charge-nurse]\n",
        dir.join("queue").display(),
        dir.join("ward.jsonl").display(),
        dir.join("charge-nurse.jsonl").display(),
    )
}

/// Lines of `path` once there are `n`, waiting up to `within`.
async fn lines(path: &Path, n: usize, within: Duration) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + within;
    loop {
        let got = json_lines(path);
        if got.len() >= n {
            return got;
        }
        assert!(Instant::now() < deadline, "{} has {} lines, expected {n}", path.display(), got.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The group as Alertmanager sends it once its alert resolved.
fn resolved(key: &str, alert: serde_json::Value) -> String {
    let mut alert = alert;
    alert["status"] = "resolved".into();
    alert["endsAt"] = "2026-12-01T10:05:00Z".into();
    let mut body: serde_json::Value = serde_json::from_str(&group(key, vec![alert])).unwrap();
    body["status"] = "resolved".into();
    body.to_string()
}

#[tokio::test]
async fn nobody_acknowledges_so_the_charge_nurse_is_told_on_time_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let cfg = config(dir.path(), "3s");
    let sc = SidecarBinary::start("sidecar", dir.path(), port, &cfg, &[]).await;
    let sent = Instant::now();
    assert_eq!(sc.post(group("esc", vec![long_alert(3, "critical")])).await, Some(200));
    let ward = lines(&dir.path().join("ward.jsonl"), 1, Duration::from_secs(20)).await;
    assert!(!ward[0].to_string().contains("Escalated"), "the ward's message is no escalation: {}", ward[0]);
    assert!(json_lines(&dir.path().join("charge-nurse.jsonl")).is_empty(), "not before its time");

    // A crash before the step is due: the step is in the queue, not in memory.
    sc.kill();
    let sc = SidecarBinary::start("sidecar-2", dir.path(), port, &cfg, &[]).await;
    let nurse = lines(&dir.path().join("charge-nurse.jsonl"), 1, Duration::from_secs(20)).await;
    let waited = sent.elapsed();
    assert!(waited >= Duration::from_secs(3), "escalated after {waited:?}, before its 3 s");
    assert!(waited < Duration::from_secs(12), "escalated after {waited:?}: late");
    let text = nurse[0].to_string();
    assert!(text.contains("Step 1 of 1: nobody acknowledged it within 3 s"), "{text}");
    assert!(nurse[0]["acknowledge_url"].is_string(), "the charge nurse can acknowledge it too: {text}");
    assert_eq!(nurse[0]["id"], ward[0]["id"], "the same notification");
    let page = nurse[0]["message"]["page"]["url"].as_str().unwrap_or_default();
    assert_eq!(page, format!("http://127.0.0.1:{port}/alerts/{}", nurse[0]["id"].as_str().unwrap()), "{text}");
    assert_eq!(json_lines(&dir.path().join("ward.jsonl")).len(), 1, "the ward is not told twice");
    assert_eq!(sc.metric("wardwatch_sidecar_escalation_steps_total{outcome=\"sent\"}").await, Some(1.0));
}

#[tokio::test]
async fn an_acknowledged_or_resolved_alert_does_not_escalate() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let sc = SidecarBinary::start("sidecar", dir.path(), port, &config(dir.path(), "2s"), &[]).await;
    assert_eq!(sc.post(group("acked", vec![long_alert(4, "critical")])).await, Some(200));
    let ward = lines(&dir.path().join("ward.jsonl"), 1, Duration::from_secs(20)).await;
    let url = ward[0]["acknowledge_url"].as_str().unwrap().to_owned();
    let r = sc.client.post(&url).form(&[("by", "Sam")]).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // The ward's channel is told who took it.
    let told = lines(&dir.path().join("ward.jsonl"), 2, Duration::from_secs(20)).await;
    let follow_up = &told[1];
    assert_eq!(follow_up["acknowledged"]["by"], "Sam", "{follow_up}");
    assert_eq!(follow_up["message"]["banner"]["kind"], "Acknowledged", "{follow_up}");
    assert!(follow_up["message"]["banner"]["text"].as_str().unwrap_or_default().starts_with("Acknowledged by Sam at "));
    assert!(follow_up.get("acknowledge_url").is_none(), "nothing left to acknowledge: {follow_up}");

    assert_eq!(sc.post(group("ended", vec![long_alert(5, "critical")])).await, Some(200));
    lines(&dir.path().join("ward.jsonl"), 3, Duration::from_secs(20)).await;
    assert_eq!(sc.post(resolved("ended", long_alert(5, "critical"))).await, Some(200));

    let deadline = Instant::now() + Duration::from_secs(20);
    let metric = |outcome: &'static str| {
        let series = format!("wardwatch_sidecar_escalation_steps_total{{outcome=\"{outcome}\"}}");
        let sc = &sc;
        async move { sc.metric(&series).await }
    };
    while metric("acknowledged").await != Some(1.0) || metric("resolved").await != Some(1.0) {
        assert!(Instant::now() < deadline, "both steps fell due and were skipped");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(metric("sent").await, Some(0.0));
    assert!(json_lines(&dir.path().join("charge-nurse.jsonl")).is_empty(), "nobody else was told");
}
