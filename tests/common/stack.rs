//! A real Prometheus and Alertmanager set up for a test: the repository's configurations with
//! every address moved to the test's ports and every wait shortened.

use serde_yaml::Value;
use std::net::SocketAddr;
use std::path::Path;

/// `127.0.0.1:port`.
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// prometheus/prometheus.yml with every target moved to this test's ports, 1 s scrapes and
/// evaluations, the repository's rules beside it, and `extra_jobs` (name, port) scraped too.
pub fn prometheus_config(dir: &Path, ports: &[(u16, u16)], extra_jobs: &[(&str, u16)]) -> std::path::PathBuf {
    let repo = super::repo_root();
    super::compose::copy_tree(&repo.join("prometheus/rules"), &dir.join("rules"));
    let mut config = super::compose::load_yaml(&repo.join("prometheus/prometheus.yml"));
    let move_target = |t: &mut Value| {
        let (_, port) = super::compose::host_port(t.as_str().unwrap()).unwrap();
        let new = ports.iter().find(|(from, _)| *from == port).unwrap_or_else(|| panic!("no port for target {t:?}"));
        *t = Value::String(loopback(new.1).to_string());
    };
    config["global"]["scrape_interval"] = "1s".into();
    config["global"]["scrape_timeout"] = "1s".into();
    config["global"]["evaluation_interval"] = "1s".into();
    for job in config["scrape_configs"].as_sequence_mut().unwrap() {
        if let Some(m) = job.as_mapping_mut() {
            m.remove("scrape_interval");
            m.remove("scrape_timeout");
        }
        for sc in job["static_configs"].as_sequence_mut().into_iter().flatten() {
            sc["targets"].as_sequence_mut().unwrap().iter_mut().for_each(move_target);
        }
    }
    for (name, port) in extra_jobs {
        let job = format!("job_name: {name}\nstatic_configs:\n  - targets: [\"{}\"]\n", loopback(*port));
        config["scrape_configs"].as_sequence_mut().unwrap().push(serde_yaml::from_str(&job).unwrap());
    }
    for am in config["alerting"]["alertmanagers"].as_sequence_mut().unwrap() {
        for sc in am["static_configs"].as_sequence_mut().into_iter().flatten() {
            sc["targets"].as_sequence_mut().unwrap().iter_mut().for_each(move_target);
        }
    }
    let path = dir.join("prometheus.yml");
    std::fs::write(&path, serde_yaml::to_string(&config).unwrap()).unwrap();
    path
}

/// alertmanager/alertmanager.yml posting to this test's sidecar, with 1 s group waits and 5 s
/// group intervals, and `token` in secrets/sidecar-token beside it.
pub fn alertmanager_config(dir: &Path, sidecar: SocketAddr, token: &str) -> std::path::PathBuf {
    let mut config = super::compose::load_yaml(&super::repo_root().join("alertmanager/alertmanager.yml"));
    fn shorten(route: &mut Value) {
        if let Some(m) = route.as_mapping_mut() {
            for (key, value) in [("group_wait", "1s"), ("group_interval", "5s")] {
                if m.contains_key(key) {
                    m.insert(key.into(), value.into());
                }
            }
        }
        route["routes"].as_sequence_mut().into_iter().flatten().for_each(shorten);
    }
    config["route"]["group_wait"] = "1s".into();
    config["route"]["group_interval"] = "5s".into();
    shorten(&mut config["route"]);
    for receiver in config["receivers"].as_sequence_mut().unwrap() {
        for webhook in receiver["webhook_configs"].as_sequence_mut().into_iter().flatten() {
            assert_eq!(
                webhook["http_config"]["authorization"]["credentials_file"].as_str(),
                Some("secrets/sidecar-token"),
                "alertmanager.yml sends the sidecar's token from secrets/sidecar-token"
            );
            webhook["url"] = format!("http://{sidecar}/webhook").into();
        }
    }
    std::fs::create_dir_all(dir.join("secrets")).unwrap();
    std::fs::write(dir.join("secrets/sidecar-token"), format!("{token}\n")).unwrap();
    let path = dir.join("alertmanager.yml");
    std::fs::write(&path, serde_yaml::to_string(&config).unwrap()).unwrap();
    path
}
