//! The sidecar in-process on port 0: receive, persist, deliver through a fake Slack and the file
//! channel; duplicates, bad requests, rate limits, dead letters and restarts.

mod common;

use common::slack::{FakeSlack, Reply};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wardwatch::notify::channel::{Channel, SlackChannel};
use wardwatch::notify::file::FileChannel;
use wardwatch::notify::retry::Backoff;
use wardwatch::notify::slack::{Links, SlackConfig, SlackSender};
use wardwatch::sidecar::queue::{Queue, QueueConfig};
use wardwatch::sidecar::receiver::InboundAuth;
use wardwatch::sidecar::rescoring::Rescoring;
use wardwatch::sidecar::{self, Settings, Sidecar};

const TOKEN: &str = "t0ken";

fn payload(status: &str, fingerprint: &str) -> String {
    format!(
        r#"{{"receiver":"wardwatch","status":"{status}","alerts":[{{"status":"{status}",
        "labels":{{"alertname":"HypoxiaDetected","severity":"critical","ward":"icu-1","patient":"p00003"}},
        "annotations":{{"summary":"SpO2 below 90% for 10 s"}},"startsAt":"2026-11-22T01:00:00Z",
        "endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus:9090/graph","fingerprint":"{fingerprint}"}}],
        "groupLabels":{{"alertname":"HypoxiaDetected"}},"commonLabels":{{"alertname":"HypoxiaDetected","severity":"critical"}},
        "externalURL":"http://alertmanager:9093","version":"4","groupKey":"{{}}:{{alertname=\"HypoxiaDetected\"}}"}}"#
    )
}

struct Running {
    addr: SocketAddr,
    sidecar: Arc<Sidecar>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    async fn shutdown(mut self) {
        let _ = self.stop.take().expect("running").send(());
        let _ = self.task.await;
    }
}

