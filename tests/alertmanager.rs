//! End to end: a real Alertmanager (Debian's `prometheus-alertmanager`) with the sidecar as its
//! webhook receiver (bearer token, as `http_config` sends it) delivers a test alert to a real SMTP
//! server (aiosmtpd with STARTTLS and AUTH).

mod common;

use common::smtp::SmtpServer;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wardwatch::notify::channel::{Channel, EmailChannel};
use wardwatch::notify::email::{EmailLinks, EmailSender, TlsMode};
use wardwatch::notify::file::FileChannel;
use wardwatch::notify::retry::Backoff;
use wardwatch::sidecar::queue::{Queue, QueueConfig};
use wardwatch::sidecar::receiver::InboundAuth;
use wardwatch::sidecar::rescoring::Rescoring;
use wardwatch::sidecar::{self, Settings, Sidecar};

const TOKEN: &str = "am-t0ken";

struct Alertmanager {
    child: Child,
    url: String,
    log: std::path::PathBuf,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start Alertmanager with one webhook receiver at `webhook`, clustering off.
fn start_alertmanager(dir: &std::path::Path, webhook: &str) -> Option<Alertmanager> {
    let bin = common::require_tool("alertmanager")?;
    std::fs::write(dir.join("token"), TOKEN).unwrap();
    let config = format!(
        "route:\n  receiver: sidecar\n  group_by: [alertname, patient]\n  group_wait: 1s\n  group_interval: 5s\n\
         receivers:\n  - name: sidecar\n    webhook_configs:\n      - url: {webhook}\n        send_resolved: true\n\
         \x20       http_config:\n          authorization:\n            credentials_file: {}\n",
        dir.join("token").display()
    );
    std::fs::write(dir.join("alertmanager.yml"), config).unwrap();
    let port = common::free_port();
    let log = dir.join("alertmanager.log");
    let child = Command::new(bin)
        .arg(format!("--config.file={}", dir.join("alertmanager.yml").display()))
        .arg(format!("--storage.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start alertmanager");
    Some(Alertmanager { child, url: format!("http://127.0.0.1:{port}"), log })
}

async fn wait_until(what: &str, timeout: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_delivers_a_test_alert_through_the_sidecar_to_smtp() {
    let Some(smtp) = SmtpServer::start("starttls", None) else { return };
    let dir = tempfile::tempdir().unwrap();
    let (queue, _) = Queue::open(QueueConfig::new(dir.path().join("queue"))).await.unwrap();
    let email_cfg = smtp.config(TlsMode::StartTls, common::smtp::PASSWORD);
    let channels: Vec<Arc<dyn Channel>> = vec![
        Arc::new(EmailChannel {
            sender: EmailSender::new(email_cfg.clone()).unwrap(),
            config: email_cfg,
            links: EmailLinks::default(),
            history: None,
        }),
        Arc::new(FileChannel::new(dir.path().join("notifications.jsonl"))),
    ];
    let settings = Settings {
        max_body_bytes: 1 << 20,
        max_in_flight: 64,
        auth: InboundAuth { bearer_token: Some(TOKEN.into()), basic: None },
        api_auth: InboundAuth::default(),
        metrics_auth: InboundAuth::default(),
        stale_after: Duration::from_secs(600),
        backoff: Backoff { base: Duration::from_millis(100), cap: Duration::from_secs(1) },
        give_up_after: Duration::from_secs(60),
        dispatch_concurrency: 4,
        site: Default::default(),
    };
    let route: sidecar::RouteFn = Box::new(|_, _| vec!["email".into(), "file".into()]);
    let sc = Sidecar::new(settings, queue, channels, route, Rescoring::disabled("rescoring is off in this test"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let webhook = format!("http://{}/webhook", listener.local_addr().unwrap());
    tokio::spawn(sidecar::run(listener, sc.clone(), std::future::pending()));

    let Some(am) = start_alertmanager(dir.path(), &webhook) else { return };
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    wait_until("Alertmanager ready", Duration::from_secs(30), async || {
        client.get(format!("{}/-/ready", am.url)).send().await.is_ok_and(|r| r.status().is_success())
    })
    .await;
    let alert = serde_json::json!([{
        "labels": {"alertname": "HypoxiaDetected", "severity": "critical", "department": "icu", "ward": "icu-1", "patient": "p00003"},
        "annotations": {"summary": "SpO2 below 90% for 10 s"},
        "startsAt": chrono::Utc::now().to_rfc3339(),
        "generatorURL": "http://127.0.0.1:9090/graph"
    }]);
    let r = client.post(format!("{}/api/v2/alerts", am.url)).json(&alert).send().await.unwrap();
    assert!(r.status().is_success(), "Alertmanager refused the alert: {}", r.status());

    wait_until("the email", Duration::from_secs(30), async || !smtp.messages().is_empty()).await;
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1, "one email: {messages:?}\nsmtp log: {}", smtp.log());
    let subject = messages[0]["subject"].as_str().unwrap_or_default();
    assert!(subject.contains("HypoxiaDetected") && subject.contains("p00003"), "subject {subject}");
    assert!(subject.contains("FIRING"), "subject {subject}");
    let received = sc.telemetry.received.with_label_values(&["stored"]).get();
    assert_eq!(
        received,
        1,
        "Alertmanager authenticated with the bearer token; log: {}",
        common::file_tail(&am.log, 20)
    );
}
