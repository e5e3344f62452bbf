//! Ground truth for an alert: which simulated event, if any, caused it.
//!
//! An alert is caused by an event on the same entity that was active at its `startsAt` or ended
//! at most [`GRACE_MS`] before, and that acts on the alert's signal. An artifact on that signal
//! takes precedence over a deterioration: while a probe is off, the SpO2 shown is the probe's,
//! whatever the patient is doing. Network and cluster incidents are true causes of
//! infrastructure alerts. The deterioration an artifact masks is still told
//! ([`masked_deterioration`]): a full-priority alarm on a patient who really is deteriorating on
//! that signal brings someone to the bedside, whatever the sensor also did.

use crate::rescore::score::EntityKind;
use crate::rescore::window::signal;
use crate::sim::events::{EventClass, EventKind, GroundTruth};

/// How long after an event ends an alert may still be its doing (held readings, `for` delays).
pub const GRACE_MS: i64 = 10 * 60_000;

/// What caused an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cause {
    /// Real deterioration, or a real network or cluster incident.
    True,
    /// A sensor artifact.
    Artifact,
    /// No event: natural variation crossing a threshold.
    Unattributed,
}

impl Cause {
    /// Column heading.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::True => "true",
            Cause::Artifact => "artifact",
            Cause::Unattributed => "unattributed",
        }
    }
}

/// Whether an event kind acts on a patient signal as the monitor shows it.
fn acts_on(kind: EventKind, focus: &str) -> bool {
    use signal::*;
    use EventKind::*;
    if focus == NEWS2 {
        return true;
    }
    match kind {
        Sepsis => true,
        // Severe hypoxaemia (SpO2 under 80%) and hypoglycaemia (under 2.8 mmol/L) confuse.
        Hypoxia => [SPO2, RESPIRATION_RATE, HEART_RATE, PULSE_RATE, ETCO2, CONSCIOUSNESS].contains(&focus),
        Tachyarrhythmia => [HEART_RATE, PULSE_RATE, SYSTOLIC, DIASTOLIC, MEAN_PRESSURE].contains(&focus),
        Hypotension => [SYSTOLIC, DIASTOLIC, MEAN_PRESSURE, HEART_RATE, PULSE_RATE, LACTATE].contains(&focus),
        Hypoglycaemia => [GLUCOSE, HEART_RATE, PULSE_RATE, CONSCIOUSNESS].contains(&focus),
        Spo2Motion | Spo2ProbeOff => [SPO2, PULSE_RATE, PLETH_QUALITY].contains(&focus),
        EcgLeadOff => [HEART_RATE, ECG_QUALITY, ST_DEVIATION].contains(&focus),
        BpCuffError => [SYSTOLIC, DIASTOLIC, MEAN_PRESSURE].contains(&focus),
        StuckSensor => focus == TEMPERATURE,
        _ => false,
    }
}

/// The label that names an entity of this kind in the ground truth.
fn entity_label(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Patient => "patient",
        EntityKind::Device => "device",
        EntityKind::Link => "link",
        EntityKind::Node => "node",
        EntityKind::Cluster => "cluster",
    }
}

/// The cause of an alert on entity `key` of `kind`, about `focus`, starting at `at_ms`, and the
/// event behind it.
pub fn attribute<'a>(
    truth: &'a [GroundTruth],
    kind: EntityKind,
    key: &str,
    focus: &str,
    at_ms: i64,
) -> (Cause, Option<&'a GroundTruth>) {
    let label = entity_label(kind);
    let mut best: Option<(Cause, u8, &GroundTruth)> = None;
    for e in truth {
        let (start, end) = (e.start.timestamp_millis(), e.end.timestamp_millis());
        if start > at_ms || end + GRACE_MS < at_ms || e.entity.get(label).map(String::as_str) != Some(key) {
            continue;
        }
        // Artifact first (see the module documentation), then an incident of the kind that
        // moves the alert's signal, then any other event on the entity.
        let (cause, rank) = match e.class {
            EventClass::Artifact if acts_on(e.kind, focus) => (Cause::Artifact, 0),
            EventClass::Deterioration if acts_on(e.kind, focus) => (Cause::True, 2),
            EventClass::Network | EventClass::Cluster if incident_moves(e.kind, focus) => (Cause::True, 1),
            EventClass::Network | EventClass::Cluster => (Cause::True, 2),
            _ => continue,
        };
        if best.is_none_or(|(_, r, _)| rank < r) {
            best = Some((cause, rank, e));
        }
    }
    match best {
        Some((c, _, e)) => (c, Some(e)),
        None => (Cause::Unattributed, None),
    }
}

