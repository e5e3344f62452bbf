//! "I'm on it": the acknowledge link of a firing notification, clicked as a person clicks it,
//! against the real binary. Opening the link acknowledges nothing (a link previewer fetches it);
//! the confirmation page's form does, durably — a restart keeps it, and a second click says who
//! was first. A changed or expired link is refused with a page that says why.

mod common;

use common::binary::{group, json_lines, long_alert, SidecarBinary};
use std::time::{Duration, Instant};

/// The file channel only; rescoring on but with no Prometheus, so each alert goes out unscored
/// and its decision is still recorded (what the console lists).
fn config(dir: &std::path::Path, extra: &str) -> String {
    format!(
        "queue:\n  dir: {}\nchannels:\n  file:\n    path: {}\n{extra}",
        dir.join("queue").display(),
        dir.join("notifications.jsonl").display()
    )
}

async fn first_line(path: &std::path::Path) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(line) = json_lines(path).into_iter().next() {
            return line;
        }
        assert!(Instant::now() < deadline, "no notification written to {}", path.display());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_click_on_the_link_then_on_its_button_acknowledges_once_and_a_restart_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let sc = SidecarBinary::start("sidecar", dir.path(), port, &config(dir.path(), ""), &[]).await;
    assert_eq!(sc.post(group("ack", vec![long_alert(3, "critical")])).await, Some(200));
    let line = first_line(&dir.path().join("notifications.jsonl")).await;
    let url = line["acknowledge_url"].as_str().expect("a firing notification carries acknowledge_url").to_owned();
    let prefix = format!("http://127.0.0.1:{port}/acknowledge/");
    assert!(url.starts_with(&prefix), "the link points at the sidecar's address: {url}");
    assert_eq!(line["message"]["acknowledge"]["url"], url.as_str(), "the message a person reads carries it too");
    let path = &url[url.find("/acknowledge/").unwrap()..];

    // What a link previewer or a mail scanner does: fetch it. Nothing is acknowledged.
    for _ in 0..2 {
        let (status, page) = sc.get(path, None).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("<form method=\"post\">") && page.contains("acknowledge</button>"), "{page}");
        assert!(
            page.contains("HypoxiaDetected") && page.contains("p00003"),
            "the page says what it acknowledges: {page}"
        );
    }
    assert_eq!(sc.metric("wardwatch_sidecar_notifications_acknowledged_total").await, Some(0.0));

    let post = |by: &str| {
        let client = sc.client.clone();
        let target = format!("{}{path}", sc.base);
        let form = [("by", by.to_owned())];
        async move {
            let r = client.post(target).header("user-agent", "ward-phone").form(&form).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, page) = post("Sam (charge nurse)").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Acknowledged by <b>Sam (charge nurse)</b>"), "{page}");
    assert_eq!(sc.metric("wardwatch_sidecar_notifications_acknowledged_total").await, Some(1.0));
    let (status, console) = sc.get("/", None).await;
    assert_eq!(status, 200);
    assert!(console.contains("HypoxiaDetected") && console.contains("patient p00003"), "{console}");
    assert!(
        console.contains(">unscored</td>") && console.contains("✋ Sam (charge nurse)"),
        "the console shows it: {console}"
    );
    let (_, again) = post("Alex").await;
    assert!(again.contains("Already acknowledged") && again.contains("Sam (charge nurse)"), "{again}");
    let log = json_lines(&dir.path().join("queue/acknowledgements.jsonl"));
    assert_eq!(log.len(), 1, "one acknowledgement, the first: {log:?}");
    assert_eq!((log[0]["by"].as_str(), log[0]["client"].as_str()), (Some("Sam (charge nurse)"), Some("ward-phone")));

    sc.kill();
    let sc = SidecarBinary::start("sidecar-2", dir.path(), port, &config(dir.path(), ""), &[]).await;
    let (status, page) = sc.get(path, None).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Already acknowledged") && page.contains("Sam (charge nurse)"),
        "kept across a restart: {page}"
    );

    let (sig_at, _) = path.rmatch_indices('.').next().unwrap();
    let forged = format!("{}.AAAAAAAAAAAAAAAAAAAAAA", &path[..sig_at]);
    let (status, page) = sc.get(&forged, None).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("not valid"), "{page}");
}

#[tokio::test]
async fn an_expired_link_is_gone_and_acknowledgement_can_be_switched_off() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let short = "acknowledge:\n  valid_for: 1s\nlinks:\n  sidecar_url: https://wardwatch.example.org/\n";
    let sc = SidecarBinary::start("sidecar", dir.path(), port, &config(dir.path(), short), &[]).await;
    assert_eq!(sc.post(group("exp", vec![long_alert(4, "critical")])).await, Some(200));
    let line = first_line(&dir.path().join("notifications.jsonl")).await;
    let url = line["acknowledge_url"].as_str().unwrap();
    assert!(url.starts_with("https://wardwatch.example.org/acknowledge/"), "links.sidecar_url: {url}");
    assert_eq!(
        line["message"]["alerts"][0]["runbook"]["url"],
        "https://wardwatch.hospital.example.org/runbooks#hypoxiadetected"
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, page) = sc.get(&url[url.find("/acknowledge/").unwrap()..], None).await;
    assert_eq!(status, 410, "{page}");
    assert!(page.contains("expired"), "{page}");
    sc.kill();

    let dir = tempfile::tempdir().unwrap();
    let off = "acknowledge:\n  enabled: false\n";
    let sc = SidecarBinary::start("sidecar-off", dir.path(), port, &config(dir.path(), off), &[]).await;
    assert_eq!(sc.post(group("off", vec![long_alert(5, "critical")])).await, Some(200));
    let line = first_line(&dir.path().join("notifications.jsonl")).await;
    assert!(line.get("acknowledge_url").is_none(), "{line}");
    assert!(!dir.path().join("queue/acknowledge.key").exists());
}
