//! `wardwatch-sidecar model fit --prometheus URL --since 7d`: a model file fitted on the site's
//! own history, read from its Prometheus the way the sidecar reads an alert's.
//!
//! 1. **Entities.** For each entity kind, the first rescoring target of that kind that applies
//!    to any alert name (the one its alerts are scored with) names the entity's key labels; the
//!    entities are the values those labels take in the target's first query over the range
//!    (`count by (patient) (count_over_time((count by (patient) (<query, any patient>))[7d:5m]))`). A key label the
//!    queries do not use (the cluster's `class`) takes its target's literal matcher.
//! 2. **Moments.** Each entity is sampled at random moments (a Poisson process, seeded), on
//!    average every 3 minutes, or less often when that would give more than `max_rows` rows for
//!    the kind; the first window ends `lookback` after the range starts, so every window is
//!    whole.
//! 3. **Not the incidents.** A moment within 30 minutes of one of the entity's alerts firing
//!    (Prometheus' `ALERTS`) is skipped: the model learns what is usual here, not the events.
//! 4. **Windows as the live path sees them.** History is fetched in chunks of up to 12 hours per
//!    entity (one `query_range` per signal group, on the grid of the moments) and each window is
//!    cut from it and put together by [`crate::rescore::history::assemble`], so training and
//!    serving see identical samples and features ([`crate::rescore::shared`] explains why a cut
//!    equals its own fetch).
//! 5. **The file.** Rows per kind, the source, range and counts in `training`, written as a
//!    [`ModelFile`]; its version is its content's hash. `--out` a directory writes
//!    `<dir>/model-<hash>.json`.

use crate::prometheus::{Limits, PrometheusHistory, PrometheusSource};
use crate::rescore::config::RescoringSection;
use crate::rescore::features;
use crate::rescore::history::{assemble, Fetched, HistoryRequest, HistorySource};
use crate::rescore::model;
use crate::rescore::model_file::{self, ModelFile};
use crate::rescore::score::{EntityKind, Subject};
use crate::rescore::shared::cut;
use crate::rescore::targets::{TargetConfig, Targets};
use anyhow::{anyhow, Context};
use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Mean interval between two moments of one entity, at most (the simulated training's).
const SAMPLE_EVERY_MS: i64 = 3 * 60_000;
/// Moments this close to one of the entity's alerts firing are skipped.
const NEAR_ALERT_MS: i64 = 30 * 60_000;
/// Longest stretch of history fetched at once per entity.
const CHUNK_MS: i64 = 12 * 3_600_000;
/// Points per series Prometheus answers a range query with at most.
const MAX_POINTS: i64 = 11_000;
/// Entities fetched at once.
const CONCURRENCY: usize = 4;

/// What to fit on.
#[derive(Debug, Clone)]
pub struct FitOptions {
    /// The Prometheus to read.
    pub prometheus: String,
    /// How far back from `until` the history goes.
    pub since: Duration,
    /// The end of the history (default: a minute ago).
    pub until: Option<DateTime<Utc>>,
    /// A file, or a directory to write `model-<hash>.json` into.
    pub out: PathBuf,
    /// The moments' and the forest's seed.
    pub seed: u64,
    /// Rows per entity kind, at most.
    pub max_rows: usize,
    /// The rescoring section the sidecar serves with (targets, lookback, step).
    pub rescoring: RescoringSection,
}

/// What a fit did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FitSummary {
    /// The file written.
    pub path: PathBuf,
    /// Its version.
    pub version: String,
    /// Rows per entity kind.
    pub rows: BTreeMap<String, usize>,
    /// Entities per kind.
    pub entities: BTreeMap<String, usize>,
    /// Moments skipped because an alert of the entity fired near them.
    pub skipped_near_alerts: usize,
    /// Range queries sent.
    pub queries: usize,
}

/// Where a long fit tells how far it got.
pub trait Progress {
    /// `done` of `total` fetches are through.
    fn advance(&mut self, done: usize, total: usize);
}

/// One entity to sample: its kind, its labels, its key.
#[derive(Debug, Clone)]
struct Entity {
    kind: EntityKind,
    labels: BTreeMap<String, String>,
    key: String,
}

