//! The sidecar delivering by email to a real SMTP server: transient SMTP failures (451, 421) are
//! retried until the message goes through once; 535 (bad credentials) is dead-lettered.

mod common;

use common::smtp::{SmtpServer, PASSWORD};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wardwatch::notify::channel::{Channel, EmailChannel};
use wardwatch::notify::email::{EmailLinks, EmailSender, TlsMode};
use wardwatch::notify::retry::Backoff;
use wardwatch::sidecar::queue::{Queue, QueueConfig};
use wardwatch::sidecar::receiver::InboundAuth;
use wardwatch::sidecar::rescoring::Rescoring;
use wardwatch::sidecar::{self, Settings, Sidecar};

const PAYLOAD: &str = r#"{"receiver":"wardwatch","status":"firing","alerts":[{"status":"firing",
  "labels":{"alertname":"LactateHigh","severity":"critical","ward":"medicine-1","patient":"p00024"},
  "annotations":{"summary":"Lactate above 4 mmol/L"},"startsAt":"2026-11-22T02:00:00Z",
  "endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus:9090/graph","fingerprint":"abababababababab"}],
  "groupLabels":{"alertname":"LactateHigh"},"commonLabels":{"alertname":"LactateHigh"},
  "externalURL":"http://alertmanager:9093","version":"4","groupKey":"{}:{alertname=\"LactateHigh\"}"}"#;

async fn start(dir: &std::path::Path, smtp: &SmtpServer, password: &str) -> (SocketAddr, Arc<Sidecar>) {
    let (queue, _) = Queue::open(QueueConfig::new(dir.join("queue"))).await.unwrap();
    let config = smtp.config(TlsMode::StartTls, password);
    let email = EmailChannel {
        sender: EmailSender::new(config.clone()).unwrap(),
        config,
        links: EmailLinks::default(),
        history: None,
    };
    let channels: Vec<Arc<dyn Channel>> = vec![Arc::new(email)];
    let settings = Settings {
        max_body_bytes: 1 << 20,
        max_in_flight: 16,
        auth: InboundAuth::default(),
        api_auth: InboundAuth::default(),
        metrics_auth: InboundAuth::default(),
        stale_after: Duration::from_secs(600),
        backoff: Backoff { base: Duration::from_millis(100), cap: Duration::from_millis(300) },
        give_up_after: Duration::from_secs(60),
        dispatch_concurrency: 4,
        site: Default::default(),
    };
    let route: sidecar::RouteFn = Box::new(|_, _| vec!["email".into()]);
    let sc = Sidecar::new(settings, queue, channels, route, Rescoring::disabled("rescoring is off in this test"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(sidecar::run(listener, sc.clone(), std::future::pending()));
    (addr, sc)
}

async fn post(addr: SocketAddr) {
    let r = reqwest::Client::builder().no_proxy().build().unwrap();
    let r = r.post(format!("http://{addr}/webhook")).body(PAYLOAD).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_smtp_errors_are_retried_until_delivered_once() {
    for code in [451, 421] {
        let Some(smtp) = SmtpServer::start("starttls", Some((1, code))) else { return };
        let dir = tempfile::tempdir().unwrap();
        let (addr, sc) = start(dir.path(), &smtp, PASSWORD).await;
        post(addr).await;
        eventually("the email", || !smtp.messages().is_empty() && sc.queue.depth() == 0).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(smtp.messages().len(), 1, "SMTP {code}: delivered once\n{}", smtp.log());
        assert_eq!(sc.telemetry.failed.with_label_values(&["email", "retry"]).get(), 1, "SMTP {code}: one retry");
        assert_eq!(sc.telemetry.delivered.with_label_values(&["email"]).get(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_535_are_dead_lettered_not_retried_forever() {
    let Some(smtp) = SmtpServer::start("starttls", None) else { return };
    let dir = tempfile::tempdir().unwrap();
    let (addr, sc) = start(dir.path(), &smtp, "wrong password").await;
    post(addr).await;
    eventually("the dead letter", || sc.queue.depth() == 0).await;
    let dead = sc.queue.dead_letters().await;
    assert_eq!(dead.len(), 1);
    let reason = dead[0].channels["email"].last_error.clone().unwrap_or_default();
    assert!(reason.contains("535"), "{reason}");
    assert_eq!(sc.telemetry.failed.with_label_values(&["email", "permanent"]).get(), 1);
    assert!(smtp.messages().is_empty());
}
