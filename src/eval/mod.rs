//! The simulated evaluation: alerts as the repository's rules fire them, scored against ground truth.
//!
//! For each seed the default hospital is simulated and its history evaluated by a real
//! Prometheus running every alerting rule of `prometheus/rules/*.yml` ([`firings`]): an alert's
//! `startsAt` is the evaluation at which it fired, as Prometheus sends it. A second pass of the
//! simulation, scraped in memory every 5 s ([`stream`]), scores each alert on its entity's last
//! two hours up to then, decides it by the policy and attributes it to the event that caused it
//! ([`scoring`], [`truth`]). The anomaly models are trained on a seed outside the evaluated ones.
//!
//! [`alarms`] evaluates real ICU alarms (the PhysioNet/CinC Challenge 2015) through the same
//! rescoring; [`nab`] scores the streaming detector on the Numenta Anomaly Benchmark.

pub mod alarm_plot;
pub mod alarms;
pub mod alerting;
pub mod delays;
pub mod events;
pub mod firings;
pub mod nab;
pub mod prometheus;
mod recording;
pub mod report;
pub mod rules;
pub mod scoring;
pub mod stream;
pub mod training;
pub mod truth;
pub mod tsdb;

use crate::rescore::model::Fit;
use crate::rescore::policy::{Decision, Policy};
use crate::rescore::score::{EntityKind, Scorer};
use crate::sim::events::EventKind;
use events::TrueEvent;
use firings::{FiringsError, SeedFirings, Span};
use prometheus::Tools;
use rules::{RuleSet, RulesError};
use scoring::Scored;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use training::{STEP_MS, WINDOW_MS};
use truth::Cause;

/// What to evaluate.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// First simulation seed.
    pub first_seed: u64,
    /// Number of seeds (one simulated day each by default).
    pub seeds: u64,
    /// Simulated hours per seed.
    pub hours: f64,
    /// The decision policy (the sidecar's default unless the evaluation compares another).
    pub policy: Policy,
}

/// Start of each evaluated day's warm-up: 2026-01-05 00:00 UTC (the day/night rhythm needs a date).
pub(crate) const START_MS: i64 = 1_767_571_200_000;

/// One alert as fired, scored, decided and attributed.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRecord {
    /// Seed of the run.
    pub seed: u64,
    /// Rule name.
    pub rule: String,
    /// Rule severity.
    pub severity: String,
    /// Entity kind.
    pub entity: EntityKind,
    /// The entity (patient id, device, link, node; `cluster`).
    pub key: String,
    /// `startsAt`, Unix ms.
    pub starts_at_ms: i64,
    /// Resolved at, Unix ms; `None` if still firing at the end of the span.
    pub ends_at_ms: Option<i64>,
    /// Ground truth.
    pub cause: Cause,
    /// The event behind it, if any.
    pub event: Option<EventKind>,
    /// That event's id in the seed's ground truth.
    pub event_id: Option<u64>,
    /// Caused by an artifact while a deterioration acting on the same signal was under way: that
    /// deterioration's id (after its trigger, the alarm still brought someone to a patient who
    /// needed them).
    pub masked_event_id: Option<u64>,
    /// Score in [0, 1].
    pub score: f64,
    /// Artifact likelihood in [0, 1].
    pub artifact: f64,
    /// Decision at the first notification.
    pub decision: Decision,
    /// Still firing at the policy's re-escalation delay (a downgraded one is kept again).
    pub still_firing_at_reescalation: bool,
    /// When the policy looks at it again, Unix ms.
    pub reescalated_at_ms: i64,
    /// Downgraded and still firing then, what its recheck on the history up to then
    /// ([`Policy::recheck`](crate::rescore::policy::Policy::recheck)) did (`None`: not
    /// rechecked, which counts as full priority).
    pub second_look: Option<SecondLook>,
    /// Time to extract, score and decide, ns.
    pub cost_ns: u64,
    /// The decision's reasons, joined, for reading.
    pub top_reason: String,
}

/// What the second look at a downgraded alert still firing did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondLook {
    /// Sent at full priority.
    FullPriority,
    /// Sent as a technical notice: still a likely artifact.
    TechnicalNotice,
    /// Still within its entity's usual range and not dangerous: still downgraded, its held
    /// channels skipped.
    StaysDowngraded,
}

impl AlertRecord {
    /// Downgraded, and still firing at its re-escalation time.
    pub fn looked_at_again(&self) -> bool {
        self.decision == Decision::Downgrade && self.still_firing_at_reescalation
    }

    /// Looked at again and re-escalated at full priority (neither a technical notice nor still
    /// downgraded).
    pub fn reescalated(&self) -> bool {
        self.looked_at_again()
            && !matches!(self.second_look, Some(SecondLook::TechnicalNotice | SecondLook::StaysDowngraded))
    }

    /// Looked at again and sent as a technical notice: still a likely artifact.
    pub fn technical_notice(&self) -> bool {
        self.looked_at_again() && self.second_look == Some(SecondLook::TechnicalNotice)
    }

    /// Looked at again and still downgraded.
    pub fn stays_downgraded(&self) -> bool {
        self.looked_at_again() && self.second_look == Some(SecondLook::StaysDowngraded)
    }
}

