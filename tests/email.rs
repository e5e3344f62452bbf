//! The email channel against a real SMTP server: aiosmtpd (`tests/smtp_server.py`, from
//! `.venv-test/`) with STARTTLS or implicit TLS, AUTH required, and a certificate from a private
//! CA made with openssl; plus the transient/permanent classification of real failures.
//!
//! Skipped loudly when aiosmtpd or openssl is missing (a failure under `CI`/`WARDWATCH_REQUIRE_TOOLS`).

mod common;

use common::smtp::{SmtpServer, PASSWORD, TO, USER};
use std::time::{Duration, Instant};
use wardwatch::alert::notification::Notification;
use wardwatch::alert::payload::{Status, WebhookPayload};
use wardwatch::notify::email::{
    build_message, message_id, thread_root_id, Delivery, EmailConfig, EmailLinks, EmailSender, TlsMode,
};

const PAYLOAD: &str = r#"{
  "receiver": "wardwatch", "status": "firing",
  "alerts": [{
    "status": "firing",
    "labels": {"alertname": "HypoxiaDetected", "severity": "critical", "ward": "icu-1", "patient": "p00003",
               "bed": "<script>alert(1)</script>"},
    "annotations": {"summary": "SpO2 below 90% for 10 s"},
    "startsAt": "2026-11-22T01:00:00.123Z", "endsAt": "0001-01-01T00:00:00Z",
    "generatorURL": "http://prometheus:9090/graph?g0.expr=x", "fingerprint": "1a2b3c4d5e6f7a8b"
  }],
  "groupLabels": {"alertname": "HypoxiaDetected"}, "commonLabels": {"alertname": "HypoxiaDetected"},
  "externalURL": "http://alertmanager:9093", "version": "4",
  "groupKey": "{}:{alertname=\"HypoxiaDetected\"}", "truncatedAlerts": 0
}"#;

fn notification(status: Status) -> Notification {
    let mut p = WebhookPayload::parse(PAYLOAD.as_bytes()).expect("sample payload");
    p.status = status;
    p.alerts[0].status = status;
    Notification::from_payload(p, "2026-11-22T01:00:05Z".parse().unwrap())
}

fn links() -> EmailLinks {
    EmailLinks { grafana_url: Some("https://grafana.example.org".into()), ..EmailLinks::default() }
}

/// Build and send `n` once.
async fn send(sender: &EmailSender, cfg: &EmailConfig, n: &Notification) -> Delivery {
    sender.send(build_message(n, cfg, &links()).expect("build message")).await
}

#[tokio::test]
async fn starttls_with_auth_delivers_one_message() {
    let Some(server) = SmtpServer::start("starttls", None) else { return };
    let cfg = server.config(TlsMode::StartTls, PASSWORD);
    let sender = EmailSender::new(cfg.clone()).unwrap();
    let n = notification(Status::Firing);
    assert_eq!(send(&sender, &cfg, &n).await, Delivery::Sent, "server log:\n{}", server.log());

    let stored = server.messages();
    assert_eq!(stored.len(), 1, "{stored:?}");
    let m = &stored[0];
    assert_eq!(m["subject"], "[FIRING critical] HypoxiaDetected — ward icu-1, patient p00003");
    assert_eq!(m["message_id"], message_id(&n));
    assert_eq!(m["references"], thread_root_id(&n));
    assert_eq!((&m["login"], &m["rcpt_tos"][0]), (&USER.into(), &TO.into()));
    assert!(m["tls_version"].as_str().is_some_and(|v| v.starts_with("TLS")), "{m}");
    assert_eq!(m["content_type"], "multipart/alternative");
    let types: Vec<&str> = m["parts"].as_array().unwrap().iter().map(|p| p["content_type"].as_str().unwrap()).collect();
    assert_eq!(types, ["text/plain", "text/html"]);
    let (text, html) = (m["parts"][0]["content"].as_str().unwrap(), m["parts"][1]["content"].as_str().unwrap());
    assert!(text.contains("unscored: ") && text.contains("SpO2 below 90% for 10 s"), "{text}");
    assert!(html.contains("&lt;script&gt;") && !html.contains("<script>"), "{html}");
    assert!(html.contains("https://grafana.example.org/d/wardwatch-patient?var-patient=p00003"), "{html}");
    assert!(server.raw(1).contains(&format!("Message-ID: {}", message_id(&n))), "{}", server.raw(1));
}

