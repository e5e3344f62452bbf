//! The chart of recent history in alert emails, end to end: a real Prometheus scrapes a tiny
//! metrics server whose gauge changes on every scrape; the email channel fetches that history,
//! renders it and sends it inline to a real SMTP server (aiosmtpd with STARTTLS and AUTH). With
//! Prometheus unreachable the email still goes out and says the chart is unavailable.
//!
//! Skipped loudly when prometheus, aiosmtpd or openssl is missing (a failure under
//! `CI`/`WARDWATCH_REQUIRE_TOOLS`).

mod common;

use common::smtp::{SmtpServer, PASSWORD};
use common::Prometheus;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wardwatch::alert::notification::Notification;
use wardwatch::alert::payload::WebhookPayload;
use wardwatch::notify::channel::{Channel, EmailChannel};
use wardwatch::notify::email::{EmailLinks, EmailSender, TlsMode};
use wardwatch::notify::retry::Outcome;
use wardwatch::prometheus::{HistoryError, PrometheusHistory};

const METRIC: &str = "chart_demo_value";

/// Serve `/metrics` with a gauge that changes on every request; the server runs until the runtime ends.
async fn start_metrics_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let scrapes = Arc::new(AtomicU64::new(0));
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let scrapes = scrapes.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut len = 0;
                while !buf[..len].windows(4).any(|w| w == b"\r\n\r\n") && len < buf.len() {
                    match sock.read(&mut buf[len..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => len += n,
                    }
                }
                let k = scrapes.fetch_add(1, Ordering::Relaxed) as f64;
                let body = format!("# TYPE {METRIC} gauge\n{METRIC} {}\n", 90.0 + 5.0 * (k / 3.0).sin());
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n",
                    body.len()
                );
                let _ = sock.write_all(format!("{head}{body}").as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    addr
}

/// A Prometheus scraping the metrics server every second, once it holds at least 3 samples.
async fn prometheus_with_samples() -> Option<Prometheus> {
    let addr = start_metrics_server().await;
    let prom = tokio::task::spawn_blocking(move || Prometheus::start(&[addr], "1s", None)).await.unwrap()?;
    let enough =
        |r: &serde_json::Value| r[0]["value"][1].as_str().and_then(|v| v.parse::<f64>().ok()).is_some_and(|n| n >= 3.0);
    prom.wait_for(&format!("count_over_time({METRIC}[5m])"), enough, Duration::from_secs(30)).await;
    Some(prom)
}

/// A firing notification whose alert's `generatorURL` points at `prometheus_url`'s graph of the gauge.
fn notification(prometheus_url: &str) -> Notification {
    let payload = format!(
        r#"{{
      "receiver": "wardwatch", "status": "firing",
      "alerts": [{{
        "status": "firing",
        "labels": {{"alertname": "ChartDemo", "severity": "warning", "ward": "icu-1"}},
        "annotations": {{"summary": "chart demo"}},
        "startsAt": "2026-11-22T01:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "{prometheus_url}/graph?g0.expr={METRIC}&g0.tab=1", "fingerprint": "1a2b3c4d5e6f7a8b"
      }}],
      "groupLabels": {{"alertname": "ChartDemo"}}, "commonLabels": {{"alertname": "ChartDemo"}},
      "externalURL": "http://alertmanager:9093", "version": "4",
      "groupKey": "{{}}:{{alertname=\"ChartDemo\"}}", "truncatedAlerts": 0
    }}"#
    );
    let p = WebhookPayload::parse(payload.as_bytes()).expect("sample payload");
    Notification::from_payload(p, chrono::Utc::now())
}

/// An email channel to `smtp` charting from `history`.
fn channel(smtp: &SmtpServer, history: PrometheusHistory) -> EmailChannel {
    let config = smtp.config(TlsMode::StartTls, PASSWORD);
    let sender = EmailSender::new(config.clone()).unwrap();
    EmailChannel { sender, config, links: EmailLinks::default(), history: Some(history) }
}

