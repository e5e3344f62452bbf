//! Prometheus' alerting semantics over a rule's past evaluations, as pure functions.
//!
//! A rule group is evaluated at regular instants ([`Schedule`]); at each one the rule's
//! expression gives a set of series, and each series (its labels without `__name__`, plus the
//! rule's labels and `alertname`) is one alert. As Prometheus' `AlertingRule.Eval` does
//! (`rules/alerting.go`, <https://github.com/prometheus/prometheus>):
//!
//! - an alert is **pending** from the first evaluation its series is present at (`ActiveAt`);
//! - it **fires** at the first evaluation at least `for` after that, having been present at
//!   every evaluation in between (`FiredAt`, which Alertmanager receives as `startsAt`); with no
//!   `for` it fires at once;
//! - a pending alert whose series is absent at an evaluation is forgotten: the next appearance
//!   starts a new one;
//! - a firing alert is **resolved** at the first evaluation its series is absent at
//!   (`ResolvedAt`), or with `keep_firing_for` at the first absent evaluation at least that long
//!   after the absence began (an appearance in between keeps it firing and restarts the count);
//! - a resolved alert that appears again is a new alert.
//!
//! Evaluations of a past span are asked of Prometheus as range queries, whose points are
//! exactly instant queries at each instant; a query returns at most 11,000 points per series
//! (Prometheus' HTTP API refuses more: "exceeded maximum resolution of 11,000 points per
//! timeseries", `web/api/v1/api.go`), so a schedule is asked for in [`Schedule::chunks`].

use super::rules::AlertRule;
use std::collections::BTreeMap;

/// Label names and values of an alert or a series.
pub type Labels = BTreeMap<String, String>;

/// Points per series Prometheus' `query_range` returns at most.
pub const MAX_POINTS_PER_QUERY: u32 = 11_000;

/// Regular evaluation instants: `first_ms + k × interval_ms` for `k` in `0..count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// The first instant, Unix ms.
    pub first_ms: i64,
    /// Between instants, ms (positive).
    pub interval_ms: i64,
    /// Number of instants.
    pub count: u32,
}

impl Schedule {
    /// The instants `start_ms + k × interval_ms`, `k ≥ 1`, up to `end_ms` inclusive: a group
    /// evaluated on the grid of a history whose first scrape is `start_ms + step`, so that every
    /// evaluation of a group with the scrape's interval falls on a scrape.
    pub fn over(start_ms: i64, end_ms: i64, interval_ms: i64) -> Self {
        assert!(interval_ms > 0, "a schedule needs a positive interval");
        let count = ((end_ms - start_ms).max(0) / interval_ms) as u32;
        Self { first_ms: start_ms + interval_ms, interval_ms, count }
    }

    /// The `k`-th instant, Unix ms.
    pub fn at(&self, k: u32) -> i64 {
        self.first_ms + i64::from(k) * self.interval_ms
    }

    /// The last instant (the first when empty).
    pub fn last_ms(&self) -> i64 {
        self.at(self.count.saturating_sub(1))
    }

    /// The index of the instant nearest `t_ms`, when one is within a millisecond of it.
    pub fn index_of(&self, t_ms: i64) -> Option<u32> {
        let offset = t_ms - self.first_ms;
        let k = (offset as f64 / self.interval_ms as f64).round();
        let k_ok = k >= 0.0 && k < f64::from(self.count);
        (k_ok && (offset - k as i64 * self.interval_ms).abs() <= 1).then_some(k as u32)
    }

    /// Consecutive pieces of at most `max_points` instants each, covering every instant once.
    pub fn chunks(&self, max_points: u32) -> Vec<Schedule> {
        assert!(max_points > 0, "chunks need at least one point");
        (0..self.count)
            .step_by(max_points as usize)
            .map(|k| Schedule {
                first_ms: self.at(k),
                interval_ms: self.interval_ms,
                count: max_points.min(self.count - k),
            })
            .collect()
    }
}

/// One alert as Prometheus would have fired it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firing {
    /// Index of its rule in the rule set's `alerts`.
    pub rule: usize,
    /// `alertname`.
    pub alertname: String,
    /// The `severity` label (empty when none).
    pub severity: String,
    /// Every label: the series', the rule's and `alertname`.
    pub labels: Labels,
    /// When it became pending (`ActiveAt`), Unix ms.
    pub active_at_ms: i64,
    /// When it fired (`FiredAt`, Alertmanager's `startsAt`), Unix ms.
    pub starts_at_ms: i64,
    /// When it was resolved (`ResolvedAt`), Unix ms; `None` when still firing at the last
    /// evaluation.
    pub ends_at_ms: Option<i64>,
}