/// Fit a model file on the history in `options.prometheus`.
pub async fn fit_from_prometheus(options: &FitOptions, progress: &mut dyn Progress) -> anyhow::Result<FitSummary> {
    let timeout = options.rescoring.request_timeout.get().max(Duration::from_secs(30));
    let client = PrometheusHistory::new(&options.prometheus, timeout).map_err(|e| anyhow!("--prometheus: {e}"))?;
    let source = PrometheusSource::new(&options.prometheus, timeout).map_err(|e| anyhow!("--prometheus: {e}"))?;
    let config = options.rescoring.targets.clone().unwrap_or_default();
    let targets = Targets::new(&config).context("rescoring.targets")?;
    let until = options.until.unwrap_or_else(|| Utc::now() - chrono::Duration::minutes(1));
    let since = until - chrono::Duration::from_std(options.since).context("--since")?;
    let lookback_ms = options.rescoring.lookback.get().as_millis() as i64;
    let (from_ms, until_ms) = (since.timestamp_millis() + lookback_ms, until.timestamp_millis());
    if from_ms >= until_ms {
        return Err(anyhow!("--since {:?} leaves no whole window of {lookback_ms} ms", options.since));
    }
    let mut queries = 0;
    let mut entities = Vec::new();
    for kind in EntityKind::ALL {
        let Some(target) = general_target(&config.targets, kind) else { continue };
        let found = discover(&client, target, since, until).await?;
        queries += 1;
        entities.extend(found.into_iter().map(|labels| {
            let key = target.key.iter().map(|k| format!("{k}={}", labels[k])).collect::<Vec<_>>().join(",");
            Entity { kind, labels, key }
        }));
    }
    let alerts = firing_alerts(&client, &config.targets, &entities, since, until).await?;
    queries += EntityKind::ALL.len();

    // Moments per entity, on one grid per chunk.
    let mut per_kind: HashMap<EntityKind, usize> = HashMap::new();
    for e in &entities {
        *per_kind.entry(e.kind).or_default() += 1;
    }
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(options.seed ^ 0xF17);
    let span_ms = (until_ms - from_ms) as f64;
    let mut moments: Vec<Vec<i64>> = Vec::with_capacity(entities.len());
    for e in &entities {
        let wanted = options.max_rows as f64 / per_kind[&e.kind] as f64;
        let mean = (span_ms / wanted.max(1.0)).max(SAMPLE_EVERY_MS as f64);
        let mut t = from_ms as f64;
        let mut list = Vec::new();
        loop {
            t += -mean * (1.0 - rng.random::<f64>()).ln();
            if t > until_ms as f64 {
                break;
            }
            list.push(t as i64);
        }
        moments.push(list);
    }

    let mut rows: [Vec<Vec<f32>>; 5] = Default::default();
    let mut skipped = 0;
    let total = entities.len() * chunks(from_ms, until_ms, lookback_ms, &options.rescoring).len();
    let mut done = 0;
    progress.advance(0, total);
    for (c0, c1, step_ms) in chunks(from_ms, until_ms, lookback_ms, &options.rescoring) {
        let jobs = entities.iter().enumerate().map(|(i, e)| {
            let (source, targets) = (&source, &targets);
            let mine: Vec<i64> = moments[i].iter().copied().filter(|t| *t > c0 && *t <= c1).collect();
            async move {
                if mine.is_empty() {
                    return Ok((i, Vec::new(), 0, Vec::new()));
                }
                let resolved = targets.resolve(&e.labels, "").ok_or_else(|| anyhow!("no target for {}", e.key))?;
                let groups = resolved.groups.len();
                let request = HistoryRequest {
                    entity: resolved.key.clone(),
                    groups: resolved.groups,
                    end_ms: c1,
                    lookback: Duration::from_millis((c1 - c0 + lookback_ms) as u64),
                    step: Duration::from_millis(step_ms as u64),
                };
                let fetched = source.fetch_series(&request).await.map_err(|e| anyhow!("{}: {e}", resolved.key))?;
                Ok::<_, anyhow::Error>((i, fetched, groups, mine))
            }
        });
        let mut results = stream::iter(jobs).buffer_unordered(CONCURRENCY);
        while let Some(result) = results.next().await {
            let (i, fetched, groups, mine) = result?;
            queries += groups;
            done += 1;
            progress.advance(done, total);
            let e = &entities[i];
            for t in mine {
                // On the chunk's grid: the moment moved back to the grid point at or before it.
                let end = c1 - (c1 - t).div_euclid(step_ms) * step_ms;
                if near(alerts.get(&e.key), end) {
                    skipped += 1;
                    continue;
                }
                if let Some(row) = row_at(e.kind, &fetched, end, lookback_ms, step_ms) {
                    rows[e.kind.index()].push(row);
                }
            }
        }
    }
    for kind_rows in &mut rows {
        thin(kind_rows, options.max_rows, &mut rng);
    }

    let counts = |f: &dyn Fn(EntityKind) -> usize| -> BTreeMap<String, usize> {
        EntityKind::ALL.iter().map(|k| (k.as_str().to_owned(), f(*k))).collect()
    };
    let row_counts = counts(&|k| rows[k.index()].len());
    let entity_counts = counts(&|k| per_kind.get(&k).copied().unwrap_or(0));
    let training = serde_json::json!({
        "data": "windows of this site's entities read from its Prometheus, cut at random moments, none within 30 minutes of one of the entity's alerts",
        "prometheus": options.prometheus,
        "from": since.to_rfc3339(),
        "until": until.to_rfc3339(),
        "window_seconds": lookback_ms / 1000,
        "step_seconds": options.rescoring.step.get().as_secs_f64(),
        "entities": entity_counts,
        "rows": row_counts,
        "skipped_near_alerts": skipped,
        "anomaly_model": "iforest",
    });
    let file = ModelFile::new("iforest", options.seed, training, rows);
    let text = file.to_text();
    let scorer =
        model_file::scorer_from_text(&text).map_err(|e| anyhow!("the fitted model does not read back: {e}"))?;
    let version = scorer.version().to_owned();
    let path = output_path(&options.out, &version);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(FitSummary { path, version, rows: row_counts, entities: entity_counts, skipped_near_alerts: skipped, queries })
}

