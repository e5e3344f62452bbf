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
use super::{AlertRecord, Evaluated};
use crate::rescore::policy::Decision;
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
    /// The patient, for a deterioration (empty otherwise).
    pub key: String,
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
    /// First moment the monitor's NEWS2 (its readings, which the rules see: a ward's cuff
    /// pressure is an hour old at worst) reached 5 or a parameter scored 3, Unix ms.
    pub monitor_trigger_at_ms: Option<i64>,
    /// The end of the evaluated span, Unix ms.
    pub observed_until_ms: i64,
}

/// How long before the span's end a deterioration must reach its trigger to be judged: the
/// slowest confirmation of a critical rule (2 min) and the re-escalation delay (5 min), twice.
pub const JUDGING_MARGIN_MS: i64 = 15 * 60_000;

impl TrueEvent {
    /// Whether the event is a patient deterioration.
    pub fn clinical(&self) -> bool {
        self.kind.class() == EventClass::Deterioration
    }

    /// The moment the event must be notified by (patients), or its start (infrastructure); `None`
    /// for a mild deterioration that never reached a trigger, for a sensor artifact (not an
    /// event of the patient's), and for an event the span does not show enough of to judge
    /// ([`TrueEvent::in_progress_at_end`]).
    pub fn required_at_ms(&self) -> Option<i64> {
        if self.in_progress_at_end() {
            return None;
        }
        self.due_ms()
    }

    /// The moment the event would be due, judged or not.
    fn due_ms(&self) -> Option<i64> {
        match self.kind.class() {
            EventClass::Deterioration => match (self.news2_5_at_ms, self.critical_at_ms) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            EventClass::Network | EventClass::Cluster => Some(self.start_ms),
            EventClass::Artifact => None,
        }
    }