/// The rule files of the repository.
pub fn rules_dir() -> PathBuf {
    repository_path("prometheus/rules")
}

/// The repository's Prometheus configuration (its global evaluation interval).
pub fn prometheus_config() -> PathBuf {
    repository_path("prometheus/prometheus.yml")
}

fn repository_path(relative: &str) -> PathBuf {
    let local = PathBuf::from(relative);
    if local.exists() {
        local
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
    }
}

/// The plain threshold rules wardwatch is measured against, in place of the clinical ones.
pub fn baseline_dir() -> PathBuf {
    repository_path("prometheus/baseline")
}

/// Groups without an `interval` evaluate at the repository's global evaluation interval.
fn global_interval() -> Result<i64, RulesError> {
    let config = prometheus_config();
    let text = std::fs::read_to_string(&config).map_err(|source| RulesError::Read { path: config.clone(), source })?;
    rules::evaluation_interval(&config.display().to_string(), &text)
}

/// The repository's rules.
pub fn load_rules() -> Result<RuleSet, RulesError> {
    rules::load(&rules_dir(), global_interval()?)
}

/// The two rule sets the evaluation compares.
#[derive(Debug, Clone)]
pub struct RuleSets {
    /// The repository's rules, whose alerts the sidecar rescores.
    pub wardwatch: RuleSet,
    /// The baseline: `prometheus/baseline/` in place of the same files of `prometheus/rules/`
    /// (fixed thresholds for every patient), its alerts delivered as fired.
    pub baseline: RuleSet,
}

/// The repository's rules and the baseline.
pub fn load_rule_sets() -> Result<RuleSets, RulesError> {
    let interval = global_interval()?;
    Ok(RuleSets {
        wardwatch: rules::load(&rules_dir(), interval)?,
        baseline: rules::load_overlaid(&rules_dir(), Some(&baseline_dir()), interval)?,
    })
}

/// The span evaluated for a seed: a two-hour warm-up (the first alerts' windows), then `hours`.
pub fn span(hours: f64) -> Span {
    let steps = ((WINDOW_MS as f64 + hours * 3_600_000.0) / STEP_MS as f64).round() as u64;
    Span { start_ms: START_MS, step_ms: STEP_MS, steps }
}

/// One seed evaluated: its firings (and their cost), the scored alerts and the scoring's time.
#[derive(Debug, Clone)]
pub struct SeedOutcome {
    /// The firings of both rule sets and how they were produced.
    pub firings: SeedFirings,
    /// The counted firings of the repository's rules, scored and decided.
    pub scored: Scored,
    /// The counted firings of the baseline, attributed (their decisions are not used).
    pub baseline: Scored,
    /// The true events that began in the counted span.
    pub events: Vec<TrueEvent>,
    /// The scoring pass.
    pub scoring: Duration,
}

/// Evaluate one seed for `hours` after a two-hour warm-up; alerts that fire during the warm-up
/// are followed but not counted.
pub async fn evaluate_seed(
    seed: u64,
    hours: f64,
    sets: &RuleSets,
    tools: &Tools,
    scorer: &Scorer,
    policy: &Policy,
) -> Result<SeedOutcome, FiringsError> {
    let span = span(hours);
    let firings = firings::of_seed(seed, span, &[&sets.wardwatch, &sets.baseline], tools).await?;
    let t = Instant::now();
    let batches = [(&firings.firings[0][..], &sets.wardwatch), (&firings.firings[1][..], &sets.baseline)];
    let pass = scoring::score(seed, span, START_MS + WINDOW_MS, &batches, scorer, policy);
    let [scored, baseline]: [Scored; 2] = pass.scored.try_into().expect("one result per rule set");
    Ok(SeedOutcome { firings, scored, baseline, events: pass.events, scoring: t.elapsed() })
}

/// A training seed outside `[first, first + n)`.
pub fn training_seed(first: u64, n: u64) -> u64 {
    let d = training::DEFAULT_TRAINING_SEED;
    if (first..first.saturating_add(n)).contains(&d) {
        first.saturating_add(n).saturating_add(1000)
    } else {
        d
    }
}

/// Every seed's alerts and events together.
#[derive(Debug, Clone, Default)]
pub struct Evaluated {
    /// The repository's alerts, scored and decided.
    pub records: Vec<AlertRecord>,
    /// The baseline's alerts.
    pub baseline: Vec<AlertRecord>,
    /// The repository's alerts that fired in the warm-up (not counted; some still firing later).
    pub warm_up: Vec<AlertRecord>,
    /// The same of the baseline.
    pub baseline_warm_up: Vec<AlertRecord>,
    /// The true events.
    pub events: Vec<TrueEvent>,
}

impl Evaluated {
    fn add(&mut self, outcome: SeedOutcome) {
        self.records.extend(outcome.scored.records);
        self.baseline.extend(outcome.baseline.records);
        self.warm_up.extend(outcome.scored.warm_up);
        self.baseline_warm_up.extend(outcome.baseline.warm_up);
        self.events.extend(outcome.events);
    }
}

