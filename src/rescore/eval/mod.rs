//! The simulated evaluation: alerts as the repository's rules fire them, scored against ground truth.
//!
//! For each seed the default hospital runs in memory and is scraped every 5 s ([`stream`]). The
//! simple threshold rules of `prometheus/rules/*.yml` ([`rules`]) are evaluated at every scrape
//! with their `for`; an alert's `startsAt` is the evaluation at which it fired, as Prometheus
//! sends it, and its window is its entity's last two hours up to then. Each alert is scored
//! online, decided by the default policy and attributed to the event that caused it ([`truth`]).
//! The anomaly models are trained on a seed outside the evaluated ones.
//!
//! [`alarms`] evaluates real ICU alarms (the PhysioNet/CinC Challenge 2015) through the same
//! rescoring.

pub mod alarm_plot;
pub mod alarms;
pub mod events;
pub mod report;
pub mod rules;
pub mod stream;
pub mod truth;

use crate::rescore::model::Fit;
use crate::rescore::policy::{Decision, Policy};
use crate::rescore::score::{EntityKind, Scorer, Subject};
use crate::rescore::training::{self, STEP_MS, WINDOW_MS};
use crate::sim::events::EventKind;
use rules::{Func, Rule};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use stream::Recorder;
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
const START_MS: i64 = 1_767_571_200_000;

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
    /// `startsAt`, Unix ms.
    pub starts_at_ms: i64,
    /// Ground truth.
    pub cause: Cause,
    /// The event behind it, if any.
    pub event: Option<EventKind>,
    /// Score in [0, 1].
    pub score: f64,
    /// Artifact likelihood in [0, 1].
    pub artifact: f64,
    /// Decision at the first notification.
    pub decision: Decision,
    /// Still firing at the policy's re-escalation delay (a downgraded one is kept again).
    pub still_firing_at_reescalation: bool,
    /// Time to extract, score and decide, ns.
    pub cost_ns: u64,
    /// The decision's reasons, joined, for reading.
    pub top_reason: String,
}

/// The alert rules' state for one series: active since, and the firing alert's record.
#[derive(Debug, Clone, Copy, Default)]
struct State {
    since_ms: Option<i64>,
    firing: Option<usize>,
}

/// The rule files of the repository.
pub fn rules_dir() -> PathBuf {
    let local = PathBuf::from("prometheus/rules");
    if local.is_dir() {
        local
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("prometheus/rules")
    }
}

/// Read a series through a rule's function at the recorder's current step.
fn read(rec: &Recorder, id: usize, func: Func) -> Option<f64> {
    let back = |ms: i64| (ms / rec.step_ms()) as u64;
    match func {
        Func::Value => rec.value(id, 0),
        Func::Rate(ms) => Some((rec.value(id, 0)? - rec.value(id, back(ms))?) / (ms as f64 / 1000.0)),
        Func::Increase(ms) => Some(rec.value(id, 0)? - rec.value(id, back(ms))?),
    }
}

/// Evaluate one seed for `hours` after a two-hour warm-up; returns its alerts.
pub fn evaluate_seed(seed: u64, hours: f64, rules: &[Rule], scorer: &Scorer, policy: &Policy) -> Vec<AlertRecord> {
    let mut rec = Recorder::new(seed, START_MS, STEP_MS, WINDOW_MS);
    let warm_up_steps = (WINDOW_MS / STEP_MS) as u64;
    let steps = warm_up_steps + (hours * 3600.0 * 1000.0 / STEP_MS as f64).round() as u64;
    let count_from = START_MS + WINDOW_MS;
    // Per rule: (series id, which terms select it) and each one's state.
    let mut matched: Vec<Vec<(usize, u32)>> = vec![Vec::new(); rules.len()];
    let mut states: Vec<Vec<State>> = vec![Vec::new(); rules.len()];
    let mut known = 0;
    let mut out = Vec::new();
    for _ in 0..steps {
        rec.advance();
        let now = rec.now_ms();
        for id in known..rec.series.len() {
            let s = &rec.series[id];
            for (r, rule) in rules.iter().enumerate() {
                let mask = rule
                    .terms
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| t.selects(&s.metric, &s.labels))
                    .fold(0u32, |m, (i, _)| m | 1 << i);
                if mask != 0 {
                    matched[r].push((id, mask));
                    states[r].push(State::default());
                }
            }
        }
        known = rec.series.len();
        for (r, rule) in rules.iter().enumerate() {
            for (j, &(id, mask)) in matched[r].iter().enumerate() {
                let value = read(&rec, id, rule.terms[0].func);
                let term =
                    |(i, t): (usize, &rules::Comparison)| mask & (1 << i) != 0 && value.is_some_and(|v| t.holds(v));
                let holds = if rule.all {
                    rule.terms.iter().enumerate().all(term)
                } else {
                    rule.terms.iter().enumerate().any(term)
                };
                let st = &mut states[r][j];
                if !holds {
                    *st = State::default();
                    continue;
                }
                let since = *st.since_ms.get_or_insert(now);
                match st.firing {
                    Some(k) if k < out.len() => {
                        let a: &mut AlertRecord = &mut out[k];
                        if now - a.starts_at_ms >= policy.reescalate_after.as_millis() as i64 {
                            a.still_firing_at_reescalation = true;
                        }
                    }
                    Some(_) => {}
                    None if now - since >= rule.for_ms => {
                        // Alerts that fire during the warm-up are followed but not counted.
                        st.firing = Some(if now >= count_from { out.len() } else { usize::MAX });
                        if now >= count_from {
                            if let Some(a) = fire(&rec, id, rule, seed, scorer, policy) {
                                out.push(a);
                            } else {
                                st.firing = Some(usize::MAX);
                            }
                        }
                    }
                    None => {}
                }
            }
        }
    }
    out
}