async fn start(dir: &Path, slack_url: &str) -> Running {
    let (queue, _) = Queue::open(QueueConfig::new(dir.join("queue"))).await.expect("queue opens");
    let slack =
        SlackSender::new(SlackConfig { timeout: Duration::from_secs(2), ..SlackConfig::new(slack_url) }).unwrap();
    let channels: Vec<Arc<dyn Channel>> = vec![
        Arc::new(SlackChannel { sender: slack, links: Links::default() }),
        Arc::new(FileChannel::new(dir.join("notifications.jsonl"))),
    ];
    let settings = Settings {
        max_body_bytes: 64 * 1024,
        max_in_flight: 64,
        auth: InboundAuth { bearer_token: Some(TOKEN.into()), basic: None },
        api_auth: InboundAuth::default(),
        metrics_auth: InboundAuth::default(),
        stale_after: Duration::from_secs(600),
        // The cap bounds a server's Retry-After too: above the fake Slack's 1 s.
        backoff: Backoff { base: Duration::from_millis(50), cap: Duration::from_secs(2) },
        give_up_after: Duration::from_secs(60),
        dispatch_concurrency: 8,
        site: Default::default(),
    };
    let route: sidecar::RouteFn = Box::new(|_, _| vec!["file".to_string(), "slack".to_string()]);
    let sidecar = Sidecar::new(settings, queue, channels, route, Rescoring::disabled("rescoring is off in this test"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(sidecar::run(listener, sidecar.clone(), async {
        let _ = stopped.await;
    }));
    Running { addr, sidecar, stop: Some(stop), task }
}

async fn post(addr: SocketAddr, body: String, token: Option<&str>) -> (u16, serde_json::Value) {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut req = client.post(format!("http://{addr}/webhook")).body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

async fn eventually(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn file_lines(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("notifications.jsonl")).map(|s| s.lines().count()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_post_is_delivered_once_and_resolved_is_separate() {
    let dir = tempfile::tempdir().unwrap();
    let slack = FakeSlack::start(&[]).await;
    let s = start(dir.path(), &slack.url).await;
    let (code, first) = post(s.addr, payload("firing", "1a2b3c4d5e6f7a8b"), Some(TOKEN)).await;
    assert_eq!((code, first["result"].as_str()), (200, Some("stored")));
    let (code, second) = post(s.addr, payload("firing", "1a2b3c4d5e6f7a8b"), Some(TOKEN)).await;
    assert_eq!((code, second["result"].as_str()), (200, Some("duplicate")));
    assert_eq!(first["id"], second["id"]);
    eventually("one Slack message and one file line", Duration::from_secs(5), || {
        slack.accepted() == 1 && file_lines(dir.path()) == 1
    })
    .await;
    let (code, resolved) = post(s.addr, payload("resolved", "1a2b3c4d5e6f7a8b"), Some(TOKEN)).await;
    assert_eq!((code, resolved["result"].as_str()), (200, Some("stored")));
    assert_ne!(resolved["id"], first["id"]);
    eventually("the resolved notification", Duration::from_secs(5), || slack.accepted() == 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(slack.accepted(), 2, "nothing delivered twice");
    assert_eq!(file_lines(dir.path()), 2);
    assert_eq!(s.sidecar.queue.depth(), 0);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_large_and_unauthenticated_requests_get_4xx_and_queue_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let slack = FakeSlack::start(&[]).await;
    let s = start(dir.path(), &slack.url).await;
    let (code, _) = post(s.addr, payload("firing", "aa"), None).await;
    assert_eq!(code, 401);
    let (code, _) = post(s.addr, payload("firing", "aa"), Some("wrong")).await;
    assert_eq!(code, 401);
    let (code, body) = post(s.addr, "{not json".into(), Some(TOKEN)).await;
    assert_eq!(code, 400);
    assert!(body["error"].as_str().unwrap().contains("invalid Alertmanager payload"), "{body}");
    let (code, body) = post(s.addr, r#"{"status":"firing","alerts":"x"}"#.into(), Some(TOKEN)).await;
    assert_eq!(code, 400, "{body}");
    let (code, body) = post(s.addr, "x".repeat(1024 * 1024), Some(TOKEN)).await;
    assert_eq!(code, 400, "a large body is read whole and refused for what it is, not for its size: {body}");
    assert_eq!(s.sidecar.queue.depth(), 0);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(slack.received().len(), 0);
    let metrics = reqwest::get(format!("http://{}/metrics", s.addr)).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("wardwatch_sidecar_webhooks_received_total{result=\"unauthorized\"} 2"), "{metrics}");
    assert!(metrics.contains("wardwatch_sidecar_webhooks_received_total{result=\"bad_request\"} 3"), "{metrics}");
    common::promtool_check_metrics(&metrics).unwrap();
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_429_then_ok_is_delivered_once_after_the_stated_delay() {
    let dir = tempfile::tempdir().unwrap();
    let slack = FakeSlack::start(&[Reply::RateLimited]).await;
    let s = start(dir.path(), &slack.url).await;
    assert_eq!(post(s.addr, payload("firing", "bb"), Some(TOKEN)).await.0, 200);
    eventually("delivery after the 429", Duration::from_secs(5), || slack.accepted() == 1).await;
    let received = slack.received();
    assert_eq!(received.len(), 2, "one refused, one accepted");
    assert!(received[1].0 - received[0].0 >= Duration::from_millis(990), "Retry-After: 1 honoured");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(slack.accepted(), 1);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_slack_error_goes_to_the_dead_letters_and_the_file_still_gets_it() {
    let dir = tempfile::tempdir().unwrap();
    let slack = FakeSlack::start(&[Reply::InvalidPayload]).await;
    let s = start(dir.path(), &slack.url).await;
    assert_eq!(post(s.addr, payload("firing", "cc"), Some(TOKEN)).await.0, 200);
    eventually("the dead letter", Duration::from_secs(5), || s.sidecar.queue.depth() == 0).await;
    let dead = s.sidecar.queue.dead_letters().await;
    assert_eq!(dead.len(), 1);
    let reason = dead[0].channels["slack"].last_error.clone().unwrap_or_default();
    assert!(reason.contains("invalid_payload"), "{reason}");
    assert_eq!(file_lines(dir.path()), 1);
    assert_eq!(slack.received().len(), 1, "a permanent error is not retried");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_was_pending_at_shutdown_is_delivered_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    // Nobody listens here: every attempt fails and is retried.
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let s = start(dir.path(), &format!("http://{dead_port}/services/x")).await;
    assert_eq!(post(s.addr, payload("firing", "dd"), Some(TOKEN)).await.0, 200);
    eventually("the file channel", Duration::from_secs(5), || file_lines(dir.path()) == 1).await;
    assert_eq!(s.sidecar.queue.depth(), 1, "Slack still owed");
    s.shutdown().await;
    let slack = FakeSlack::start(&[]).await;
    let s = start(dir.path(), &slack.url).await;
    eventually("delivery after restart", Duration::from_secs(5), || slack.accepted() == 1).await;
    assert_eq!(file_lines(dir.path()), 1, "the file channel is not repeated");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness_answer() {
    let dir = tempfile::tempdir().unwrap();
    let slack = FakeSlack::start(&[]).await;
    let s = start(dir.path(), &slack.url).await;
    for path in ["/-/healthy", "/-/ready"] {
        let r = reqwest::get(format!("http://{}{path}", s.addr)).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let r = reqwest::get(format!("http://{}/nope", s.addr)).await.unwrap();
    assert_eq!(r.status(), 404);
    let r = reqwest::Client::new().get(format!("http://{}/webhook", s.addr)).send().await.unwrap();
    assert_eq!(r.status(), 405);
    s.shutdown().await;
}

/// A channel taking `delay` per message, noting the severity of each in the order given.
struct Slow {
    delay: Duration,
    seen: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Channel for Slow {
    fn name(&self) -> &str {
        "file"
    }
    fn deliver<'a>(
        &'a self,
        n: &'a wardwatch::alert::notification::Notification,
    ) -> wardwatch::notify::channel::BoxFuture<'a, wardwatch::notify::retry::Outcome> {
        Box::pin(async move {
            tokio::time::sleep(self.delay).await;
            let severity = n.alerts[0].labels.get("severity").cloned().unwrap_or_default();
            self.seen.lock().unwrap().push(severity);
            wardwatch::notify::retry::Outcome::Success
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_critical_alert_in_a_storm_of_warnings_goes_out_before_them() {
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let slow = Slow { delay: Duration::from_millis(40), seen: seen.clone() };
    let route: sidecar::RouteFn = Box::new(|_, _| vec!["file".to_string()]);
    // One delivery at a time: the storm queues up behind it.
    let running = common::rescoring::start_one_at_a_time(dir.path(), vec![Arc::new(slow)], route).await;
    let addr = running.addr;
    let warnings = 30;
    for i in 0..warnings {
        let body = payload("firing", &format!("{i:016x}")).replace("\"critical\"", "\"warning\"");
        assert_eq!(post(addr, body, None).await.0, 200);
    }
    assert_eq!(post(addr, payload("firing", "ffffffffffffffff"), None).await.0, 200);
    eventually("the storm delivered", Duration::from_secs(30), || seen.lock().unwrap().len() == warnings + 1).await;
    let order = seen.lock().unwrap().clone();
    let at = order.iter().position(|s| s == "critical").unwrap();
    assert!(order.len() - 1 - at >= 15, "the critical alert waited behind the warnings: {at} of {}", order.len());
    drop(running);
}

/// A channel that never answers, as a hung SMTP server.
struct Hung;

impl Channel for Hung {
    fn name(&self) -> &str {
        "email"
    }
    fn deliver<'a>(
        &'a self,
        _n: &'a wardwatch::alert::notification::Notification,
    ) -> wardwatch::notify::channel::BoxFuture<'a, wardwatch::notify::retry::Outcome> {
        Box::pin(std::future::pending())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_channel_holds_up_neither_another_channel_nor_another_alert() {
    let dir = tempfile::tempdir().unwrap();
    let file = common::rescoring::Recorder::new("file");
    let route: sidecar::RouteFn = Box::new(|_, _| vec!["email".to_string(), "file".to_string()]);
    // Eight turns at once per channel: the hung email channel takes its eight and no more.
    let running = common::rescoring::start_with_routes(dir.path(), vec![Arc::new(Hung), file.clone()], route).await;
    let alerts = 40;
    for i in 0..alerts {
        assert_eq!(post(running.addr, payload("firing", &format!("{i:016x}")), None).await.0, 200);
    }
    let reached = || file.received().len();
    let deadline = Instant::now() + Duration::from_secs(10);
    while reached() < alerts && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(reached(), alerts, "alerts that reached the file channel");
    let pending = running.sidecar.queue.due(chrono::Utc::now() + chrono::Duration::hours(1), 1000).await;
    assert_eq!(pending.len(), alerts, "each still waits for email, none lost");
    drop(running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_slack_message_allowed_goes_to_the_most_urgent_alert() {
    let dir = tempfile::tempdir().unwrap();
    let slack = FakeSlack::start(&[]).await;
    let config = SlackConfig { rate_per_second: 4.0, burst: 1, ..SlackConfig::new(&slack.url) };
    let sender = SlackSender::new(config).unwrap();
    let channel = Arc::new(SlackChannel { sender, links: Links::default() });
    let route: sidecar::RouteFn = Box::new(|_, _| vec!["slack".to_string()]);
    let running = common::rescoring::start_with_routes(dir.path(), vec![channel], route).await;
    let warnings = 12;
    for i in 0..warnings {
        let body = payload("firing", &format!("{i:016x}")).replace("\"critical\"", "\"warning\"");
        assert_eq!(post(running.addr, body, None).await.0, 200);
    }
    assert_eq!(post(running.addr, payload("firing", "ffffffffffffffff"), None).await.0, 200);
    eventually("every message reached Slack", Duration::from_secs(20), || slack.received().len() == warnings + 1).await;
    let order: Vec<String> = slack.received().iter().map(|(_, _, body)| body.to_string()).collect();
    let at = order.iter().position(|m| m.contains("FIRING critical")).expect("the critical alert reached Slack");
    // At four messages a second the warnings take three seconds; eight attempts waiting in the
    // limiter (one per lane) would put the critical one ninth or later.
    assert!(at <= 3, "the critical alert was message {} of {}: {order:#?}", at + 1, order.len());
    drop(running);
}