/// Whether a node incident is what moves `focus`: with a memory leak and a crash loop on one
/// node, the restarts are the loop's (a leak ends in one OOM kill), the memory the leak's.
fn incident_moves(kind: EventKind, focus: &str) -> bool {
    use signal::*;
    match kind {
        EventKind::CrashLoop => [RESTART_RATE, PODS].contains(&focus),
        EventKind::MemoryLeak => focus == MEMORY,
        EventKind::CpuSaturation => focus == CPU,
        EventKind::DiskFill => focus == DISK,
        _ => false,
    }
}

/// A deterioration acting on `focus` of the entity at `at_ms` (as [`attribute`] counts them),
/// whatever artifact may be active on the same signal.
pub fn masked_deterioration<'a>(
    truth: &'a [GroundTruth],
    kind: EntityKind,
    key: &str,
    focus: &str,
    at_ms: i64,
) -> Option<&'a GroundTruth> {
    let label = entity_label(kind);
    truth.iter().find(|e| {
        let (start, end) = (e.start.timestamp_millis(), e.end.timestamp_millis());
        e.class == EventClass::Deterioration
            && start <= at_ms
            && at_ms <= end + GRACE_MS
            && e.entity.get(label).map(String::as_str) == Some(key)
            && acts_on(e.kind, focus)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn event(kind: EventKind, patient: &str, start_s: i64, end_s: i64) -> GroundTruth {
        GroundTruth {
            id: 1,
            kind,
            class: kind.class(),
            start: Utc.timestamp_opt(start_s, 0).unwrap(),
            end: Utc.timestamp_opt(end_s, 0).unwrap(),
            severity: 0.8,
            entity: [("patient".to_string(), patient.to_string())].into_iter().collect(),
        }
    }

    #[test]
    fn an_alert_is_caused_by_an_event_on_its_entity_and_signal() {
        let truth = [event(EventKind::Hypoxia, "p1", 0, 1800), event(EventKind::EcgLeadOff, "p2", 0, 60)];
        assert_eq!(attribute(&truth, EntityKind::Patient, "p1", "spo2", 600_000).0, Cause::True);
        assert_eq!(attribute(&truth, EntityKind::Patient, "p1", "glucose", 600_000).0, Cause::Unattributed);
        assert_eq!(attribute(&truth, EntityKind::Patient, "p2", "heart_rate", 30_000).0, Cause::Artifact);
        assert_eq!(attribute(&truth, EntityKind::Patient, "p3", "spo2", 600_000).0, Cause::Unattributed);
    }

    #[test]
    fn an_artifact_on_the_signal_takes_precedence_and_ended_events_count_for_a_grace() {
        let truth = [event(EventKind::Sepsis, "p1", 0, 36_000), event(EventKind::Spo2ProbeOff, "p1", 100, 200)];
        assert_eq!(attribute(&truth, EntityKind::Patient, "p1", "spo2", 150_000).0, Cause::Artifact);
        assert_eq!(attribute(&truth, EntityKind::Patient, "p1", "spo2", 200_000 + GRACE_MS + 1).0, Cause::True);
    }

    #[test]
    fn of_two_incidents_on_a_node_the_one_that_moves_the_signal_caused_the_alert() {
        let on_node = |kind, id, start_s, end_s| GroundTruth {
            id,
            entity: [("node".to_string(), "node-1".to_string())].into_iter().collect(),
            ..event(kind, "", start_s, end_s)
        };
        let truth = [on_node(EventKind::MemoryLeak, 91, 0, 20_000), on_node(EventKind::CrashLoop, 125, 7_000, 10_000)];
        let cause = |focus| attribute(&truth, EntityKind::Node, "node-1", focus, 7_300_000);
        assert_eq!(cause(signal::RESTART_RATE).1.map(|e| e.id), Some(125), "the restarts are the crash loop's");
        assert_eq!(cause(signal::MEMORY).1.map(|e| e.id), Some(91), "the memory is the leak's");
        assert_eq!(cause(signal::CPU), (Cause::True, Some(&truth[0])), "else the first event on the node");
    }

    #[test]
    fn the_deterioration_an_artifact_masks_is_still_told() {
        let truth = [event(EventKind::Spo2ProbeOff, "p1", 100, 200), event(EventKind::Sepsis, "p1", 0, 36_000)];
        assert_eq!(
            masked_deterioration(&truth, EntityKind::Patient, "p1", "spo2", 150_000).map(|e| e.kind),
            Some(EventKind::Sepsis)
        );
        assert!(masked_deterioration(&truth, EntityKind::Patient, "p2", "spo2", 150_000).is_none(), "another patient");
        let probe_only = [event(EventKind::Spo2ProbeOff, "p1", 100, 200)];
        assert!(masked_deterioration(&probe_only, EntityKind::Patient, "p1", "spo2", 150_000).is_none());
    }
}
