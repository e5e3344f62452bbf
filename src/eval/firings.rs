//! The alerts a Prometheus running the repository's rules would have fired over one seed's
//! simulated history.
//!
//! Four stages, in a temporary directory removed afterwards:
//!
//! 1. **history**: the seed's hospital simulated and written as timestamped OpenMetrics at the
//!    scrape step ([`tsdb`]);
//! 2. **import**: `promtool tsdb create-blocks-from openmetrics` turns it into TSDB blocks
//!    (overlapping the history, piece by piece);
//! 3. **Prometheus**: a real server started over those blocks ([`Server`]);
//! 4. **evaluation**: every alerting rule's expression asked as range queries at its group's
//!    interval over the whole span, and Prometheus' alerting semantics applied to the answers
//!    ([`alerting`]).

use super::alerting::{self, Firing, Labels, Schedule, MAX_POINTS_PER_QUERY};
use super::prometheus::{PrometheusError, Server, Tools};
use super::rules::{AlertRule, RuleSet};
use super::tsdb::{self, Imported, TsdbError};
use futures_util::{StreamExt, TryStreamExt};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Range queries run at once: the machine's two cores are shared with the rest of the run.
const CONCURRENT_QUERIES: usize = 2;

/// Why a seed's firings could not be worked out.
#[derive(Debug, thiserror::Error)]
pub enum FiringsError {
    /// The temporary directory could not be made.
    #[error("a temporary directory for the history: {0}")]
    TempDir(#[source] std::io::Error),
    /// Writing or importing the history failed.
    #[error(transparent)]
    Tsdb(#[from] TsdbError),
    /// Running or querying Prometheus failed.
    #[error(transparent)]
    Prometheus(#[from] PrometheusError),
    /// Two series of one rule give the same alert at one instant, which Prometheus refuses
    /// ("vector contains metrics with the same labelset after applying alert labels").
    #[error(
        "rule {rule}: two series give the alert {labels:?} at one evaluation; the rule needs distinguishing labels"
    )]
    Duplicate {
        /// The rule.
        rule: String,
        /// The alert's labels.
        labels: Labels,
    },
}

/// The span of a history: scrapes every `step_ms` at `start_ms + k × step_ms`, `k` in `1..=steps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// The simulation's start, Unix ms (a whole second).
    pub start_ms: i64,
    /// The scrape step, ms.
    pub step_ms: i64,
    /// Scrapes.
    pub steps: u64,
}

impl Span {
    /// The last scrape, Unix ms.
    pub fn end_ms(&self) -> i64 {
        self.start_ms + self.steps as i64 * self.step_ms
    }
}

/// One seed's firings and what producing them cost.
#[derive(Debug, Clone)]
pub struct SeedFirings {
    /// Every alert fired, in order of `startsAt`: one list per rule set, in the order given.
    pub firings: Vec<Vec<Firing>>,
    /// The history written and imported.
    pub history: Imported,
    /// History and import together (they overlap).
    pub history_wall: Duration,
    /// Prometheus' start until ready.
    pub startup: Duration,
    /// Every rule's queries and alerting semantics.
    pub evaluation: Duration,
    /// Range queries asked.
    pub queries: usize,
}

/// A real Prometheus serving one seed's history, in a temporary directory removed on drop.
pub struct Loaded {
    /// The server.
    pub server: Server,
    /// The history written and imported.
    pub history: Imported,
    /// History and import together.
    pub history_wall: Duration,
    /// Prometheus' start until ready.
    pub startup: Duration,
    // Dropped last: the server's data lives there.
    _work: tempfile::TempDir,
}

/// Simulate `seed` over `span` and import it into a real Prometheus.
pub async fn load(seed: u64, span: Span, tools: &Tools) -> Result<Loaded, FiringsError> {
    let work = tempfile::Builder::new().prefix("wardwatch-eval-").tempdir().map_err(FiringsError::TempDir)?;
    let data = work.path().join("data");
    let t = Instant::now();
    let history = tsdb::write(seed, span.start_ms, span.step_ms, span.steps, &tools.promtool, work.path(), &data)?;
    let history_wall = t.elapsed();
    let t = Instant::now();
    let server = Server::start(&tools.prometheus, &data, work.path()).await?;
    Ok(Loaded { server, history, history_wall, startup: t.elapsed(), _work: work })
}