    /// An incident still going on when the span ends, or a deterioration that reached its
    /// trigger less than [`JUDGING_MARGIN_MS`] before: what its alerts would have done is not
    /// seen, so it is not judged either way.
    pub fn in_progress_at_end(&self) -> bool {
        match self.kind.class() {
            EventClass::Deterioration => self.due_ms().is_some_and(|t| t + JUDGING_MARGIN_MS > self.observed_until_ms),
            EventClass::Network | EventClass::Cluster => self.end_ms > self.observed_until_ms,
            EventClass::Artifact => false,
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
    /// The entity.
    pub key: String,
    /// Whether it fired in the counted span (warm-up alerts only show who was already alarming).
    pub counted: bool,
    /// When it resolved, Unix ms; `None` if still firing at the span's end.
    pub until_ms: Option<i64>,
    /// Its ground truth.
    pub cause: Cause,
    /// The event behind it, if any (its id in the seed's ground truth).
    pub event_id: Option<u64>,
    /// The deterioration under way on the same signal when an artifact caused it.
    pub masked_event_id: Option<u64>,
    /// When it reached someone at full priority, Unix ms; `None` if it never did.
    pub full_priority_at_ms: Option<i64>,
}

impl Notice {
    /// An alert the sidecar rescored: at full priority at once when kept or escalated, at the
    /// re-escalation delay when downgraded, still firing then and no longer like an artifact,
    /// never otherwise (a technical notice is not a full-priority clinical notification).
    pub fn rescored(r: &AlertRecord, counted: bool) -> Self {
        let full_priority_at_ms = match r.decision {
            Decision::Keep | Decision::Escalate => Some(r.starts_at_ms),
            Decision::Downgrade => r.reescalated().then_some(r.reescalated_at_ms),
        };
        Self { full_priority_at_ms, ..Self::as_fired(r, counted) }
    }

    /// An alert delivered as it fired (the baseline): at full priority at its `startsAt`.
    pub fn as_fired(r: &AlertRecord, counted: bool) -> Self {
        Self {
            seed: r.seed,
            entity: r.entity,
            key: r.key.clone(),
            counted,
            until_ms: r.ends_at_ms,
            cause: r.cause,
            event_id: r.event_id,
            masked_event_id: r.masked_event_id,
            full_priority_at_ms: Some(r.starts_at_ms),
        }
    }

    /// Every notice of one system: wardwatch's rescored alerts, or the baseline's as fired.
    pub fn all(counted: &[AlertRecord], warm_up: &[AlertRecord], rescored: bool) -> Vec<Self> {
        let of = if rescored { Self::rescored } else { Self::as_fired };
        counted.iter().map(|r| of(r, true)).chain(warm_up.iter().map(|r| of(r, false))).collect()
    }

    /// Whether this is a full-priority alert on `key` that is not an artifact's, sent by `at_ms`
    /// and still firing then: the patient already had someone's attention.
    fn covers(&self, seed: u64, key: &str, at_ms: i64) -> bool {
        self.seed == seed
            && self.entity == EntityKind::Patient
            && self.key == key
            && self.cause != Cause::Artifact
            && self.full_priority_at_ms.is_some_and(|t| t <= at_ms)
            && self.until_ms.is_none_or(|end| end > at_ms)
    }
}

/// What became of one true event.
#[derive(Debug, Clone, PartialEq)]
pub struct EventOutcome {
    /// The event.
    pub event: TrueEvent,
    /// The first full-priority notification of it, Unix ms.
    pub notified_at_ms: Option<i64>,
    /// Notified because a full-priority alert on the patient was already firing when the event
    /// reached its trigger (then `notified_at_ms` is that moment).
    pub already_alarming: bool,
    /// Notified only by an alert an artifact caused on the patient after the event reached its
    /// trigger.
    pub through_artifact: bool,
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

    /// The same before the monitor's readings reached a trigger.
    pub fn early_warning_on_monitor_minutes(&self) -> Option<f64> {
        self.event.required_at_ms()?;
        Some((self.event.monitor_trigger_at_ms? - self.notified_at_ms?) as f64 / 60_000.0)
    }
}

/// Each event with its first full-priority notification among `notices`: the first attributed
/// to it, or, for a deterioration, the moment it reached its trigger if a full-priority alert
/// on the patient (not an artifact's) was firing then — a patient already alarming at NEWS2 ≥ 7
/// raises no new alert when a second problem begins, and needs none.
pub fn outcomes(events: &[TrueEvent], notices: &[Notice]) -> Vec<EventOutcome> {
    let mut first: HashMap<(u64, u64), i64> = HashMap::new();
    for n in notices.iter().filter(|n| n.cause == Cause::True) {
        if let (Some(id), Some(at)) = (n.event_id, n.full_priority_at_ms) {
            first.entry((n.seed, id)).and_modify(|t| *t = (*t).min(at)).or_insert(at);
        }
    }
    // An alert an artifact caused on a signal the deterioration acts on, once the patient's true
    // vitals had reached the trigger, notifies it too: a full-priority alarm brought someone to a
    // patient who needed them then. Before the trigger it tells nothing of the deterioration.
    let mut masked: HashMap<(u64, u64), Vec<i64>> = HashMap::new();
    for n in notices.iter().filter(|n| n.cause == Cause::Artifact) {
        if let (Some(id), Some(at)) = (n.masked_event_id, n.full_priority_at_ms) {
            masked.entry((n.seed, id)).or_default().push(at);
        }
    }
    let mut by_patient: HashMap<(u64, &str), Vec<&Notice>> = HashMap::new();
    for n in notices.iter().filter(|n| n.entity == EntityKind::Patient) {
        by_patient.entry((n.seed, n.key.as_str())).or_default().push(n);
    }
    events
        .iter()
        .map(|e| {
            let due = e.required_at_ms().filter(|_| e.clinical());
            let during = due.and_then(|d| masked.get(&(e.seed, e.id))?.iter().copied().filter(|&t| t >= d).min());
            let own = first.get(&(e.seed, e.id)).copied();
            let attributed = match (own, during) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let covered = due.filter(|&at| {
                by_patient
                    .get(&(e.seed, e.key.as_str()))
                    .is_some_and(|ns| ns.iter().any(|n| n.covers(e.seed, &e.key, at)))
            });
            let through_artifact = own.is_none() && covered.is_none() && during.is_some();
            let outcome = |notified_at_ms, already_alarming| EventOutcome {
                event: e.clone(),
                notified_at_ms,
                already_alarming,
                through_artifact,
            };
            match (attributed, covered) {
                (Some(a), Some(c)) if c < a => outcome(Some(c), true),
                (None, Some(c)) => outcome(Some(c), true),
                (a, _) => outcome(a, false),
            }
        })
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
    /// The same against the moment the monitor's readings reached NEWS2 ≥ 5 or a parameter
    /// scoring 3: the part of the lateness that intermittent observation does not explain.
    pub median_early_warning_on_monitor_minutes: f64,
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
        let warned = || required.iter().filter(|o| matches!(o.event.kind, EventKind::Sepsis | EventKind::Hypoxia));
        let mut warnings: Vec<f64> = warned().filter_map(|o| o.early_warning_minutes()).collect();
        let mut on_monitor: Vec<f64> = warned().filter_map(|o| o.early_warning_on_monitor_minutes()).collect();
        let false_patient = notices
            .iter()
            .filter(|n| n.counted && n.entity == EntityKind::Patient && n.cause != Cause::True)
            .filter(|n| n.full_priority_at_ms.is_some())
            .count();
        Self {
            true_events: required.len(),
            true_events_notified: notified(&required.iter().collect::<Vec<_>>()),
            critical_events: critical.len(),
            critical_events_notified: notified(&critical),
            median_minutes_to_notification: median(&mut delays),
            median_early_warning_minutes: median(&mut warnings),
            median_early_warning_on_monitor_minutes: median(&mut on_monitor),
            false_per_patient_day: false_patient as f64 / patient_days,
        }
    }
}

/// The event figures of an evaluation, wardwatch beside the baseline (`eval --json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// First seed.
    pub first_seed: u64,
    /// Seeds evaluated.
    pub seeds: u64,
    /// Counted hours per seed.
    pub hours: f64,
    /// Patients × counted days.
    pub patient_days: f64,
    /// The repository's rules, rescored by the sidecar.
    pub wardwatch: EventFigures,
    /// The plain threshold rules, delivered as fired.
    pub baseline: EventFigures,
    /// Of wardwatch's false full-priority patient notifications per patient-day, those that
    /// came from re-escalating a downgraded alert still firing and no longer like an artifact.
    pub wardwatch_false_reescalated_per_patient_day: f64,
    /// Technical notices per patient-day: downgraded patient alerts still firing at the
    /// re-escalation delay and still a likely artifact ("check the sensor"), whatever their cause.
    pub technical_notices_per_patient_day: f64,
    /// Of those technical notices, the ones whose alert had a true event behind it.
    pub technical_notices_on_true_events: usize,
    /// Of the true events wardwatch notified, those whose patient was already alarming.
    pub already_alarming: usize,
    /// Of the true events wardwatch notified, those notified only by an alert an artifact caused
    /// while the deterioration was under way on the same signal.
    pub notified_through_artifact: usize,
    /// Events not judged: still in progress when the span ended.
    pub in_progress_at_end: usize,
    /// Alerts of wardwatch's rules caused by a sensor artifact.
    pub artifact_alerts: usize,
    /// Of them, downgraded at their first decision.
    pub artifact_alerts_downgraded: usize,
}

