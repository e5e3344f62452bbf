//! Where windows come from: a [`HistorySource`] — Prometheus's HTTP API (the adapter
//! `crate::prometheus::PrometheusSource`), or memory (tests, evaluation, backfill).
//!
//! A [`HistoryRequest`] names the entity, the signal groups to fetch (one PromQL query each,
//! already specialised to the entity by [`super::targets`]) and the window: `lookback` ending at
//! the alert's `startsAt`, sampled every `step`. Both sources sample the same way Prometheus's
//! `query_range` does — at `end`, `end − step`, … back to `end − lookback`, each point the latest
//! sample at or before it within five minutes — so a window does not depend on when it is fetched.

use super::window::{Series, Window};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// Prometheus's default lookback delta: a sample is visible for five minutes after its timestamp.
pub const LOOKBACK_DELTA_MS: i64 = 5 * 60 * 1000;

/// How the series of one query become signals.
#[derive(Debug, Clone, PartialEq)]
pub enum Naming {
    /// Every series is this signal (the first series returned is kept).
    One(String),
    /// Series are named by their metric name (`__name__`); other names are ignored.
    ByMetric(BTreeMap<String, String>),
    /// Series are named by their metric name and told apart by a label:
    /// `<signal>:<label value>` (e.g. `rate5:ecg_ii`, one per monitor channel).
    ByMetricAndLabel {
        /// Metric name → signal.
        names: BTreeMap<String, String>,
        /// The label telling the series of one metric apart.
        label: String,
    },
}

impl Naming {
    /// The signal a series with `labels` is, if this naming takes it.
    pub fn signal_of(&self, labels: &BTreeMap<String, String>) -> Option<String> {
        match self {
            Naming::One(signal) => Some(signal.clone()),
            Naming::ByMetric(names) => {
                let name = labels.get("__name__")?;
                names
                    .get(name)
                    .or_else(|| names.iter().find(|(k, _)| selects(k, name, labels)).map(|(_, s)| s))
                    .cloned()
            }
            Naming::ByMetricAndLabel { names, label } => {
                let signal = labels.get("__name__").and_then(|n| names.get(n))?;
                let value = labels.get(label).filter(|v| !v.is_empty())?;
                Some(format!("{signal}:{value}"))
            }
        }
    }
}

/// Whether `selector`, a metric name with one equality matcher (`m{label="value"}`), selects
/// the series `name` with `labels`: one series of a family the query fetched whole.
fn selects(selector: &str, name: &str, labels: &BTreeMap<String, String>) -> bool {
    let Some((metric, rest)) = selector.split_once('{') else { return false };
    let Some((label, value)) = rest.strip_suffix('}').and_then(|m| m.split_once('=')) else { return false };
    let value = value.trim().trim_matches('"');
    metric == name && labels.get(label.trim()).is_some_and(|v| v == value)
}

/// One query: a group of signals fetched in one request.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalGroup {
    /// PromQL, specialised to the entity.
    pub query: String,
    /// How its series map to signals.
    pub naming: Naming,
}

/// What to fetch for one alert.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRequest {
    /// The entity, e.g. `patient=p00003` (the in-memory source's key).
    pub entity: String,
    /// The queries.
    pub groups: Vec<SignalGroup>,
    /// End of the window: the alert's `startsAt`, Unix milliseconds.
    pub end_ms: i64,
    /// Length of the window.
    pub lookback: Duration,
    /// Sampling step.
    pub step: Duration,
}

impl HistoryRequest {
    /// Window start, Unix milliseconds.
    pub fn start_ms(&self) -> i64 {
        self.end_ms - self.lookback.as_millis() as i64
    }

    /// Step in milliseconds (at least 1).
    pub fn step_ms(&self) -> i64 {
        (self.step.as_millis() as i64).max(1)
    }

    /// The request's window with no signal in it yet.
    pub fn empty_window(&self) -> Window {
        Window { start_ms: self.start_ms(), end_ms: self.end_ms, step_ms: self.step_ms(), signals: BTreeMap::new() }
    }
}