#[tokio::test(flavor = "multi_thread")]
async fn history_fetch_returns_the_scraped_series_and_reports_promql_errors() {
    let Some(prom) = prometheus_with_samples().await else { return };
    let history = PrometheusHistory::new(prom.url(), Duration::from_secs(5)).unwrap();
    let now = chrono::Utc::now();
    let series = history.fetch(METRIC, now, Duration::from_secs(300), Duration::from_secs(1)).await.unwrap();
    assert_eq!(series.len(), 1, "{series:?}");
    assert_eq!(series[0].labels.get("__name__").map(String::as_str), Some(METRIC), "{:?}", series[0].labels);
    assert!(series[0].points.len() >= 3, "{:?}", series[0].points);
    assert!(series[0].points.windows(2).all(|w| w[0].0 < w[1].0), "oldest first: {:?}", series[0].points);
    assert!(series[0].points.iter().all(|(_, v)| (85.0..=95.0).contains(v)), "{:?}", series[0].points);

    let err = history.fetch("sum(", now, Duration::from_secs(300), Duration::from_secs(1)).await.unwrap_err();
    assert!(matches!(&err, HistoryError::Prometheus { kind, .. } if kind == "bad_data"), "{err:?}");
    assert!(err.to_string().contains("parse error"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn email_with_history_carries_the_chart_as_an_inline_png() {
    let Some(prom) = prometheus_with_samples().await else { return };
    let Some(smtp) = SmtpServer::start("starttls", None) else { return };
    let email = channel(&smtp, PrometheusHistory::new(prom.url(), Duration::from_secs(5)).unwrap());
    let outcome = email.deliver(&notification(prom.url())).await;
    assert_eq!(outcome, Outcome::Success, "server log:\n{}", smtp.log());
    let raw = smtp.raw(1);
    assert!(raw.contains("Content-ID: <history@wardwatch>"), "{raw}");
    assert!(raw.contains("image/png"), "{raw}");
    assert!(raw.contains("multipart/related"), "{raw}");
    assert!(!raw.contains("unavailable"), "{raw}");
    let png_bytes = inline_png(&raw);
    let mut reader = png::Decoder::new(std::io::Cursor::new(&png_bytes)).read_info().expect("a valid PNG");
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).expect("one frame");
    assert_eq!((info.width, info.height), (640, 270), "a title strip over one panel");
    // One step is 30 s and the gauge is seconds old: the chart holds at least its latest sample.
    let coloured = pixels.chunks_exact(3).filter(|p| p[0] != p[1] || p[1] != p[2]).count();
    assert!(coloured >= 16, "the series is drawn: {coloured} coloured pixels");
    let html = &smtp.messages()[0]["parts"][1]["content"];
    assert!(html.as_str().unwrap().contains("<img src=\"cid:history@wardwatch\" alt=\"recent history\">"), "{html}");
}

/// The bytes of the base64 part with Content-ID `<history@wardwatch>` in a raw message.
fn inline_png(raw: &str) -> Vec<u8> {
    use base64::Engine;
    let part = &raw[raw.find("Content-ID: <history@wardwatch>").expect("the chart part")..];
    let body = &part[part.find("\r\n\r\n").expect("the part's body") + 4..];
    let b64: String = body.lines().take_while(|l| !l.starts_with("--")).collect::<Vec<_>>().concat();
    base64::engine::general_purpose::STANDARD.decode(b64.trim()).expect("a base64 body")
}

#[tokio::test(flavor = "multi_thread")]
async fn email_is_delivered_with_the_chart_unavailable_when_prometheus_is_down() {
    let Some(smtp) = SmtpServer::start("starttls", None) else { return };
    let dead = format!("http://127.0.0.1:{}", common::free_port());
    let email = channel(&smtp, PrometheusHistory::new(&dead, Duration::from_secs(5)).unwrap());
    let started = Instant::now();
    let outcome = email.deliver(&notification(&dead)).await;
    assert_eq!(outcome, Outcome::Success, "server log:\n{}", smtp.log());
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    let stored = smtp.messages();
    assert_eq!(stored.len(), 1, "{stored:?}");
    for part in stored[0]["parts"].as_array().unwrap() {
        let content = part["content"].as_str().unwrap();
        assert!(content.contains("Chart of recent history unavailable: request to Prometheus failed"), "{content}");
    }
    assert!(!smtp.raw(1).contains("image/png"), "{}", smtp.raw(1));
}
