//! A client of the Prometheus HTTP API: the recent history of an expression, for an email's chart
//! and for the rescoring's windows.
//!
//! - [`expression_from_generator_url`] takes the PromQL out of an alert's `generatorURL`
//!   (`http://host:9090/graph?g0.expr=<urlencoded PromQL>&g0.tab=1`).
//! - [`split_threshold`] turns a rule such as `spo2 < 90` into the series to chart (`spo2`) and
//!   the threshold to mark (90): the rule itself only has samples while it breaches.
//! - [`PrometheusHistory::fetch`] runs a range query (`/api/v1/query_range`) within a timeout,
//!   never panics, and caps what it keeps at [`MAX_SERIES`] series of [`MAX_POINTS`] points.

use crate::rescore::history::{FetchError, FetchSeries, Fetched, HistoryRequest, HistorySource, SignalGroup};
use crate::rescore::window::Series as WindowSeries;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::time::Duration;

/// Series kept from one query: the first ones Prometheus returns.
pub const MAX_SERIES: usize = 8;
/// Points kept per series: the most recent ones. The step is widened so a window needs no more.
pub const MAX_POINTS: usize = 2000;
/// Series read from one rescoring query: more than a window keeps
/// ([`crate::rescore::history::MAX_SERIES_PER_GROUP`]), since only those with samples in it count.
pub const SERIES_PER_QUERY: usize = 1024;
/// Largest response body read, so a runaway query cannot exhaust memory.
const MAX_BODY_BYTES: usize = 16 << 20;

pub use crate::promql::expression_from_generator_url;

pub use crate::promql::split_threshold;

/// Caps on what one range query keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Series kept: the first ones Prometheus returns.
    pub max_series: usize,
    /// Points kept per series: the most recent ones; the step is widened so a window needs no more.
    pub max_points: usize,
}

/// One series of a range query.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Its labels (`__name__` included when Prometheus returns it).
    pub labels: BTreeMap<String, String>,
    /// Samples as (Unix time in seconds, value), oldest first; values may be NaN or infinite.
    pub points: Vec<(f64, f64)>,
}