/// Score, decide and attribute an alert firing now on series `id`.
fn fire(rec: &Recorder, id: usize, rule: &Rule, seed: u64, scorer: &Scorer, policy: &Policy) -> Option<AlertRecord> {
    let s = &rec.series[id];
    let e = s.entity?;
    let entity = &rec.entities[e];
    let subject = Subject {
        alertname: rule.name.clone(),
        severity: rule.severity.clone(),
        entity: entity.kind,
        focus: s.signal.map(str::to_string),
    };
    let window = rec.window(e, WINDOW_MS);
    let t0 = Instant::now();
    let assessment = scorer.assess(&subject, &window);
    let verdict = policy.decide(&subject, &assessment, Duration::ZERO);
    let cost_ns = t0.elapsed().as_nanos() as u64;
    let now = rec.now_ms();
    let (cause, event) = truth::attribute(&rec.truth, entity.kind, &entity.key, s.signal.unwrap_or(""), now);
    Some(AlertRecord {
        seed,
        rule: rule.name.clone(),
        severity: rule.severity.clone(),
        entity: entity.kind,
        starts_at_ms: now,
        cause,
        event,
        score: assessment.score,
        artifact: assessment.artifact,
        decision: verdict.decision,
        still_firing_at_reescalation: false,
        cost_ns,
        top_reason: verdict.reasons.iter().map(|r| r.text.as_str()).collect::<Vec<_>>().join("; "),
    })
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

/// Train on a seed outside the evaluated ones, then evaluate every seed.
pub fn evaluate(options: &EvalOptions, rules: &[Rule], fit: Fit, label: &str) -> (Scorer, Vec<AlertRecord>) {
    let scorer = training::train(training_seed(options.first_seed, options.seeds), fit, label);
    let records = (options.first_seed..options.first_seed + options.seeds)
        .flat_map(|seed| evaluate_seed(seed, options.hours, rules, &scorer, &options.policy))
        .collect();
    (scorer, records)
}

/// `wardwatch-sidecar eval`: run the evaluation and print its figures.
pub fn run(options: &EvalOptions, out: &mut dyn Write) -> anyhow::Result<()> {
    let dir = rules_dir();
    let (rules, skipped) = rules::load(&dir)?;
    writeln!(out, "rules from {}: {} interpreted", dir.display(), rules.len())?;
    for s in &skipped {
        writeln!(out, "  skipped {}: {}", s.name, s.reason)?;
    }
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
    let policy = &options.policy;
    let mut all = Vec::new();
    for seed in options.first_seed..options.first_seed + options.seeds {
        let t = Instant::now();
        let records = evaluate_seed(seed, options.hours, &rules, &scorer, policy);
        let f = report::Figures::of(&records, 1, options.hours);
        writeln!(out, "seed {seed} ({:.1} s): {}", t.elapsed().as_secs_f64(), f.one_line())?;
        out.flush()?;
        all.extend(records);
    }
    report::write(out, &all, options)?;
    Ok(())
}