/// Why a window could not be fetched: not in time, or not at all; the message says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// No complete answer within the source's bound.
    #[error("{0}")]
    Timeout(String),
    /// The source failed or refused.
    #[error("{0}")]
    Failed(String),
}

/// A boxed future returned by [`HistorySource::fetch`].
pub type Fetch<'a> = Pin<Box<dyn Future<Output = Result<Window, FetchError>> + Send + 'a>>;

/// A boxed future returned by [`HistorySource::fetch_series`].
pub type FetchSeries<'a> = Pin<Box<dyn Future<Output = Result<Vec<Fetched>, FetchError>> + Send + 'a>>;

/// Series a window keeps per signal group: the first ones with a sample in the window.
pub const MAX_SERIES_PER_GROUP: usize = 64;

/// One named series of a fetch: the signal group it came from (its index in the request's
/// `groups`), the signal it is, and its samples in the window.
#[derive(Debug, Clone, PartialEq)]
pub struct Fetched {
    /// Index of its group in [`HistoryRequest::groups`].
    pub group: usize,
    /// The signal its group's naming makes of it.
    pub signal: String,
    /// Its samples, as `query_range` samples them.
    pub series: Series,
}

/// A source of entity windows.
pub trait HistorySource: Send + Sync {
    /// Every named series the request's groups return over its window, group by group, each
    /// group's in the order the source returns them (Prometheus sorts them by labels).
    fn fetch_series<'a>(&'a self, request: &'a HistoryRequest) -> FetchSeries<'a>;

    /// The window a request describes: its series put together by [`assemble`].
    fn fetch<'a>(&'a self, request: &'a HistoryRequest) -> Fetch<'a> {
        Box::pin(async move { Ok(assemble(request, self.fetch_series(request).await?)) })
    }
}

/// The window of `request` made of its fetched series: per group, the first
/// [`MAX_SERIES_PER_GROUP`] series with a sample in the window; a signal that several series
/// are is the first of them. Every source's windows are put together here, so a window does not
/// depend on which source, or which shared fetch, it came from.
pub fn assemble(request: &HistoryRequest, fetched: impl IntoIterator<Item = Fetched>) -> Window {
    let mut window = request.empty_window();
    let mut kept: BTreeMap<usize, usize> = BTreeMap::new();
    for f in fetched {
        if f.series.is_empty() {
            continue;
        }
        let n = kept.entry(f.group).or_default();
        if *n >= MAX_SERIES_PER_GROUP {
            continue;
        }
        *n += 1;
        window.signals.entry(f.signal).or_insert(f.series);
    }
    window
}

/// Raw samples held in memory, by entity then signal (tests, the evaluation, backfilled data).
#[derive(Debug, Clone, Default)]
pub struct InMemorySource {
    entities: BTreeMap<String, BTreeMap<String, Series>>,
}

impl InMemorySource {
    /// An empty source.
    pub fn new() -> Self {
        Self::default()
    }

    /// Append one raw sample (times must increase per signal).
    pub fn push(&mut self, entity: &str, signal: &str, time_ms: i64, value: f64) {
        let series = self.entities.entry(entity.to_owned()).or_default().entry(signal.to_owned()).or_default();
        series.times_ms.push(time_ms);
        series.values.push(value);
    }

    /// Replace a whole signal's raw samples.
    pub fn insert(&mut self, entity: &str, signal: &str, series: Series) {
        self.entities.entry(entity.to_owned()).or_default().insert(signal.to_owned(), series);
    }

    /// The window of a request, sampled as `query_range` samples.
    pub fn window(&self, request: &HistoryRequest) -> Window {
        let mut window = request.empty_window();
        if let Some(signals) = self.entities.get(&request.entity) {
            for (name, raw) in signals {
                let sampled = sample_like_query_range(raw, request.start_ms(), request.end_ms, request.step_ms());
                if !sampled.is_empty() {
                    window.signals.insert(name.clone(), sampled);
                }
            }
        }
        window
    }
}

impl HistorySource for InMemorySource {
    fn fetch_series<'a>(&'a self, request: &'a HistoryRequest) -> FetchSeries<'a> {
        Box::pin(async move {
            let window = self.window(request);
            Ok(window.signals.into_iter().map(|(signal, series)| Fetched { group: 0, signal, series }).collect())
        })
    }
}

