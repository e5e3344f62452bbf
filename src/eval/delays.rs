//! What each `for` costs: the clinical rules fired with other confirmation delays over the same
//! Prometheus answers, their false alerts beside the time they add before a true event is alerted.
//!
//! A `for` holds an alert until its condition has held that long: every transient crossing
//! shorter than it (a motion artifact, a cough, natural variation) is never sent, and every
//! real event is sent that much later at least. For each seed the rule's expression is asked of
//! a real Prometheus once ([`firings::with_fors`]) and Prometheus' alerting semantics applied
//! with each candidate `for`; each firing is attributed to ground truth as the evaluation's are.
//! Per rule and `for`: false alerts per patient-day, the true events it alerts, and the median
//! delay it adds over firing at once, on the events both alert.

use super::events::median;
use super::firings::{self, Span};
use super::prometheus::Tools;
use super::rules::{AlertRule, RuleSet};
use super::scoring::{self, generator_url};
use super::{report, truth, EvalOptions, START_MS};
use crate::eval::training::WINDOW_MS;
use crate::rescore::policy::Policy;
use crate::rescore::score::{EntityKind, Scorer};
use crate::rescore::targets::{Targets, TargetsConfig};
use std::collections::BTreeMap;
use std::io::Write;

/// The delays tried, ms: none, one to three scrapes, and up to five minutes.
pub const FOR_MS: [i64; 8] = [0, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000];

/// One rule under one `for`, over every seed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cell {
    /// Alerts fired in the counted span.
    pub alerts: usize,
    /// Alerts with no deterioration behind them (artifacts and natural variation).
    pub false_alerts: usize,
    /// The first alert of each true event, Unix ms, by (seed, event id), from the event's start.
    pub first_alert_ms: BTreeMap<(u64, u64), i64>,
}

/// One rule's cells, in [`FOR_MS`] order.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleDelays {
    /// Rule name (a condition with two tiers appears once per tier).
    pub rule: String,
    /// Its severity.
    pub severity: String,
    /// The `for` it ships with, ms.
    pub shipped_for_ms: i64,
    /// Per candidate `for`.
    pub cells: Vec<Cell>,
}

impl RuleDelays {
    /// Median seconds the `i`-th delay adds over the first, on the events both alert.
    pub fn added_seconds(&self, i: usize) -> f64 {
        let (at_once, held) = (&self.cells[0].first_alert_ms, &self.cells[i].first_alert_ms);
        let mut added: Vec<f64> =
            held.iter().filter_map(|(k, t)| at_once.get(k).map(|t0| (t - t0) as f64 / 1000.0)).collect();
        median(&mut added)
    }
}

/// The patient rules of `rules` (those labelled `class: clinical`).
fn clinical(rules: &RuleSet) -> impl Iterator<Item = (usize, &AlertRule)> {
    rules.alerts.iter().enumerate().filter(|(_, r)| r.labels.get("class").is_some_and(|c| c == "clinical"))
}

/// Every clinical rule of `rules` under each of [`FOR_MS`], over the seeds of `options`.
pub async fn sweep(options: &EvalOptions, rules: &RuleSet, tools: &Tools) -> anyhow::Result<Vec<RuleDelays>> {
    let targets = Targets::new(&TargetsConfig::default())?;
    let mut out: Vec<RuleDelays> = clinical(rules)
        .map(|(_, r)| RuleDelays {
            rule: r.name.clone(),
            severity: r.severity().to_string(),
            shipped_for_ms: r.for_ms,
            cells: vec![Cell::default(); FOR_MS.len()],
        })
        .collect();
    let scorer = Scorer::without_models();
    for seed in options.first_seed..options.first_seed + options.seeds {
        let span: Span = super::span(options.hours);
        let count_from = START_MS + WINDOW_MS;
        let loaded = firings::load(seed, span, tools).await?;
        let mut per_rule = Vec::new();
        for (i, rule) in clinical(rules) {
            per_rule.push(firings::with_fors(&loaded.server, i, rule, span.start_ms, span.end_ms(), &FOR_MS).await?);
        }
        drop(loaded);
        let truth = scoring::score(seed, span, count_from, &[], &scorer, &Policy::default()).truth;
        for ((_, rule), (delays, fired)) in clinical(rules).zip(out.iter_mut().zip(per_rule)) {
            let url = generator_url(&rule.expr);
            for (cell, firings) in delays.cells.iter_mut().zip(fired) {
                for f in firings.iter().filter(|f| f.starts_at_ms >= count_from) {
                    cell.alerts += 1;
                    let Some(t) = targets.resolve(&f.labels, &url) else { continue };
                    let Some((_, key)) = t.key_labels.first() else { continue };
                    let focus = t.focus.as_deref().unwrap_or("");
                    match truth::attribute(&truth, t.entity, key, focus, f.starts_at_ms) {
                        (truth::Cause::True, Some(e)) => {
                            let first = cell.first_alert_ms.entry((seed, e.id)).or_insert(f.starts_at_ms);
                            *first = (*first).min(f.starts_at_ms);
                        }
                        _ if t.entity == EntityKind::Patient => cell.false_alerts += 1,
                        _ => {}
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Print the sweep: per rule, per `for`, false alerts per patient-day, true events alerted and
/// the median seconds added.
pub fn write(out: &mut dyn Write, options: &EvalOptions, sweep: &[RuleDelays]) -> std::io::Result<()> {
    let patient_days = report::patient_days(options.seeds, options.hours);
    writeln!(
        out,
        "what each `for` costs, {} seeds x {} h from seed {} ({patient_days:.0} patient-days): false alerts per \
         patient-day / true events alerted / median seconds added over firing at once; * = shipped",
        options.seeds, options.hours, options.first_seed
    )?;
    write!(out, "{:<28} {:<9}", "rule", "severity")?;
    for f in FOR_MS {
        write!(out, " {:>18}", format!("for {}s", f / 1000))?;
    }
    writeln!(out)?;
    for r in sweep {
        write!(out, "{:<28} {:<9}", r.rule, r.severity)?;
        for (i, (c, f)) in r.cells.iter().zip(FOR_MS).enumerate() {
            let mark = if f == r.shipped_for_ms { "*" } else { " " };
            let added = if i == 0 { 0.0 } else { r.added_seconds(i) };
            let cell =
                format!("{:.2}/{}/{:.0}{mark}", c.false_alerts as f64 / patient_days, c.first_alert_ms.len(), added);
            write!(out, " {cell:>18}")?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// `wardwatch-sidecar eval --for-sweep`.
pub async fn run(options: &EvalOptions, out: &mut dyn Write) -> anyhow::Result<()> {
    let tools = Tools::locate()?;
    let rules = super::load_rules()?;
    let sweep = sweep(options, &rules, &tools).await?;
    write(out, options, &sweep)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_added_is_the_median_over_the_events_both_delays_alert() {
        let cell = |alerts: &[(u64, i64)]| Cell {
            alerts: alerts.len(),
            false_alerts: 0,
            first_alert_ms: alerts.iter().map(|&(id, t)| ((1, id), t)).collect(),
        };
        let r = RuleDelays {
            rule: "R".into(),
            severity: "warning".into(),
            shipped_for_ms: 0,
            cells: vec![cell(&[(1, 1_000), (2, 5_000), (3, 9_000)]), cell(&[(1, 11_000), (2, 35_000), (4, 1_000)])],
        };
        // Event 3 is not alerted with the delay, event 4 not at once: events 1 and 2 add 10 s and 30 s.
        assert_eq!(r.added_seconds(1), 20.0);
    }
}
