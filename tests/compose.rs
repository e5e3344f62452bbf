//! docker-compose.yml, the Dockerfile and the configs compose mounts, checked without a Docker
//! daemon: every service is built or pulled, health-checked and restarted; every mounted path
//! exists; every address a config names is a service listening on that port; the compose variants
//! of prometheus.yml and alertmanager.yml stay the repository's configs with only the addresses
//! changed; promtool and amtool accept them laid out as the containers see them.

mod common;

use common::compose::{glob_names, host_port, load_yaml, scalar, strings, Compose, Service};
use serde_yaml::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// Where each service keeps the config it is started with, inside its container.
const PROMETHEUS_CONFIG: &str = "/etc/prometheus/prometheus.yml";
const ALERTMANAGER_CONFIG: &str = "/etc/alertmanager/alertmanager.yml";

fn config_of(service: &Service, flag: &str) -> (String, std::path::PathBuf) {
    let container = service.flag(flag).unwrap_or_else(|| panic!("service {}: no {flag} in command", service.name));
    let host = service
        .host_file(&container)
        .unwrap_or_else(|| panic!("service {}: {container} is not mounted from the repository", service.name));
    (container, host)
}

/// Assert that `addr` (`host:port` or a URL) names a compose service exposing that port; `own` is
/// the service the address is used from, which `localhost` and 127.0.0.1 mean.
fn assert_reaches(compose: &Compose, own: &str, addr: &str, what: &str) {
    let (host, port) = host_port(addr).unwrap_or_else(|| panic!("{what}: `{addr}` has no host:port"));
    let host = if host == "localhost" || host == "127.0.0.1" { own.to_string() } else { host };
    assert!(compose.has_service(&host), "{what}: `{addr}` names `{host}`, which is not a compose service");
    let exposed = compose.service(&host).exposed();
    assert!(exposed.contains(&port), "{what}: `{addr}`: service `{host}` exposes {exposed:?}, not {port}");
}

#[test]
fn every_service_is_built_or_pulled_health_checked_and_restarted() {
    let compose = Compose::load();
    let names: BTreeSet<String> = compose.services().iter().map(|s| s.name.clone()).collect();
    for expected in ["exporter", "sidecar", "prometheus", "alertmanager", "grafana", "mailpit"] {
        assert!(names.contains(expected), "no `{expected}` service in {names:?}");
    }
    for s in compose.services() {
        assert!(s.def["image"].is_string() || !s.def["build"].is_null(), "service {}: neither image nor build", s.name);
        let test = strings(&s.def["healthcheck"]["test"]);
        assert!(test.len() >= 2 && test[0] != "NONE", "service {}: no health check ({test:?})", s.name);
        let restart = s.def["restart"].as_str().unwrap_or_default();
        assert!(
            ["always", "unless-stopped", "on-failure"].contains(&restart),
            "service {}: restart `{restart}`",
            s.name
        );
        for (dep, cond) in s.def["depends_on"].as_mapping().into_iter().flatten() {
            let dep = dep.as_str().unwrap();
            assert!(compose.has_service(dep), "service {}: depends on unknown `{dep}`", s.name);
            assert_eq!(cond["condition"].as_str(), Some("service_healthy"), "service {} on {dep}", s.name);
        }
    }
}

#[test]
fn every_mount_is_a_read_only_path_of_the_repository() {
    let compose = Compose::load();
    let root = common::repo_root();
    for s in compose.services() {
        for m in s.mounts() {
            assert!(m.host.starts_with(&root), "service {}: {} is outside the repository", s.name, m.host.display());
            assert!(m.host.exists(), "service {}: {} {} does not exist", s.name, m.kind, m.host.display());
            assert!(m.read_only, "service {}: {} is mounted writable", s.name, m.host.display());
        }
    }
}

#[test]
fn every_port_a_service_publishes_or_probes_is_one_it_listens_on() {
    let compose = Compose::load();
    for s in compose.services() {
        let exposed = s.exposed();
        assert!(!exposed.is_empty(), "service {}: `expose` lists no port", s.name);
        for p in strings(&s.def["ports"]) {
            let container: u16 = p.rsplit(':').next().unwrap().parse().unwrap();
            assert!(exposed.contains(&container), "service {}: publishes {p}, exposes {exposed:?}", s.name);
        }
        if let Some(listen) = s.flag("--web.listen-address") {
            assert_reaches(&compose, &s.name, &listen.replace("0.0.0.0", "localhost"), &s.name);
        }
        for key in ["MP_SMTP_BIND_ADDR", "MP_UI_BIND_ADDR"] {
            if let Some(addr) = s.env(key) {
                assert_reaches(&compose, &s.name, &addr.replace("0.0.0.0", "localhost"), &format!("{} {key}", s.name));
            }
        }
        if let Some(port) = s.env("GF_SERVER_HTTP_PORT") {
            assert_reaches(&compose, &s.name, &format!("localhost:{port}"), &s.name);
        }
        // The probe: a URL, or `http-ok PORT PATH`.
        let test = strings(&s.def["healthcheck"]["test"]);
        let probed: Vec<String> = match test.iter().position(|a| a == "http-ok") {
            Some(i) => vec![format!("localhost:{}", test[i + 1])],
            None => test.iter().filter(|a| a.starts_with("http://")).cloned().collect(),
        };
        for addr in probed {
            assert_reaches(&compose, &s.name, &addr, &format!("service {} health check", s.name));
        }
    }
}