/// Evaluate `raw` at `end`, `end − step`, … ≥ `start` (oldest first): each point is the latest raw
/// sample at or before it, if that sample is at most [`LOOKBACK_DELTA_MS`] old.
pub fn sample_like_query_range(raw: &Series, start_ms: i64, end_ms: i64, step_ms: i64) -> Series {
    let step_ms = step_ms.max(1);
    let count = ((end_ms - start_ms).max(0) / step_ms) as usize + 1;
    let mut out = Series { times_ms: Vec::with_capacity(count), values: Vec::with_capacity(count) };
    let first = end_ms - (count as i64 - 1) * step_ms;
    let mut next = 0; // index of the first raw sample after the current point
    for k in 0..count {
        let t = first + k as i64 * step_ms;
        while next < raw.times_ms.len() && raw.times_ms[next] <= t {
            next += 1;
        }
        if next == 0 {
            continue;
        }
        let (ts, v) = (raw.times_ms[next - 1], raw.values[next - 1]);
        if t - ts <= LOOKBACK_DELTA_MS && v.is_finite() {
            out.times_ms.push(t);
            out.values.push(v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_is_named_by_its_metric_or_by_one_label_of_its_family() {
        let naming = Naming::ByMetric(
            [("m_total", "total"), ("m_part{part=\"b\"}", "b_part")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .into(),
        );
        let series = |name: &str, part: Option<&str>| {
            let mut l = BTreeMap::from([("__name__".to_string(), name.to_string())]);
            l.extend(part.map(|p| ("part".to_string(), p.to_string())));
            naming.signal_of(&l)
        };
        assert_eq!(series("m_total", None).as_deref(), Some("total"));
        assert_eq!(series("m_part", Some("b")).as_deref(), Some("b_part"));
        assert_eq!(series("m_part", Some("a")), None);
        assert_eq!(series("m_part", None), None);
        assert_eq!(series("other", Some("b")), None);
    }

    fn request(end_ms: i64) -> HistoryRequest {
        HistoryRequest {
            entity: "patient=p1".into(),
            groups: vec![],
            end_ms,
            lookback: Duration::from_secs(60),
            step: Duration::from_secs(15),
        }
    }

    #[test]
    fn samples_are_taken_at_steps_ending_at_the_window_end() {
        let raw = Series::from_pairs((0..100).map(|i| (i * 5_000, i as f64)));
        let s = sample_like_query_range(&raw, 100_000, 160_000, 15_000);
        assert_eq!(s.times_ms, vec![100_000, 115_000, 130_000, 145_000, 160_000]);
        // The latest raw sample at or before each point: 115 s → the sample at 115 s (value 23).
        assert_eq!(s.values, vec![20.0, 23.0, 26.0, 29.0, 32.0]);
    }

    #[test]
    fn stale_samples_are_not_carried_past_five_minutes() {
        let raw = Series::from_pairs([(0, 1.0)]);
        let s = sample_like_query_range(&raw, 0, 600_000, 60_000);
        assert_eq!(s.times_ms, vec![0, 60_000, 120_000, 180_000, 240_000, 300_000]);
    }

    #[test]
    fn nothing_after_the_window_end_is_seen() {
        let mut source = InMemorySource::new();
        for i in 0..100 {
            source.push("patient=p1", "spo2", i * 5_000, if i < 50 { 0.97 } else { 0.5 });
        }
        let w = source.window(&request(200_000));
        let spo2 = w.signal("spo2").unwrap();
        assert_eq!(spo2.last(), Some((200_000, 0.97)), "samples after startsAt must not leak into the window");
        assert_eq!(w.start_ms, 140_000);
    }

    #[test]
    fn the_same_request_gives_the_same_window() {
        let mut source = InMemorySource::new();
        for i in 0..1000 {
            source.push("patient=p1", "heart_rate", i * 1_000 + 7, (i % 13) as f64);
        }
        let r = request(500_000);
        assert_eq!(source.window(&r), source.window(&r));
        assert!(source.window(&HistoryRequest { entity: "patient=nobody".into(), ..r }).signals.is_empty());
    }
}
