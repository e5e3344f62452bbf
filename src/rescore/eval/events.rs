//! The evaluation by event, as a clinician counts: patients and incidents, not alerts.
//!
//! For every true event (a deterioration, a network or a cluster incident) that begins in the
//! counted span: was anyone notified at full priority, and how long after it began? A
//! notification is at full priority when its first decision kept or escalated it, or when a
//! downgraded alert was kept again at the policy's re-escalation delay (then at that moment).
//!
//! Which events must be notified is ground truth, not what a rule happened to catch:
//!
//! - a **patient deterioration** must be notified once the patient's true vitals (not the
//!   monitor's, which artifacts distort) reach NEWS2 ≥ 5 or a parameter scoring 3, the RCP's
//!   triggers for an urgent response (Royal College of Physicians, NEWS2, 2017). It is
//!   **critical** once NEWS2 ≥ 7 or a parameter scores 3. A milder episode that stays below both
//!   is reported but not required;
//! - every **network or cluster incident** must be notified.
//!
//! The **early warning** of a deterioration that reaches NEWS2 ≥ 5 or a parameter scoring 3 is
//! how many minutes before that moment the first full-priority notification came (negative when
//! it came after).

use super::truth::Cause;
use crate::rescore::score::EntityKind;
use crate::sim::events::{EventClass, EventKind};
use serde::Serialize;
use std::collections::HashMap;

/// One true event and the moments its ground truth crossed the clinical triggers.
#[derive(Debug, Clone, PartialEq)]
pub struct TrueEvent {
    /// Seed of the run (event ids are per seed).
    pub seed: u64,
    /// The event's id in its seed's ground truth.
    pub id: u64,
    /// What happened.
    pub kind: EventKind,
    /// Start, Unix ms.
    pub start_ms: i64,
    /// End, Unix ms.
    pub end_ms: i64,
    /// First moment the true NEWS2 reached 5 during the event, Unix ms.
    pub news2_5_at_ms: Option<i64>,
    /// First moment the true NEWS2 reached 7 or a parameter scored 3, Unix ms.
    pub critical_at_ms: Option<i64>,
}

impl TrueEvent {
    /// Whether the event is a patient deterioration.
    pub fn clinical(&self) -> bool {
        self.kind.class() == EventClass::Deterioration
    }

    /// The moment the event must be notified by (patients), or its start (infrastructure); `None`
    /// for a mild deterioration that never reached a trigger.
    pub fn required_at_ms(&self) -> Option<i64> {
        if self.clinical() {
            match (self.news2_5_at_ms, self.critical_at_ms) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        } else {
            Some(self.start_ms)
        }
    }

    /// Whether the event must be notified.
    pub fn required(&self) -> bool {
        self.required_at_ms().is_some()
    }

    /// Whether a missed notification of this event is a critical miss.
    pub fn critical(&self) -> bool {
        self.clinical() && self.critical_at_ms.is_some()
    }
}

/// One notification as the evaluation saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// Seed of the run.
    pub seed: u64,
    /// The entity kind it is about.
    pub entity: EntityKind,
    /// Its ground truth.
    pub cause: Cause,
    /// The event behind it, if any (its id in the seed's ground truth).
    pub event_id: Option<u64>,
    /// When it reached someone at full priority, Unix ms; `None` if it never did.
    pub full_priority_at_ms: Option<i64>,
}

/// What became of one true event.
#[derive(Debug, Clone, PartialEq)]
pub struct EventOutcome {
    /// The event.
    pub event: TrueEvent,
    /// The first full-priority notification of it, Unix ms.
    pub notified_at_ms: Option<i64>,
}

impl EventOutcome {
    /// Minutes from the event's start to its first full-priority notification.
    pub fn minutes_to_notification(&self) -> Option<f64> {
        self.notified_at_ms.map(|t| (t - self.event.start_ms) as f64 / 60_000.0)
    }

    /// Minutes the first full-priority notification came before the event reached a trigger.
    pub fn early_warning_minutes(&self) -> Option<f64> {
        let due = if self.event.clinical() { self.event.required_at_ms()? } else { return None };
        Some((due - self.notified_at_ms?) as f64 / 60_000.0)
    }
}

/// Each event with its first full-priority notification among `notices`.
pub fn outcomes(events: &[TrueEvent], notices: &[Notice]) -> Vec<EventOutcome> {
    let mut first: HashMap<(u64, u64), i64> = HashMap::new();
    for n in notices.iter().filter(|n| n.cause == Cause::True) {
        if let (Some(id), Some(at)) = (n.event_id, n.full_priority_at_ms) {
            first.entry((n.seed, id)).and_modify(|t| *t = (*t).min(at)).or_insert(at);
        }
    }
    events
        .iter()
        .map(|e| EventOutcome { event: e.clone(), notified_at_ms: first.get(&(e.seed, e.id)).copied() })
        .collect()
}

