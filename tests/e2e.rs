//! End to end with every component real: `wardwatch-exporter` plays a scheduled hypoxia
//! scenario → Prometheus evaluates the repository's `prometheus/rules/*.yml` → Alertmanager runs
//! the repository's `alertmanager/alertmanager.yml` → the `wardwatch-sidecar` binary, with the
//! inbound bearer token → email to a real SMTP server (STARTTLS, AUTH) and Slack to a local
//! stand-in. The firing notification names the patient, the ward and the SpO2 value; when the
//! event ends, the resolved notification follows.
//!
//! Bounded at three minutes. A failure prints the tail of every component's log. Every child
//! process is killed when the test ends, panics included.

mod common;

use common::process::Process;
use common::slack::FakeSlack;
use common::smtp::SmtpServer;
use common::stack::{alertmanager_config, loopback, prometheus_config};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use wardwatch::notify::email::TlsMode;

const TOKEN: &str = "e2e-inbound-t0ken";
const SEED: u64 = 11;
/// One ICU ward and no random events: the scenario's hypoxia is the only thing happening.
const HOSPITAL: &str = "name: e2e hospital\ndepartments:\n  - name: icu\n    kind: icu\n    wards:\n      \
                        - {name: icu-1, beds: 6}\nevents:\n  scale: 0\n";
const WARD: &str = "icu-1";
/// SpO2 falls by up to 16 points over the first half of the event and stays below 90% for about
/// 40 s of its 60; HypoxiaDetected needs 10 s of it.
const EVENT_AT_SECONDS: u64 = 15;
const EVENT_SECONDS: u64 = 60;
const BOUND: Duration = Duration::from_secs(180);

/// Every part of the pipeline; on a panic, its Drop prints every log before the children die.
struct Stack {
    smtp: SmtpServer,
    slack: FakeSlack,
    processes: Vec<Process>,
    dir: tempfile::TempDir,
}

impl Stack {
    fn report(&self) -> String {
        let mut out: String = self.processes.iter().map(|p| p.report(30)).collect();
        out.push_str(&format!("==== smtp server ====\n{}\n", self.smtp.log()));
        let subjects: Vec<String> = self.smtp.messages().iter().map(|m| m["subject"].to_string()).collect();
        out.push_str(&format!("==== emails: {subjects:?}\n==== slack messages: {}\n", self.slack.received().len()));
        out
    }

    /// Poll `check` every 250 ms until it gives a value; panic with every log after `timeout`.
    async fn wait_for<T>(&mut self, what: &str, timeout: Duration, check: impl Fn(&Stack) -> Option<T>) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = check(self) {
                return v;
            }
            for p in &mut self.processes {
                if let Some(status) = p.exited() {
                    panic!("{} exited with {status} while waiting for {what}", p.name);
                }
            }
            assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("\n{}", self.report());
        }
    }
}

/// The patient with the highest SpO2 in this seed's ward: a hypoxia takes it far below 90%
/// and it recovers above, so the alert fires and resolves once. A short run of the exporter
/// without the scenario tells.
async fn healthiest_patient(dir: &Path, hospital: &Path) -> (String, f64) {
    let port = common::free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wardwatch-exporter"));
    cmd.arg("--config").arg(hospital).args(["--seed", &SEED.to_string()]);
    cmd.args(["--web.listen-address", &loopback(port).to_string()]);
    let mut probe = Process::spawn("exporter-probe", cmd, dir);
    probe.wait_http_ok(loopback(port), "/-/healthy", Duration::from_secs(20)).await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let body = client.get(format!("http://{}/metrics", loopback(port))).send().await.unwrap().text().await.unwrap();
    let spo2 = body.lines().filter(|l| l.starts_with("wardwatch_patient_spo2_ratio{")).filter_map(|l| {
        let patient = l.split("patient=\"").nth(1)?.split('"').next()?.to_string();
        Some((patient, l.rsplit(' ').next()?.parse::<f64>().ok()?))
    });
    let best = spo2.max_by(|a, b| a.1.total_cmp(&b.1)).expect("SpO2 series in the exporter's metrics");
    assert!(best.1 >= 0.93, "no patient with SpO2 well above 90% in seed {SEED}: {best:?}");
    best
}

