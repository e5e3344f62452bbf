//! Shared helpers for integration tests.
//!
//! `mod.rs` itself uses std + tokio + reqwest + tempfile + serde_json only; [`slack`],
//! [`rescoring`] and [`replay`] build on the crate's own API.
//!
//! External tools (prometheus, promtool, alertmanager, amtool, python tools in
//! `.venv-test/`) are located with [`require_tool`]. When a tool is missing the
//! test is skipped with a loud warning, unless `WARDWATCH_REQUIRE_TOOLS` or `CI`
//! is set, in which case the test panics (so CI can never pass by skipping).
#![allow(dead_code)]

pub mod binary;
pub mod browser;
pub mod compose;
pub mod process;
pub mod replay;
pub mod rescoring;
pub mod slack;
pub mod smtp;
pub mod stack;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The crate's root directory (where Cargo.toml lives).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn env_flag(name: &str) -> bool {
    match std::env::var(name) {
        Ok(v) => {
            let v = v.trim().to_ascii_lowercase();
            !(v.is_empty() || v == "0" || v == "false" || v == "no")
        }
        Err(_) => false,
    }
}

/// True when missing tools must fail tests instead of skipping them.
pub fn tools_required() -> bool {
    env_flag("WARDWATCH_REQUIRE_TOOLS") || env_flag("CI")
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

/// Search PATH, `/usr/bin` and `<repo>/.venv-test/bin` for an executable.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    dirs.push(PathBuf::from("/usr/bin"));
    dirs.push(repo_root().join(".venv-test").join("bin"));
    // Debian ships Alertmanager as `prometheus-alertmanager`.
    let mut names = vec![name.to_string()];
    if name == "alertmanager" {
        names.push("prometheus-alertmanager".to_string());
    }
    names.iter().flat_map(|n| dirs.iter().map(move |d| d.join(n))).find(|p| is_executable(p))
}

/// Locate an external tool. If it is missing: panic when
/// `WARDWATCH_REQUIRE_TOOLS` or `CI` is set, otherwise print a loud warning
/// to stderr and return `None` (the caller should then skip its test).
pub fn require_tool(name: &str) -> Option<PathBuf> {
    if let Some(p) = find_tool(name) {
        return Some(p);
    }
    if tools_required() {
        panic!(
            "required tool `{name}` is not installed (WARDWATCH_REQUIRE_TOOLS or CI is set); \
             run scripts/install-test-deps.sh"
        );
    }
    let bar = "!".repeat(78);
    eprintln!(
        "\n{bar}\n!!! SKIPPING: `{name}` not installed; run scripts/install-test-deps.sh\n\
         !!! (set WARDWATCH_REQUIRE_TOOLS=1 to make this a failure)\n{bar}\n"
    );
    None
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0").local_addr().unwrap().port()
}

/// The last `lines` lines of a file (for diagnostics).
pub fn file_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Minimal blocking HTTP GET on loopback; returns the status code.
fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n").ok()?;
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    text.lines().next()?.split_whitespace().nth(1)?.parse().ok()
}

/// A real Prometheus server running as a child process, killed on drop.
pub struct Prometheus {
    child: Child,
    addr: SocketAddr,
    url: String,
    config_path: PathBuf,
    stderr_path: PathBuf,
    client: reqwest::Client,
    // Last: removed after the child is killed.
    dir: tempfile::TempDir,
}

impl Prometheus {
    /// Start Prometheus scraping `scrape_targets` (job "wardwatch",
    /// metrics_path "/metrics") every `scrape_interval` (e.g. "1s").
    /// `extra_config` is appended verbatim to prometheus.yml as top-level
    /// YAML (e.g. `rule_files:` / `alerting:` sections).
    ///
    /// Returns `None` when prometheus is not installed and skipping is allowed.
    /// Panics if it does not become ready within 30 s.
    pub fn start(
        scrape_targets: &[SocketAddr],
        scrape_interval: &str,
        extra_config: Option<&str>,
    ) -> Option<Prometheus> {
        Self::start_with(scrape_targets, scrape_interval, extra_config, |_| {})
    }

    /// Like [`Prometheus::start`], calling `prepare` with the (not yet existing) storage
    /// directory first, e.g. to create TSDB blocks there with promtool.
    pub fn start_with(
        scrape_targets: &[SocketAddr],
        scrape_interval: &str,
        extra_config: Option<&str>,
        prepare: impl FnOnce(&Path),
    ) -> Option<Prometheus> {
        let bin = require_tool("prometheus")?;
        let dir = tempfile::Builder::new().prefix("wardwatch-prom-").tempdir().expect("create tempdir");
        prepare(&dir.path().join("data"));

        let targets = scrape_targets.iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(", ");
        let mut config = format!(
            "global:\n  scrape_interval: {scrape_interval}\n  evaluation_interval: {scrape_interval}\n\
             scrape_configs:\n  - job_name: wardwatch\n    metrics_path: /metrics\n    \
             static_configs:\n      - targets: [{targets}]\n"
        );
        if let Some(extra) = extra_config {
            config.push('\n');
            config.push_str(extra);
            if !extra.ends_with('\n') {
                config.push('\n');
            }
        }
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, &config).expect("write prometheus.yml");

