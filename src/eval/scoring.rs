//! The evaluation's second pass: a seed's firings scored as the sidecar scores them.
//!
//! The seed is simulated again and scraped in memory ([`Recorder`]); each firing is scored at
//! the last scrape at or before its `startsAt`, on its entity's last two hours, decided by the
//! policy and attributed to ground truth ([`truth`]). Its entity and focus signal
//! come from its labels and its rule's expression through the sidecar's default targets, as a
//! live alert's do. The recorder's buffers hold two hours, so memory stays bounded whatever the
//! span.

use super::alerting::Firing;
use super::events::TrueEvent;
use super::firings::Span;
use super::rules::RuleSet;
use super::stream::Recorder;
use super::truth::{self, Cause};
use super::{AlertRecord, SecondLook};
use crate::eval::training::WINDOW_MS;
use crate::rescore::policy::{Decision, Policy};
use crate::rescore::score::{EntityKind, Scorer, Subject};
use crate::rescore::targets::{Resolved, Targets, TargetsConfig};
use crate::sim::events::{EventClass, GroundTruth};
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// Scored alerts of a seed, and the firings that could not be scored, by rule.
#[derive(Debug, Clone, Default)]
pub struct Scored {
    /// One record per counted firing scored.
    pub records: Vec<AlertRecord>,
    /// Firings of the warm-up, scored but not counted.
    pub warm_up: Vec<AlertRecord>,
    /// Counted firings whose labels name no entity the simulation has (e.g. aggregated away).
    pub unscored: BTreeMap<String, usize>,
}

/// One pass over a seed: each rule set's firings scored, and the true events of the counted span.
#[derive(Debug, Clone, Default)]
pub struct Pass {
    /// One per rule set, in the order given.
    pub scored: Vec<Scored>,
    /// The events that began in the counted span, with the moments their true vitals crossed
    /// the clinical triggers, in order of id.
    pub events: Vec<TrueEvent>,
    /// The seed's whole ground truth.
    pub truth: Vec<GroundTruth>,
}

/// A Prometheus `generatorURL` for an expression, from which the sidecar reads the expression.
pub fn generator_url(expr: &str) -> String {
    let query = serde_urlencoded::to_string([("g0.expr", expr), ("g0.tab", "1")]).unwrap_or_default();
    format!("/graph?{query}")
}

/// Score each rule set's `firings` (in order of `startsAt`) that start at or after
/// `count_from_ms`, on one second pass of `seed` over `span`, and follow the true events that
/// begin from then on.
pub fn score(
    seed: u64,
    span: Span,
    count_from_ms: i64,
    sets: &[(&[Firing], &RuleSet)],
    scorer: &Scorer,
    policy: &Policy,
) -> Pass {
    let targets = Targets::new(&TargetsConfig::default()).expect("the embedded default targets are valid");
    let urls: Vec<Vec<String>> =
        sets.iter().map(|(_, rules)| rules.alerts.iter().map(|r| generator_url(&r.expr)).collect()).collect();
    let mut rec = Recorder::new(seed, span.start_ms, span.step_ms, WINDOW_MS);
    let mut due: Vec<_> = sets.iter().map(|(firings, _)| firings.iter().peekable()).collect();
    let mut pass = Pass { scored: vec![Scored::default(); sets.len()], ..Pass::default() };
    let mut tracker = Tracker::new(seed, count_from_ms, span.end_ms());
    // Per set, the downgraded alerts still firing at their re-escalation time, in order of it.
    let mut rechecks: Vec<VecDeque<PendingRecheck>> = vec![VecDeque::new(); sets.len()];
    for _ in 0..span.steps {
        rec.advance();
        tracker.observe(&rec);
        let next = rec.now_ms() + span.step_ms;
        for (set, due) in due.iter_mut().enumerate() {
            let scored = &mut pass.scored[set];
            while let Some(r) = rechecks[set].pop_front_if(|r| r.due_ms < next) {
                let window = rec.window(r.entity, WINDOW_MS);
                let assessment = scorer.assess(&r.subject, &window);
                let record = if r.counted { &mut scored.records[r.index] } else { &mut scored.warm_up[r.index] };
                let firing_for = Duration::from_millis((r.due_ms - record.starts_at_ms).max(0) as u64);
                let recheck = policy.recheck(&r.subject, &assessment, firing_for);
                record.second_look = Some(if recheck.technical {
                    SecondLook::TechnicalNotice
                } else if recheck.stays_downgraded() {
                    SecondLook::StaysDowngraded
                } else {
                    SecondLook::FullPriority
                });
            }
            while let Some(f) = due.next_if(|f| f.starts_at_ms < next) {
                let target = targets.resolve(&f.labels, &urls[set][f.rule]);
                let counted = f.starts_at_ms >= count_from_ms;
                let Some((a, entity, subject)) =
                    target.and_then(|t| fire(&rec, f, &t, seed, scorer, policy, span.end_ms()))
                else {
                    if counted {
                        *scored.unscored.entry(f.alertname.clone()).or_default() += 1;
                    }
                    continue;
                };
                let list = if counted { &mut scored.records } else { &mut scored.warm_up };
                if a.decision == Decision::Downgrade && a.still_firing_at_reescalation {
                    let due_ms = a.reescalated_at_ms;
                    rechecks[set].push_back(PendingRecheck { counted, index: list.len(), due_ms, entity, subject });
                }
                list.push(a);
            }
        }
    }
    pass.events = tracker.events.into_values().collect();
    pass.truth = rec.truth;
    pass
}

