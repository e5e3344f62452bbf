//! The sidecar under faults, as a hostile environment treats it: a Slack that answers strangely, a
//! channel that panics, a full or read-only disk, a configuration changed while alerts wait, a
//! 10,000-alert group, SIGKILL under load, logs sent to a file. Each case runs the real binary
//! (the panicking channel runs in-process: no configuration makes a channel panic). In every one,
//! each acknowledged alert ends delivered, and none in the dead letters by our own doing.

mod common;

use common::binary::{files_in, group, json_lines, long_alert, small_group, SidecarBinary};
use common::slack::{FakeSlack, Reply};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn eventually(what: &str, limit: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn slack_config(queue: &Path, url: &str) -> String {
    format!(
        "queue:\n  dir: {}\nchannels:\n  slack:\n    webhook_url: \"{url}\"\n    timeout: 5s\n    rate_per_second: 100\n    burst: 10\n\
         retry:\n  base: 100ms\n  cap: 1s\nrescoring:\n  enabled: false\n",
        queue.display()
    )
}

fn file_config(queue: &Path, file: &Path) -> String {
    format!(
        "queue:\n  dir: {}\nchannels:\n  file:\n    path: {}\nretry:\n  base: 100ms\n  cap: 1s\nrescoring:\n  enabled: false\n",
        queue.display(),
        file.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_of_any_size_or_shape_gives_a_bounded_wait_then_a_retry() {
    let dir = tempfile::tempdir().unwrap();
    let strange = [
        "100000000000000",         // 3 million years: overflowed the date arithmetic and panicked
        "99999999999999999999999", // more seconds than a u64 holds
        "18446744073709551615",
        "-5",
        "soon",
        "Wed, 21 Oct 2015 07:28:00 GMT", // in the past
        "",
    ];
    let script: Vec<Reply> = strange.iter().map(|v| Reply::RateLimitedFor(v)).collect();
    let slack = FakeSlack::start(&script).await;
    let port = common::free_port();
    let sidecar =
        SidecarBinary::start("sidecar", dir.path(), port, &slack_config(&dir.path().join("q"), &slack.url), &[]).await;
    let started = Instant::now();
    assert_eq!(sidecar.post(small_group(1)).await, Some(200));
    eventually("delivery after every strange Retry-After", Duration::from_secs(30), async || slack.accepted() == 1)
        .await;
    let received = slack.received();
    assert_eq!(received.len(), strange.len() + 1, "one attempt per answer, then the accepted one");
    for pair in received.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(gap <= Duration::from_millis(1600), "every wait is bounded by retry.cap (1 s): {gap:?}");
    }
    assert!(started.elapsed() < Duration::from_secs(20));
    let log = sidecar.process.log_tail(400);
    assert!(!log.contains("panic"), "nothing panicked:\n{log}");
    for stage in ["channel", "rescoring", "dispatch"] {
        let series = format!("wardwatch_sidecar_panics_total{{stage=\"{stage}\"}}");
        assert_eq!(sidecar.metric(&series).await, Some(0.0), "{series}");
    }
    // Slack has answered; the sidecar records the delivery a moment later.
    eventually("the queue empties", Duration::from_secs(5), async || {
        sidecar.metric("wardwatch_sidecar_queue_depth").await == Some(0.0)
    })
    .await;
    assert!(files_in(&dir.path().join("q/dead")).is_empty(), "nothing dead-lettered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slack_answering_a_redirect_or_garbage_status_is_retried_not_dead_lettered() {
    let dir = tempfile::tempdir().unwrap();
    // A captive portal's redirect, then a 5xx: both retried; then `ok`.
    let slack = FakeSlack::start(&[Reply::Redirect, Reply::RollupError]).await;
    let port = common::free_port();
    let sidecar =
        SidecarBinary::start("sidecar", dir.path(), port, &slack_config(&dir.path().join("q"), &slack.url), &[]).await;
    assert_eq!(sidecar.post(small_group(2)).await, Some(200));
    eventually("delivery", Duration::from_secs(20), async || slack.accepted() == 1).await;
    assert_eq!(slack.received().len(), 3);
    assert!(files_in(&dir.path().join("q/dead")).is_empty());
}

/// A channel that panics on its first `panics` deliveries, then accepts.
struct Panicky {
    panics: std::sync::atomic::AtomicU32,
    delivered: std::sync::Mutex<Vec<String>>,
}

impl wardwatch::notify::channel::Channel for Panicky {
    fn name(&self) -> &'static str {
        "file"
    }
    fn deliver<'a>(
        &'a self,
        n: &'a wardwatch::alert::notification::Notification,
    ) -> wardwatch::notify::channel::BoxFuture<'a, wardwatch::notify::retry::Outcome> {
        Box::pin(async move {
            let left = self.panics.load(std::sync::atomic::Ordering::SeqCst);
            if left > 0 {
                self.panics.store(left - 1, std::sync::atomic::Ordering::SeqCst);
                panic!("a bug in a channel");
            }
            self.delivered.lock().unwrap().push(n.id.clone());
            wardwatch::notify::retry::Outcome::Success
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_channel_loses_nothing_and_its_alert_is_delivered_once() {
    let dir = tempfile::tempdir().unwrap();
    let channel = Arc::new(Panicky { panics: 3.into(), delivered: Default::default() });
    let running = common::rescoring::start_with_channels(
        dir.path(),
        Err("rescoring is off in this test".into()),
        vec![channel.clone() as Arc<dyn wardwatch::notify::channel::Channel>],
    )
    .await;
    let body = common::rescoring::hypoxia_payload("firing", "p00003", "2026-11-22T01:00:00Z", "aa01");
    assert_eq!(common::rescoring::post_webhook(running.addr, body).await, 200);
    common::rescoring::eventually(Duration::from_secs(20), "delivery after three panics", || {
        channel.delivered.lock().unwrap().len() == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(channel.delivered.lock().unwrap().len(), 1, "delivered once");
    assert_eq!(running.sidecar.queue.depth(), 0);
    assert_eq!(running.sidecar.telemetry.panics.with_label_values(&["channel"]).get(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_while_rescoring_sends_the_alert_unscored_saying_so() {
    let dir = tempfile::tempdir().unwrap();
    let rescorer = common::rescoring::rescorer(Arc::new(common::rescoring::PanickingHistory), Duration::from_secs(2));
    let running = common::rescoring::start(dir.path(), Ok(rescorer)).await;
    let body = common::rescoring::hypoxia_payload("firing", "p00003", "2026-11-22T01:00:00Z", "aa02");
    assert_eq!(common::rescoring::post_webhook(running.addr, body).await, 200);
    let email = running.channels["email"].clone();
    common::rescoring::eventually(Duration::from_secs(10), "delivery", || email.received().len() == 1).await;
    let n = &email.received()[0];
    let line = n.scoring.line();
    assert!(line.starts_with("unscored: rescoring failed (panic"), "{line}");
    assert_eq!(running.sidecar.telemetry.panics.with_label_values(&["rescoring"]).get(), 1);
    let audit = std::fs::read_to_string(dir.path().join("decisions.jsonl")).unwrap();
    assert!(audit.contains("unscored: rescoring failed"), "the decision is audited: {audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_alerts_whose_channel_was_removed_are_rerouted_not_dead_lettered() {
    let dir = tempfile::tempdir().unwrap();
    let queue = dir.path().join("q");
    let file = dir.path().join("notifications.jsonl");
    let down = FakeSlack::start_then(&[], Some(Reply::RollupError)).await;
    let port = common::free_port();
    let first = SidecarBinary::start("slack-only", dir.path(), port, &slack_config(&queue, &down.url), &[]).await;
    for i in 0..128 {
        assert_eq!(first.post(small_group(1000 + i)).await, Some(200));
    }
    eventually("attempts on the Slack that is down", Duration::from_secs(10), async || down.received().len() >= 128)
        .await;
    first.kill();
    let second = SidecarBinary::start("file-only", dir.path(), port, &file_config(&queue, &file), &[]).await;
    eventually("all 128 in the file", Duration::from_secs(30), async || json_lines(&file).len() >= 128).await;
    let lines = json_lines(&file);
    assert_eq!(lines.len(), 128);
    for n in &lines {
        let notes = n["notes"].to_string();
        assert!(notes.contains("Re-routed to file: slack is no longer configured"), "each says so: {notes}");
    }
    assert!(files_in(&queue.join("dead")).is_empty(), "no dead letter");
    eventually("an empty queue", Duration::from_secs(10), async || {
        second.metric("wardwatch_sidecar_queue_depth").await == Some(0.0)
    })
    .await;
    assert_eq!(second.metric("wardwatch_sidecar_notifications_rerouted_total").await, Some(128.0));
    assert_eq!(second.get("/-/ready", None).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_thousand_alert_group_is_stored_and_delivered_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (queue, file) = (dir.path().join("q"), dir.path().join("n.jsonl"));
    let body = group("big", (0..10_000).map(|i| long_alert(i, "critical")).collect());
    let port = common::free_port();
    let sidecar = SidecarBinary::start("sidecar", dir.path(), port, &file_config(&queue, &file), &[]).await;
    assert_eq!(sidecar.post(body.clone()).await, Some(200), "a {} MB group is accepted", body.len() >> 20);
    eventually("its notification", Duration::from_secs(60), async || !json_lines(&file).is_empty()).await;
    let n = &json_lines(&file)[0];
    assert_eq!(n["alerts"].as_array().unwrap().len(), 10_000);
    assert!(n.get("left_out").is_none(), "{:?}", n.get("left_out"));
    assert_eq!(sidecar.post(body).await, Some(200), "a re-send is a duplicate");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(json_lines(&file).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_over_the_limit_keeps_its_critical_alerts_and_says_how_many_it_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let (queue, file) = (dir.path().join("q"), dir.path().join("n.jsonl"));
    // 9,500 warnings first, then 500 critical alerts: 15 MB against a 1 MiB limit.
    let alerts = (0..10_000).map(|i| long_alert(i, if i < 9_500 { "warning" } else { "critical" })).collect();
    let body = group("big", alerts);
    let config = format!("max_body_bytes: 1048576\n{}", file_config(&queue, &file));
    let port = common::free_port();
    let sidecar = SidecarBinary::start("sidecar", dir.path(), port, &config, &[]).await;
    assert_eq!(sidecar.post(body).await, Some(200), "never refused for its size");
    eventually("its notification", Duration::from_secs(60), async || !json_lines(&file).is_empty()).await;
    let n = &json_lines(&file)[0];
    let kept = n["alerts"].as_array().unwrap();
    let left_out = n["left_out"].as_u64().unwrap();
    assert_eq!(kept.len() as u64 + left_out, 10_000);
    assert!(kept.len() > 600 && kept.len() < 800, "about 1 MiB of 1.5 KB alerts: {}", kept.len());
    let critical = kept.iter().filter(|a| a["labels"]["severity"] == "critical").count();
    assert_eq!(critical, 500, "every critical alert is kept");
    assert_eq!(sidecar.metric("wardwatch_sidecar_alerts_left_out_total").await, Some(left_out as f64));
    let log = sidecar.process.log_tail(100);
    assert!(log.contains("left out"), "{log}");
}

#[test]
fn the_default_limit_holds_the_largest_group_the_shipped_alertmanager_sends() {
    let am: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(common::repo_root().join("alertmanager/alertmanager.yml")).unwrap(),
    )
    .unwrap();
    let mut limits = BTreeSet::new();
    for receiver in am["receivers"].as_sequence().unwrap() {
        for hook in receiver["webhook_configs"].as_sequence().into_iter().flatten() {
            let max = hook["max_alerts"].as_u64();
            assert!(max.is_some_and(|m| m > 0), "receiver {:?} sets max_alerts", receiver["name"]);
            limits.insert(max.unwrap());
        }
    }
    assert_eq!(limits.len(), 1, "every webhook receiver has the same max_alerts: {limits:?}");
    let max_alerts = *limits.first().unwrap() as usize;
    let body = group("largest", (0..max_alerts).map(|i| long_alert(i, "critical")).collect());
    let limit = wardwatch::sidecar::config::DEFAULT_MAX_BODY_BYTES as usize;
    eprintln!(
        "a {max_alerts}-alert group with long labels and annotations is {:.1} MB; max_body_bytes defaults to {:.1} MB",
        body.len() as f64 / 1e6,
        limit as f64 / 1e6
    );
    assert!(body.len() * 2 <= limit, "the default keeps such a group whole, twice over");
}

/// A small tmpfs the test can fill and make read-only, unmounted on drop.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(at).output();
        if out.as_ref().is_ok_and(|o| o.status.success()) {
            return Some(Self(at.to_path_buf()));
        }
        let why = out.map(|o| String::from_utf8_lossy(&o.stderr).into_owned()).unwrap_or_else(|e| e.to_string());
        assert!(!common::tools_required(), "CI must be able to mount a tmpfs (run as root): {why}");
        eprintln!("\n{0}\n!!! SKIPPING the disk-fault test: cannot mount a tmpfs ({why})\n{0}\n", "!".repeat(78));
        None
    }

    fn remount(&self, mode: &str) {
        let out = Command::new("mount").args(["-o", &format!("remount,{mode}")]).arg(&self.0).output().unwrap();
        assert!(out.status.success(), "remount {mode}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Fill it with one file; returns its path.
    fn fill(&self) -> std::path::PathBuf {
        let path = self.0.join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 64 * 1024];
        while std::io::Write::write_all(&mut f, &block).is_ok() {}
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_or_read_only_disk_refuses_with_503_and_forgets_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = Tmpfs::mount(&dir.path().join("disk"), "4m") else { return };
    let queue = dir.path().join("disk/q");
    // Slack rejects the first message for good (404) after a moment: its dead letter is due
    // while the disk is full.
    static NOT_FOUND: Reply = Reply::ChannelNotFound;
    let slack = FakeSlack::start(&[Reply::After(Duration::from_secs(2), &NOT_FOUND)]).await;
    let port = common::free_port();
    let sidecar = SidecarBinary::start("sidecar", dir.path(), port, &slack_config(&queue, &slack.url), &[]).await;
    assert_eq!(sidecar.post(small_group(1)).await, Some(200));
    eventually("the attempt", Duration::from_secs(5), async || !slack.received().is_empty()).await;
    let filler = disk.fill();
    eventually("the dead letter failing to be written", Duration::from_secs(10), async || {
        sidecar.metric("wardwatch_sidecar_unrecorded_outcomes").await == Some(1.0)
    })
    .await;
    assert_eq!(sidecar.post(small_group(2)).await, Some(503), "a full disk refuses with 503 (Alertmanager retries)");
    assert_eq!(sidecar.get("/-/ready", None).await.0, 503);
    let pending: Vec<_> = files_in(&queue).into_iter().filter(|p| p.extension().is_some_and(|e| e == "json")).collect();
    assert_eq!(pending.len(), 1, "the alert is still pending on disk");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(slack.received().len(), 1, "the channel is not asked again while its outcome waits to be written");
    std::fs::remove_file(filler).unwrap();
    eventually("the dead letter written once there is room", Duration::from_secs(15), async || {
        files_in(&queue.join("dead")).len() == 1
    })
    .await;
    assert_eq!(sidecar.metric("wardwatch_sidecar_unrecorded_outcomes").await, Some(0.0));
    assert_eq!(slack.received().len(), 1);

    disk.remount("ro");
    assert_eq!(sidecar.post(small_group(3)).await, Some(503), "a read-only disk refuses with 503");
    assert_eq!(sidecar.get("/-/ready", None).await.0, 503);
    disk.remount("rw");
    assert_eq!(sidecar.post(small_group(3)).await, Some(200));
    eventually("its delivery", Duration::from_secs(10), async || slack.accepted() == 1).await;
    eventually("ready again", Duration::from_secs(10), async || sidecar.get("/-/ready", None).await.0 == 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_concurrent_load_delivers_every_acknowledged_group_exactly_once() {
    const GROUPS: usize = 1500;
    let dir = tempfile::tempdir().unwrap();
    let (queue, file) = (dir.path().join("q"), dir.path().join("n.jsonl"));
    let config = file_config(&queue, &file);
    let port = common::free_port();
    let sidecar = Arc::new(tokio::sync::RwLock::new(Some(
        SidecarBinary::start("sidecar-0", dir.path(), port, &config, &[]).await,
    )));
    let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(30)).build().unwrap();
    let url = format!("http://127.0.0.1:{port}/webhook");
    // Post every group, 32 at a time; a group that gets no 2xx (the process died) is posted
    // again, as Alertmanager retries, until it is acknowledged.
    let posting = tokio::spawn({
        let (client, url) = (client.clone(), url.clone());
        async move {
            let ids: BTreeMap<usize, String> =
                futures_util::StreamExt::collect(futures_util::StreamExt::buffer_unordered(
                    futures_util::stream::iter((0..GROUPS).map(|i| {
                        let (client, url) = (client.clone(), url.clone());
                        async move {
                            let body = small_group(10_000 + i);
                            loop {
                                if let Ok(r) = client.post(&url).body(body.clone()).send().await {
                                    if r.status().is_success() {
                                        let v: serde_json::Value = r.json().await.unwrap_or_default();
                                        if let Some(id) = v["id"].as_str() {
                                            return (i, id.to_owned());
                                        }
                                    }
                                }
                                tokio::time::sleep(Duration::from_millis(100)).await;
                            }
                        }
                    })),
                    32,
                ))
                .await;
            ids
        }
    });
    for round in 1..=3 {
        tokio::time::sleep(Duration::from_millis(300 + 250 * round as u64)).await;
        let old = sidecar.write().await.take();
        drop(old); // SIGKILL, whatever it was doing
        let name = format!("sidecar-{round}");
        *sidecar.write().await = Some(SidecarBinary::start(&name, dir.path(), port, &config, &[]).await);
    }
    let ids = tokio::time::timeout(Duration::from_secs(120), posting).await.expect("all acknowledged").unwrap();
    assert_eq!(ids.len(), GROUPS);
    let expected: BTreeSet<&str> = ids.values().map(String::as_str).collect();
    assert_eq!(expected.len(), GROUPS, "distinct groups have distinct ids");
    eventually("every group in the file", Duration::from_secs(60), async || json_lines(&file).len() >= GROUPS).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for n in json_lines(&file) {
        *counts.entry(n["id"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    let delivered: BTreeSet<&str> = counts.keys().map(String::as_str).collect();
    assert_eq!(delivered, expected, "exactly the acknowledged groups, each once");
    assert!(files_in(&queue.join("dead")).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_in_a_file_have_no_colour_and_the_json_format_is_json() {
    let dir = tempfile::tempdir().unwrap();
    let (queue, file) = (dir.path().join("q"), dir.path().join("n.jsonl"));
    let port = common::free_port();
    let logfmt = SidecarBinary::start("logfmt", dir.path(), port, &file_config(&queue, &file), &[]).await;
    assert_eq!(logfmt.post(small_group(1)).await, Some(200));
    eventually("delivery", Duration::from_secs(10), async || json_lines(&file).len() == 1).await;
    logfmt.kill();
    let text = std::fs::read_to_string(dir.path().join("logfmt.log")).unwrap();
    assert!(!text.contains('\u{1b}'), "no escape sequences in a log file:\n{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 3, "{text}");
    for line in &lines {
        assert!(line.starts_with("ts=") && line.contains(" level="), "logfmt: {line}");
    }
    assert!(lines.iter().any(|l| l.contains("level=info") && l.contains("delivered")), "{text}");

    let json =
        SidecarBinary::start("json", dir.path(), port, &file_config(&queue, &file), &["--log.format=json"]).await;
    json.kill();
    let text = std::fs::read_to_string(dir.path().join("json.log")).unwrap();
    assert!(!text.contains('\u{1b}'));
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["level"].is_string() && v["fields"]["message"].is_string(), "{line}");
    }
    let exporter = Command::new(env!("CARGO_BIN_EXE_wardwatch-exporter"))
        .args(["--log.format=json", "--seed", "1", "backfill", "--hours", "0.01"])
        .arg("--output")
        .arg(dir.path().join("h.om"))
        .arg("--events-output")
        .arg(dir.path().join("e.jsonl"))
        .output()
        .unwrap();
    assert!(exporter.status.success(), "{}", String::from_utf8_lossy(&exporter.stderr));
    let stderr = String::from_utf8_lossy(&exporter.stderr);
    assert!(
        !stderr.is_empty() && stderr.lines().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rest_api_asks_for_the_webhook_credentials_unless_told_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let (queue, file) = (dir.path().join("q"), dir.path().join("n.jsonl"));
    let token = "s3cret-t0ken";
    let base = format!("inbound_auth: {{bearer_token: {token}}}\n{}", file_config(&queue, &file));
    let port = common::free_port();
    let s = SidecarBinary::start("same", dir.path(), port, &base, &[]).await;
    for path in ["/model_info"] {
        let (status, body) = s.get(path, None).await;
        assert_eq!(status, 401, "{path}: {body}");
        assert!(serde_json::from_str::<serde_json::Value>(&body).unwrap()["error"].is_string(), "{body}");
        assert_eq!(s.get(path, Some("wrong")).await.0, 401);
        assert_eq!(s.get(path, Some(token)).await.0, 503, "{path}: past the credentials (rescoring is off here)");
    }
    let predict = s.client.post(format!("{}/predict", s.base)).body("{}").send().await.unwrap();
    assert_eq!(predict.status(), 401);
    for open in ["/-/healthy", "/-/ready", "/health", "/openapi.json", "/metrics"] {
        assert_eq!(s.get(open, None).await.0, 200, "{open} stays open");
    }
    assert_eq!(s.post(small_group(1)).await, Some(401), "the webhook asks for them too");
    s.kill();

    let config = format!("api_auth: none\nmetrics_auth: same\n{base}");
    let s = SidecarBinary::start("open-api", dir.path(), port, &config, &[]).await;
    assert_eq!(s.get("/model_info", None).await.0, 503, "api_auth: none opens the API");
    assert_eq!(s.get("/metrics", None).await.0, 401, "metrics_auth: same closes /metrics");
    assert_eq!(s.get("/metrics", Some(token)).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_alert_no_configured_channel_takes_waits_loudly_and_a_resolved_one_completes() {
    use wardwatch::alert::notification::Notification;
    use wardwatch::alert::payload::WebhookPayload;
    use wardwatch::sidecar::queue::{DeliveryState, Queue, QueueConfig};
    let dir = tempfile::tempdir().unwrap();
    let config = QueueConfig { fsync: false, ..QueueConfig::new(dir.path().join("queue")) };
    let notification = |status: &str, fingerprint: &str| {
        let body = common::rescoring::hypoxia_payload(status, "p00003", "2026-11-22T01:00:00Z", fingerprint);
        Notification::from_payload(WebhookPayload::parse(body.as_bytes()).unwrap(), chrono::Utc::now())
    };
    let (firing, resolved) = (notification("firing", "aa01"), notification("resolved", "aa01"));
    {
        let (queue, _) = Queue::open(config.clone()).await.unwrap();
        queue.enqueue(&firing.id, &["pager".to_string()], &firing).await.unwrap();
        queue.enqueue(&resolved.id, &["pager".to_string()], &resolved).await.unwrap();
    }
    // Restarted with only a file channel, and routes that give these alerts nothing.
    let recorder = common::rescoring::Recorder::new("file");
    let running = common::rescoring::start_with_routes(
        dir.path(),
        vec![recorder.clone() as Arc<dyn wardwatch::notify::channel::Channel>],
        Box::new(|_, _| Vec::new()),
    )
    .await;
    let t = &running.sidecar.telemetry;
    common::rescoring::eventually(Duration::from_secs(10), "the firing alert counted as unroutable", || {
        t.unroutable.get() == 1 && running.sidecar.queue.depth() == 1
    })
    .await;
    let ready = reqwest::get(format!("http://{}/-/ready", running.addr)).await.unwrap();
    assert_eq!(ready.status(), 503);
    assert!(ready.text().await.unwrap().contains("no configured channel"));
    let due = running.sidecar.queue.due(chrono::Utc::now(), 10).await;
    assert_eq!(due.len(), 1, "the firing alert still waits, on disk");
    assert_eq!(due[0].id, firing.id);
    assert_eq!(due[0].channels["pager"].state, DeliveryState::Pending);
    assert!(running.sidecar.queue.dead_letters().await.is_empty());
    assert!(recorder.received().is_empty());
}