impl Summary {
    /// The summary of wardwatch's `records`, the baseline's and the `events` of `seeds` × `hours`.
    pub fn of((first_seed, seeds, hours): (u64, u64, f64), patient_days: f64, all: &Evaluated) -> Self {
        let (records, events) = (&all.records, &all.events);
        let ours = Notice::all(records, &all.warm_up, true);
        let theirs = Notice::all(&all.baseline, &all.baseline_warm_up, false);
        let reescalated_false = records
            .iter()
            .filter(|r| r.entity == EntityKind::Patient && r.cause != Cause::True)
            .filter(|r| r.reescalated())
            .count();
        let technical: Vec<_> =
            records.iter().filter(|r| r.entity == EntityKind::Patient && r.technical_notice()).collect();
        let artifacts: Vec<_> = records.iter().filter(|r| r.cause == Cause::Artifact).collect();
        let our_outcomes = outcomes(events, &ours);
        let notified_through_artifact =
            our_outcomes.iter().filter(|o| o.event.required() && o.through_artifact).count();
        Self {
            first_seed,
            seeds,
            hours,
            patient_days,
            wardwatch: EventFigures::of(&our_outcomes, &ours, patient_days),
            in_progress_at_end: events.iter().filter(|e| e.in_progress_at_end()).count(),
            already_alarming: our_outcomes.iter().filter(|o| o.event.required() && o.already_alarming).count(),
            notified_through_artifact,
            baseline: EventFigures::of(&outcomes(events, &theirs), &theirs, patient_days),
            wardwatch_false_reescalated_per_patient_day: reescalated_false as f64 / patient_days,
            technical_notices_per_patient_day: technical.len() as f64 / patient_days,
            technical_notices_on_true_events: technical.iter().filter(|r| r.cause == Cause::True).count(),
            artifact_alerts: artifacts.len(),
            artifact_alerts_downgraded: artifacts.iter().filter(|r| r.decision == Decision::Downgrade).count(),
        }
    }
}