/// The target a kind's alerts are scored with whatever their name: the first of that kind whose
/// matchers do not name the alert.
fn general_target(targets: &[TargetConfig], kind: EntityKind) -> Option<&TargetConfig> {
    targets.iter().find(|t| t.entity == kind && !t.matchers.contains_key("alertname"))
}

/// `query` with each `label="$label"` of the key made to select every value.
fn any_entity(query: &str, key: &[String]) -> String {
    let mut q = query.to_owned();
    for k in key {
        q = q.replace(&format!("{k}=\"${k}\""), &format!("{k}=~\".+\""));
        q = q.replace(&format!("{k}=~\"${k}\""), &format!("{k}=~\".+\""));
    }
    q
}

/// The label sets of the target's entities seen between `since` and `until`.
async fn discover(
    client: &PrometheusHistory,
    target: &TargetConfig,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> anyhow::Result<Vec<BTreeMap<String, String>>> {
    let placeholder = |k: &String| target.queries.iter().any(|q| q.query.contains(&format!("${k}")));
    let (found, literal): (Vec<String>, Vec<String>) = target.key.iter().cloned().partition(placeholder);
    let mut fixed = BTreeMap::new();
    for k in &literal {
        let value = target.matchers.get(k).filter(|v| v.chars().all(|c| c.is_alphanumeric() || "-_:".contains(c)));
        let Some(value) = value else {
            return Err(anyhow!(
                "rescoring target of {}: key label `{k}` is neither in a query nor a literal match",
                target.entity.as_str()
            ));
        };
        fixed.insert(k.clone(), value.clone());
    }
    if found.is_empty() {
        return Ok(vec![fixed]);
    }
    let query = target.queries.iter().find(|q| found.iter().all(|k| q.query.contains(&format!("${k}"))));
    let Some(query) = query else {
        return Err(anyhow!("rescoring target of {}: no query names every key label", target.entity.as_str()));
    };
    let span = (until - since).num_seconds().max(60);
    let by = found.join(", ");
    let expr = format!(
        "count by ({by}) (count_over_time((count by ({by}) ({}))[{span}s:5m]))",
        any_entity(&query.query, &found)
    );
    let limits = Limits { max_series: 1_000_000, max_points: 2 };
    let series = client.fetch_limited(&expr, until, Duration::from_secs(1), Duration::from_secs(1), limits).await;
    let series = series.map_err(|e| anyhow!("finding the {} entities: {e}", target.entity.as_str()))?;
    let mut out: Vec<BTreeMap<String, String>> = series
        .into_iter()
        .filter_map(|s| {
            let mut labels = fixed.clone();
            for k in &found {
                labels.insert(k.clone(), s.labels.get(k)?.clone());
            }
            Some(labels)
        })
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// When each entity's alerts were firing (Unix ms, a point per minute at most), by entity key.
async fn firing_alerts(
    client: &PrometheusHistory,
    targets: &[TargetConfig],
    entities: &[Entity],
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> anyhow::Result<HashMap<String, Vec<i64>>> {
    let mut out: HashMap<String, Vec<i64>> = HashMap::new();
    let window = (until - since).to_std().unwrap_or_default() + Duration::from_secs(3600);
    let end = until + chrono::Duration::minutes(30);
    for kind in EntityKind::ALL {
        let Some(target) = general_target(targets, kind) else { continue };
        if !entities.iter().any(|e| e.kind == kind) {
            continue;
        }
        let matchers: Vec<String> = target
            .key
            .iter()
            .map(|k| match target.matchers.get(k) {
                Some(v) if !target.queries.iter().any(|q| q.query.contains(&format!("${k}"))) => format!("{k}=\"{v}\""),
                _ => format!("{k}=~\".+\""),
            })
            .collect();
        let expr =
            format!("count by ({}) (ALERTS{{alertstate=\"firing\", {}}})", target.key.join(", "), matchers.join(", "));
        let limits = Limits { max_series: 1_000_000, max_points: MAX_POINTS as usize };
        let series = client.fetch_limited(&expr, end, window, Duration::from_secs(60), limits).await;
        let series = series.map_err(|e| anyhow!("reading when {} alerts fired: {e}", kind.as_str()))?;
        for s in series {
            let key = target.key.iter().map(|k| format!("{k}={}", s.labels.get(k).map_or("", String::as_str)));
            let key = key.collect::<Vec<_>>().join(",");
            out.entry(key).or_default().extend(s.points.iter().map(|(t, _)| (t * 1000.0) as i64));
        }
    }
    for times in out.values_mut() {
        times.sort_unstable();
    }
    Ok(out)
}

/// Whether an alert was firing within [`NEAR_ALERT_MS`] of `t`.
fn near(firing: Option<&Vec<i64>>, t: i64) -> bool {
    let Some(times) = firing else { return false };
    let i = times.partition_point(|&x| x < t - NEAR_ALERT_MS);
    times.get(i).is_some_and(|&x| x <= t + NEAR_ALERT_MS)
}

/// The stretches fetched at once, `(start, end, step)` in Unix ms: up to [`CHUNK_MS`], each with
/// its window's lookback within Prometheus' points per series.
fn chunks(from_ms: i64, until_ms: i64, lookback_ms: i64, rescoring: &RescoringSection) -> Vec<(i64, i64, i64)> {
    let step_ms = (rescoring.step.get().as_millis() as i64).max(1);
    let room = ((MAX_POINTS - 1) * step_ms - lookback_ms).max(step_ms);
    let len = (CHUNK_MS.min(room) / step_ms).max(1) * step_ms;
    let mut out = Vec::new();
    let mut end = until_ms;
    while end > from_ms {
        out.push(((end - len).max(from_ms), end, step_ms));
        end -= len;
    }
    out.reverse();
    out
}

/// The model row of a window ending at `end`, cut from a chunk's series; `None` without data.
fn row_at(kind: EntityKind, fetched: &[Fetched], end: i64, lookback_ms: i64, step_ms: i64) -> Option<Vec<f32>> {
    let request = HistoryRequest {
        entity: String::new(),
        groups: Vec::new(),
        end_ms: end,
        lookback: Duration::from_millis(lookback_ms as u64),
        step: Duration::from_millis(step_ms as u64),
    };
    let start = request.start_ms();
    let window = assemble(
        &request,
        fetched.iter().map(|f| Fetched {
            group: f.group,
            signal: f.signal.clone(),
            series: cut(&f.series, start, end),
        }),
    );
    if window.signals.is_empty() {
        return None;
    }
    let subject = Subject { alertname: String::new(), severity: String::new(), entity: kind, focus: None };
    let f = features::extract(&subject, &window);
    let mut row = Vec::new();
    model::vector(kind, &f, &mut row);
    row.iter().all(|v| v.is_finite()).then_some(row)
}

/// At most `max` of `rows`, chosen at random (seeded), in their order.
fn thin(rows: &mut Vec<Vec<f32>>, max: usize, rng: &mut impl Rng) {
    if rows.len() <= max {
        return;
    }
    let mut keep = rand::seq::index::sample(rng, rows.len(), max).into_vec();
    keep.sort_unstable();
    let mut taken = std::mem::take(rows);
    *rows = keep.into_iter().map(|i| std::mem::take(&mut taken[i])).collect();
}

/// `out` itself, or `out/model-<hash>.json` when `out` is a directory (or ends with `/`).
fn output_path(out: &Path, version: &str) -> PathBuf {
    let dir = out.is_dir() || out.as_os_str().to_string_lossy().ends_with('/');
    if !dir {
        return out.to_path_buf();
    }
    let hash = version.rsplit('-').next().unwrap_or(version);
    out.join(format!("model-{hash}.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_for_one_entity_becomes_one_for_every_entity() {
        let q = r#"{__name__=~"wardwatch_patient_(spo2_ratio|news2_score)", patient="$patient", parameter=~"|consciousness"}"#;
        assert_eq!(
            any_entity(q, &["patient".into()]),
            r#"{__name__=~"wardwatch_patient_(spo2_ratio|news2_score)", patient=~".+", parameter=~"|consciousness"}"#
        );
        let rate = r#"sum(rate(x_total{link="$link"}[1m]))"#;
        assert_eq!(any_entity(rate, &["link".into()]), r#"sum(rate(x_total{link=~".+"}[1m]))"#);
    }

    #[test]
    fn every_kind_has_the_target_its_alerts_are_scored_with() {
        let config = crate::rescore::targets::TargetsConfig::default();
        for kind in EntityKind::ALL {
            let t = general_target(&config.targets, kind).unwrap_or_else(|| panic!("{kind:?}"));
            assert_eq!(t.entity, kind);
            assert!(t.lookback.is_none(), "{kind:?}: the default window, not the arrhythmia target's five minutes");
        }
    }

    #[test]
    fn chunks_cover_the_range_within_prometheus_points() {
        let r = RescoringSection::default();
        let (from, until) = (1_000_000_000_000, 1_000_000_000_000 + 7 * 86_400_000);
        let c = chunks(from, until, 7_200_000, &r);
        assert_eq!(c.first().map(|c| c.0), Some(from));
        assert_eq!(c.last().map(|c| c.1), Some(until));
        for w in c.windows(2) {
            assert_eq!(w[0].1, w[1].0, "no gap, no overlap");
        }
        for (a, b, step) in &c {
            assert!((b - a + 7_200_000) / step < MAX_POINTS, "{a}..{b}");
        }
    }

    #[test]
    fn moments_near_an_alert_are_skipped() {
        let firing = vec![10_000_000, 10_060_000];
        assert!(near(Some(&firing), 10_000_000 - NEAR_ALERT_MS));
        assert!(near(Some(&firing), 10_060_000 + NEAR_ALERT_MS));
        assert!(!near(Some(&firing), 10_000_000 - NEAR_ALERT_MS - 1));
        assert!(!near(Some(&firing), 10_060_000 + NEAR_ALERT_MS + 1));
        assert!(!near(None, 10_000_000));
    }

    #[test]
    fn a_directory_gets_a_file_named_by_the_version() {
        let dir = tempfile::tempdir().unwrap();
        let v = "rescore-1+iforest-0123456789ab";
        assert_eq!(output_path(dir.path(), v), dir.path().join("model-0123456789ab.json"));
        assert_eq!(output_path(&dir.path().join("m.json"), v), dir.path().join("m.json"));
        assert_eq!(output_path(Path::new("models/"), v), Path::new("models/").join("model-0123456789ab.json"));
    }
}
