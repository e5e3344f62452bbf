//! Self-tests of the integration-test harness in tests/common against the
//! real tools: a real Prometheus scrapes a tiny fixed /metrics server, and
//! promtool lints exposition bodies.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const BODY: &str = "# HELP harness_up x\n# TYPE harness_up gauge\nharness_up 1\n";

/// Serve `BODY` as text/plain; version=0.0.4 on every request, on loopback.
async fn serve_fixed_metrics() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{BODY}",
                    BODY.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn prometheus_scrapes_fixed_target() {
    let target = serve_fixed_metrics().await;
    let Some(prom) = common::Prometheus::start(&[target], "1s", None) else {
        return;
    };
    let result =
        prom.wait_for("harness_up", |r| r.as_array().is_some_and(|a| !a.is_empty()), Duration::from_secs(30)).await;
    assert_eq!(result[0]["value"][1], "1", "result: {result}");
    assert_eq!(result[0]["metric"]["job"], "wardwatch", "result: {result}");

    let targets = prom.targets().await;
    let active = targets["activeTargets"].as_array().unwrap();
    assert_eq!(active.len(), 1, "targets: {targets}");
    assert_eq!(active[0]["health"], "up", "targets: {targets}");
}

#[test]
fn promtool_rejects_counter_without_total() {
    if common::require_tool("promtool").is_none() {
        return;
    }
    let err = common::promtool_check_metrics("# HELP foo x\n# TYPE foo counter\nfoo 1\n")
        .expect_err("counter without _total must be rejected");
    assert!(err.contains("_total"), "unexpected promtool output: {err}");
    common::promtool_check_metrics("# TYPE foo counter\nfoo 1\n")
        .expect_err("counter without _total (and no HELP) must be rejected");
}

#[test]
fn promtool_accepts_good_body() {
    common::promtool_check_metrics(BODY).expect("good body");
    common::promtool_check_metrics(
        "# HELP wardwatch_x_total Things.\n# TYPE wardwatch_x_total counter\n\
         wardwatch_x_total{ward=\"icu-3\"} 3\n",
    )
    .expect("good counter body");
}

#[test]
fn promtool_rejects_unparseable_body() {
    if common::require_tool("promtool").is_none() {
        return;
    }
    common::promtool_check_metrics("this is { not metrics\n").expect_err("garbage must fail");
}