/// Print the figures by event: per kind, notified by wardwatch and by the baseline, and every
/// required event wardwatch did not notify at full priority.
pub fn write(out: &mut dyn std::io::Write, summary: &Summary, all: &Evaluated) -> std::io::Result<()> {
    let events = &all.events;
    let ours = Notice::all(&all.records, &all.warm_up, true);
    let theirs = Notice::all(&all.baseline, &all.baseline_warm_up, false);
    let (a, b) = (outcomes(events, &ours), outcomes(events, &theirs));
    writeln!(out, "\nevents that had to be notified, by kind (wardwatch | baseline):")?;
    writeln!(
        out,
        "{:<16} {:>6} {:>9} {:>9} {:>11} {:>11} {:>12} {:>12} {:>12}",
        "event", "events", "notified", "baseline", "trigger", "monitor", "notified", "baseline", "warning"
    )?;
    writeln!(
        out,
        "(median minutes from the event's start to: its trigger in the true vitals, in the monitor's readings, the \
         first full-priority notification by wardwatch and by the baseline; wardwatch's early warning, minutes \
         before the trigger)"
    )?;
    let mut kinds: Vec<EventKind> = events.iter().filter(|e| e.required()).map(|e| e.kind).collect();
    kinds.sort_unstable_by_key(|k| k.as_str());
    kinds.dedup();
    for kind in kinds {
        let of = |o: &[EventOutcome]| -> Vec<EventOutcome> {
            o.iter().filter(|o| o.event.kind == kind && o.event.required()).cloned().collect()
        };
        let (ka, kb) = (of(&a), of(&b));
        let notified = |v: &[EventOutcome]| v.iter().filter(|o| o.notified_at_ms.is_some()).count();
        let med =
            |v: &[EventOutcome]| median(&mut v.iter().filter_map(|o| o.minutes_to_notification()).collect::<Vec<_>>());
        let warning = median(&mut ka.iter().filter_map(|o| o.early_warning_minutes()).collect::<Vec<_>>());
        let since_start = |at: fn(&TrueEvent) -> Option<i64>| {
            median(
                &mut ka
                    .iter()
                    .filter_map(|o| Some((at(&o.event)? - o.event.start_ms) as f64 / 60_000.0))
                    .collect::<Vec<_>>(),
            )
        };
        writeln!(
            out,
            "{:<16} {:>6} {:>9} {:>9} {:>11.1} {:>11.1} {:>12.1} {:>12.1} {:>12.1}",
            kind.as_str(),
            ka.len(),
            notified(&ka),
            notified(&kb),
            since_start(|e| e.required_at_ms().filter(|_| e.clinical())),
            since_start(|e| e.monitor_trigger_at_ms),
            med(&ka),
            med(&kb),
            warning
        )?;
    }
    let line = |f: &EventFigures| {
        format!(
            "true events notified {}/{}, critical {}/{}; median time to notification of critical events {:.1} min; \
             median early warning (sepsis, hypoxia) {:.1} min ({:.1} min before the monitor's readings reached the trigger); false full-priority patient notifications {:.2}/patient-day",
            f.true_events_notified,
            f.true_events,
            f.critical_events_notified,
            f.critical_events,
            f.median_minutes_to_notification,
            f.median_early_warning_minutes,
            f.median_early_warning_on_monitor_minutes,
            f.false_per_patient_day
        )
    };
    writeln!(out, "\nby event, {:.1} patient-days:", summary.patient_days)?;
    writeln!(out, "  wardwatch: {}", line(&summary.wardwatch))?;
    writeln!(out, "  baseline:  {}", line(&summary.baseline))?;
    writeln!(
        out,
        "  of wardwatch's false full-priority notifications, {:.2}/patient-day re-escalated after the \
         re-escalation delay; technical notices (a sensor still off then) {:.2}/patient-day, {} of them on a true \
         event; {} events notified by an alert already firing on the patient, {} only by an alert an artifact \
         caused during the deterioration; {} events still in progress at the end, not judged; artifact alerts \
         downgraded {}/{}",
        summary.wardwatch_false_reescalated_per_patient_day,
        summary.technical_notices_per_patient_day,
        summary.technical_notices_on_true_events,
        summary.already_alarming,
        summary.notified_through_artifact,
        summary.in_progress_at_end,
        summary.artifact_alerts_downgraded,
        summary.artifact_alerts
    )?;
    let mut later = Vec::new();
    let mut earlier = Vec::new();
    for (x, y) in a.iter().zip(&b).filter(|(x, _)| x.event.critical()) {
        if let (Some(t), Some(u)) = (x.notified_at_ms, y.notified_at_ms) {
            let minutes = (t - u) as f64 / 60_000.0;
            if minutes > 0.0 {
                later.push((minutes, x));
            } else if minutes < 0.0 {
                earlier.push(-minutes);
            }
        }
    }
    let mut late: Vec<f64> = later.iter().map(|(m, _)| *m).collect();
    writeln!(
        out,
        "  critical events wardwatch notified later than the baseline: {} (median {:.1} min later); earlier: {} \
         (median {:.1} min earlier)",
        later.len(),
        median(&mut late),
        earlier.len(),
        median(&mut earlier)
    )?;
    later.sort_by(|x, y| y.0.total_cmp(&x.0));
    for (minutes, o) in later.iter().take(5) {
        let e = &o.event;
        writeln!(out, "    {:.1} min later: seed {} event {} {} of {}", minutes, e.seed, e.id, e.kind.as_str(), e.key)?;
    }
    for o in a.iter().filter(|o| o.event.required() && o.notified_at_ms.is_none()) {
        let e = &o.event;
        writeln!(
            out,
            "  not notified at full priority: seed {} event {} {} of {} ({} min, NEWS2 ≥ 5 at {}, critical at {}, \
             on the monitor at {})",
            e.seed,
            e.id,
            e.kind.as_str(),
            e.key,
            (e.end_ms - e.start_ms) / 60_000,
            minutes_in(e, e.news2_5_at_ms),
            minutes_in(e, e.critical_at_ms),
            minutes_in(e, e.monitor_trigger_at_ms)
        )?;
    }
    Ok(())
}

