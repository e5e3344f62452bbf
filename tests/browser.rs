//! What a person sees, in headless Chromium (Debian's `chromium`) against the real binary: the
//! acknowledge link opened on a phone-sized screen, a name typed and the button tapped, the
//! acknowledgement recorded; then the console showing who acknowledged it, and the alert's own
//! page with its delivery and audit trail, where a doctor answers "false alarm". Screenshots of each
//! page go to `WARDWATCH_SCREENSHOTS` (or the temporary directory), printed in the output.

mod common;

use common::binary::{group, json_lines, long_alert, SidecarBinary};
use common::browser::{screenshot_dir, Browser};
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_nurse_acknowledges_from_the_link_on_a_phone_and_the_console_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut browser) = Browser::start(dir.path(), 390, 844, screenshot_dir("acknowledge")).await else {
        return;
    };
    let port = common::free_port();
    let cfg = format!(
        "queue:\n  dir: {}\ntime_zone: Europe/London\nchannels:\n  file:\n    path: {}\n",
        dir.path().join("queue").display(),
        dir.path().join("notifications.jsonl").display()
    );
    let sc = SidecarBinary::start("sidecar", dir.path(), port, &cfg, &[]).await;
    assert_eq!(sc.post(group("phone", vec![long_alert(3, "critical")])).await, Some(200));
    let deadline = Instant::now() + Duration::from_secs(20);
    let line = loop {
        if let Some(line) = json_lines(&dir.path().join("notifications.jsonl")).into_iter().next() {
            break line;
        }
        assert!(Instant::now() < deadline, "no notification written");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let url = line["acknowledge_url"].as_str().expect("an acknowledge link").to_owned();

    browser.open(&url).await;
    let page = browser.text().await;
    assert!(page.contains("HypoxiaDetected") && page.contains("p00003"), "says what it acknowledges: {page}");
    browser.screenshot("1-confirm").await;
    let log = dir.path().join("queue/acknowledgements.jsonl");
    assert!(json_lines(&log).is_empty(), "opening the link acknowledges nothing");

    browser.type_into("input[name=by]", "Sam (charge nurse)").await;
    browser.click("button[type=submit]").await;
    browser.wait_for("document.body.innerText.includes('Acknowledged by')").await;
    let done = browser.text().await;
    assert!(done.contains("Sam (charge nurse)"), "{done}");
    browser.screenshot("2-acknowledged").await;
    let acks = json_lines(&log);
    assert_eq!(acks.len(), 1, "{acks:?}");
    assert_eq!(acks[0]["by"], "Sam (charge nurse)");
    assert!(acks[0]["client"].as_str().unwrap_or_default().contains("Chrome"), "the client is recorded: {acks:?}");

    browser.open(&format!("{}/", sc.base)).await;
    let console = browser.text().await;
    assert!(console.contains("HypoxiaDetected") && console.contains("Sam (charge nurse)"), "{console}");
    browser.screenshot("3-console").await;

    // The alert's own page: its message, its delivery, its audit trail, and "was it real?".
    browser.click("td a[href^='/alerts/']").await;
    browser.wait_for("location.pathname.startsWith('/alerts/') && document.readyState === 'complete'").await;
    let detail = browser.text().await;
    for shown in ["Who", "patient p00003", "Verdict", "Delivery", "delivered", "Audit trail", "Sam (charge nurse)"] {
        assert!(detail.contains(shown), "the detail page shows {shown:?}: {detail}");
    }
    browser.type_into("input[name=by]", "Dr Okafor").await;
    browser.click("button[value=false_alarm]").await;
    browser.wait_for("document.body.innerText.includes('Answered false alarm')").await;
    browser.screenshot("4-detail-feedback").await;
    let feedback = json_lines(&dir.path().join("queue/feedback.jsonl"));
    assert_eq!(feedback.len(), 1, "{feedback:?}");
    assert_eq!(
        (feedback[0]["feedback"].as_str(), feedback[0]["by"].as_str()),
        (Some("false_alarm"), Some("Dr Okafor"))
    );
    assert_eq!(feedback[0]["alerts"][0]["patient"], "p00003");
    assert_eq!(sc.metric("wardwatch_sidecar_feedback_total{feedback=\"false_alarm\"}").await, Some(1.0));
}