/// Why the history could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The base URL is not an http(s) URL.
    #[error("invalid Prometheus URL {0:?}: must start with http:// or https://")]
    Url(String),
    /// The HTTP client could not be set up.
    #[error("cannot set up the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// No complete answer within the timeout.
    #[error("Prometheus did not answer within {0:?}")]
    Timeout(Duration),
    /// Connecting, sending or reading failed.
    #[error("request to Prometheus failed: {0}")]
    Request(#[source] reqwest::Error),
    /// Prometheus answered with a non-success HTTP status and no error of its own.
    #[error("Prometheus answered HTTP {status}: {body}")]
    Status {
        /// The HTTP status code.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// Prometheus reported an error (`"status": "error"`), e.g. a PromQL parse error.
    #[error("Prometheus error ({kind}): {message}")]
    Prometheus {
        /// Its `errorType`, e.g. `bad_data`.
        kind: String,
        /// Its `error` text.
        message: String,
    },
    /// The answer is not the JSON a range query returns.
    #[error("unexpected answer from Prometheus: {0}")]
    Json(String),
    /// The answer is larger than the sidecar reads.
    #[error("Prometheus answer exceeds {0} bytes")]
    TooLarge(usize),
}

/// The JSON envelope of every Prometheus API answer.
#[derive(serde::Deserialize)]
struct ApiResponse {
    status: String,
    #[serde(default)]
    data: Option<MatrixData>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// `data` of a range query.
#[derive(serde::Deserialize)]
struct MatrixData {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Vec<MatrixSeries>,
}

/// One series of `data.result`: `values` are `[unix seconds, "value"]`.
#[derive(serde::Deserialize)]
struct MatrixSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
}

/// Queries one Prometheus server for the recent history of an expression.
#[derive(Debug, Clone)]
pub struct PrometheusHistory {
    base_url: String,
    client: reqwest::Client,
    timeout: Duration,
}

impl PrometheusHistory {
    /// A client for the Prometheus at `base_url` (e.g. `http://prometheus:9090`); every fetch is
    /// bounded by `timeout`, connecting included.
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, HistoryError> {
        let base = base_url.trim().trim_end_matches('/');
        let host = base
            .split_once("://")
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https"));
        if host.is_none_or(|(_, rest)| rest.is_empty()) {
            return Err(HistoryError::Url(base_url.to_string()));
        }
        // No gzip: Prometheus compressing a two-hour window of a patient (800 KB of JSON) costs
        // it 30 ms of CPU per query, four times the query itself; uncompressed, the same window
        // crosses a 1 Gbit/s link in 7 ms.
        let client = reqwest::Client::builder()
            .no_gzip()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("wardwatch/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(HistoryError::Client)?;
        Ok(Self { base_url: base.to_string(), client, timeout })
    }

    /// The bound on one fetch.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The base URL queried, without trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The samples of `expr` over `window` ending at `end`, every `step` (widened so no series has
    /// more than [`MAX_POINTS`] points); at most [`MAX_SERIES`] series.
    pub async fn fetch(
        &self,
        expr: &str,
        end: DateTime<Utc>,
        window: Duration,
        step: Duration,
    ) -> Result<Vec<Series>, HistoryError> {
        self.fetch_limited(expr, end, window, step, Limits { max_series: MAX_SERIES, max_points: MAX_POINTS }).await
    }

    /// Like [`PrometheusHistory::fetch`] with other caps on series and points.
    pub async fn fetch_limited(
        &self,
        expr: &str,
        end: DateTime<Utc>,
        window: Duration,
        step: Duration,
        limits: Limits,
    ) -> Result<Vec<Series>, HistoryError> {
        let window_s = window.as_secs_f64().max(1.0);
        let step_s = step.as_secs_f64().max(window_s / (limits.max_points.max(2) - 1) as f64).max(0.001);
        let end_s = end.timestamp_millis() as f64 / 1000.0;
        let params = [
            ("query", expr.to_string()),
            ("start", format!("{:.3}", end_s - window_s)),
            ("end", format!("{end_s:.3}")),
            ("step", format!("{step_s:.3}")),
        ];
        let request = self.request(&params);
        let (status, body) = match tokio::time::timeout(self.timeout, request).await {
            Ok(result) => result?,
            Err(_) => return Err(HistoryError::Timeout(self.timeout)),
        };
        parse_matrix(status, &body, limits)
    }

    /// POST the range query; the HTTP status and the body (at most [`MAX_BODY_BYTES`]).
    async fn request(&self, params: &[(&str, String)]) -> Result<(u16, Vec<u8>), HistoryError> {
        let url = format!("{}/api/v1/query_range", self.base_url);
        let timeout = self.timeout;
        let map =
            |e: reqwest::Error| if e.is_timeout() { HistoryError::Timeout(timeout) } else { HistoryError::Request(e) };
        let mut resp = self.client.post(url).form(params).send().await.map_err(map)?;
        let status = resp.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(map)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(HistoryError::TooLarge(MAX_BODY_BYTES));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, body))
    }
}

/// The series of a range query's answer, or the error it reports.
fn parse_matrix(status: u16, body: &[u8], limits: Limits) -> Result<Vec<Series>, HistoryError> {
    let parsed: Result<ApiResponse, _> = serde_json::from_slice(body);
    let api = match parsed {
        Ok(api) => api,
        Err(_) if !(200..300).contains(&status) => {
            let text: String = String::from_utf8_lossy(body).chars().take(200).collect();
            return Err(HistoryError::Status { status, body: text.trim().to_string() });
        }
        Err(e) => return Err(HistoryError::Json(e.to_string())),
    };
    if api.status != "success" {
        let kind = api.error_type.unwrap_or_else(|| "unknown".into());
        let message = api.error.unwrap_or_else(|| format!("status {:?} (HTTP {status})", api.status));
        return Err(HistoryError::Prometheus { kind, message });
    }
    let data = api.data.ok_or_else(|| HistoryError::Json("`data` is missing".into()))?;
    if data.result_type != "matrix" {
        return Err(HistoryError::Json(format!("resultType {:?}, expected \"matrix\"", data.result_type)));
    }
    Ok(data.result.into_iter().take(limits.max_series).map(|m| series(m, limits.max_points)).collect())
}