#[tokio::test]
async fn implicit_tls_delivers_and_resolved_threads_under_the_firing_root() {
    let Some(server) = SmtpServer::start("implicit", None) else { return };
    let cfg = server.config(TlsMode::Implicit, PASSWORD);
    let sender = EmailSender::new(cfg.clone()).unwrap();
    let (firing, resolved) = (notification(Status::Firing), notification(Status::Resolved));
    assert_eq!(send(&sender, &cfg, &firing).await, Delivery::Sent, "server log:\n{}", server.log());
    assert_eq!(send(&sender, &cfg, &resolved).await, Delivery::Sent, "server log:\n{}", server.log());

    let stored = server.messages();
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert!(stored[1]["subject"].as_str().unwrap().starts_with("[RESOLVED] HypoxiaDetected"), "{}", stored[1]);
    assert_eq!(stored[1]["message_id"], message_id(&resolved));
    for m in &stored {
        assert_eq!(m["in_reply_to"], thread_root_id(&firing));
        assert_eq!(m["references"], thread_root_id(&firing));
    }
    assert_ne!(stored[0]["message_id"], stored[1]["message_id"]);
}

#[tokio::test]
async fn wrong_password_is_permanent_535() {
    let Some(server) = SmtpServer::start("starttls", None) else { return };
    let cfg = server.config(TlsMode::StartTls, "wrong password");
    let sender = EmailSender::new(cfg.clone()).unwrap();
    let d = send(&sender, &cfg, &notification(Status::Firing)).await;
    assert!(matches!(&d, Delivery::Permanent(r) if r.contains("535")), "{d:?}\nserver log:\n{}", server.log());
    assert!(!format!("{d:?}").contains("wrong password"), "the password must not leak: {d:?}");
    assert!(server.messages().is_empty());
}

/// The server answers the first DATA with `code`: the first attempt is transient, the retry
/// (played here by the test, as the dispatcher would) is delivered, exactly once.
async fn transient_then_sent(code: u16) {
    let Some(server) = SmtpServer::start("starttls", Some((1, code))) else { return };
    let cfg = server.config(TlsMode::StartTls, PASSWORD);
    let sender = EmailSender::new(cfg.clone()).unwrap();
    let n = notification(Status::Firing);
    let first = send(&sender, &cfg, &n).await;
    assert!(matches!(&first, Delivery::Transient(r) if r.contains(&code.to_string())), "{first:?}\n{}", server.log());
    assert!(server.messages().is_empty());
    assert_eq!(send(&sender, &cfg, &n).await, Delivery::Sent, "retry; server log:\n{}", server.log());
    let stored = server.messages();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0]["message_id"], message_id(&n));
}

#[tokio::test]
async fn data_451_is_transient_and_the_retry_is_sent() {
    transient_then_sent(451).await;
}

#[tokio::test]
async fn data_421_is_transient_and_the_retry_is_sent() {
    transient_then_sent(421).await;
}

#[tokio::test]
async fn untrusted_certificate_is_transient_and_sends_nothing() {
    let Some(server) = SmtpServer::start("starttls", None) else { return };
    let cfg = EmailConfig { ca_file: None, ..server.config(TlsMode::StartTls, PASSWORD) };
    let sender = EmailSender::new(cfg.clone()).unwrap();
    let d = send(&sender, &cfg, &notification(Status::Firing)).await;
    assert!(matches!(&d, Delivery::Transient(r) if r.to_lowercase().contains("certificate")), "{d:?}");
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn unreachable_port_is_transient() {
    let port = common::free_port();
    let cfg = EmailConfig {
        host: "127.0.0.1".into(),
        port,
        tls: TlsMode::StartTls,
        username: USER.into(),
        password: PASSWORD.into(),
        from: USER.into(),
        to: vec![TO.into()],
        timeout: Duration::from_secs(2),
        ca_file: None,
    };
    let sender = EmailSender::new(cfg.clone()).unwrap();
    let started = Instant::now();
    let d = send(&sender, &cfg, &notification(Status::Firing)).await;
    assert!(matches!(&d, Delivery::Transient(r) if r.contains(&port.to_string())), "{d:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn a_redelivery_repeats_the_message_id_so_mail_clients_show_one_message() {
    // What the dispatcher does after a crash between the server's 250 and the queue's record:
    // the same stored notification is sent again, minutes later.
    let Some(server) = SmtpServer::start("starttls", None) else { return };
    let config = server.config(TlsMode::StartTls, PASSWORD);
    let channel = wardwatch::notify::channel::EmailChannel {
        sender: EmailSender::new(config.clone()).unwrap(),
        config,
        links: links(),
        history: None,
    };
    let n = notification(Status::Firing);
    for _ in 0..2 {
        let outcome = wardwatch::notify::channel::Channel::deliver(&channel, &n).await;
        assert_eq!(outcome, wardwatch::notify::retry::Outcome::Success, "{}", server.log());
        tokio::time::sleep(Duration::from_millis(1100)).await; // a later Date header
    }
    let stored = server.messages();
    assert_eq!(stored.len(), 2, "the server got both copies");
    for key in ["message_id", "subject", "in_reply_to", "references"] {
        assert_eq!(stored[0][key], stored[1][key], "{key} is the same on every attempt");
    }
    assert_eq!(stored[0]["message_id"], message_id(&n));
}