#[test]
fn the_sidecar_listens_where_alertmanager_posts_and_mails_the_compose_inbox() {
    let compose = Compose::load();
    let sidecar = compose.service("sidecar");
    let (_, config_path) = config_of(&sidecar, "--config");
    let config = load_yaml(&config_path);
    let listen = config["listen_address"].as_str().expect("sidecar listen_address");
    assert_reaches(&compose, "sidecar", &listen.replace("0.0.0.0", "localhost"), "sidecar listen_address");
    let email = &config["channels"]["email"];
    let smtp = format!("{}:{}", email["host"].as_str().unwrap(), scalar(&email["port"]).unwrap());
    assert_reaches(&compose, "sidecar", &smtp, "sidecar email");
    assert_eq!(email["host"].as_str(), Some("mailpit"), "email goes to the compose inbox");

    // The inbound token is the secret Alertmanager sends.
    let token_file = config["inbound_auth"]["bearer_token"]["file"].as_str().expect("inbound bearer token file");
    let sidecar_token = sidecar.host_file(token_file).expect("the sidecar's token file is mounted");
    let am = compose.service("alertmanager");
    let (am_config_path, am_host) = config_of(&am, "--config.file");
    let am_config = load_yaml(&am_host);
    for webhook in webhook_configs(&am_config) {
        assert_reaches(&compose, "alertmanager", webhook["url"].as_str().unwrap(), "alertmanager webhook");
        let (host, _) = host_port(webhook["url"].as_str().unwrap()).unwrap();
        assert_eq!(host, "sidecar", "Alertmanager posts to the sidecar service");
        let file = webhook["http_config"]["authorization"]["credentials_file"].as_str().expect("credentials_file");
        let in_container = if file.starts_with('/') {
            file.to_string()
        } else {
            format!("{}/{file}", Path::new(&am_config_path).parent().unwrap().display())
        };
        let am_token = am.host_file(&in_container).expect("Alertmanager's credentials_file is mounted");
        assert_eq!(am_token, sidecar_token, "Alertmanager and the sidecar share one token file");
    }
}

fn webhook_configs(am: &Value) -> Vec<&Value> {
    let receivers = am["receivers"].as_sequence().expect("receivers");
    receivers.iter().flat_map(|r| r["webhook_configs"].as_sequence().into_iter().flatten()).collect()
}

#[test]
fn compose_prometheus_scrapes_compose_services_and_loads_the_mounted_rules() {
    let compose = Compose::load();
    let prom = compose.service("prometheus");
    let (container, host) = config_of(&prom, "--config.file");
    assert_eq!(container, PROMETHEUS_CONFIG);
    let config = load_yaml(&host);
    for job in config["scrape_configs"].as_sequence().expect("scrape_configs") {
        for target in job["static_configs"].as_sequence().into_iter().flatten().flat_map(|c| strings(&c["targets"])) {
            assert_reaches(&compose, "prometheus", &target, &format!("job {:?}", job["job_name"]));
        }
    }
    for am in config["alerting"]["alertmanagers"].as_sequence().expect("alertmanagers") {
        for target in am["static_configs"].as_sequence().into_iter().flatten().flat_map(|c| strings(&c["targets"])) {
            assert_reaches(&compose, "prometheus", &target, "alerting");
            assert_eq!(host_port(&target).unwrap().0, "alertmanager");
        }
    }
    let config_dir = Path::new(&container).parent().unwrap();
    let globs = strings(&config["rule_files"]);
    assert!(!globs.is_empty(), "no rule_files");
    for glob in globs {
        let in_container = config_dir.join(&glob);
        let dir = prom.host_file(in_container.parent().unwrap().to_str().unwrap()).expect("rules dir mounted");
        let matched = glob_names(&dir, &in_container.file_name().unwrap().to_string_lossy());
        assert!(!matched.is_empty(), "rule_files `{glob}` matches nothing in {}", dir.display());
        assert!(dir.ends_with("prometheus/rules"), "the repository's rules are mounted, not {}", dir.display());
    }
}