/// The sidecar's YAML: email to the test SMTP server, Slack to the stand-in, a file, the token.
fn sidecar_config(dir: &Path, listen: SocketAddr, smtp: &SmtpServer, slack: &FakeSlack, prom: SocketAddr) -> String {
    let email = smtp.config(TlsMode::StartTls, common::smtp::PASSWORD);
    std::fs::write(dir.join("smtp-password"), common::smtp::PASSWORD).unwrap();
    std::fs::write(dir.join("slack-url"), &slack.url).unwrap();
    format!(
        "listen_address: \"{listen}\"\nqueue: {{dir: \"{d}/queue\"}}\n\
         inbound_auth: {{bearer_token: {{file: \"{d}/secrets/sidecar-token\"}}}}\n\
         links: {{prometheus_url: \"http://{prom}\"}}\n\
         channels:\n  email:\n    host: 127.0.0.1\n    port: {port}\n    tls: starttls\n    username: \"{user}\"\n    \
         password: {{file: \"{d}/smtp-password\"}}\n    to: [\"{to}\"]\n    ca_file: \"{ca}\"\n    timeout: 10s\n  \
         slack: {{webhook_url: {{file: \"{d}/slack-url\"}}}}\n  file: {{path: \"{d}/notifications.jsonl\"}}\n\
         retry: {{base: 200ms, cap: 2s}}\n",
        d = dir.display(),
        port = email.port,
        user = common::smtp::USER,
        to = common::smtp::TO,
        ca = email.ca_file.unwrap().display(),
    )
}

/// An email about `patient`'s HypoxiaDetected whose subject starts with `status`: its subject
/// and text part.
fn email(stack: &Stack, patient: &str, status: &str) -> Option<(String, String)> {
    stack.smtp.messages().into_iter().find_map(|m| {
        let subject = m["subject"].as_str()?.to_string();
        let about = subject.starts_with(status) && subject.contains("HypoxiaDetected") && subject.contains(patient);
        let parts = m["parts"].as_array()?;
        let text = parts.iter().find(|p| p["content_type"] == "text/plain")?["content"].as_str()?.to_string();
        about.then_some((subject, text))
    })
}

/// Every string in a JSON value, joined by line breaks.
fn texts(v: &serde_json::Value, out: &mut String) {
    match v {
        serde_json::Value::String(s) => {
            out.push_str(s);
            out.push('\n');
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| texts(i, out)),
        serde_json::Value::Object(map) => map.values().for_each(|i| texts(i, out)),
        _ => {}
    }
}

/// The text of a Slack message about `patient`'s HypoxiaDetected containing `marker`.
fn slack_message(stack: &Stack, patient: &str, marker: &str) -> Option<String> {
    stack.slack.received().into_iter().find_map(|(_, _, body)| {
        let mut all = String::new();
        texts(&body, &mut all);
        (all.contains("HypoxiaDetected") && all.contains(patient) && all.contains(marker)).then_some(all)
    })
}

/// The SpO2 percentages in a text (`81.2%`).
fn percentages(text: &str) -> Vec<f64> {
    text.split('%')
        .filter_map(|before| {
            let digits = before.rsplit(|c: char| !(c.is_ascii_digit() || c == '.')).next()?;
            digits.parse().ok()
        })
        .collect()
}

/// Assert that `text` names the patient and the ward and carries an SpO2 value below 90%.
fn assert_names_patient_ward_and_value(channel: &str, text: &str, patient: &str) {
    assert!(text.contains(patient) && text.contains(WARD), "{channel}: patient {patient}, ward {WARD}:\n{text}");
    let values = percentages(text);
    assert!(
        values.iter().any(|v| (50.0..90.0).contains(v)),
        "{channel}: an SpO2 value below 90% ({values:?}):\n{text}"
    );
}