/// One series, its values parsed (`NaN`, `+Inf` included; unparsable ones become NaN) and its
/// points capped at the most recent `max_points`.
fn series(m: MatrixSeries, max_points: usize) -> Series {
    let skip = m.values.len().saturating_sub(max_points);
    let points = m.values.into_iter().skip(skip).map(|(t, v)| (t, v.parse().unwrap_or(f64::NAN))).collect();
    Series { labels: m.metric, points }
}

/// Windows for the rescoring from Prometheus's `query_range`: one request per signal group of
/// the [`HistoryRequest`], all in parallel, sampled as `query_range` samples.
#[derive(Debug, Clone)]
pub struct PrometheusSource {
    client: PrometheusHistory,
}

impl PrometheusSource {
    /// A source querying the Prometheus at `base_url`; each request is bounded by `timeout`.
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, HistoryError> {
        Ok(Self { client: PrometheusHistory::new(base_url, timeout)? })
    }

    /// The named series of one group's query over the request's window (every series
    /// Prometheus returns, up to [`SERIES_PER_QUERY`]; the window keeps the first ones with samples).
    async fn fetch_group(
        &self,
        request: &HistoryRequest,
        index: usize,
        group: &SignalGroup,
    ) -> Result<Vec<Fetched>, HistoryError> {
        let points = (request.lookback.as_millis() as i64 / request.step_ms()) as usize + 1;
        let limits = Limits { max_series: SERIES_PER_QUERY, max_points: points };
        let end = DateTime::<Utc>::from_timestamp_millis(request.end_ms).unwrap_or_default();
        let series = self.client.fetch_limited(&group.query, end, request.lookback, request.step, limits).await?;
        let mut out = Vec::new();
        for s in series {
            let Some(signal) = group.naming.signal_of(&s.labels) else { continue };
            let samples =
                s.points.iter().filter(|(_, v)| v.is_finite()).map(|&(t, v)| ((t * 1000.0).round() as i64, v));
            out.push(Fetched { group: index, signal, series: WindowSeries::from_pairs(samples) });
        }
        Ok(out)
    }
}

impl From<HistoryError> for FetchError {
    fn from(e: HistoryError) -> Self {
        match e {
            HistoryError::Timeout(_) => FetchError::Timeout(e.to_string()),
            e => FetchError::Failed(e.to_string()),
        }
    }
}