/// Train on a seed outside the evaluated ones, then evaluate every seed.
pub async fn evaluate(
    options: &EvalOptions,
    sets: &RuleSets,
    tools: &Tools,
    fit: Fit,
    label: &str,
) -> Result<(Scorer, Evaluated), FiringsError> {
    let scorer = training::train(training_seed(options.first_seed, options.seeds), fit, label);
    let mut all = Evaluated::default();
    for seed in options.first_seed..options.first_seed + options.seeds {
        all.add(evaluate_seed(seed, options.hours, sets, tools, &scorer, &options.policy).await?);
    }
    Ok((scorer, all))
}

/// The rule set in one line: alerting rules by group interval, recording rules, substitutions.
pub fn describe(rules: &RuleSet) -> String {
    let mut by_interval: BTreeMap<i64, usize> = BTreeMap::new();
    for r in &rules.alerts {
        *by_interval.entry(r.interval_ms).or_default() += 1;
    }
    let intervals: Vec<String> =
        by_interval.iter().map(|(ms, n)| format!("{n} every {} s", *ms as f64 / 1000.0)).collect();
    let substituted = if rules.substitutions.is_empty() {
        "none used by an alerting rule".to_string()
    } else {
        let pairs: Vec<String> = rules.substitutions.iter().map(|s| format!("{} in {}", s.record, s.alert)).collect();
        format!("replaced by their expressions in {}", pairs.join(", "))
    };
    format!(
        "{} alerting rules in {} groups ({}), all evaluated; {} recording rules, {substituted}",
        rules.alerts.len(),
        rules.groups,
        intervals.join(", "),
        rules.recording
    )
}

/// One seed's costs in one line.
fn timings(o: &SeedOutcome) -> String {
    let (f, h) = (&o.firings, &o.firings.history);
    let unscored: usize = o.scored.unscored.values().sum();
    let unscored: usize = unscored + o.baseline.unscored.values().sum::<usize>();
    format!(
        "history of {} scrapes ({:.1}M samples, {} blocks) written in {:.1} s, imported in {:.1} s \
         ({:.1} s together); Prometheus ready in {:.1} s; {} range queries in {:.1} s: {} firings; \
         scored in {:.1} s ({unscored} counted firings name no entity)",
        h.steps,
        h.samples as f64 / 1e6,
        h.pieces,
        h.backfill.as_secs_f64(),
        h.import.as_secs_f64(),
        f.history_wall.as_secs_f64(),
        f.startup.as_secs_f64(),
        f.queries,
        f.evaluation.as_secs_f64(),
        f.firings.iter().map(Vec::len).sum::<usize>(),
        o.scoring.as_secs_f64(),
    )
}

/// `wardwatch-sidecar eval`: run the evaluation and print its figures; with `json`, write the
/// event figures there too.
pub async fn run(options: &EvalOptions, json: Option<&std::path::Path>, out: &mut dyn Write) -> anyhow::Result<()> {
    let tools = Tools::locate()?;
    let sets = load_rule_sets()?;
    writeln!(out, "rules from {}: {}", rules_dir().display(), describe(&sets.wardwatch))?;
    writeln!(out, "baseline with {} in place: {}", baseline_dir().display(), describe(&sets.baseline))?;
    writeln!(out, "evaluated by {}", tools.version())?;
    let train_seed = training_seed(options.first_seed, options.seeds);
    let t0 = Instant::now();
    let (fit, label) = training::DEFAULT_MODEL;
    let scorer = training::train(train_seed, fit, label);
    writeln!(
        out,
        "model {} trained on seed {train_seed} (not an evaluated seed) in {:.2} s",
        scorer.version(),
        t0.elapsed().as_secs_f64()
    )?;
    let mut all = Evaluated::default();
    let mut unscored: BTreeMap<String, usize> = BTreeMap::new();
    for seed in options.first_seed..options.first_seed + options.seeds {
        let t = Instant::now();
        let outcome = evaluate_seed(seed, options.hours, &sets, &tools, &scorer, &options.policy).await?;
        let f = report::Figures::of(&outcome.scored.records, 1, options.hours);
        writeln!(out, "seed {seed} ({:.1} s): {}", t.elapsed().as_secs_f64(), timings(&outcome))?;
        writeln!(out, "  {}", f.one_line())?;
        out.flush()?;
        for (rule, n) in &outcome.scored.unscored {
            *unscored.entry(rule.clone()).or_default() += n;
        }
        all.add(outcome);
    }
    for (rule, n) in &unscored {
        writeln!(out, "not scored, no entity in the labels: {rule} ({n})")?;
    }
    report::write(out, &all.records, options)?;
    let summary = summary(options, &all);
    events::write(out, &summary, &all)?;
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(&summary)?;
        std::fs::write(path, text + "\n").map_err(|e| anyhow::anyhow!("--json {}: {e}", path.display()))?;
    }
    Ok(())
}

/// The event figures of an evaluation.
pub fn summary(options: &EvalOptions, all: &Evaluated) -> events::Summary {
    let patient_days = report::patient_days(options.seeds, options.hours);
    events::Summary::of((options.first_seed, options.seeds, options.hours), patient_days, all)
}