/// A Prometheus config without its host names: what must agree between the two variants.
#[derive(Debug, PartialEq)]
struct PrometheusShape {
    global: Value,
    rule_files: Vec<String>,
    alerting_ports: Vec<u16>,
    /// `(job, scrape_interval, target ports)`.
    jobs: Vec<(String, String, Vec<u16>)>,
}

fn target_ports(v: &Value) -> Vec<u16> {
    let targets = v["static_configs"].as_sequence().into_iter().flatten().flat_map(|c| strings(&c["targets"]));
    targets.map(|t| host_port(&t).unwrap().1).collect()
}

fn prometheus_shape(config: &Value) -> PrometheusShape {
    let jobs = config["scrape_configs"].as_sequence().into_iter().flatten().map(|j| {
        let interval = scalar(&j["scrape_interval"]).unwrap_or_default();
        (scalar(&j["job_name"]).unwrap(), interval, target_ports(j))
    });
    PrometheusShape {
        global: config["global"].clone(),
        rule_files: strings(&config["rule_files"]),
        alerting_ports: config["alerting"]["alertmanagers"]
            .as_sequence()
            .into_iter()
            .flatten()
            .flat_map(target_ports)
            .collect(),
        jobs: jobs.collect(),
    }
}

#[test]
fn compose_prometheus_is_the_repository_config_with_service_names() {
    let compose = Compose::load();
    let (_, host) = config_of(&compose.service("prometheus"), "--config.file");
    let repo = load_yaml(&common::repo_root().join("prometheus/prometheus.yml"));
    assert_eq!(
        prometheus_shape(&load_yaml(&host)),
        prometheus_shape(&repo),
        "{} drifted from prometheus/prometheus.yml: only target host names may differ",
        host.display()
    );
}

#[test]
fn compose_alertmanager_is_the_repository_config_with_the_sidecar_service() {
    let compose = Compose::load();
    let (_, host) = config_of(&compose.service("alertmanager"), "--config.file");
    let mut repo = load_yaml(&common::repo_root().join("alertmanager/alertmanager.yml"));
    for r in repo["receivers"].as_sequence_mut().unwrap() {
        for w in r["webhook_configs"].as_sequence_mut().into_iter().flatten() {
            let url = w["url"].as_str().unwrap().replace("127.0.0.1", "sidecar");
            w["url"] = Value::String(url);
        }
    }
    assert_eq!(
        load_yaml(&host),
        repo,
        "{} drifted from alertmanager/alertmanager.yml: only the webhook host may differ",
        host.display()
    );
}