/// The median of `values` (NaN when empty).
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// The figures of one system (wardwatch, or the plain threshold baseline) by event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventFigures {
    /// True events that had to be notified.
    pub true_events: usize,
    /// Of them, notified at full priority.
    pub true_events_notified: usize,
    /// Critical events (true NEWS2 ≥ 7 or a parameter scoring 3).
    pub critical_events: usize,
    /// Of them, notified at full priority.
    pub critical_events_notified: usize,
    /// Median minutes from a critical event's start to its first full-priority notification.
    pub median_minutes_to_notification: f64,
    /// Median early warning of sepsis and hypoxia, minutes before NEWS2 ≥ 5 or a parameter
    /// scoring 3 (of those notified).
    pub median_early_warning_minutes: f64,
    /// False (artifact or unattributed) patient notifications at full priority per patient-day.
    pub false_per_patient_day: f64,
}

impl EventFigures {
    /// Figures of `outcomes`, and of `notices` over `patient_days`.
    pub fn of(outcomes: &[EventOutcome], notices: &[Notice], patient_days: f64) -> Self {
        let required: Vec<_> = outcomes.iter().filter(|o| o.event.required()).collect();
        let critical: Vec<_> = required.iter().filter(|o| o.event.critical()).collect();
        let notified = |v: &[&&EventOutcome]| v.iter().filter(|o| o.notified_at_ms.is_some()).count();
        let mut delays: Vec<f64> = critical.iter().filter_map(|o| o.minutes_to_notification()).collect();
        let mut warnings: Vec<f64> = required
            .iter()
            .filter(|o| matches!(o.event.kind, EventKind::Sepsis | EventKind::Hypoxia))
            .filter_map(|o| o.early_warning_minutes())
            .collect();
        let false_patient = notices
            .iter()
            .filter(|n| n.entity == EntityKind::Patient && n.cause != Cause::True && n.full_priority_at_ms.is_some())
            .count();
        Self {
            true_events: required.len(),
            true_events_notified: notified(&required.iter().collect::<Vec<_>>()),
            critical_events: critical.len(),
            critical_events_notified: notified(&critical),
            median_minutes_to_notification: median(&mut delays),
            median_early_warning_minutes: median(&mut warnings),
            false_per_patient_day: false_patient as f64 / patient_days,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn event(id: u64, kind: EventKind, news2_5: Option<i64>, critical: Option<i64>) -> TrueEvent {
        TrueEvent {
            seed: 1,
            id,
            kind,
            start_ms: 0,
            end_ms: 60 * MIN,
            news2_5_at_ms: news2_5.map(|m| m * MIN),
            critical_at_ms: critical.map(|m| m * MIN),
        }
    }

    fn notice(event_id: Option<u64>, cause: Cause, at_min: Option<i64>) -> Notice {
        Notice { seed: 1, entity: EntityKind::Patient, cause, event_id, full_priority_at_ms: at_min.map(|m| m * MIN) }
    }

    #[test]
    fn an_event_is_notified_by_its_earliest_full_priority_alert_and_warned_before_its_trigger() {
        let events = [event(1, EventKind::Sepsis, Some(90), Some(120)), event(2, EventKind::Hypoxia, None, Some(20))];
        let notices = [
            notice(Some(1), Cause::True, Some(100)),
            notice(Some(1), Cause::True, Some(70)),
            notice(Some(1), Cause::True, None),
            notice(Some(2), Cause::Artifact, Some(5)),
            notice(Some(2), Cause::True, Some(25)),
        ];
        let o = outcomes(&events, &notices);
        assert_eq!(o[0].notified_at_ms, Some(70 * MIN));
        assert_eq!(o[0].early_warning_minutes(), Some(20.0));
        // An artifact on the same patient is not a notification of the deterioration.
        assert_eq!(o[1].notified_at_ms, Some(25 * MIN));
        assert_eq!(o[1].early_warning_minutes(), Some(-5.0));
        assert_eq!(o[1].minutes_to_notification(), Some(25.0));
    }

    #[test]
    fn mild_episodes_are_not_required_infrastructure_incidents_always_are_and_false_ones_count_per_patient_day() {
        let events = [
            event(1, EventKind::Hypotension, None, None),
            event(2, EventKind::Hypoxia, Some(10), Some(15)),
            event(3, EventKind::Ddos, None, None),
            event(4, EventKind::Sepsis, Some(30), None),
        ];
        let mut notices = vec![notice(Some(2), Cause::True, Some(12)), notice(Some(4), Cause::True, Some(20))];
        notices.push(notice(None, Cause::Unattributed, Some(1)));
        notices.push(notice(Some(9), Cause::Artifact, Some(2)));
        notices.push(notice(Some(9), Cause::Artifact, None));
        let f = EventFigures::of(&outcomes(&events, &notices), &notices, 2.0);
        assert_eq!((f.true_events, f.true_events_notified), (3, 2), "{f:?}");
        assert_eq!((f.critical_events, f.critical_events_notified), (1, 1), "{f:?}");
        assert_eq!(f.median_minutes_to_notification, 12.0);
        // Hypoxia warned 10 − 12 = −2 min, sepsis 30 − 20 = 10 min.
        assert_eq!(f.median_early_warning_minutes, 4.0);
        assert_eq!(f.false_per_patient_day, 1.0);
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }
}