impl HistorySource for PrometheusSource {
    fn fetch_series<'a>(&'a self, request: &'a HistoryRequest) -> FetchSeries<'a> {
        Box::pin(async move {
            let fetches = request.groups.iter().enumerate().map(|(i, g)| self.fetch_group(request, i, g));
            let mut all = Vec::new();
            for result in futures_util::future::join_all(fetches).await {
                all.extend(result?);
            }
            Ok(all)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: Limits = Limits { max_series: MAX_SERIES, max_points: MAX_POINTS };

    #[test]
    fn generator_url_expression_is_url_decoded() {
        let url = "http://prometheus:9090/graph?g0.expr=wardwatch_spo2_percent%7Bward%3D%22icu-1%22%7D+%3C+90&g0.tab=1";
        assert_eq!(expression_from_generator_url(url).as_deref(), Some("wardwatch_spo2_percent{ward=\"icu-1\"} < 90"));
        let plus = "http://p/graph?g0.tab=1&g0.expr=rate%28x%5B5m%5D%29+%2B+1#frag";
        assert_eq!(expression_from_generator_url(plus).as_deref(), Some("rate(x[5m]) + 1"));
    }

    #[test]
    fn generator_url_without_expression_gives_none() {
        for url in ["", "http://p/graph", "http://p/graph?g0.tab=1", "http://p/graph?g0.expr=&g0.tab=1", "%%?%%"] {
            assert_eq!(expression_from_generator_url(url), None, "{url}");
        }
    }

    #[test]
    fn matrix_answer_is_parsed_and_capped() {
        let mut result = Vec::new();
        for i in 0..12 {
            let values: Vec<_> = (0..MAX_POINTS + 5).map(|t| serde_json::json!([t, "1.5"])).collect();
            result.push(serde_json::json!({"metric": {"i": i.to_string()}, "values": values}));
        }
        result[0]["values"][MAX_POINTS + 4] = serde_json::json!([1e9, "+Inf"]);
        result[0]["values"][MAX_POINTS + 3] = serde_json::json!([1e9, "NaN"]);
        let body = serde_json::json!({"status": "success", "data": {"resultType": "matrix", "result": result}});
        let s = parse_matrix(200, body.to_string().as_bytes(), DEFAULT).unwrap();
        assert_eq!(s.len(), MAX_SERIES);
        assert_eq!(s[0].labels.get("i").map(String::as_str), Some("0"));
        assert_eq!(s[0].points.len(), MAX_POINTS);
        assert_eq!(s[1].points[0], (5.0, 1.5), "the most recent points are kept");
        assert!(s[0].points[MAX_POINTS - 1].1.is_infinite() && s[0].points[MAX_POINTS - 2].1.is_nan());
    }

    #[test]
    fn prometheus_errors_carry_their_text() {
        let body = r#"{"status":"error","errorType":"bad_data","error":"1:5: parse error: unclosed left parenthesis"}"#;
        let e = parse_matrix(400, body.as_bytes(), DEFAULT).unwrap_err();
        assert!(matches!(&e, HistoryError::Prometheus { kind, .. } if kind == "bad_data"), "{e:?}");
        assert!(e.to_string().contains("unclosed left parenthesis"), "{e}");
    }

    #[test]
    fn http_status_and_bad_json_are_errors_not_panics() {
        let e = parse_matrix(502, b"<html>Bad Gateway</html>", DEFAULT).unwrap_err();
        assert!(matches!(&e, HistoryError::Status { status: 502, body } if body.contains("Bad Gateway")), "{e:?}");
        assert!(matches!(parse_matrix(200, b"{\"status\":", DEFAULT), Err(HistoryError::Json(_))));
        let vector = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert!(
            matches!(parse_matrix(200, vector.as_bytes(), DEFAULT), Err(HistoryError::Json(m)) if m.contains("vector"))
        );
        assert!(matches!(parse_matrix(200, br#"{"status":"success"}"#, DEFAULT), Err(HistoryError::Json(_))));
    }

    #[test]
    fn invalid_base_urls_are_refused() {
        for url in ["prometheus:9090", "ftp://p", "", "http://"] {
            assert!(matches!(PrometheusHistory::new(url, Duration::from_secs(1)), Err(HistoryError::Url(_))), "{url}");
        }
        let h = PrometheusHistory::new("http://p:9090/", Duration::from_secs(1)).unwrap();
        assert_eq!(h.base_url(), "http://p:9090");
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hold = tokio::spawn(async move { listener.accept().await.map(|(sock, _)| sock) });
        let h = PrometheusHistory::new(&format!("http://{addr}"), Duration::from_millis(300)).unwrap();
        let started = std::time::Instant::now();
        let e = h.fetch("up", Utc::now(), Duration::from_secs(3600), Duration::from_secs(30)).await.unwrap_err();
        assert!(matches!(e, HistoryError::Timeout(_)), "{e:?}");
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        drop(hold);
    }
}