/// An alert's labels from a result series' labels: without `__name__`, with the rule's labels
/// (which win) and `alertname`.
pub fn alert_labels(series: &Labels, rule: &AlertRule) -> Labels {
    let mut labels: Labels =
        series.iter().filter(|(k, _)| *k != "__name__").map(|(k, v)| (k.clone(), v.clone())).collect();
    labels.extend(rule.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    labels.insert("alertname".to_string(), rule.name.clone());
    labels
}

/// Evaluations needed to cover `ms` at `interval_ms`: the first instant `k` with `k × interval ≥ ms`.
fn evaluations(ms: i64, interval_ms: i64) -> u32 {
    (ms.max(0) + interval_ms - 1).div_euclid(interval_ms) as u32
}

/// The (active, fired, resolved) instants of one alert series present at the instants
/// `present` (ascending, distinct) of `schedule`.
pub fn series_alerts(
    present: &[u32],
    schedule: &Schedule,
    for_ms: i64,
    keep_firing_for_ms: i64,
) -> Vec<(u32, u32, Option<u32>)> {
    let hold = evaluations(for_ms, schedule.interval_ms);
    let keep = evaluations(keep_firing_for_ms, schedule.interval_ms);
    // The first absent instant at which an alert absent since `from` is resolved, before `until`.
    let resolved = |from: u32, until: u32| Some(from + keep).filter(|&r| r < until);
    let mut out = Vec::new();
    let mut firing: Option<(u32, u32)> = None;
    let mut absent_from = 0;
    let mut i = 0;
    while i < present.len() {
        let a = present[i];
        let mut b = a;
        while i + 1 < present.len() && present[i + 1] == b + 1 {
            i += 1;
            b += 1;
        }
        i += 1;
        if let Some((active, fired)) = firing {
            if let Some(r) = resolved(absent_from, a) {
                out.push((active, fired, Some(r)));
                firing = None;
            }
        }
        if firing.is_none() && a + hold <= b {
            firing = Some((a, a + hold));
        }
        absent_from = b + 1;
    }
    if let Some((active, fired)) = firing {
        out.push((active, fired, resolved(absent_from, schedule.count)));
    }
    out
}

/// Every alert of `rule` (index `rule_index`) fired over `schedule`, from the instants each alert
/// label set was present at (ascending, distinct), in order of firing.
pub fn firings(
    rule_index: usize,
    rule: &AlertRule,
    schedule: &Schedule,
    present: &BTreeMap<Labels, Vec<u32>>,
) -> Vec<Firing> {
    let mut out = Vec::new();
    for (labels, instants) in present {
        for (active, fired, resolved) in series_alerts(instants, schedule, rule.for_ms, rule.keep_firing_for_ms) {
            out.push(Firing {
                rule: rule_index,
                alertname: rule.name.clone(),
                severity: rule.severity().to_string(),
                labels: labels.clone(),
                active_at_ms: schedule.at(active),
                starts_at_ms: schedule.at(fired),
                ends_at_ms: resolved.map(|r| schedule.at(r)),
            });
        }
    }
    out.sort_by(|a, b| (a.starts_at_ms, &a.labels).cmp(&(b.starts_at_ms, &b.labels)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIVE: Schedule = Schedule { first_ms: 5_000, interval_ms: 5_000, count: 20 };

    #[test]
    fn a_schedule_covers_the_span_on_the_grid_and_chunks_stay_under_the_limit() {
        let s = Schedule::over(1_000_000, 1_000_000 + 26 * 3_600_000, 5_000);
        assert_eq!((s.first_ms, s.count, s.last_ms()), (1_005_000, 18_720, 1_000_000 + 26 * 3_600_000));
        let chunks = s.chunks(MAX_POINTS_PER_QUERY);
        assert_eq!(chunks.len(), 2);
        assert!(chunks.iter().all(|c| c.count <= MAX_POINTS_PER_QUERY && c.interval_ms == 5_000));
        assert_eq!(chunks.iter().map(|c| c.count).sum::<u32>(), s.count);
        assert_eq!(chunks[1].first_ms, chunks[0].last_ms() + 5_000, "no instant lost or repeated");
        assert_eq!(chunks[1].last_ms(), s.last_ms());
        let exact = Schedule { first_ms: 0, interval_ms: 1_000, count: 22_000 }.chunks(11_000);
        assert_eq!(exact.iter().map(|c| c.count).collect::<Vec<_>>(), [11_000, 11_000]);
        assert!(Schedule::over(10, 9, 5).chunks(3).is_empty());
        assert_eq!(s.index_of(1_010_000), Some(1));
        assert_eq!((s.index_of(1_010_001), s.index_of(1_012_000), s.index_of(0)), (Some(1), None, None));
    }

    #[test]
    fn an_alert_fires_after_for_at_every_evaluation_and_resolves_when_absent() {
        // Present at 2..=5 (10 s of `for` is two evaluations at 5 s): active at 2, fired at 4.
        assert_eq!(series_alerts(&[2, 3, 4, 5], &FIVE, 10_000, 0), [(2, 4, Some(6))]);
        // Too short to fire: a pending alert is forgotten.
        assert_eq!(series_alerts(&[2, 3], &FIVE, 10_000, 0), []);
        // A `for` between evaluations rounds up to the next one.
        assert_eq!(series_alerts(&[0, 1, 2, 3], &FIVE, 7_000, 0), [(0, 2, Some(4))]);
    }

    #[test]
    fn a_gap_resets_the_pending_time_and_no_for_fires_at_once() {
        assert_eq!(series_alerts(&[1, 2, 4, 5, 6], &FIVE, 10_000, 0), [(4, 6, Some(7))]);
        assert_eq!(series_alerts(&[1, 3], &FIVE, 0, 0), [(1, 1, Some(2)), (3, 3, Some(4))]);
    }

    #[test]
    fn an_alert_firing_at_the_last_evaluation_has_no_end() {
        assert_eq!(series_alerts(&[17, 18, 19], &FIVE, 5_000, 0), [(17, 18, None)]);
    }

    #[test]
    fn keep_firing_for_bridges_short_absences_and_resolves_after_it() {
        // Fired at 1; absent at 3 (bridged, 10 s keep = two evaluations); absent from 5: resolved at 7.
        assert_eq!(series_alerts(&[0, 1, 2, 4], &FIVE, 5_000, 10_000), [(0, 1, Some(7))]);
        // A pending alert is not kept.
        assert_eq!(series_alerts(&[0, 2, 3], &FIVE, 5_000, 10_000), [(2, 3, Some(6))]);
        // Kept to the end of the span; a longer absence resolves it, and a return is a new alert.
        assert_eq!(series_alerts(&[0, 1, 10], &FIVE, 0, 60_000), [(0, 0, None)]);
        assert_eq!(series_alerts(&[0, 1, 19], &FIVE, 0, 60_000), [(0, 0, Some(14)), (19, 19, None)]);
    }

    #[test]
    fn firings_carry_the_series_and_rule_labels_and_come_in_order_of_firing() {
        let rule = AlertRule {
            name: "Low".into(),
            file: "t.yml".into(),
            group: "g".into(),
            interval_ms: 5_000,
            expr: "m < 1".into(),
            for_ms: 5_000,
            keep_firing_for_ms: 0,
            labels: [("severity".to_string(), "critical".to_string())].into(),
        };
        let series = |p: &str| -> Labels {
            [("__name__", "m"), ("patient", p), ("severity", "info")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let present = BTreeMap::from([
            (alert_labels(&series("a"), &rule), vec![5, 6, 7]),
            (alert_labels(&series("b"), &rule), vec![1, 2]),
        ]);
        let f = firings(3, &rule, &FIVE, &present);
        assert_eq!(f.len(), 2);
        assert_eq!(
            (f[0].labels["patient"].as_str(), f[0].active_at_ms, f[0].starts_at_ms, f[0].ends_at_ms),
            ("b", 10_000, 15_000, Some(20_000))
        );
        assert_eq!((f[1].labels["patient"].as_str(), f[1].starts_at_ms, f[1].ends_at_ms), ("a", 35_000, Some(45_000)));
        assert_eq!((f[1].rule, f[1].severity.as_str(), f[1].labels["alertname"].as_str()), (3, "critical", "Low"));
        assert!(!f[1].labels.contains_key("__name__"));
    }
}
