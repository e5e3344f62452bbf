//! Replaying the PhysioNet/CinC Challenge 2015 records: where they are, the real exporter binary
//! in replay mode, and what the bedside monitor computes from a record on its own.

use super::process::Process;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use wardwatch::monitor::{self, ChannelKind, Numerics, NUMERICS};

/// Labels of one series, by name.
pub type Labels = BTreeMap<String, String>;

/// The challenge's records: `WARDWATCH_PHYSIONET2015`, or `<repo>/../shared/data/physionet2015`.
/// When absent the test is skipped with a banner, or fails when tools are required (CI).
pub fn physionet2015() -> Option<PathBuf> {
    let dir = std::env::var_os("WARDWATCH_PHYSIONET2015")
        .map(PathBuf::from)
        .unwrap_or_else(|| super::repo_root().join("../shared/data/physionet2015"));
    if dir.join("RECORDS").is_file() {
        return Some(dir);
    }
    assert!(
        !super::tools_required(),
        "the PhysioNet/CinC Challenge 2015 records are not at {} (set WARDWATCH_PHYSIONET2015; \
         https://physionet.org/content/challenge-2015/1.0.0/)",
        dir.display()
    );
    let bar = "!".repeat(78);
    eprintln!(
        "\n{bar}\n!!! SKIPPING: no PhysioNet/CinC Challenge 2015 records at {}\n\
         !!! (set WARDWATCH_PHYSIONET2015; set WARDWATCH_REQUIRE_TOOLS=1 to make this a failure)\n{bar}\n",
        dir.display()
    );
    None
}

/// What the monitor computes from a whole record at each second, and the record's label (read
/// here to check that the replay does not reveal it).
pub struct Analysed {
    /// The record's name.
    pub name: String,
    /// Its channels, in the monitor's order.
    pub channels: Vec<monitor::ChannelInfo>,
    /// Per channel, the numerics at second `s + 1`.
    pub series: Vec<Vec<Numerics>>,
    /// Seconds of record.
    pub seconds: usize,
    /// The challenge's label: a true alarm or not.
    pub true_alarm: Option<bool>,
}

impl Analysed {
    /// Read and analyse record `name` of `dir`.
    pub fn of(dir: &Path, name: &str) -> Analysed {
        let record = wardwatch::wfdb::read_record(dir, name).unwrap_or_else(|e| panic!("{e}"));
        let descriptions: Vec<String> = record.specs.iter().map(|s| s.description.clone()).collect();
        let (channels, series) = monitor::analyse(&descriptions, &record.signals, record.frequency, f64::INFINITY);
        let seconds = series[0].len();
        Analysed { name: name.into(), channels, series, seconds, true_alarm: record.label() }
    }

    /// The series a replay must publish for this record's bed at whole second `second` (≥ 1):
    /// `(metric, channel) → value`, only for analysed channels and finite values.
    pub fn expected(&self, second: usize) -> BTreeMap<(String, String), f64> {
        let mut out = BTreeMap::new();
        let at = second.min(self.seconds) - 1;
        for (c, info) in self.channels.iter().enumerate().filter(|(_, c)| c.kind.has_beats()) {
            for spec in NUMERICS.iter().filter(|s| s.every_channel || info.kind == ChannelKind::Ecg) {
                let v = (spec.read)(&self.series[c][at]);
                if v.is_finite() {
                    out.insert((spec.metric.to_string(), info.name.clone()), f64::from(v));
                }
            }
        }
        out
    }
}

/// The real `wardwatch-exporter replay` on a port of its own, killed on drop.
pub struct ReplayBinary {
    pub process: Process,
    pub addr: SocketAddr,
    pub client: reqwest::Client,
}

impl ReplayBinary {
    /// Replay `records` of `dir` with `args` (e.g. `--start-offset 294`); waits until healthy.
    pub async fn start(dir: &Path, records: &[&str], args: &[&str], log_dir: &Path) -> ReplayBinary {
        let port = super::free_port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wardwatch-exporter"));
        cmd.arg("replay").arg("--wfdb").arg(dir).args(["--records", &records.join(",")]);
        cmd.args(["--web.listen-address", &addr.to_string()]).args(args);
        let mut process = Process::spawn("replay", cmd, log_dir);
        process.wait_http_ok(addr, "/-/healthy", Duration::from_secs(60)).await;
        let client = reqwest::Client::builder().no_proxy().no_gzip().timeout(Duration::from_secs(20)).build().unwrap();
        ReplayBinary { process, addr, client }
    }

    /// GET a path with headers; status, headers and body bytes.
    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let mut req = self.client.get(format!("http://{}{path}", self.addr));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.unwrap_or_else(|e| panic!("GET {path}: {e}\n{}", self.process.report(40)));
        let (status, headers) = (r.status().as_u16(), r.headers().clone());
        (status, headers, r.bytes().await.unwrap().to_vec())
    }

    /// One text-format scrape.
    pub async fn scrape(&self) -> String {
        let (status, _, body) = self.get("/metrics", &[]).await;
        assert_eq!(status, 200);
        String::from_utf8(body).unwrap()
    }
}

/// The label names of every series of `family` in `samples`.
pub fn label_names(samples: &BTreeMap<(String, Labels), f64>, family: &str) -> BTreeSet<Vec<String>> {
    samples.keys().filter(|(n, _)| n == family).map(|(_, l)| l.keys().cloned().collect()).collect()
}
