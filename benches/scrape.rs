//! Scrape benchmark: the exporter at `--patients 10000` against Python's prometheus_client
//! producing the same number of series, in the same run. Prints figures; asserts nothing.
//!
//! `cargo bench --bench scrape` runs it in full (pin it to one core with
//! `taskset -c 0 cargo bench --bench scrape`); under `cargo test` it runs a small smoke pass.
//! Environment: `WARDWATCH_BENCH_PATIENTS` (default 10000), `WARDWATCH_BENCH_REPEAT` (default 20).

use std::process::Command;
use std::time::Instant;
use wardwatch::exporter::handlers::scrape;
use wardwatch::exporter::{Exporter, Options};
use wardwatch::exposition::{gzip, Format, Writer};
use wardwatch::sim::metrics::write_simulation;
use wardwatch::sim::source::HospitalSource;

const SCRAPE_INTERVAL_SECONDS: f64 = 15.0;
const T0: f64 = 1_767_225_600.0;

struct Figures {
    median_ms: f64,
    p90_ms: f64,
    bytes: usize,
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Time `repeat` scrapes 15 s apart (simulation steps included).
fn measure(exporter: &Exporter, clock: &mut f64, format: Format, gzip: bool, repeat: usize) -> Figures {
    let mut times = Vec::with_capacity(repeat);
    let mut bytes = 0;
    for _ in 0..repeat {
        *clock += SCRAPE_INTERVAL_SECONDS;
        let started = Instant::now();
        let s = scrape(exporter, *clock, format, gzip);
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        bytes = s.body.len();
    }
    times.sort_by(f64::total_cmp);
    Figures { median_ms: times[times.len() / 2], p90_ms: times[times.len() * 9 / 10], bytes }
}

/// Python prometheus_client on the same number of series; None when it is not installed.
fn python(series: usize, gzip: bool, repeat: usize) -> Option<serde_json::Value> {
    let root = env!("CARGO_MANIFEST_DIR");
    let venv = format!("{root}/.venv-test/bin/python");
    let python = if std::path::Path::new(&venv).exists() { venv } else { "python3".into() };
    let mut cmd = Command::new(python);
    cmd.arg(format!("{root}/bench/python_exposition.py")).args([
        "--series",
        &series.to_string(),
        "--repeat",
        &repeat.to_string(),
    ]);
    if gzip {
        cmd.arg("--gzip");
    }
    let out = cmd.output().ok()?;
    if !out.status.success() {
        eprintln!("python reference failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// Peak resident set of a process (`self` or a pid), from /proc.
fn peak_rss_bytes(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let patients = if full { env_or("WARDWATCH_BENCH_PATIENTS", 10_000) } else { 200 };
    let repeat = if full { env_or("WARDWATCH_BENCH_REPEAT", 20) } else { 2 };
    let source = HospitalSource { patients: Some(patients as u32), seed: 1, ..Default::default() };
    let built = Instant::now();
    let exporter = Exporter::new(source.build(T0).expect("hospital builds"), Options::default()).expect("exporter");
    let build_ms = built.elapsed().as_secs_f64() * 1000.0;
    let mut clock = T0;
    measure(&exporter, &mut clock, Format::Text, false, 3); // warm-up: fill beat history, size buffers
    let body = scrape(&exporter, clock, Format::Text, false).body;
    let series = body.split(|b| *b == b'\n').filter(|l| !l.is_empty() && l[0] != b'#').count();

    println!("wardwatch-exporter scrape benchmark: {patients} patients, {series} series, scrapes {SCRAPE_INTERVAL_SECONDS} s apart");
    println!("build {build_ms:.0} ms");
    println!(
        "{:<28} {:>12} {:>10} {:>12} {:>14} {:>9}",
        "case", "median ms", "p90 ms", "bytes", "python ms", "speed-up"
    );
    for (name, format, gzip) in [
        ("text 0.0.4", Format::Text, false),
        ("openmetrics 1.0.0", Format::OpenMetrics, false),
        ("text 0.0.4 + gzip", Format::Text, true),
        ("openmetrics 1.0.0 + gzip", Format::OpenMetrics, true),
    ] {
        let f = measure(&exporter, &mut clock, format, gzip, repeat);
        // Python's openmetrics and text renderers cost the same; compare with its text output.
        let reference = if format == Format::Text { python(series, gzip, repeat.min(5)) } else { None };
        let py_ms = reference.as_ref().and_then(|r| r["median_seconds"].as_f64()).map(|s| s * 1000.0);
        let (py, ratio) = match py_ms {
            Some(ms) => (format!("{ms:.0}"), format!("{:.0}x", ms / f.median_ms)),
            None => ("-".into(), "-".into()),
        };
        println!("{name:<28} {:>12.1} {:>10.1} {:>12} {py:>14} {ratio:>9}", f.median_ms, f.p90_ms, f.bytes);
    }
    // The same work in phases, with buffers reused, to show where a scrape's time goes.
    let (mut step, mut write, mut gz) = (Vec::new(), Vec::new(), Vec::new());
    let mut buf: Vec<u8> = Vec::with_capacity(body.len() + body.len() / 8);
    for _ in 0..repeat {
        let mut sim = exporter.source.lock().expect("not poisoned");
        clock += SCRAPE_INTERVAL_SECONDS;
        let t = Instant::now();
        sim.advance_to(clock, &mut Vec::new());
        step.push(t.elapsed().as_secs_f64() * 1000.0);
        buf.clear();
        let t = Instant::now();
        write_simulation(&sim, &mut Writer::new(&mut buf, Format::Text));
        write.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        std::hint::black_box(gzip::compress(&buf));
        gz.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "phases (median ms): simulation step {:.1}, write {:.1}, gzip {:.1}",
        median(&mut step),
        median(&mut write),
        median(&mut gz)
    );
    if let Some(rss) = peak_rss_bytes("self") {
        println!("peak RSS of this benchmark process {:.0} MB", rss as f64 / 1e6);
    }
    if full {
        served_binary(patients, repeat);
    }
}

/// The real binary over HTTP, scraped as Prometheus does (OpenMetrics, gzip): latency and RSS.
fn served_binary(patients: usize, repeat: usize) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wardwatch-exporter"))
        .args(["--patients", &patients.to_string(), "--seed", "1", "--log.level", "warn"])
        .args(["--web.listen-address", &format!("127.0.0.1:{port}")])
        .spawn()
        .expect("start wardwatch-exporter");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let times = rt.block_on(async {
        let client = reqwest::Client::builder().no_proxy().no_gzip().build().expect("client");
        let url = format!("http://127.0.0.1:{port}/metrics");
        let mut times = Vec::new();
        for i in 0..repeat + 20 {
            let started = Instant::now();
            let r = client
                .get(&url)
                .header("Accept", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
                .header("Accept-Encoding", "gzip")
                .send()
                .await;
            let Ok(r) = r else {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            };
            let _ = r.bytes().await;
            if i >= 20 {
                times.push(started.elapsed().as_secs_f64() * 1000.0);
            }
            // Prometheus scrapes every 15 s; a second of wall time here is 15 s simulated less.
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        times
    });
    let rss = peak_rss_bytes(&child.id().to_string());
    let _ = child.kill();
    let _ = child.wait();
    if times.is_empty() {
        println!("served binary: no successful scrape");
        return;
    }
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "served binary over HTTP (openmetrics + gzip): median {:.1} ms, p90 {:.1} ms; peak RSS {:.0} MB",
        sorted[sorted.len() / 2],
        sorted[sorted.len() * 9 / 10],
        rss.unwrap_or(0) as f64 / 1e6
    );
}
