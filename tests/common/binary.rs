//! The real `wardwatch-sidecar` binary as a child process on a port of its own, with helpers to
//! post webhooks, read its metrics and large Alertmanager groups to send it.

use super::process::Process;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A running `wardwatch-sidecar`, killed (SIGKILL) on drop.
pub struct SidecarBinary {
    pub process: Process,
    pub addr: SocketAddr,
    pub base: String,
    pub client: reqwest::Client,
}

impl SidecarBinary {
    /// Write `config` (YAML without `listen_address`) to `<dir>/<name>.yaml`, start the binary on
    /// `port` with `args`, and wait until `/-/healthy` answers.
    pub async fn start(name: &str, dir: &Path, port: u16, config: &str, args: &[&str]) -> Self {
        let path = dir.join(format!("{name}.yaml"));
        std::fs::write(&path, format!("listen_address: 127.0.0.1:{port}\n{config}")).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wardwatch-sidecar"));
        cmd.arg("--config").arg(&path).args(args);
        let mut process = Process::spawn(name, cmd, dir);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        process.wait_http_ok(addr, "/-/healthy", Duration::from_secs(30)).await;
        let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(60)).build().unwrap();
        Self { process, addr, base: format!("http://{addr}"), client }
    }

    /// POST a webhook body; the status, or `None` when no answer came (the process died).
    pub async fn post(&self, body: String) -> Option<u16> {
        let sent = self.client.post(format!("{}/webhook", self.base)).body(body).send().await;
        sent.ok().map(|r| r.status().as_u16())
    }

    /// GET a path; status and body.
    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, String) {
        let mut req = self.client.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap_or_else(|e| panic!("GET {path}: {e}\n{}", self.process.report(40)));
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    }

    /// The value of one sample of `/metrics` (exact series text, e.g. `name{label="x"}`).
    pub async fn metric(&self, series: &str) -> Option<f64> {
        let (_, text) = self.get("/metrics", None).await;
        text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
    }

    /// SIGKILL it and wait for it.
    pub fn kill(self) {
        drop(self);
    }
}

/// Complete lines of a JSON-lines file, parsed; a missing file has none. A last line without its
/// newline is a write still in progress (a multi-megabyte notification is written in more than
/// one piece), as a reader tailing the file sees it: it is left for the next read.
pub fn json_lines(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    complete
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: not a JSON line ({e}): {l:.200}", path.display()))
        })
        .collect()
}

/// Files in a directory (none when it does not exist).
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_file()).collect()
}

/// An alert as the repository's clinical rules make them, with long labels and annotations (a
/// site label, Kubernetes instance names, a runbook and dashboard URL, a long description):
/// about 1.5 KB of JSON.
pub fn long_alert(i: usize, severity: &str) -> serde_json::Value {
    let patient = format!("p{i:05}");
    serde_json::json!({
        "status": "firing",
        "labels": {
            "alertname": "HypoxiaDetected", "severity": severity, "class": "clinical",
            "department": "general-medicine", "ward": "general-medicine-ward-12", "bed": format!("{:02}", i % 40),
            "patient": patient, "site": "st-elsewhere-university-hospital-north-campus",
            "instance": "wardwatch-exporter.hospital-monitoring.svc.cluster.local:10464",
            "job": "wardwatch-exporter", "prometheus": "monitoring/k8s-prometheus-replica-0",
            "team": "clinical-engineering-on-call"
        },
        "annotations": {
            "summary": format!("SpO2 86.59% for patient {patient} (general-medicine-ward-12, bed {:02})", i % 40),
            "description": "SpO2 has stayed below 90% for 10 s. Check the patient, then the probe and the pleth waveform. ".repeat(5),
            "runbook_url": "https://wardwatch.hospital.example.org/runbooks#hypoxiadetected",
            "dashboard": format!("https://grafana.hospital.example.org/d/wardwatch-patient/patient?var-patient={patient}&var-ward=general-medicine-ward-12")
        },
        "startsAt": "2026-12-01T08:00:00.123456789Z", "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.hospital-monitoring.svc.cluster.local:9090/graph?g0.expr=wardwatch_patient_spo2_ratio+%3C+0.90&g0.tab=1",
        "fingerprint": format!("{i:016x}")
    })
}

/// A firing group of `alerts` as Alertmanager sends it.
pub fn group(key: &str, alerts: Vec<serde_json::Value>) -> String {
    serde_json::json!({
        "receiver": "wards-critical", "status": "firing", "alerts": alerts,
        "groupLabels": {"alertname": "HypoxiaDetected"}, "commonLabels": {"alertname": "HypoxiaDetected", "class": "clinical"},
        "commonAnnotations": {}, "externalURL": "http://alertmanager:9093", "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"HypoxiaDetected\",n=\"{key}\"}}"), "truncatedAlerts": 0
    })
    .to_string()
}

/// One small firing group, `n` distinct per value.
pub fn small_group(n: usize) -> String {
    group(&n.to_string(), vec![long_alert(n, "critical")])
}
