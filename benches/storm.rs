//! Alert-storm benchmark: the sidecar rescoring a burst of alerts against a real Prometheus,
//! beside Alertmanager delivering the same burst to a plain webhook (the no-rescoring anchor).
//!
//! The exporter backfills hours of the default hospital (52 patients, 5 s step), promtool turns
//! them into blocks, a real Prometheus serves them. Then, each against a fresh sidecar (rescoring
//! on, the file channel, fsync on):
//! - **one alert at a time**: webhook to delivered, each alert's window fetched for it alone;
//! - **the storm**: N one-alert groups (warnings of the clinical vitals rule group, startsAt on
//!   that group's evaluation grid in the last ten minutes, about N/52 per patient) posted at
//!   once by 64 connections, as Alertmanager's group goroutines would;
//! - **a critical alert in the storm**: the same, with one `HypoxiaDetected` posted halfway;
//! - **Alertmanager → plain webhook**: the same N alerts posted to a real Alertmanager
//!   (`group_by: ['...']`, `group_wait: 0s`) delivering to a webhook that only records them.
//!
//! Printed: throughput, webhook-to-delivered p50/p99/max, alerts left unscored, and the range
//! queries Prometheus answered per alert (its own `prometheus_http_requests_total`), beside the
//! issue's targets. `cargo bench --bench storm` (or `bench/storm.sh`) runs it in full; under
//! `cargo test --benches` it runs a small pass that checks every alert is delivered once and
//! scored, and that the storm costs Prometheus less than one query per alert. Without
//! Prometheus, promtool or Alertmanager it says so loudly and stops — in CI it fails.
//! Environment: `WARDWATCH_STORM_ALERTS` (default 1000), `WARDWATCH_STORM_JSON` (write the
//! figures there too), `WARDWATCH_STORM_LOG_LEVEL` (the sidecars', default `warn`),
//! `WARDWATCH_STORM_KEEP` (keep the temporary directory with every log, queue and file).

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const STEP_MS: i64 = 5_000;
/// The clinical vitals group's phase within its 5 s interval (Prometheus picks one per group).
const PHASE_MS: i64 = 1_234;
/// Connections posting at once.
const CONNECTIONS: usize = 64;
/// Warnings of the clinical vitals rule group (prometheus/rules/clinical.yml).
const WARNINGS: [&str; 5] = ["Tachycardia", "Hypotension", "Hypoglycaemia", "LactateHigh", "Tachypnoea"];

struct Sizes {
    patients: Option<usize>,
    hours: f64,
    alerts: usize,
    single: usize,
}

