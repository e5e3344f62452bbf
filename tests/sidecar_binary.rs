//! The `wardwatch-sidecar` binary: killed with SIGKILL between acknowledgement and delivery, it
//! loses nothing (the restart delivers once); a bad configuration stops start-up with file, field
//! and reason.

mod common;

use common::slack::{FakeSlack, Reply};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PAYLOAD: &str = r#"{"receiver":"wardwatch","status":"firing","alerts":[{"status":"firing",
  "labels":{"alertname":"HeartRateHigh","severity":"critical","ward":"cardio-1","patient":"p00014"},
  "annotations":{"summary":"Heart rate above 130 /min"},"startsAt":"2026-11-22T02:00:00Z",
  "endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus:9090/graph","fingerprint":"0f0f0f0f0f0f0f0f"}],
  "groupLabels":{"alertname":"HeartRateHigh"},"commonLabels":{"alertname":"HeartRateHigh"},
  "externalURL":"http://alertmanager:9093","version":"4","groupKey":"{}:{alertname=\"HeartRateHigh\"}"}"#;

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn write_config(dir: &Path, port: u16, slack_url: &str) -> std::path::PathBuf {
    let path = dir.join("sidecar.yaml");
    let yaml = format!(
        "listen_address: 127.0.0.1:{port}\nqueue:\n  dir: {}\nchannels:\n  slack:\n    webhook_url: \"{slack_url}\"\n    timeout: 60s\nretry:\n  base: 100ms\n  cap: 1s\n",
        dir.join("queue").display()
    );
    std::fs::write(&path, yaml).unwrap();
    path
}

fn spawn(config: &Path, log: &Path) -> Process {
    Process(
        Command::new(env!("CARGO_BIN_EXE_wardwatch-sidecar"))
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .expect("start wardwatch-sidecar"),
    )
}

async fn wait_until(what: &str, timeout: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_between_acknowledgement_and_delivery_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = format!("http://127.0.0.1:{port}");

    // Slack that never answers in time: the delivery is in flight when the process dies.
    let hanging = FakeSlack::start(&[Reply::Slow(Duration::from_secs(60))]).await;
    let mut sidecar = spawn(&write_config(dir.path(), port, &hanging.url), &dir.path().join("first.log"));
    wait_until("the sidecar ready", Duration::from_secs(20), async || {
        client.get(format!("{base}/-/ready")).send().await.is_ok_and(|r| r.status().is_success())
    })
    .await;
    let r = client.post(format!("{base}/webhook")).body(PAYLOAD).send().await.unwrap();
    assert_eq!(r.status(), 200, "acknowledged");
    wait_until("the delivery attempt", Duration::from_secs(10), async || !hanging.received().is_empty()).await;
    sidecar.0.kill().unwrap(); // SIGKILL
    sidecar.0.wait().unwrap();
    assert_eq!(hanging.accepted(), 0, "nothing was delivered before the kill");

    let slack = FakeSlack::start(&[]).await;
    let _restarted = spawn(&write_config(dir.path(), port, &slack.url), &dir.path().join("second.log"));
    wait_until("delivery after restart", Duration::from_secs(20), async || slack.accepted() == 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(slack.accepted(), 1, "delivered exactly once");
    let text = slack.received()[0].2["text"].as_str().unwrap_or_default().to_string();
    assert!(text.contains("HeartRateHigh"), "{text}");
}

#[test]
fn invalid_config_stops_startup_naming_file_field_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sidecar.yaml");
    std::fs::write(&path, "channels:\n  email:\n    port: 0\n    username: a@b.c\n    to: [x@y.z]\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wardwatch-sidecar")).arg("--config").arg(&path).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&path.display().to_string()), "{stderr}");
    assert!(stderr.contains("channels.email.port"), "{stderr}");
}

#[test]
fn a_model_file_that_does_not_fit_this_build_stops_startup_naming_it_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("site.json");
    let shipped = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default.json")).unwrap();
    let cases = [
        ("{\"format\": 1}".to_string(), "not a model file"),
        (shipped.replacen("\"format\": 1", "\"format\": 9", 1), "format 9"),
        (shipped.replacen("\"cpu.z\"", "\"cpu.raw\"", 1), "kinds.cluster.features: fitted on"),
    ];
    for (text, reason) in cases {
        std::fs::write(&model, text).unwrap();
        let config = dir.path().join("sidecar.yaml");
        let yaml = format!(
            "listen_address: 127.0.0.1:{}\nqueue:\n  dir: {}\nchannels:\n  file:\n    path: {}\nrescoring:\n  prometheus_url: http://127.0.0.1:1\n  model: {}\n",
            common::free_port(),
            dir.path().join("queue").display(),
            dir.path().join("out.jsonl").display(),
            model.display()
        );
        std::fs::write(&config, yaml).unwrap();
        let log = dir.path().join("sidecar.log");
        let mut sidecar = spawn(&config, &log);
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = sidecar.0.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "started with a bad model ({reason})");
            std::thread::sleep(Duration::from_millis(50));
        };
        let stderr = std::fs::read_to_string(&log).unwrap();
        assert!(!status.success(), "{reason}: {stderr}");
        let named = format!("rescoring.model: {}: ", model.display());
        assert!(stderr.contains(&named) && stderr.contains(reason), "{reason}: {stderr}");
    }
}
