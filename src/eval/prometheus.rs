//! A real Prometheus over an imported TSDB, for the evaluation: started on a free loopback port
//! with no scrape targets and no rules, asked range queries through its HTTP API, killed when
//! its [`Server`] is dropped (on an error or a panic too).
//!
//! The server keeps the past it is given: time-based retention counts back from the newest
//! block, but is set far out anyway, and blocks are left at promtool's 2 h so that no compaction
//! competes with the queries.

use super::alerting::{Labels, Schedule};
use serde::Deserialize;
use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long Prometheus may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one range query may take.
const QUERY_TIMEOUT: Duration = Duration::from_secs(600);

/// Why Prometheus could not be run or queried.
#[derive(Debug, thiserror::Error)]
pub enum PrometheusError {
    /// A tool is not installed.
    #[error(
        "`{0}` was not found on PATH: the evaluation runs the rules in a real Prometheus; install \
         Debian's `prometheus` package (`apt-get install prometheus`, which has `prometheus` and `promtool`)"
    )]
    NotInstalled(&'static str),
    /// The working files could not be written or the process started.
    #[error("starting {what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Prometheus exited or never became ready.
    #[error("prometheus did not become ready: {why}; its log ends:\n{log}")]
    NotReady {
        /// Exit status or timeout.
        why: String,
        /// The tail of its log.
        log: String,
    },
    /// The HTTP request failed.
    #[error("query_range `{query}`: {source}")]
    Http {
        /// The expression.
        query: String,
        /// The transport error.
        source: reqwest::Error,
    },
    /// Prometheus answered with an error or something unreadable.
    #[error("query_range `{query}`: {message}")]
    Query {
        /// The expression.
        query: String,
        /// Prometheus' `errorType: error`, or what could not be read.
        message: String,
    },
}

/// The Prometheus installation: `prometheus` and `promtool`.
#[derive(Debug, Clone)]
pub struct Tools {
    /// The server.
    pub prometheus: PathBuf,
    /// Its command-line tool (TSDB import).
    pub promtool: PathBuf,
}

impl Tools {
    /// Find both on `PATH`, or say what to install.
    pub fn locate() -> Result<Self, PrometheusError> {
        Ok(Self { prometheus: find("prometheus")?, promtool: find("promtool")? })
    }

    /// The first line of `prometheus --version`, e.g. `prometheus, version 2.42.0+ds (…)`.
    pub fn version(&self) -> String {
        let out = Command::new(&self.prometheus).arg("--version").stdin(Stdio::null()).output();
        let text =
            out.map(|o| String::from_utf8_lossy(if o.stdout.is_empty() { &o.stderr } else { &o.stdout }).into_owned());
        text.ok()
            .and_then(|t| t.lines().next().map(str::to_string))
            .unwrap_or_else(|| self.prometheus.display().to_string())
    }
}

fn find(name: &'static str) -> Result<PathBuf, PrometheusError> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
        .ok_or(PrometheusError::NotInstalled(name))
}

/// A running Prometheus, killed on drop.
pub struct Server {
    child: Child,
    url: String,
    log: PathBuf,
    client: reqwest::Client,
}