/// A child process killed when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A tool on `PATH` or in /usr/bin; Debian names Alertmanager `prometheus-alertmanager`.
fn tool(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    dirs.push("/usr/bin".into());
    let names = [name.to_owned(), format!("prometheus-{name}")];
    names.iter().flat_map(|n| dirs.iter().map(move |d| d.join(n))).find(|p| p.is_file())
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

fn spawn(bin: &Path, args: &[String], log: &Path) -> Child {
    let log = std::fs::File::create(log).unwrap();
    let child = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    Child(child)
}

async fn wait_ready(client: &reqwest::Client, url: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if client.get(url).send().await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} not ready after 60 s:\n{}", std::fs::read_to_string(log).unwrap_or_default());
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// One alert of the storm.
#[derive(Clone)]
struct StormAlert {
    key: String,
    alertname: String,
    severity: String,
    patient: String,
    starts_at_ms: i64,
}

impl StormAlert {
    fn json(&self) -> serde_json::Value {
        let starts = chrono::DateTime::from_timestamp_millis(self.starts_at_ms).unwrap();
        serde_json::json!({
            "status": "firing",
            "labels": {"alertname": self.alertname, "severity": self.severity, "class": "clinical",
                        "patient": self.patient, "storm": self.key},
            "annotations": {"summary": format!("{} for patient {}", self.alertname, self.patient)},
            "startsAt": starts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "",
            "fingerprint": format!("{:016x}", self.key.parse::<u64>().unwrap_or(0)),
        })
    }

    /// A one-alert group, as Alertmanager posts it with `group_by: ['...']`.
    fn webhook(&self) -> String {
        serde_json::json!({
            "receiver": "wards", "status": "firing", "alerts": [self.json()],
            "groupLabels": {"alertname": self.alertname, "patient": self.patient, "storm": self.key},
            "commonLabels": {"alertname": self.alertname, "severity": self.severity, "patient": self.patient},
            "commonAnnotations": {}, "externalURL": "http://alertmanager:9093", "version": "4",
            "groupKey": format!("{{}}:{{storm=\"{}\"}}", self.key), "truncatedAlerts": 0
        })
        .to_string()
    }
}

/// What one run measured.
#[derive(Debug, Default, serde::Serialize)]
struct Figures {
    alerts: usize,
    delivered: usize,
    unscored: usize,
    seconds: f64,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    queries_per_alert: f64,
    critical_ms: Option<f64>,
    duplicates: usize,
    /// Range queries the sidecar counted itself (`wardwatch_sidecar_history_queries_total`).
    sidecar_queries: f64,
}

fn figures(latencies_ms: &mut [f64], alerts: usize, unscored: usize, seconds: f64, queries: f64) -> Figures {
    latencies_ms.sort_by(f64::total_cmp);
    Figures {
        alerts,
        delivered: latencies_ms.len(),
        unscored,
        seconds,
        per_second: latencies_ms.len() as f64 / seconds.max(1e-9),
        p50_ms: percentile(latencies_ms, 0.5),
        p99_ms: percentile(latencies_ms, 0.99),
        max_ms: latencies_ms.last().copied().unwrap_or(f64::NAN),
        queries_per_alert: queries / alerts.max(1) as f64,
        critical_ms: None,
        duplicates: 0,
        sidecar_queries: 0.0,
    }
}

/// Range queries Prometheus has answered so far.
async fn range_queries(client: &reqwest::Client, prometheus: &str) -> f64 {
    let text = client.get(format!("{prometheus}/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|l| l.starts_with("prometheus_http_requests_total{") && l.contains("handler=\"/api/v1/query_range\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The value of a series of the sidecar's own metrics.
async fn sidecar_metric(client: &reqwest::Client, sidecar: &str, series: &str) -> f64 {
    let text = client.get(format!("{sidecar}/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok()).unwrap_or(f64::NAN)
}

/// Notifications delivered to the file channel: group key → (when it was first seen, unscored,
/// lines written for it).
type Seen = Arc<Mutex<HashMap<String, (Instant, bool, usize)>>>;

/// Watch the file channel's file, noting each line as it appears (every millisecond).
fn watch(path: PathBuf, seen: Seen, stop: Arc<std::sync::atomic::AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        use std::io::{Read, Seek, SeekFrom};
        let mut offset = 0u64;
        let mut partial = Vec::new();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            if let Ok(mut f) = std::fs::File::open(&path) {
                let _ = f.seek(SeekFrom::Start(offset));
                let mut buf = Vec::new();
                if let Ok(n) = f.read_to_end(&mut buf) {
                    offset += n as u64;
                    partial.extend_from_slice(&buf);
                    let now = Instant::now();
                    while let Some(i) = partial.iter().position(|&b| b == b'\n') {
                        let line: Vec<u8> = partial.drain(..=i).collect();
                        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&line) else { continue };
                        let key = v["group_key"].as_str().unwrap_or_default().to_owned();
                        let unscored = v["scoring"]["state"] == "unscored";
                        seen.lock().unwrap().entry(key).or_insert((now, unscored, 0)).2 += 1;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    })
}

struct Bench {
    client: reqwest::Client,
    dir: PathBuf,
    prometheus: String,
    sidecar_bin: PathBuf,
    runs: usize,
}

/// A sidecar for one run, with the file it delivers to.
struct Sidecar {
    _child: Child,
    url: String,
    file: PathBuf,
}

impl Bench {
    async fn sidecar(&mut self) -> Sidecar {
        self.runs += 1;
        let run = self.dir.join(format!("sidecar-{}", self.runs));
        std::fs::create_dir_all(&run).unwrap();
        let addr = free_addr();
        let file = run.join("notifications.jsonl");
        let config = format!(
            "listen_address: {addr}\nqueue:\n  dir: {}\n  fsync: true\nchannels:\n  file:\n    path: {}\n\
             rescoring:\n  prometheus_url: {}\n",
            run.join("queue").display(),
            file.display(),
            self.prometheus
        );
        std::fs::write(run.join("sidecar.yaml"), config).unwrap();
        let args = [
            "--config".to_owned(),
            run.join("sidecar.yaml").display().to_string(),
            "--log.level".into(),
            std::env::var("WARDWATCH_STORM_LOG_LEVEL").unwrap_or_else(|_| "warn".into()),
        ];
        let log = run.join("sidecar.log");
        let child = spawn(&self.sidecar_bin, &args, &log);
        let url = format!("http://{addr}");
        wait_ready(&self.client, &format!("{url}/-/ready"), &log).await;
        Sidecar { _child: child, url, file }
    }

    /// Post `alerts` to a fresh sidecar, `CONNECTIONS` at a time (the `critical` one, if any,
    /// once half of them are sent), and wait until all are delivered.
    async fn storm(&mut self, alerts: &[StormAlert], critical: Option<&StormAlert>) -> Figures {
        let sidecar = self.sidecar().await;
        let seen: Seen = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watcher = watch(sidecar.file.clone(), seen.clone(), stop.clone());
        let before = range_queries(&self.client, &self.prometheus).await;
        let mut order: Vec<StormAlert> = alerts.to_vec();
        if let Some(c) = critical {
            order.insert(order.len() / 2, c.clone());
        }
        let posted: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        let started = Instant::now();
        let gate = Arc::new(tokio::sync::Semaphore::new(CONNECTIONS));
        let mut tasks = tokio::task::JoinSet::new();
        for a in order.iter().cloned() {
            let permit = gate.clone().acquire_owned().await.unwrap();
            let (client, url, posted) = (self.client.clone(), format!("{}/webhook", sidecar.url), posted.clone());
            tasks.spawn(async move {
                let body = a.webhook();
                posted.lock().unwrap().insert(format!("{{}}:{{storm=\"{}\"}}", a.key), Instant::now());
                loop {
                    let r =
                        client.post(&url).header("content-type", "application/json").body(body.clone()).send().await;
                    if r.is_ok_and(|r| r.status().is_success()) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await; // as Alertmanager retries a 503
                }
                drop(permit);
            });
        }
        while tasks.join_next().await.is_some() {}
        let deadline = Instant::now() + Duration::from_secs(120);
        while seen.lock().unwrap().len() < order.len() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        watcher.join().unwrap();
        let after = range_queries(&self.client, &self.prometheus).await;
        let sidecar_queries =
            sidecar_metric(&self.client, &sidecar.url, "wardwatch_sidecar_history_queries_total").await;
        let seen = seen.lock().unwrap();
        let posted = posted.lock().unwrap();
        let latency = |key: &str| -> Option<f64> {
            let (at, _, _) = seen.get(key)?;
            Some(at.duration_since(*posted.get(key)?).as_secs_f64() * 1000.0)
        };
        let mut latencies: Vec<f64> = posted.keys().filter_map(|k| latency(k)).collect();
        let last = seen.values().map(|(t, _, _)| *t).max().unwrap_or(started);
        let unscored = seen.values().filter(|(_, u, _)| *u).count();
        let mut f = figures(&mut latencies, order.len(), unscored, (last - started).as_secs_f64(), after - before);
        f.duplicates = seen.values().map(|(_, _, n)| n - 1).sum();
        f.critical_ms = critical.and_then(|c| latency(&format!("{{}}:{{storm=\"{}\"}}", c.key)));
        f.sidecar_queries = sidecar_queries;
        f
    }

    /// One alert at a time, each delivered before the next is posted.
    async fn single(&mut self, alerts: &[StormAlert]) -> Figures {
        let sidecar = self.sidecar().await;
        let seen: Seen = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watcher = watch(sidecar.file.clone(), seen.clone(), stop.clone());
        let before = range_queries(&self.client, &self.prometheus).await;
        let started = Instant::now();
        let mut latencies = Vec::new();
        for a in alerts {
            let key = format!("{{}}:{{storm=\"{}\"}}", a.key);
            let sent = Instant::now();
            let r = self.client.post(format!("{}/webhook", sidecar.url)).body(a.webhook()).send().await.unwrap();
            assert!(r.status().is_success(), "{}", r.status());
            let deadline = Instant::now() + Duration::from_secs(10);
            while !seen.lock().unwrap().contains_key(&key) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_micros(500)).await;
            }
            if let Some((at, _, _)) = seen.lock().unwrap().get(&key) {
                latencies.push(at.duration_since(sent).as_secs_f64() * 1000.0);
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        watcher.join().unwrap();
        let after = range_queries(&self.client, &self.prometheus).await;
        let seen = seen.lock().unwrap();
        let unscored = seen.values().filter(|(_, u, _)| *u).count();
        let mut f = figures(&mut latencies, alerts.len(), unscored, started.elapsed().as_secs_f64(), after - before);
        f.duplicates = seen.values().map(|(_, _, n)| n - 1).sum();
        f
    }
}

/// The same alerts through a real Alertmanager to a webhook that only records them.
async fn alertmanager_anchor(dir: &Path, am_bin: &Path, client: &reqwest::Client, alerts: &[StormAlert]) -> Figures {
    let arrived: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = listener.local_addr().unwrap();
    let record = arrived.clone();
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(move |body: axum::body::Bytes| {
            let record = record.clone();
            async move {
                let now = Instant::now();
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
                    for a in v["alerts"].as_array().into_iter().flatten() {
                        let key = a["labels"]["storm"].as_str().unwrap_or_default().to_owned();
                        record.lock().unwrap().entry(key).or_insert(now);
                    }
                }
                "ok"
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let am_dir = dir.join("alertmanager");
    std::fs::create_dir_all(&am_dir).unwrap();
    let config = format!(
        "route:\n  receiver: plain\n  group_by: ['...']\n  group_wait: 0s\n  group_interval: 1m\n  repeat_interval: 4h\n\
         receivers:\n  - name: plain\n    webhook_configs:\n      - url: http://{hook}/\n        send_resolved: false\n"
    );
    std::fs::write(am_dir.join("alertmanager.yml"), config).unwrap();
    let addr = free_addr();
    let args = [
        format!("--config.file={}", am_dir.join("alertmanager.yml").display()),
        format!("--storage.path={}", am_dir.join("data").display()),
        format!("--web.listen-address={addr}"),
        "--cluster.listen-address=".to_owned(),
    ];
    let log = am_dir.join("alertmanager.log");
    let _am = spawn(am_bin, &args, &log);
    let url = format!("http://{addr}");
    wait_ready(client, &format!("{url}/-/ready"), &log).await;
    let posted: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let started = Instant::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(CONNECTIONS));
    let mut tasks = tokio::task::JoinSet::new();
    for a in alerts.iter().cloned() {
        let permit = gate.clone().acquire_owned().await.unwrap();
        let (client, url, posted) = (client.clone(), format!("{url}/api/v2/alerts"), posted.clone());
        tasks.spawn(async move {
            let mut alert = a.json();
            alert.as_object_mut().unwrap().remove("fingerprint");
            alert.as_object_mut().unwrap().remove("status");
            alert.as_object_mut().unwrap().remove("endsAt");
            let body = serde_json::Value::Array(vec![alert]).to_string();
            posted.lock().unwrap().insert(a.key.clone(), Instant::now());
            let r = client.post(&url).header("content-type", "application/json").body(body).send().await.unwrap();
            assert!(r.status().is_success(), "Alertmanager answered {}", r.status());
            drop(permit);
        });
    }
    while tasks.join_next().await.is_some() {}
    let deadline = Instant::now() + Duration::from_secs(120);
    while arrived.lock().unwrap().len() < alerts.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let arrived = arrived.lock().unwrap();
    let posted = posted.lock().unwrap();
    let mut latencies: Vec<f64> = posted
        .iter()
        .filter_map(|(k, sent)| Some(arrived.get(k)?.duration_since(*sent).as_secs_f64() * 1000.0))
        .collect();
    let last = arrived.values().max().copied().unwrap_or(started);
    figures(&mut latencies, alerts.len(), 0, (last - started).as_secs_f64(), 0.0)
}

fn storm_alerts(patients: &[String], n: usize, end_ms: i64, seed: u64) -> Vec<StormAlert> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let grid_end = (end_ms - PHASE_MS).div_euclid(STEP_MS) * STEP_MS + PHASE_MS;
    (0..n)
        .map(|i| {
            let k: i64 = rng.random_range(12..120); // 1 to 10 minutes before the end
            StormAlert {
                key: (seed * 1_000_000 + i as u64).to_string(),
                alertname: WARNINGS[rng.random_range(0..WARNINGS.len())].to_owned(),
                severity: "warning".to_owned(),
                patient: patients[i % patients.len()].clone(),
                starts_at_ms: grid_end - k * STEP_MS,
            }
        })
        .collect()
}

fn row(name: &str, f: &Figures) -> String {
    format!(
        "| {name:<44} | {:>6} | {:>9.0}/s | {:>8.1} ms | {:>8.1} ms | {:>8.1} ms | {:>8} | {:>7.2} |",
        f.delivered, f.per_second, f.p50_ms, f.p99_ms, f.max_ms, f.unscored, f.queries_per_alert
    )
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let sizes = if full {
        let alerts = std::env::var("WARDWATCH_STORM_ALERTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
        Sizes { patients: None, hours: 3.0, alerts, single: 100 }
    } else {
        Sizes { patients: Some(6), hours: 2.25, alerts: 60, single: 5 }
    };
    let required = std::env::var_os("CI").is_some() || std::env::var_os("WARDWATCH_REQUIRE_TOOLS").is_some();
    let tools: Option<Vec<PathBuf>> = ["prometheus", "promtool", "alertmanager"].iter().map(|t| tool(t)).collect();
    let Some(tools) = tools else {
        let msg = "storm benchmark: prometheus, promtool and alertmanager are needed (scripts/install-test-deps.sh)";
        assert!(!required, "{msg}");
        eprintln!("\n!!!!!!!! SKIPPED: {msg} !!!!!!!!\n");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    rt.block_on(run(full, sizes, &tools[0], &tools[1], &tools[2]));
}

async fn run(full: bool, sizes: Sizes, prometheus_bin: &Path, promtool: &Path, am_bin: &Path) {
    let work = tempfile::Builder::new().prefix("wardwatch-storm-").tempdir().unwrap();
    let dir = work.path().to_path_buf();
    let _work = match std::env::var_os("WARDWATCH_STORM_KEEP") {
        Some(_) => {
            println!("keeping the benchmark's files (logs, queues, notifications) in {}", dir.display());
            drop(work.keep());
            None
        }
        None => Some(work),
    };
    let client = reqwest::Client::builder().no_proxy().pool_max_idle_per_host(CONNECTIONS).build().unwrap();

    // History: the exporter's backfill, imported by promtool, served by Prometheus.
    let started = Instant::now();
    let mut args: Vec<String> = vec!["--seed".into(), "7".into()];
    if let Some(p) = sizes.patients {
        args.extend(["--patients".into(), p.to_string()]);
    }
    args.extend(["backfill", "--hours", &sizes.hours.to_string(), "--step", "5s", "--output"].map(String::from));
    args.push(dir.join("history.om").display().to_string());
    args.push("--events-output".into());
    args.push(dir.join("events.jsonl").display().to_string());
    let out = Command::new(env!("CARGO_BIN_EXE_wardwatch-exporter")).args(&args).output().unwrap();
    assert!(out.status.success(), "backfill: {}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new(promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(dir.join("history.om"))
        .arg(dir.join("data"))
        .output()
        .unwrap();
    assert!(out.status.success(), "promtool: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_file(dir.join("history.om")).unwrap();
    std::fs::write(dir.join("prometheus.yml"), "global:\n  scrape_interval: 5s\n").unwrap();
    let addr = free_addr();
    let prom_args = [
        format!("--config.file={}", dir.join("prometheus.yml").display()),
        format!("--storage.tsdb.path={}", dir.join("data").display()),
        format!("--web.listen-address={addr}"),
    ];
    let prom_log = dir.join("prometheus.log");
    let _prometheus = spawn(prometheus_bin, &prom_args, &prom_log);
    let prometheus = format!("http://{addr}");
    wait_ready(&client, &format!("{prometheus}/-/ready"), &prom_log).await;
    let v: serde_json::Value = client
        .post(format!("{prometheus}/api/v1/query"))
        .form(&[("query", "max by (patient) (timestamp(wardwatch_patient_spo2_ratio))")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let result = v["data"]["result"].as_array().cloned().unwrap_or_default();
    let mut patients: Vec<String> =
        result.iter().filter_map(|s| s["metric"]["patient"].as_str().map(str::to_owned)).collect();
    patients.sort();
    let end_ms =
        result.iter().filter_map(|s| s["value"][1].as_str()?.parse::<f64>().ok()).fold(f64::INFINITY, f64::min);
    assert!(!patients.is_empty() && end_ms.is_finite(), "no patients in Prometheus: {v}");
    let end_ms = (end_ms * 1000.0) as i64;
    println!(
        "history: {} patients, {} h at 5 s, backfilled and served by a real Prometheus in {:.1} s",
        patients.len(),
        sizes.hours,
        started.elapsed().as_secs_f64()
    );

    let mut bench = Bench {
        client: client.clone(),
        dir: dir.clone(),
        prometheus,
        sidecar_bin: env!("CARGO_BIN_EXE_wardwatch-sidecar").into(),
        runs: 0,
    };

    // One at a time; each alert on a grid of its own (its startsAt a millisecond off the
    // others'), so each window is fetched for it alone.
    let mut single = storm_alerts(&patients, sizes.single, end_ms, 1);
    for (i, a) in single.iter_mut().enumerate() {
        a.starts_at_ms -= 1 + i as i64;
    }
    let one = bench.single(&single).await;
    let storm = bench.storm(&storm_alerts(&patients, sizes.alerts, end_ms, 2), None).await;
    let critical = StormAlert {
        key: "999999999".into(),
        alertname: "HypoxiaDetected".into(),
        severity: "critical".into(),
        patient: patients[patients.len() / 2].clone(),
        starts_at_ms: (end_ms - PHASE_MS).div_euclid(STEP_MS) * STEP_MS + PHASE_MS - 30 * STEP_MS,
    };
    let mixed = bench.storm(&storm_alerts(&patients, sizes.alerts, end_ms, 3), Some(&critical)).await;
    let anchor = alertmanager_anchor(&dir, am_bin, &client, &storm_alerts(&patients, sizes.alerts, end_ms, 2)).await;

    let n = sizes.alerts;
    let build = if full { "release" } else { "debug" };
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "\n{build} sidecar, rescoring on, file channel, fsync on; {CONNECTIONS} connections posting; {cores} cores"
    );
    println!(
        "| {:<44} | {:>6} | {:>11} | {:>11} | {:>11} | {:>11} | {:>8} | {:>7} |",
        "run", "alerts", "throughput", "p50", "p99", "max", "unscored", "queries"
    );
    println!(
        "|{}|{}|{}|{}|{}|{}|{}|{}|",
        "-".repeat(46),
        "-".repeat(8),
        "-".repeat(13),
        "-".repeat(13),
        "-".repeat(13),
        "-".repeat(13),
        "-".repeat(10),
        "-".repeat(9)
    );
    println!("{}", row("one alert at a time (own fetch each)", &one));
    println!("{}", row(&format!("storm: {n} warnings at once"), &storm));
    println!("{}", row(&format!("storm: {n} warnings + 1 critical halfway"), &mixed));
    println!("{}", row(&format!("Alertmanager -> plain webhook, {n} alerts"), &anchor));
    let critical_ms = mixed.critical_ms.unwrap_or(f64::NAN);
    println!("critical alert posted halfway through the storm: delivered {critical_ms:.1} ms after its webhook");
    println!("(queries: range queries Prometheus answered per alert, by its prometheus_http_requests_total)");
    println!(
        "the storm's sidecar counted {} range queries itself (wardwatch_sidecar_history_queries_total)",
        storm.sidecar_queries
    );
    let met = |ok: bool| if ok { "met" } else { "NOT met" };
    println!("targets ({} alerts, {} patients):", n, patients.len());
    println!(
        "  storm p99 <= 2000 ms, none unscored: {:.0} ms, {} unscored: {}",
        storm.p99_ms,
        storm.unscored,
        met(storm.p99_ms <= 2000.0 && storm.unscored == 0)
    );
    println!("  critical in the storm <= 500 ms: {critical_ms:.0} ms: {}", met(critical_ms <= 500.0));
    println!("  one alert p99 <= 50 ms: {:.1} ms: {}", one.p99_ms, met(one.p99_ms <= 50.0));
    println!(
        "  queries per alert < 1 in the storm: {:.2}: {}",
        storm.queries_per_alert,
        met(storm.queries_per_alert < 1.0)
    );
    if !full {
        println!(
            "  (smoke pass: {} patients, {n} alerts, any build profile; `cargo bench --bench storm` for figures)",
            patients.len()
        );
    }
    if let Some(path) = std::env::var_os("WARDWATCH_STORM_JSON") {
        let json = serde_json::json!({"patients": patients.len(), "hours": sizes.hours, "single": one, "storm": storm, "mixed": mixed, "alertmanager": anchor});
        std::fs::write(path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    }

    // What holds whatever the machine's speed: every alert delivered once, scored, and the storm
    // served by fewer queries than alerts.
    for (name, f) in [("one at a time", &one), ("storm", &storm), ("storm with a critical alert", &mixed)] {
        assert_eq!(f.delivered, f.alerts, "{name}: every alert delivered");
        assert_eq!(f.unscored, 0, "{name}: every alert scored");
        assert_eq!(f.duplicates, 0, "{name}: no alert delivered twice");
    }
    assert_eq!(anchor.delivered, anchor.alerts, "Alertmanager delivered every alert");
    assert!(mixed.critical_ms.is_some());
    assert!(
        storm.queries_per_alert < 1.0,
        "the storm's alerts share fetches: {:.2} queries per alert",
        storm.queries_per_alert
    );
    let prometheus_counted = storm.queries_per_alert * storm.alerts as f64;
    assert!(
        (storm.sidecar_queries - prometheus_counted).abs() < 0.5,
        "the sidecar counts the queries Prometheus answered: {} against {prometheus_counted}",
        storm.sidecar_queries
    );
}