/// Follows every event from its start: for deteriorations, the first moments the patient's true
/// vitals reached NEWS2 ≥ 5, and NEWS2 ≥ 7 or a parameter scoring 3.
struct Tracker {
    seed: u64,
    count_from_ms: i64,
    until_ms: i64,
    events: BTreeMap<u64, TrueEvent>,
}

impl Tracker {
    fn new(seed: u64, count_from_ms: i64, until_ms: i64) -> Self {
        Self { seed, count_from_ms, until_ms, events: BTreeMap::new() }
    }

    fn observe(&mut self, rec: &Recorder) {
        let now = rec.now_ms();
        for g in &rec.truth {
            let (start, end) = (g.start.timestamp_millis(), g.end.timestamp_millis());
            if start < self.count_from_ms || start > now {
                continue;
            }
            let event = self.events.entry(g.id).or_insert_with(|| TrueEvent {
                seed: self.seed,
                id: g.id,
                key: g.entity.get("patient").cloned().unwrap_or_default(),
                kind: g.kind,
                start_ms: start,
                end_ms: end,
                news2_5_at_ms: None,
                critical_at_ms: None,
                monitor_trigger_at_ms: None,
                observed_until_ms: self.until_ms,
            });
            let followed = event.critical_at_ms.is_some() && event.monitor_trigger_at_ms.is_some();
            if g.class != EventClass::Deterioration || now > end || followed {
                continue;
            }
            let id = g.entity.get("patient").map(String::as_str);
            let Some(patient) = rec.simulation().patients.iter().find(|p| Some(p.id.as_str()) == id) else {
                continue;
            };
            let news2 = patient.true_news2();
            if news2.total() >= 5 && event.news2_5_at_ms.is_none() {
                event.news2_5_at_ms = Some(now);
            }
            if (news2.total() >= 7 || news2.parameters.contains(&3)) && event.critical_at_ms.is_none() {
                event.critical_at_ms = Some(now);
            }
            let shown = &patient.readings.news2;
            if (shown.total() >= 5 || shown.parameters.contains(&3)) && event.monitor_trigger_at_ms.is_none() {
                event.monitor_trigger_at_ms = Some(now);
            }
        }
    }
}

/// A downgraded alert to look at again at its re-escalation time.
#[derive(Debug, Clone)]
struct PendingRecheck {
    /// In the counted records, or the warm-up's.
    counted: bool,
    /// Its index there.
    index: usize,
    /// Its re-escalation time, Unix ms.
    due_ms: i64,
    /// Its entity in the recorder.
    entity: usize,
    subject: Subject,
}

