//! Real ICU alarms through the whole pipeline: `wardwatch-exporter replay` plays records of the
//! PhysioNet/CinC Challenge 2015 through the bedside monitor → a real Prometheus scrapes it every
//! second and fires the repository's `ArrhythmiaAlarm` at each alarm's onset → a real
//! Alertmanager with the repository's routing → the `wardwatch-sidecar` binary rescores each
//! alarm on the history it reads back from Prometheus. Its decisions must be the ones
//! `wardwatch-sidecar eval-alarms` takes on the same records in memory.
//!
//! The replay starts 220 s into the records, so the alarms come after 80 s: the judgement reads
//! the last 74 s before the onset, which Prometheus then holds whole.

mod common;

use common::process::Process;
use common::stack::{alertmanager_config, loopback, prometheus_config};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A true and a false alarm downgraded or kept, of several types.
const RECORDS: [&str; 4] = ["a109l", "a161l", "v100s", "t110s"];
const TOKEN: &str = "real-alarms-t0ken";
const START_OFFSET: u32 = 220;

/// A directory holding only `RECORDS` of the challenge (links to the files), with its RECORDS
/// and ALARMS lists.
fn subset(data: &Path, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for name in RECORDS {
        for ext in ["hea", "mat"] {
            std::os::unix::fs::symlink(data.join(format!("{name}.{ext}")), dir.join(format!("{name}.{ext}"))).unwrap();
        }
    }
    std::fs::write(dir.join("RECORDS"), RECORDS.join("\n") + "\n").unwrap();
    let alarms = std::fs::read_to_string(data.join("ALARMS")).unwrap();
    let mine: Vec<&str> = alarms.lines().filter(|l| RECORDS.iter().any(|r| l.starts_with(&format!("{r},")))).collect();
    std::fs::write(dir.join("ALARMS"), mine.join("\n") + "\n").unwrap();
}

/// `record → kept` from `eval-alarms` on `dir`.
fn eval_alarms(dir: &Path) -> BTreeMap<String, bool> {
    let out = Command::new(env!("CARGO_BIN_EXE_wardwatch-sidecar")).arg("eval-alarms").arg(dir).output().unwrap();
    assert!(out.status.success(), "eval-alarms failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (name, kept) = l.split_once(',').expect("record,decision");
            (name.to_owned(), kept == "1")
        })
        .collect()
}

/// `patient → (kept, scoring line)` of the ArrhythmiaAlarm notifications in the file channel.
fn delivered(file: &Path) -> BTreeMap<String, (bool, String)> {
    let mut out = BTreeMap::new();
    for n in common::binary::json_lines(file) {
        if n["status"] != "firing" || n["common_labels"]["alertname"] != "ArrhythmiaAlarm" {
            continue;
        }
        let patient = n["common_labels"]["patient"].as_str().unwrap_or_default().to_owned();
        let scoring = &n["scoring"];
        let line = scoring.to_string();
        let decision = scoring["decision"].as_str().unwrap_or("unscored");
        out.insert(patient, (decision != "downgrade", line));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_alarms_are_decided_through_prometheus_and_alertmanager_as_in_memory() {
    let Some(data) = common::replay::physionet2015() else { return };
    let (Some(prometheus), Some(alertmanager)) =
        (common::require_tool("prometheus"), common::require_tool("alertmanager"))
    else {
        return;
    };
    let tmp = tempfile::Builder::new().prefix("wardwatch-real-alarms-").tempdir().unwrap();
    let d = tmp.path().to_path_buf();
    let records = d.join("records");
    subset(&data, &records);
    let expected = eval_alarms(&records);
    assert_eq!(expected.len(), RECORDS.len());
    assert!(expected.values().any(|k| *k) && expected.values().any(|k| !*k), "kept and downgraded both: {expected:?}");

    let (replay, sidecar, prom, am) =
        (common::free_port(), common::free_port(), common::free_port(), common::free_port());
    let file = d.join("notifications.jsonl");
    let config = format!(
        "listen_address: \"{}\"\nqueue: {{dir: \"{q}\", fsync: false}}\n\
         inbound_auth: {{bearer_token: {{file: \"{s}\"}}}}\n\
         channels:\n  file: {{path: \"{f}\"}}\n\
         rescoring: {{prometheus_url: \"http://{}\", request_timeout: 5s, budget: 10s}}\n",
        loopback(sidecar),
        loopback(prom),
        q = d.join("queue").display(),
        s = d.join("secrets/sidecar-token").display(),
        f = file.display(),
    );
    let am_config = alertmanager_config(&d, loopback(sidecar), TOKEN);
    std::fs::write(d.join("sidecar.yaml"), config).unwrap();
    let mut processes = Vec::new();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wardwatch-sidecar"));
    cmd.arg("--config").arg(d.join("sidecar.yaml"));
    processes.push((Process::spawn("sidecar", cmd, &d), sidecar, "/-/ready"));
    let mut cmd = Command::new(&alertmanager);
    cmd.arg(format!("--config.file={}", am_config.display()));
    cmd.arg(format!("--storage.path={}", d.join("alertmanager").display()));
    cmd.args([format!("--web.listen-address={}", loopback(am)), "--cluster.listen-address=".into()]);
    processes.push((Process::spawn("alertmanager", cmd, &d), am, "/-/ready"));
    // The simulated hospital's job scrapes nothing here; the replay has its own job.
    let nothing = common::free_port();
    let ports = [(10464, nothing), (10465, sidecar), (9090, prom), (9093, am)];
    let prom_config = prometheus_config(&d, &ports, &[("replay", replay)]);
    let mut cmd = Command::new(&prometheus);
    cmd.arg(format!("--config.file={}", prom_config.display()));
    cmd.arg(format!("--storage.tsdb.path={}", d.join("prometheus").display()));
    cmd.arg(format!("--web.listen-address={}", loopback(prom)));
    processes.push((Process::spawn("prometheus", cmd, &d), prom, "/-/ready"));
    for (process, port, path) in &mut processes {
        process.wait_http_ok(loopback(*port), path, Duration::from_secs(60)).await;
    }
    let started = Instant::now();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wardwatch-exporter"));
    cmd.args(["replay", "--wfdb"]).arg(&records);
    cmd.args(["--records", &RECORDS.join(","), "--start-offset", &START_OFFSET.to_string()]);
    cmd.args(["--web.listen-address", &loopback(replay).to_string()]);
    processes.push((Process::spawn("replay", cmd, &d), replay, "/-/healthy"));

    let report =
        |processes: &[(Process, u16, &str)]| -> String { processes.iter().map(|(p, _, _)| p.report(25)).collect() };
    let deadline = started + Duration::from_secs(240);
    let got = loop {
        let got = delivered(&file);
        if got.len() == RECORDS.len() {
            break got;
        }
        let exited = processes.iter_mut().find_map(|(p, _, _)| p.exited().map(|s| (p.name.clone(), s)));
        if let Some((name, status)) = exited {
            panic!("{name} exited with {status}\n{}", report(&processes));
        }
        assert!(Instant::now() < deadline, "alarms delivered: {got:?}\n{}", report(&processes));
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    eprintln!("real alarms: {} notifications after {:?}", got.len(), started.elapsed());
    for (name, kept) in &expected {
        let (delivered_kept, scoring) = &got[name];
        assert!(!scoring.contains("unscored"), "{name} was scored on Prometheus's history: {scoring}");
        assert_eq!(delivered_kept, kept, "{name}: the pipeline and eval-alarms agree; delivered {scoring}");
    }
}