/// A moment as minutes into its event, or "never".
fn minutes_in(e: &TrueEvent, at: Option<i64>) -> String {
    at.map_or_else(|| "never".to_string(), |t| format!("+{:.1} min", (t - e.start_ms) as f64 / 60_000.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn event(id: u64, kind: EventKind, news2_5: Option<i64>, critical: Option<i64>) -> TrueEvent {
        TrueEvent {
            seed: 1,
            id,
            key: "p1".into(),
            kind,
            start_ms: 0,
            end_ms: 60 * MIN,
            news2_5_at_ms: news2_5.map(|m| m * MIN),
            critical_at_ms: critical.map(|m| m * MIN),
            monitor_trigger_at_ms: None,
            observed_until_ms: 24 * 60 * MIN,
        }
    }

    fn notice(event_id: Option<u64>, cause: Cause, at_min: Option<i64>) -> Notice {
        Notice {
            seed: 1,
            entity: EntityKind::Patient,
            key: "p2".into(),
            counted: true,
            until_ms: at_min.map(|m| (m + 1) * MIN),
            cause,
            event_id,
            masked_event_id: None,
            full_priority_at_ms: at_min.map(|m| m * MIN),
        }
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
        // An artifact on a signal the deterioration acts on notifies it once the patient's true
        // vitals reached the trigger (20 min), not before.
        let masked = |at| Notice { masked_event_id: Some(2), ..notice(Some(9), Cause::Artifact, Some(at)) };
        let o = outcomes(&events, &[notices.as_slice(), &[masked(15), masked(22)]].concat());
        assert_eq!(o[1].notified_at_ms, Some(22 * MIN));
        assert!(!o[1].through_artifact, "its own alert notified it too (at 25 min)");
        let o = outcomes(&events, &[&notices[..1], &[masked(22)]].concat());
        assert_eq!((o[1].notified_at_ms, o[1].through_artifact), (Some(22 * MIN), true), "only the artifact's alert");
        assert!(!o[0].through_artifact);
    }

    #[test]
    fn mild_episodes_are_not_required_infrastructure_incidents_always_are_and_false_ones_count_per_patient_day() {
        let events = [
            event(1, EventKind::Hypotension, None, None),
            event(2, EventKind::Hypoxia, Some(10), Some(15)),
            event(3, EventKind::Ddos, None, None),
            event(4, EventKind::Sepsis, Some(30), None),
            event(5, EventKind::EcgLeadOff, None, None),
        ];
        let mut notices = vec![notice(Some(2), Cause::True, Some(12)), notice(Some(4), Cause::True, Some(20))];
        notices.push(notice(None, Cause::Unattributed, Some(1)));
        notices.push(notice(Some(9), Cause::Artifact, Some(2)));
        notices.push(notice(Some(9), Cause::Artifact, None));
        let f = EventFigures::of(&outcomes(&events, &notices), &notices, 2.0);
        assert_eq!((f.true_events, f.true_events_notified), (3, 2), "a sensor artifact is no event: {f:?}");
        assert_eq!((f.critical_events, f.critical_events_notified), (1, 1), "{f:?}");
        assert_eq!(f.median_minutes_to_notification, 12.0);
        // Hypoxia warned 10 − 12 = −2 min, sepsis 30 − 20 = 10 min.
        assert_eq!(f.median_early_warning_minutes, 4.0);
        assert_eq!(f.false_per_patient_day, 1.0);
    }

    #[test]
    fn a_patient_already_alarming_when_an_event_reaches_its_trigger_is_notified_then() {
        let events = [event(1, EventKind::Hypotension, None, Some(20)), event(2, EventKind::Sepsis, Some(40), None)];
        let on_p1 = |cause, from: i64, until: i64, counted| Notice {
            key: "p1".into(),
            counted,
            until_ms: Some(until * MIN),
            ..notice(None, cause, Some(from))
        };
        // Unattributed and fired in the warm-up, still firing at 20 min; an artifact's at 35–45.
        let notices = [on_p1(Cause::Unattributed, 5, 30, false), on_p1(Cause::Artifact, 35, 45, true)];
        let o = outcomes(&events, &notices);
        assert_eq!((o[0].notified_at_ms, o[0].already_alarming), (Some(20 * MIN), true));
        assert_eq!(o[1].notified_at_ms, None, "an artifact's alarm is no one's attention on the patient");
        let f = EventFigures::of(&o, &notices, 1.0);
        assert_eq!(f.false_per_patient_day, 1.0, "the warm-up alert is not counted as false");
    }

    #[test]
    fn events_the_span_ends_on_are_not_judged() {
        let until = 24 * 60 * MIN;
        let late = |kind, critical_min: Option<i64>, end_min: i64| TrueEvent {
            start_ms: until - 60 * MIN,
            end_ms: end_min * MIN,
            ..event(1, kind, None, critical_min)
        };
        let ddos_over = late(EventKind::Ddos, None, 24 * 60 - 1);
        let ddos_going = late(EventKind::Ddos, None, 24 * 60 + 30);
        let hypoxia_early = late(EventKind::Hypoxia, Some(24 * 60 - 20), 24 * 60 + 5);
        let hypoxia_late = late(EventKind::Hypoxia, Some(24 * 60 - 5), 24 * 60 + 5);
        assert!(ddos_over.required() && !ddos_over.in_progress_at_end());
        assert!(!ddos_going.required() && ddos_going.in_progress_at_end());
        assert!(hypoxia_early.required());
        assert!(!hypoxia_late.required() && hypoxia_late.in_progress_at_end());
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }
}