impl Server {
    /// Start `bin` over the TSDB in `data`, its configuration and log in `work`, and wait until
    /// it is ready.
    pub async fn start(bin: &Path, data: &Path, work: &Path) -> Result<Self, PrometheusError> {
        let io = |what: &str| {
            let what = what.to_string();
            move |source| PrometheusError::Io { what, source }
        };
        let config = work.join("prometheus.yml");
        std::fs::write(&config, "# Queried over imported history only: no scrape targets, no rules.\nglobal: {}\n")
            .map_err(io("writing prometheus.yml"))?;
        let log = work.join("prometheus.log");
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(QUERY_TIMEOUT)
            .build()
            .map_err(|e| PrometheusError::Io { what: "an HTTP client".into(), source: std::io::Error::other(e) })?;
        let mut last = String::new();
        // A port free a moment ago may be taken before Prometheus binds it: try a few.
        for _ in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(io("a free port"))?.port();
            let child = Command::new(bin)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!("--storage.tsdb.path={}", data.display()))
                .arg("--storage.tsdb.retention.time=100y")
                .arg("--storage.tsdb.min-block-duration=2h")
                .arg("--storage.tsdb.max-block-duration=2h")
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .current_dir(work)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(File::create(&log).map_err(io("prometheus.log"))?)
                .spawn()
                .map_err(io(&bin.display().to_string()))?;
            let mut server =
                Self { child, url: format!("http://127.0.0.1:{port}"), log: log.clone(), client: client.clone() };
            match server.wait_ready().await {
                Ok(()) => return Ok(server),
                Err(why) => last = why,
            }
            if !server.log_tail().contains("address already in use") {
                break;
            }
        }
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        Err(PrometheusError::NotReady { why: last, log: tail(&log, 20) })
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("it exited with {status}"));
            }
            let ready = self.client.get(format!("{}/-/ready", self.url)).timeout(Duration::from_secs(2)).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("not ready after {} s", READY_TIMEOUT.as_secs()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The last lines of Prometheus' log, for error messages.
    pub fn log_tail(&self) -> String {
        tail(&std::fs::read_to_string(&self.log).unwrap_or_default(), 20)
    }

    /// `query` evaluated at every instant of `schedule` (at most [`super::alerting::MAX_POINTS_PER_QUERY`]):
    /// each result series' labels and the instants it is present at.
    pub async fn query_range(
        &self,
        query: &str,
        schedule: &Schedule,
    ) -> Result<Vec<(Labels, Vec<u32>)>, PrometheusError> {
        let seconds = |ms: i64| format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000));
        let form = [
            ("query", query.to_string()),
            ("start", seconds(schedule.first_ms)),
            ("end", seconds(schedule.last_ms())),
            ("step", seconds(schedule.interval_ms)),
        ];
        let http = |source| PrometheusError::Http { query: query.to_string(), source };
        let response =
            self.client.post(format!("{}/api/v1/query_range", self.url)).form(&form).send().await.map_err(http)?;
        let body = response.bytes().await.map_err(http)?;
        parse_matrix(&body, schedule).map_err(|message| PrometheusError::Query { query: query.to_string(), message })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A `query_range` answer (<https://prometheus.io/docs/prometheus/latest/querying/api/#range-queries>).
#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: String,
    #[serde(default)]
    error: String,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Vec<Sample>,
}

#[derive(Deserialize)]
struct Sample {
    metric: Labels,
    /// `[unix seconds, "value"]`; any value, NaN too, means present.
    values: Vec<(f64, String)>,
}

/// The series of a `query_range` answer and the indices of `schedule`'s instants each has a point at.
pub fn parse_matrix(body: &[u8], schedule: &Schedule) -> Result<Vec<(Labels, Vec<u32>)>, String> {
    let answer: Answer = serde_json::from_slice(body)
        .map_err(|e| format!("unreadable answer ({e}): {}", String::from_utf8_lossy(&body[..body.len().min(300)])))?;
    if answer.status != "success" {
        return Err(format!("{}: {}", answer.error_type, answer.error));
    }
    let data = answer.data.ok_or("a successful answer without data")?;
    if data.result_type != "matrix" {
        return Err(format!("a range query answered with a {}", data.result_type));
    }
    data.result
        .into_iter()
        .map(|s| {
            let instants = s
                .values
                .iter()
                .map(|(t, _)| {
                    let ms = (t * 1000.0).round() as i64;
                    schedule.index_of(ms).ok_or_else(|| format!("a point at {ms} ms is not an evaluation instant"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok((s.metric, instants))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Schedule = Schedule { first_ms: 1_767_571_205_000, interval_ms: 5_000, count: 100 };

    #[test]
    fn a_matrix_gives_each_series_labels_and_instants_nan_included() {
        let body = br#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"__name__":"m","patient":"p1"},"values":[[1767571205,"0.89"],[1767571215,"NaN"]]},
            {"metric":{"patient":"p2"},"values":[[1767571210.000,"1"]]}]}}"#;
        let series = parse_matrix(body, &S).unwrap();
        assert_eq!(series.len(), 2);
        assert_eq!((series[0].0["patient"].as_str(), series[0].1.as_slice()), ("p1", &[0, 2][..]));
        assert_eq!(series[1].1, [1]);
    }

    #[test]
    fn errors_and_points_off_the_schedule_are_reported() {
        let body = br#"{"status":"error","errorType":"bad_data","error":"exceeded maximum resolution of 11,000 points per timeseries"}"#;
        assert!(parse_matrix(body, &S).unwrap_err().contains("bad_data: exceeded maximum resolution"));
        let off = br#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1767571207,"1"]]}]}}"#;
        assert!(parse_matrix(off, &S).unwrap_err().contains("not an evaluation instant"));
        assert!(parse_matrix(b"<html>", &S).unwrap_err().contains("unreadable"));
    }

    #[test]
    fn a_missing_tool_names_the_debian_package() {
        let e = PrometheusError::NotInstalled("promtool").to_string();
        assert!(e.contains("`promtool`") && e.contains("apt-get install prometheus"), "{e}");
    }
}