/// Score, decide and attribute one firing on the recorder's window of its entity now: the
/// record, with the entity's index in the recorder and the alert's subject.
fn fire(
    rec: &Recorder,
    firing: &Firing,
    target: &Resolved,
    seed: u64,
    scorer: &Scorer,
    policy: &Policy,
    end_ms: i64,
) -> Option<(AlertRecord, usize, Subject)> {
    let key = match target.entity {
        EntityKind::Cluster => "cluster",
        _ => target.key_labels.first()?.1.as_str(),
    };
    let e = rec.entity(target.entity, key)?;
    let entity = &rec.entities[e];
    let subject = Subject {
        alertname: firing.alertname.clone(),
        severity: firing.severity.clone(),
        entity: entity.kind,
        focus: target.focus.clone(),
    };
    let window = rec.window(e, WINDOW_MS);
    let t0 = Instant::now();
    let assessment = scorer.assess(&subject, &window);
    let verdict = policy.decide(&subject, &assessment, Duration::ZERO);
    let cost_ns = t0.elapsed().as_nanos() as u64;
    let at = firing.starts_at_ms;
    let focus = target.focus.as_deref().unwrap_or("");
    let (cause, event) = truth::attribute(&rec.truth, entity.kind, &entity.key, focus, at);
    let masked = match cause {
        Cause::Artifact => truth::masked_deterioration(&rec.truth, entity.kind, &entity.key, focus, at),
        _ => None,
    };
    // Firing when the sidecar looks again: `ALERTS` then shows the last evaluation before.
    let reescalation = at + policy.reescalate_after.as_millis() as i64;
    let still_firing = firing.ends_at_ms.map_or(reescalation <= end_ms, |end| end > reescalation);
    let record = AlertRecord {
        seed,
        rule: firing.alertname.clone(),
        severity: firing.severity.clone(),
        entity: entity.kind,
        key: entity.key.clone(),
        starts_at_ms: at,
        ends_at_ms: firing.ends_at_ms,
        cause,
        event: event.map(|e| e.kind),
        event_id: event.map(|e| e.id),
        masked_event_id: masked.map(|e| e.id),
        score: assessment.score,
        artifact: assessment.artifact,
        decision: verdict.decision,
        still_firing_at_reescalation: still_firing,
        reescalated_at_ms: reescalation,
        second_look: None,
        cost_ns,
        top_reason: verdict.reasons.iter().map(|r| r.text.as_str()).collect::<Vec<_>>().join("; "),
    };
    Some((record, e, subject))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generator_url_gives_the_sidecar_the_expression_back() {
        let expr = "wardwatch_patient_spo2_ratio < 0.90 and on (patient) x{a=\"b c\"} > 1";
        let url = generator_url(expr);
        assert_eq!(crate::prometheus::expression_from_generator_url(&url).as_deref(), Some(expr));
    }

    #[test]
    fn firings_are_scored_on_their_entity_and_signal_and_those_naming_none_are_counted() {
        let set = super::super::rules::parse(
            &[(
                "t.yml".into(),
                "groups:\n  - name: g\n    rules:\n      - alert: HypoxiaDetected\n        expr: wardwatch_patient_spo2_ratio < 0.9\n        labels: {severity: critical}\n"
                    .into(),
            )],
            5_000,
        )
        .unwrap();
        let span = Span { start_ms: 1_767_571_200_000, step_ms: 5_000, steps: 40 };
        let at = span.start_ms + 30 * 5_000;
        let firing = |patient: &str| Firing {
            rule: 0,
            alertname: "HypoxiaDetected".into(),
            severity: "critical".into(),
            labels: [("alertname", "HypoxiaDetected"), ("severity", "critical"), ("patient", patient)]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            active_at_ms: at - 10_000,
            starts_at_ms: at,
            ends_at_ms: Some(at + 400_000),
        };
        let scorer = Scorer::without_models();
        let early = Firing { starts_at_ms: span.start_ms + 5_000, ..firing("p00001") };
        let fs = [early, firing("p00001"), firing("nobody")];
        let pass = score(7, span, span.start_ms + 10_000, &[(&fs, &set)], &scorer, &Policy::default());
        let s = &pass.scored[0];
        assert_eq!(s.records.len(), 1, "the early firing is not counted");
        assert_eq!(s.warm_up.len(), 1, "but followed");
        let r = &s.records[0];
        assert_eq!((r.rule.as_str(), r.entity, r.starts_at_ms), ("HypoxiaDetected", EntityKind::Patient, at));
        assert!(r.still_firing_at_reescalation, "it ends after five minutes");
        assert_eq!(s.unscored.get("HypoxiaDetected"), Some(&1));
    }
}