/// Simulate `seed` over `span`, import it into a real Prometheus and evaluate every alerting
/// rule of each of `sets` there.
pub async fn of_seed(seed: u64, span: Span, sets: &[&RuleSet], tools: &Tools) -> Result<SeedFirings, FiringsError> {
    let Loaded { server, history, history_wall, startup, _work } = load(seed, span, tools).await?;
    let t = Instant::now();
    let (mut firings, mut queries) = (Vec::new(), 0);
    for rules in sets {
        let (f, q) = evaluate(&server, rules, span.start_ms, span.end_ms()).await?;
        firings.push(f);
        queries += q;
    }
    Ok(SeedFirings { firings, history, history_wall, startup, evaluation: t.elapsed(), queries })
}

/// Every alerting rule of `rules` evaluated by `server` on the instants `start_ms + k × interval`
/// up to `end_ms`: the firings in order of `startsAt`, and the range queries asked.
pub async fn evaluate(
    server: &Server,
    rules: &RuleSet,
    start_ms: i64,
    end_ms: i64,
) -> Result<(Vec<Firing>, usize), FiringsError> {
    let per_rule: Vec<(Vec<Firing>, usize)> = futures_util::stream::iter(rules.alerts.iter().enumerate())
        .map(|(i, rule)| evaluate_rule(server, i, rule, start_ms, end_ms))
        .buffered(CONCURRENT_QUERIES)
        .try_collect()
        .await?;
    let queries = per_rule.iter().map(|(_, q)| q).sum();
    let mut firings: Vec<Firing> = per_rule.into_iter().flat_map(|(f, _)| f).collect();
    firings.sort_by(|a, b| (a.starts_at_ms, a.rule, &a.labels).cmp(&(b.starts_at_ms, b.rule, &b.labels)));
    Ok((firings, queries))
}

/// One rule's firings, and its range queries asked.
async fn evaluate_rule(
    server: &Server,
    index: usize,
    rule: &AlertRule,
    start_ms: i64,
    end_ms: i64,
) -> Result<(Vec<Firing>, usize), FiringsError> {
    let (schedule, present, queries) = presence(server, rule, start_ms, end_ms).await?;
    Ok((alerting::firings(index, rule, &schedule, &present), queries))
}

/// What rule `index` of `rules` would fire with each of `for_ms` as its `for`: its expression
/// asked once, Prometheus' alerting semantics applied with each duration.
pub async fn with_fors(
    server: &Server,
    index: usize,
    rule: &AlertRule,
    start_ms: i64,
    end_ms: i64,
    for_ms: &[i64],
) -> Result<Vec<Vec<Firing>>, FiringsError> {
    let (schedule, present, _) = presence(server, rule, start_ms, end_ms).await?;
    Ok(for_ms
        .iter()
        .map(|&f| alerting::firings(index, &AlertRule { for_ms: f, ..rule.clone() }, &schedule, &present))
        .collect())
}

/// The evaluation instants at which each alert of `rule` is present, and the queries asked.
async fn presence(
    server: &Server,
    rule: &AlertRule,
    start_ms: i64,
    end_ms: i64,
) -> Result<(Schedule, BTreeMap<Labels, Vec<u32>>, usize), FiringsError> {
    let schedule = Schedule::over(start_ms, end_ms, rule.interval_ms);
    let chunks = schedule.chunks(MAX_POINTS_PER_QUERY);
    let mut present: BTreeMap<Labels, Vec<u32>> = BTreeMap::new();
    for chunk in &chunks {
        let offset = ((chunk.first_ms - schedule.first_ms) / schedule.interval_ms) as u32;
        for (series, instants) in server.query_range(&rule.expr, chunk).await? {
            present
                .entry(alerting::alert_labels(&series, rule))
                .or_default()
                .extend(instants.iter().map(|k| k + offset));
        }
    }
    for (labels, instants) in &mut present {
        instants.sort_unstable();
        if instants.windows(2).any(|w| w[0] == w[1]) {
            return Err(FiringsError::Duplicate { rule: rule.name.clone(), labels: labels.clone() });
        }
    }
    Ok((schedule, present, chunks.len()))
}