async fn start(dir: tempfile::TempDir, smtp: SmtpServer, slack: FakeSlack, patient: &str) -> Option<Stack> {
    let prometheus_bin = common::require_tool("prometheus")?;
    let alertmanager_bin = common::require_tool("alertmanager")?;
    let d = dir.path().to_path_buf();
    let (exporter, sidecar, prom, am) =
        (common::free_port(), common::free_port(), common::free_port(), common::free_port());
    let mut stack = Stack { smtp, slack, processes: Vec::new(), dir };

    let config = sidecar_config(&d, loopback(sidecar), &stack.smtp, &stack.slack, loopback(prom));
    std::fs::write(d.join("sidecar.yaml"), config).unwrap();
    let am_config = alertmanager_config(&d, loopback(sidecar), TOKEN);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wardwatch-sidecar"));
    cmd.arg("--config").arg(d.join("sidecar.yaml"));
    stack.processes.push(Process::spawn("sidecar", cmd, &d));

    let mut cmd = Command::new(&alertmanager_bin);
    cmd.arg(format!("--config.file={}", am_config.display()));
    cmd.arg(format!("--storage.path={}", d.join("alertmanager").display()));
    cmd.args([format!("--web.listen-address={}", loopback(am)), "--cluster.listen-address=".into()]);
    stack.processes.push(Process::spawn("alertmanager", cmd, &d));

    let scenario = format!(
        "events:\n  - {{at: {EVENT_AT_SECONDS}s, kind: hypoxia, target: {patient}, duration: {EVENT_SECONDS}s, severity: 1.0}}\n"
    );
    std::fs::write(d.join("scenario.yml"), scenario).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wardwatch-exporter"));
    cmd.arg("--config").arg(d.join("hospital.yml")).args(["--seed", &SEED.to_string()]);
    cmd.arg("--scenario").arg(d.join("scenario.yml")).arg("--events-log").arg(d.join("events.jsonl"));
    cmd.args(["--web.listen-address", &loopback(exporter).to_string()]);
    stack.processes.push(Process::spawn("exporter", cmd, &d));

    let prom_config = prometheus_config(&d, &[(10464, exporter), (10465, sidecar), (9090, prom), (9093, am)], &[]);
    let mut cmd = Command::new(&prometheus_bin);
    cmd.arg(format!("--config.file={}", prom_config.display()));
    cmd.arg(format!("--storage.tsdb.path={}", d.join("prometheus").display()));
    cmd.arg(format!("--web.listen-address={}", loopback(prom)));
    stack.processes.push(Process::spawn("prometheus", cmd, &d));

    let ready = [(sidecar, "/-/ready"), (am, "/-/ready"), (exporter, "/-/healthy"), (prom, "/-/ready")];
    for (process, (port, path)) in stack.processes.iter_mut().zip(ready) {
        process.wait_http_ok(loopback(port), path, Duration::from_secs(30)).await;
    }
    Some(stack)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_hypoxia_reaches_email_and_slack_then_resolves() {
    if common::require_tool("prometheus").is_none() || common::require_tool("alertmanager").is_none() {
        return;
    }
    let Some(smtp) = SmtpServer::start("starttls", None) else { return };
    let slack = FakeSlack::start(&[]).await;
    let dir = tempfile::Builder::new().prefix("wardwatch-e2e-").tempdir().unwrap();
    std::fs::write(dir.path().join("hospital.yml"), HOSPITAL).unwrap();
    let (patient, spo2) = healthiest_patient(dir.path(), &dir.path().join("hospital.yml")).await;
    eprintln!("e2e: hypoxia for {patient} (SpO2 {spo2} before it), {EVENT_AT_SECONDS}s into the run");
    let started = Instant::now();
    let Some(mut stack) = start(dir, smtp, slack, &patient).await else { return };
    let left = || BOUND.saturating_sub(started.elapsed());

    let (subject, text) = stack.wait_for("the firing email", left(), |s| email(s, &patient, "[FIRING")).await;
    eprintln!("e2e: email after {:?}: {subject}", started.elapsed());
    assert_names_patient_ward_and_value("email", &format!("{subject}\n{text}"), &patient);
    let scoring = text.lines().find(|l| l.starts_with("Scoring: ")).unwrap_or_default();
    assert!(
        ["Scoring: escalated", "Scoring: kept"].iter().any(|p| scoring.starts_with(p)),
        "a real hypoxia is rescored and kept at full priority, with its reasons: {scoring:?}"
    );
    let slack_text = stack.wait_for("the firing Slack message", left(), |s| slack_message(s, &patient, "firing")).await;
    assert_names_patient_ward_and_value("slack", &slack_text, &patient);
    let events = std::fs::read_to_string(stack.dir.path().join("events.jsonl")).unwrap();
    let truth: serde_json::Value =
        serde_json::from_str(events.lines().next().expect("the event's ground truth")).unwrap();
    assert_eq!(
        (truth["kind"].as_str(), truth["entity"]["patient"].as_str()),
        (Some("hypoxia"), Some(patient.as_str()))
    );

    let (subject, _) = stack.wait_for("the resolved email", left(), |s| email(s, &patient, "[RESOLVED]")).await;
    eprintln!("e2e: resolved after {:?}: {subject}", started.elapsed());
    stack.wait_for("the resolved Slack message", left(), |s| slack_message(s, &patient, "resolved")).await;
    let messages = stack.smtp.messages();
    let firing = messages.iter().filter(|m| {
        let subject = m["subject"].as_str().unwrap_or_default();
        subject.starts_with("[FIRING") && subject.contains("HypoxiaDetected") && subject.contains(&patient)
    });
    assert_eq!(firing.count(), 1, "one firing email for the one event");
}