/// Run a checker on a config laid out as `service`'s container sees it.
fn check_in_layout(service: &Service, tool: &Path, args: &[&str], config: &str) {
    let dir = tempfile::tempdir().unwrap();
    service.lay_out(dir.path());
    let path = dir.path().join(config.trim_start_matches('/'));
    let out = Command::new(tool).args(args).arg(&path).output().unwrap();
    assert!(
        out.status.success(),
        "{} {args:?} {}:\n{}{}",
        tool.display(),
        path.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn promtool_accepts_the_compose_prometheus_config_with_its_mounted_rules() {
    let Some(promtool) = common::require_tool("promtool") else { return };
    let compose = Compose::load();
    check_in_layout(&compose.service("prometheus"), &promtool, &["check", "config"], PROMETHEUS_CONFIG);
}

#[test]
fn amtool_accepts_the_compose_alertmanager_config() {
    let Some(amtool) = common::require_tool("amtool") else { return };
    let compose = Compose::load();
    check_in_layout(&compose.service("alertmanager"), &amtool, &["check-config"], ALERTMANAGER_CONFIG);
}

/// The `*.yml` and `*.yaml` files of a directory (Grafana reads both).
fn yaml_files(dir: &Path) -> Vec<std::path::PathBuf> {
    [glob_names(dir, "*.yml"), glob_names(dir, "*.yaml")].concat()
}

#[test]
fn grafana_mounts_the_provisioning_and_the_dashboards_it_provisions() {
    let compose = Compose::load();
    let grafana = compose.service("grafana");
    let provisioning = grafana.host_file("/etc/grafana/provisioning").expect("/etc/grafana/provisioning mounted");
    assert!(provisioning.ends_with("grafana/provisioning"), "{}", provisioning.display());
    for file in yaml_files(&provisioning.join("datasources")) {
        for ds in load_yaml(&file)["datasources"].as_sequence().into_iter().flatten() {
            let url = ds["url"].as_str().unwrap_or_else(|| panic!("{}: datasource without url", file.display()));
            assert_reaches(&compose, "grafana", url, &format!("{} datasource", file.display()));
        }
    }
    let providers: Vec<Value> = yaml_files(&provisioning.join("dashboards"))
        .iter()
        .flat_map(|f| load_yaml(f)["providers"].as_sequence().cloned().unwrap_or_default())
        .collect();
    assert!(!providers.is_empty(), "no dashboard provider in {}/dashboards", provisioning.display());
    for p in providers {
        let path = p["options"]["path"].as_str().expect("provider options.path");
        let host = grafana.host_file(path).unwrap_or_else(|| panic!("dashboards path {path} is not mounted"));
        assert!(host.ends_with("grafana/dashboards"), "{path} is {}", host.display());
        assert!(!glob_names(&host, "*.json").is_empty(), "no dashboard in {}", host.display());
    }
}

/// The Dockerfile's instructions, continuation lines joined, comments dropped.
fn dockerfile() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(common::repo_root().join("Dockerfile")).unwrap();
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines().map(str::trim).filter(|l| !l.starts_with('#') && !l.is_empty()) {
        current.push_str(line.trim_end_matches('\\'));
        current.push(' ');
        if !line.ends_with('\\') {
            let (op, args) = current.trim().split_once(' ').unwrap_or((current.trim(), ""));
            out.push((op.to_ascii_uppercase(), args.trim().to_string()));
            current.clear();
        }
    }
    out
}

/// One build stage, with what it inherits from a parent stage.
#[derive(Debug)]
struct Stage {
    name: String,
    user: Option<String>,
    exposed: BTreeSet<u16>,
    entrypoint: String,
}

#[test]
fn dockerfile_builds_in_stages_and_runs_both_binaries_as_non_root() {
    let instructions = dockerfile();
    let mut stages: Vec<Stage> = Vec::new();
    for (op, args) in &instructions {
        match op.as_str() {
            "FROM" => {
                let words: Vec<&str> = args.split_whitespace().collect();
                let name = words.iter().position(|w| w.eq_ignore_ascii_case("as")).map_or("", |i| words[i + 1]);
                let parent = stages.iter().find(|s| s.name == words[0]);
                let (user, exposed) = parent.map(|p| (p.user.clone(), p.exposed.clone())).unwrap_or_default();
                stages.push(Stage { name: name.into(), user, exposed, entrypoint: String::new() });
            }
            "USER" => stages.last_mut().unwrap().user = Some(args.clone()),
            "EXPOSE" => {
                stages.last_mut().unwrap().exposed.extend(args.split_whitespace().map(|p| p.parse::<u16>().unwrap()))
            }
            "ENTRYPOINT" => stages.last_mut().unwrap().entrypoint = args.clone(),
            _ => {}
        }
    }
    assert!(stages.len() >= 2, "a multi-stage build: {stages:?}");
    let copied: String =
        instructions.iter().filter(|(op, a)| op == "COPY" && a.contains("--from=")).map(|i| &i.1).cloned().collect();
    for bin in ["wardwatch-exporter", "wardwatch-sidecar"] {
        assert!(copied.contains(bin), "a COPY --from copies {bin}: {copied}");
    }
    // Every stage compose builds (and the final one, `docker build .`) runs as non-root and
    // exposes what the service declares.
    let compose = Compose::load();
    let mut targets: Vec<(String, BTreeSet<u16>)> = compose
        .services()
        .iter()
        .filter(|s| !s.def["build"].is_null())
        .map(|s| (s.def["build"]["target"].as_str().unwrap_or_default().to_string(), s.exposed()))
        .collect();
    targets.push((stages.last().unwrap().name.clone(), BTreeSet::new()));
    for (target, exposed) in targets {
        let stage = stages.iter().find(|s| target.is_empty() || s.name == target).expect("target stage exists");
        let user = stage.user.clone().unwrap_or_else(|| panic!("stage {target}: no USER (runs as root)"));
        let uid = user.split(':').next().unwrap();
        assert!(uid != "root" && uid != "0", "stage {target}: USER {user}");
        assert!(stage.entrypoint.contains("wardwatch-"), "stage {target}: ENTRYPOINT {}", stage.entrypoint);
        assert!(exposed.is_subset(&stage.exposed), "stage {target} exposes {:?}, compose {exposed:?}", stage.exposed);
    }
    // What the image copies from the build context is not excluded by .dockerignore.
    let ignore = std::fs::read_to_string(common::repo_root().join(".dockerignore")).unwrap();
    let ignored: Vec<&str> = ignore.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).collect();
    for (_, args) in instructions.iter().filter(|(op, a)| op == "COPY" && !a.contains("--from=")) {
        let words: Vec<&str> = args.split_whitespace().collect();
        for src in &words[..words.len() - 1] {
            assert!(common::repo_root().join(src).exists(), "COPY {src}: no such path");
            let hit =
                ignored.iter().map(|i| i.trim_end_matches('/')).find(|i| src == i || src.starts_with(&format!("{i}/")));
            assert!(hit.is_none(), "COPY {src} is excluded by .dockerignore `{}`", hit.unwrap());
        }
    }
}
