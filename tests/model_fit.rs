//! A model file fitted on a site's own history: the exporter backfills hours of a small
//! hospital into a real Prometheus, with an alert firing for one patient for an hour;
//! `wardwatch-sidecar model fit --prometheus` fits on it (skipping the moments near the alert);
//! the sidecar binary serves that file, names it, its version and its training range in
//! `/model_info`, and scores a real alert with it. A second fit (another seed) is switched to by
//! `SIGHUP` with no alert lost; a reload naming a broken file keeps the model in use; served as
//! a shadow of the first, its verdicts go into the audit log and the metrics.

mod common;

use common::binary::{json_lines, SidecarBinary};
use common::rescoring::eventually;
use std::process::Command;
use std::time::Duration;

const PATIENTS: usize = 5;
const HOURS: f64 = 3.5;

/// Backfill into `data`, with `ALERTS` of a hypoxia firing for p00001 over the last hour but
/// one of the history (as Prometheus records a firing alert). The history's end, Unix seconds.
fn backfill(dir: &std::path::Path, promtool: &std::path::Path, data: &std::path::Path) -> i64 {
    let om = dir.join("history.om");
    let out = Command::new(env!("CARGO_BIN_EXE_wardwatch-exporter"))
        .args(["--seed", "12", "--patients", &PATIENTS.to_string(), "backfill", "--hours", &HOURS.to_string()])
        .args(["--step", "5s", "--output"])
        .arg(&om)
        .arg("--events-output")
        .arg(dir.join("events.jsonl"))
        .output()
        .unwrap();
    assert!(out.status.success(), "backfill: {}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&om).unwrap();
    let end = text
        .lines()
        .filter(|l| l.starts_with("wardwatch_patient_spo2_ratio{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .fold(0.0, f64::max) as i64;
    let body = text.trim_end().strip_suffix("# EOF").expect("OpenMetrics ends with # EOF");
    let mut alerts = String::from("# TYPE ALERTS gauge\n");
    for t in ((end - 2 * 3600)..(end - 3600)).step_by(15) {
        alerts.push_str(&format!(
            "ALERTS{{alertname=\"HypoxiaDetected\",alertstate=\"firing\",patient=\"p00001\",severity=\"critical\"}} 1 {t}\n"
        ));
    }
    std::fs::write(&om, format!("{body}{alerts}# EOF\n")).unwrap();
    let imported =
        Command::new(promtool).args(["tsdb", "create-blocks-from", "openmetrics"]).arg(&om).arg(data).output();
    let imported = imported.unwrap();
    assert!(imported.status.success(), "promtool: {}", String::from_utf8_lossy(&imported.stderr));
    end
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_fitted_on_prometheus_is_served_and_named_by_the_sidecar() {
    let Some(promtool) = common::require_tool("promtool") else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut end = 0;
    let Some(prom) =
        common::Prometheus::start_with(&[], "15s", None, |data| end = backfill(dir.path(), &promtool, data))
    else {
        return;
    };
    let until = chrono::DateTime::from_timestamp(end, 0).unwrap().to_rfc3339();
    let models = dir.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    let fit = Command::new(env!("CARGO_BIN_EXE_wardwatch-sidecar"))
        .args(["model", "fit", "--prometheus", prom.url(), "--since", "210m", "--until", &until, "--out"])
        .arg(&models)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&fit.stdout).to_string();
    assert!(fit.status.success(), "model fit: {}\n{said}", String::from_utf8_lossy(&fit.stderr));
    assert!(String::from_utf8_lossy(&fit.stderr).contains("reading history: "), "plain progress lines off a terminal");
    let files = common::binary::files_in(&models);
    assert_eq!(files.len(), 1, "{files:?}");
    let path = &files[0];
    let file: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let training = &file["training"];
    assert_eq!(training["entities"]["patient"], PATIENTS, "{training}");
    assert_eq!(training["until"].as_str().map(|t| t.starts_with(&until[..16])), Some(true), "{training}");
    for kind in ["patient", "device", "link", "node", "cluster"] {
        let rows = file["kinds"][kind]["rows"].as_array().map_or(0, Vec::len);
        assert!(rows > 0, "{kind}: no rows");
        assert_eq!(training["rows"][kind], rows, "{kind}");
    }
    // p00001's alert fired for an hour: the moments within half an hour of it were left out.
    let skipped = training["skipped_near_alerts"].as_u64().unwrap();
    assert!(skipped >= 8, "skipped {skipped}: {training}");
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    assert!(said.contains(&name), "{said}");

    let port = common::free_port();
    let config = format!(
        "queue:\n  dir: {}\nchannels:\n  file:\n    path: {}\nrescoring:\n  prometheus_url: {}\n  model: {}\n",
        dir.path().join("queue").display(),
        dir.path().join("notifications.jsonl").display(),
        prom.url(),
        path.display()
    );
    let sidecar = SidecarBinary::start("sidecar", dir.path(), port, &config, &[]).await;
    let (status, info) = sidecar.get("/model_info", None).await;
    assert_eq!(status, 200, "{info}");
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["file"], path.display().to_string());
    let version = info["version"].as_str().unwrap().to_owned();
    assert!(said.contains(&version) && name.contains(version.rsplit('-').next().unwrap()), "{version}: {said}");
    assert_eq!(info["training"]["from"], training["from"]);
    assert_eq!(info["training"]["prometheus"], prom.url());

    let starts_at = chrono::DateTime::from_timestamp(end - 600, 0).unwrap().to_rfc3339();
    let body = common::rescoring::hypoxia_payload("firing", "p00003", &starts_at, "00000000000000f1");
    assert_eq!(sidecar.post(body).await, Some(200));
    let audit = dir.path().join("queue/audit/decisions.jsonl");
    eventually(Duration::from_secs(20), "a decision in the audit log", || !json_lines(&audit).is_empty()).await;
    let decisions = json_lines(&audit);
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    assert_eq!(decisions[0]["model_version"], version.as_str(), "scored with the fitted model: {decisions:?}");
    assert!(decisions[0]["score"].is_number(), "{decisions:?}");

    // A second model, switched to by SIGHUP while alerts arrive.
    let second = dir.path().join("second.json");
    let fit = Command::new(env!("CARGO_BIN_EXE_wardwatch-sidecar"))
        .args(["model", "fit", "--prometheus", prom.url(), "--since", "210m", "--until", &until, "--seed", "1"])
        .arg("--out")
        .arg(&second)
        .output()
        .unwrap();
    assert!(fit.status.success(), "{}", String::from_utf8_lossy(&fit.stderr));
    let config_path = dir.path().join("sidecar.yaml");
    let written = std::fs::read_to_string(&config_path).unwrap();
    std::fs::write(&config_path, written.replace(&path.display().to_string(), &second.display().to_string())).unwrap();
    let mut posted = 1;
    for i in 0..5 {
        let body =
            common::rescoring::hypoxia_payload("firing", "p00002", &starts_at, &format!("00000000000001{i:02x}"));
        assert_eq!(sidecar.post(body).await, Some(200));
        posted += 1;
        if i == 2 {
            let hup = Command::new("kill").args(["-HUP", &sidecar.process.pid().to_string()]).status().unwrap();
            assert!(hup.success());
        }
    }
    let switched = async || {
        let (_, info) = sidecar.get("/model_info", None).await;
        serde_json::from_str::<serde_json::Value>(&info).unwrap()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut info = switched().await;
    while info["version"] == version.as_str() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        info = switched().await;
    }
    let second_version = info["version"].as_str().unwrap().to_owned();
    assert_ne!(second_version, version, "SIGHUP switched the model");
    assert_eq!(info["file"], second.display().to_string());
    let body = common::rescoring::hypoxia_payload("firing", "p00004", &starts_at, "00000000000002f1");
    assert_eq!(sidecar.post(body).await, Some(200));
    posted += 1;
    let notifications = dir.path().join("notifications.jsonl");
    eventually(Duration::from_secs(20), "every alert delivered", || json_lines(&notifications).len() >= posted).await;
    assert_eq!(json_lines(&notifications).len(), posted, "every alert delivered across the reload");
    let decisions = json_lines(&audit);
    let last = decisions.last().unwrap();
    assert_eq!(last["model_version"], second_version.as_str(), "scored with the reloaded model: {last}");
    for d in &decisions {
        let v = d["model_version"].as_str().unwrap();
        assert!(v == version || v == second_version, "each alert wholly by one of the two: {v}");
    }

    // A reload naming a broken model file changes nothing and says why.
    std::fs::write(dir.path().join("broken.json"), "{\"format\": 1, \"model\": \"iforest\"").unwrap();
    let written = std::fs::read_to_string(&config_path).unwrap();
    let broken = dir.path().join("broken.json").display().to_string();
    std::fs::write(&config_path, written.replace(&second.display().to_string(), &broken)).unwrap();
    let r = sidecar.client.post(format!("{}/-/reload", sidecar.base)).send().await.unwrap();
    assert_eq!(r.status(), 500);
    let error: serde_json::Value = r.json().await.unwrap();
    let said = error["error"].as_str().unwrap_or_default();
    assert!(said.contains("nothing changed") && said.contains("broken.json"), "{error}");
    assert_eq!(switched().await["version"], second_version.as_str(), "the model in use is kept");
    drop(sidecar);

    // The second model as a shadow of the first: it scores every alert, decides nothing.
    let port = common::free_port();
    let shadowed = format!(
        "queue:\n  dir: {}\nchannels:\n  file:\n    path: {}\nrescoring:\n  prometheus_url: {}\n  model: {}\n  shadow_model: {}\n",
        dir.path().join("queue-shadow").display(),
        dir.path().join("notifications-shadow.jsonl").display(),
        prom.url(),
        path.display(),
        second.display()
    );
    let sidecar = SidecarBinary::start("shadowed", dir.path(), port, &shadowed, &[]).await;
    let body = common::rescoring::hypoxia_payload("firing", "p00003", &starts_at, "00000000000003f1");
    assert_eq!(sidecar.post(body).await, Some(200));
    let audit = dir.path().join("queue-shadow/audit/decisions.jsonl");
    eventually(Duration::from_secs(20), "a decision in the audit log", || !json_lines(&audit).is_empty()).await;
    let line = json_lines(&audit).pop().expect("a decision");
    assert_eq!(line["model_version"], version.as_str(), "the model in use decides: {line}");
    assert_eq!(line["shadow"]["model_version"], second_version.as_str(), "the shadow's verdict is recorded: {line}");
    assert!(line["shadow"]["decision"].is_string() && line["shadow"]["score"].is_number(), "{line}");
    let (_, info) = sidecar.get("/model_info", None).await;
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["shadow"]["version"], second_version.as_str(), "{info}");
    assert_eq!(info["shadow"]["compared"], 1, "{info}");
    let agreed = sidecar.metric("wardwatch_sidecar_shadow_decisions_total{outcome=\"agreed\"}").await.unwrap();
    let differed = sidecar.metric("wardwatch_sidecar_shadow_decisions_total{outcome=\"differed\"}").await.unwrap();
    assert_eq!(agreed + differed, 1.0);
    assert_eq!(line["shadow"]["decision"] == line["decision"], agreed == 1.0, "{line}");
}