        let stderr_path = dir.path().join("prometheus.stderr.log");
        let mut last_err = String::new();
        // Retry a few times in case the chosen port was taken in the meantime.
        for _attempt in 0..3 {
            let port = free_port();
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            let stderr = File::create(&stderr_path).expect("create stderr log");
            let mut child = Command::new(&bin)
                .arg(format!("--config.file={}", config_path.display()))
                .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
                .arg(format!("--web.listen-address={addr}"))
                .arg("--web.enable-lifecycle")
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));

            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Some(status) = child.try_wait().expect("try_wait prometheus") {
                    last_err = format!(
                        "prometheus exited early with {status}; config:\n{config}\nstderr tail:\n{}",
                        file_tail(&stderr_path, 40)
                    );
                    break;
                }
                if http_status(addr, "/-/ready") == Some(200) {
                    let client = reqwest::Client::builder()
                        .no_proxy()
                        .timeout(Duration::from_secs(10))
                        .build()
                        .expect("build reqwest client");
                    return Some(Prometheus {
                        child,
                        addr,
                        url: format!("http://{addr}"),
                        config_path,
                        stderr_path,
                        client,
                        dir,
                    });
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "prometheus at {addr} not ready after 30 s; config:\n{config}\nstderr tail:\n{}",
                        file_tail(&stderr_path, 40)
                    );
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            if !last_err.contains("address already in use") {
                break;
            }
        }
        panic!("{last_err}");
    }

    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The tempdir holding prometheus.yml, the TSDB and the stderr log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// Tail of Prometheus's own log (stderr), for assertion messages.
    pub fn log_tail(&self, lines: usize) -> String {
        file_tail(&self.stderr_path, lines)
    }

    async fn api_get(&self, path: &str, query: &[(&str, &str)]) -> serde_json::Value {
        let url = format!("{}{path}", self.url);
        let resp =
            self.client.get(&url).query(query).send().await.unwrap_or_else(|e| panic!("GET {url} {query:?}: {e}"));
        let status = resp.status();
        let body = resp.text().await.unwrap_or_else(|e| panic!("GET {url} {query:?}: reading body: {e}"));
        let json: serde_json::Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("GET {url} {query:?}: HTTP {status}, invalid JSON ({e}): {body}"));
        if !status.is_success() || json["status"] != "success" {
            panic!("GET {url} {query:?}: HTTP {status}: {body}");
        }
        json["data"].clone()
    }

    /// Instant query; returns the `data.result` array. Panics on error.
    pub async fn query(&self, promql: &str) -> serde_json::Value {
        self.api_get("/api/v1/query", &[("query", promql)]).await["result"].clone()
    }

    /// Poll `query(promql)` every 500 ms until `pred(result)` holds; returns
    /// that result. Panics with the last result and targets on timeout.
    pub async fn wait_for(
        &self,
        promql: &str,
        pred: impl Fn(&serde_json::Value) -> bool,
        timeout: Duration,
    ) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        loop {
            let result = self.query(promql).await;
            if pred(&result) {
                return result;
            }
            if Instant::now() >= deadline {
                let targets = self.targets().await;
                panic!(
                    "timed out after {timeout:?} waiting for `{promql}`; last result: {result}\n\
                     targets: {targets}\nprometheus log tail:\n{}",
                    self.log_tail(20)
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// `data` of GET /api/v1/targets (has `activeTargets`, `droppedTargets`).
    pub async fn targets(&self) -> serde_json::Value {
        self.api_get("/api/v1/targets", &[]).await
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run `promtool check metrics` on an exposition body.
/// Err(stdout+stderr) on a non-zero exit (1 = parse error, 3 = lint problems).
/// Ok(()) when promtool is missing and skipping is allowed (see [`require_tool`]).
pub fn promtool_check_metrics(body: &str) -> Result<(), String> {
    let Some(promtool) = require_tool("promtool") else {
        return Ok(());
    };
    let mut child = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", promtool.display()));
    let mut stdin = child.stdin.take().expect("promtool stdin");
    let body = body.to_owned();
    // Write from a thread so a large body cannot deadlock against full pipes.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(body.as_bytes());
    });
    let out = child.wait_with_output().expect("wait for promtool");
    let _ = writer.join();
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "promtool check metrics exited with {}:\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Samples of a text-format body: (name, labels) → value, checked line by line.
pub fn parse_text(body: &str) -> BTreeMap<(String, BTreeMap<String, String>), f64> {
    let mut out = BTreeMap::new();
    for line in body.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("bad line {line}"));
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => {
                let inner = rest.strip_suffix('}').expect("closing brace");
                let labels = inner
                    .split("\",")
                    .map(|kv| {
                        let (k, v) = kv.split_once("=\"").expect("k=\"v\"");
                        (k.to_string(), v.trim_end_matches('"').to_string())
                    })
                    .collect();
                (n.to_string(), labels)
            }
            None => (series.to_string(), BTreeMap::new()),
        };
        let v: f64 = value.parse().unwrap_or_else(|_| panic!("bad value in {line}"));
        assert!(out.insert((name, labels), v).is_none(), "duplicate series {line}");
    }
    out
}
