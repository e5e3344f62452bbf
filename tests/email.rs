//! The email channel against a real SMTP server: aiosmtpd (`tests/smtp_server.py`, from
//! `.venv-test/`) with STARTTLS or implicit TLS, AUTH required, and a certificate from a private
//! CA made with openssl; plus the transient/permanent classification of real failures.
//!
//! Skipped loudly when aiosmtpd or openssl is missing (a failure under `CI`/`WARDWATCH_REQUIRE_TOOLS`).

mod common;

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use wardwatch::alert::notification::Notification;
use wardwatch::alert::payload::{Status, WebhookPayload};
use wardwatch::notify::email::{
    build_message, message_id, thread_root_id, Delivery, EmailConfig, EmailLinks, EmailSender, TlsMode,
};

const USER: &str = "alerts@wardwatch.test";
const PASSWORD: &str = "correct horse battery staple";
const TO: &str = "oncall@wardwatch.test";

const PAYLOAD: &str = r#"{
  "receiver": "wardwatch", "status": "firing",
  "alerts": [{
    "status": "firing",
    "labels": {"alertname": "SpO2Low", "severity": "critical", "ward": "icu-1", "patient": "p00003",
               "bed": "<script>alert(1)</script>"},
    "annotations": {"summary": "SpO2 below 90% for 10 s"},
    "startsAt": "2026-11-22T01:00:00.123Z", "endsAt": "0001-01-01T00:00:00Z",
    "generatorURL": "http://prometheus:9090/graph?g0.expr=x", "fingerprint": "1a2b3c4d5e6f7a8b"
  }],
  "groupLabels": {"alertname": "SpO2Low"}, "commonLabels": {"alertname": "SpO2Low"},
  "externalURL": "http://alertmanager:9093", "version": "4",
  "groupKey": "{}:{alertname=\"SpO2Low\"}", "truncatedAlerts": 0
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

/// Run openssl in `dir`; panic with its output on failure.
fn openssl(bin: &Path, dir: &Path, args: &[&str]) {
    let out = Command::new(bin).args(args).current_dir(dir).stdin(Stdio::null()).output().expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A private CA (ca.pem) and a server certificate for 127.0.0.1/localhost (server.pem, server.key).
fn make_certs(dir: &Path) -> Option<()> {
    let bin = common::require_tool("openssl")?;
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let ext = "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n\
               keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n";
    std::fs::write(dir.join("server.ext"), ext).unwrap();
    let ca = [&["req", "-x509"][..], &ec, &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2"]].concat();
    openssl(&bin, dir, &[&ca[..], &["-subj", "/CN=wardwatch test CA"]].concat());
    let csr = [&["req", "-new"][..], &ec, &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"]];
    openssl(&bin, dir, &csr.concat());
    let sign =
        "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 1 -extfile server.ext";
    openssl(&bin, dir, &sign.split(' ').collect::<Vec<_>>());
    Some(())
}

/// The Python with aiosmtpd: `.venv-test/bin/python`, else the one next to an `aiosmtpd` on PATH.
fn python() -> Option<PathBuf> {
    let aiosmtpd = common::require_tool("aiosmtpd")?;
    let venv = common::repo_root().join(".venv-test").join("bin").join("python");
    let found =
        [venv, aiosmtpd.with_file_name("python3"), aiosmtpd.with_file_name("python")].into_iter().find(|p| p.exists());
    found.or_else(|| common::require_tool("python3"))
}

/// Wait until the server accepts connections (10 s at most); its exit status and log if it exited.
fn wait_ready(child: &mut Child, port: u16, log: &Path) -> Result<(), String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Err(format!("{status}\n{}", common::file_tail(log, 40)));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("smtp_server.py not listening on {addr} after 10 s:\n{}", common::file_tail(log, 40));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `tests/smtp_server.py` running as a child process, killed on drop.
struct SmtpServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl SmtpServer {
    /// Start in `mode` (starttls or implicit), answering the first `fail.0` DATA with `fail.1`.
    /// `None` when the tools are missing and skipping is allowed.
    fn start(mode: &str, fail: Option<(u32, u16)>) -> Option<Self> {
        let python = python()?;
        let dir = tempfile::Builder::new().prefix("wardwatch-smtp-").tempdir().unwrap();
        make_certs(dir.path())?;
        let (fail_first, fail_code) = fail.unwrap_or((0, 451));
        let log = dir.path().join("server.log");
        for _attempt in 0..3 {
            let port = common::free_port();
            let mut child = Command::new(&python)
                .arg(common::repo_root().join("tests").join("smtp_server.py"))
                .args(["--port", &port.to_string(), "--mode", mode, "--user", USER, "--password", PASSWORD])
                .args(["--cert", "server.pem", "--key", "server.key", "--maildir", "mail"])
                .args(["--fail-first", &fail_first.to_string(), "--fail-code", &fail_code.to_string()])
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {}: {e}", python.display()));
            match wait_ready(&mut child, port, &log) {
                Ok(()) => return Some(SmtpServer { child, port, dir }),
                Err(e) if e.contains("in use") => continue,
                Err(e) => panic!("smtp_server.py exited early: {e}"),
            }
        }
        panic!("smtp_server.py: no free port after 3 attempts:\n{}", common::file_tail(&log, 40));
    }

    fn log(&self) -> String {
        common::file_tail(&self.dir.path().join("server.log"), 40)
    }

    /// Settings for this server: its port, the private CA, and the given TLS mode and password.
    fn config(&self, tls: TlsMode, password: &str) -> EmailConfig {
        EmailConfig {
            host: "127.0.0.1".into(),
            port: self.port,
            tls,
            username: USER.into(),
            password: password.into(),
            from: format!("Wardwatch <{USER}>"),
            to: vec![TO.into()],
            timeout: Duration::from_secs(5),
            ca_file: Some(self.dir.path().join("ca.pem")),
        }
    }

    /// The summaries (NNNN.json) of the stored messages, in order.
    fn messages(&self) -> Vec<serde_json::Value> {
        let Ok(entries) = std::fs::read_dir(self.dir.path().join("mail")) else { return Vec::new() };
        let mut paths: Vec<PathBuf> =
            entries.map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect();
        paths.sort();
        paths.iter().map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()).collect()
    }

    /// The raw bytes of stored message `i` (1-based), as text.
    fn raw(&self, i: usize) -> String {
        String::from_utf8_lossy(&std::fs::read(self.dir.path().join(format!("mail/{i:04}.eml"))).unwrap()).into_owned()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
    assert_eq!(m["subject"], "[FIRING critical] SpO2Low — ward icu-1, patient p00003");
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
    assert!(stored[1]["subject"].as_str().unwrap().starts_with("[RESOLVED] SpO2Low"), "{}", stored[1]);
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
