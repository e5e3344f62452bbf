//! Events with ground truth: real deterioration, sensor artifacts, network and cluster incidents.
//!
//! Events are drawn as Poisson processes at the configured rates (scaled by each department's
//! acuity) or scheduled by a scenario file. Each has a known start, end, kind and entity, which is
//! the ground truth that detection is scored against: it goes to the events log (JSON lines) and to
//! the `wardwatch_simulated_event_active` metric while the event lasts.

use crate::sim::config::{DepartmentKind, EventRates};
use rand::Rng;
use rand_distr::{Distribution, Poisson};
use serde::{Deserialize, Serialize};

/// What happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Sepsis developing over hours.
    Sepsis,
    /// Acute hypoxia.
    Hypoxia,
    /// Tachyarrhythmia (atrial fibrillation with fast response, or SVT).
    Tachyarrhythmia,
    /// Hypotension.
    Hypotension,
    /// Hypoglycaemia.
    Hypoglycaemia,
    /// SpO2 dip from motion, 5–60 s.
    Spo2Motion,
    /// SpO2 probe off the finger.
    Spo2ProbeOff,
    /// ECG leads off.
    EcgLeadOff,
    /// Wrong blood-pressure reading (mis-sized cuff, flushed arterial line).
    BpCuffError,
    /// Dislodged temperature probe reading ambient.
    StuckSensor,
    /// DDoS burst on the cloud link.
    Ddos,
    /// Data exfiltration from one bedside device.
    Exfiltration,
    /// A link going up and down.
    LinkFlap,
    /// Latency spike on a link.
    LatencySpike,
    /// Memory leak on a node.
    MemoryLeak,
    /// CPU saturation on a node.
    CpuSaturation,
    /// A workload crash-looping on a node.
    CrashLoop,
    /// Disk filling up on a node.
    DiskFill,
}

/// Broad class of an event: what a detector should do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventClass {
    /// The patient is really getting worse: an alarm must go out.
    Deterioration,
    /// The monitor is wrong: an alarm here is noise.
    Artifact,
    /// A network incident.
    Network,
    /// A cluster incident.
    Cluster,
}

impl EventClass {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            EventClass::Deterioration => "deterioration",
            EventClass::Artifact => "artifact",
            EventClass::Network => "network",
            EventClass::Cluster => "cluster",
        }
    }
}

/// What an event acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A patient, by index.
    Patient(usize),
    /// A bedside device, by index (same as its patient's).
    Device(usize),
    /// A network link, by index.
    Link(usize),
    /// A cluster node, by index.
    Node(usize),
}

impl EventKind {
    /// Every kind, in declaration order (the order of [`EventRates::named`]).
    pub const ALL: [EventKind; 18] = [
        EventKind::Sepsis,
        EventKind::Hypoxia,
        EventKind::Tachyarrhythmia,
        EventKind::Hypotension,
        EventKind::Hypoglycaemia,
        EventKind::Spo2Motion,
        EventKind::Spo2ProbeOff,
        EventKind::EcgLeadOff,
        EventKind::BpCuffError,
        EventKind::StuckSensor,
        EventKind::Ddos,
        EventKind::Exfiltration,
        EventKind::LinkFlap,
        EventKind::LatencySpike,
        EventKind::MemoryLeak,
        EventKind::CpuSaturation,
        EventKind::CrashLoop,
        EventKind::DiskFill,
    ];

    /// Label value and scenario name, e.g. `spo2_probe_off`; also the field name of its rate.
    pub fn as_str(self) -> &'static str {
        const NAMES: [&str; 18] = [
            "sepsis",
            "hypoxia",
            "tachyarrhythmia",
            "hypotension",
            "hypoglycaemia",
            "spo2_motion",
            "spo2_probe_off",
            "ecg_lead_off",
            "bp_cuff_error",
            "stuck_sensor",
            "ddos",
            "exfiltration",
            "link_flap",
            "latency_spike",
            "memory_leak",
            "cpu_saturation",
            "crash_loop",
            "disk_fill",
        ];
        NAMES[self as usize]
    }

    /// The configured random rate of this kind, per entity-day.
    pub fn rate(self, rates: &EventRates) -> f64 {
        rates.named()[self as usize].1 * rates.scale
    }

    /// Parse a scenario name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The class of this kind.
    pub fn class(self) -> EventClass {
        use EventKind::*;
        match self {
            Sepsis | Hypoxia | Tachyarrhythmia | Hypotension | Hypoglycaemia => EventClass::Deterioration,
            Spo2Motion | Spo2ProbeOff | EcgLeadOff | BpCuffError | StuckSensor => EventClass::Artifact,
            Ddos | Exfiltration | LinkFlap | LatencySpike => EventClass::Network,
            MemoryLeak | CpuSaturation | CrashLoop | DiskFill => EventClass::Cluster,
        }
    }

    /// Typical duration range in seconds (typical clinical courses).
    pub fn duration_range(self, arterial_line: bool) -> (f64, f64) {
        use EventKind::*;
        const M: f64 = 60.0;
        const H: f64 = 3600.0;
        match self {
            Sepsis => (4.0 * H, 10.0 * H),
            Hypoxia => (20.0 * M, 60.0 * M),
            Tachyarrhythmia => (5.0 * M, 60.0 * M),
            Hypotension => (15.0 * M, 60.0 * M),
            Hypoglycaemia => (30.0 * M, 120.0 * M),
            Spo2Motion => (5.0, 60.0),
            Spo2ProbeOff => (30.0, 5.0 * M),
            EcgLeadOff => (20.0, 10.0 * M),
            BpCuffError if arterial_line => (10.0, 40.0),
            BpCuffError => (2.0 * M, 15.0 * M),
            StuckSensor => (20.0 * M, 90.0 * M),
            Ddos => (2.0 * M, 20.0 * M),
            Exfiltration => (30.0 * M, 3.0 * H),
            LinkFlap => (5.0 * M, 30.0 * M),
            LatencySpike => (5.0 * M, 20.0 * M),
            MemoryLeak => (2.0 * H, 8.0 * H),
            CpuSaturation => (10.0 * M, 60.0 * M),
            CrashLoop => (10.0 * M, 90.0 * M),
            DiskFill => (1.0 * H, 6.0 * H),
        }
    }

    /// How much more often this happens in a department than the base rate.
    pub fn acuity(self, dept: DepartmentKind) -> f64 {
        use DepartmentKind::*;
        use EventKind::*;
        match (dept, self.class(), self) {
            (Icu, EventClass::Deterioration, _) => 2.5,
            (Icu, EventClass::Artifact, _) => 2.0,
            (Cardiology, _, Tachyarrhythmia) => 3.0,
            (GeneralMedicine, _, Sepsis | Hypoxia) => 1.5,
            (Surgery, _, Hypotension) => 2.0,
            _ => 1.0,
        }
    }

    /// Intensity (0..1) at progress `p` (0 at start, 1 at end) for an event of severity `s`.
    pub fn intensity(self, p: f64, s: f64) -> f64 {
        use EventKind::*;
        let p = p.clamp(0.0, 1.0);
        let ramp = |up: f64, down: f64| (p / up).min(1.0).min(((1.0 - p) / down).min(1.0));
        s * match self {
            // Sepsis rises over the first 60% of its course, then treatment takes effect.
            Sepsis => ramp(0.6, 0.2),
            Hypoxia => ramp(0.5, 0.15),
            Hypotension => ramp(0.2, 0.2),
            Hypoglycaemia => (p / 0.4).min(1.0),
            // A motion dip is V-shaped: down and back up.
            Spo2Motion => 1.0 - (2.0 * p - 1.0).abs(),
            Ddos => ramp(0.1, 0.1),
            MemoryLeak | DiskFill => p,
            _ => 1.0,
        }
    }
}

/// One event in progress or scheduled.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Sequence number, unique in a run.
    pub id: u64,
    /// What happens.
    pub kind: EventKind,
    /// To whom or what.
    pub target: Target,
    /// Start, Unix seconds.
    pub start: f64,
    /// End, Unix seconds.
    pub end: f64,
    /// Severity 0..1 (the peak intensity).
    pub severity: f64,
    /// A kind-specific draw: arrhythmia rate, lead-off mode, cuff error factor.
    pub parameter: f64,
    /// Pre-rendered label set for `wardwatch_simulated_event_active`.
    pub labels: String,
}

impl Event {
    /// Intensity now.
    pub fn intensity_at(&self, t: f64) -> f64 {
        let p = (t - self.start) / (self.end - self.start).max(1e-9);
        self.kind.intensity(p, self.severity)
    }
}

/// Ground truth for one event, as written to the events log (one JSON object per line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroundTruth {
    /// Sequence number.
    pub id: u64,
    /// Kind, e.g. `sepsis`.
    pub kind: EventKind,
    /// Class, e.g. `deterioration`.
    pub class: EventClass,
    /// Start, RFC 3339.
    pub start: chrono::DateTime<chrono::Utc>,
    /// End, RFC 3339.
    pub end: chrono::DateTime<chrono::Utc>,
    /// Severity 0..1.
    pub severity: f64,
    /// The entity's labels as they appear on its metrics (patient, ward, link, node...).
    pub entity: std::collections::BTreeMap<String, String>,
}

/// Draw a severity for a freshly started event.
pub fn draw_severity<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    rng.random_range(0.6..=1.0)
}

/// Draw the kind-specific parameter.
pub fn draw_parameter<R: Rng + ?Sized>(kind: EventKind, arterial_line: bool, rng: &mut R) -> f64 {
    match kind {
        // Ventricular rate of AF with fast response or SVT.
        EventKind::Tachyarrhythmia => rng.random_range(140.0..180.0),
        // Lead-off: 0 = flat line (60%), 1 = noise (40%).
        EventKind::EcgLeadOff => f64::from(u8::from(rng.random::<f64>() < 0.4)),
        // A flushed arterial line reads about double; a wrong cuff reads low or high.
        EventKind::BpCuffError if arterial_line => rng.random_range(1.8..2.2),
        EventKind::BpCuffError if rng.random::<f64>() < 0.7 => rng.random_range(0.5..0.65),
        EventKind::BpCuffError => rng.random_range(1.5..1.75),
        // Depth of a motion dip in SpO2.
        EventKind::Spo2Motion => rng.random_range(0.06..0.2),
        _ => 0.0,
    }
}

/// How many random events of a kind start in `dt` seconds among `targets` entities at `per_day`.
pub fn draw_count<R: Rng + ?Sized>(per_day: f64, targets: usize, dt: f64, rng: &mut R) -> u64 {
    let lambda = per_day * targets as f64 * dt / 86_400.0;
    if lambda <= 0.0 {
        return 0;
    }
    Poisson::new(lambda).map(|p| p.sample(rng) as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_pcg::Pcg64Mcg;

    #[test]
    fn kinds_have_unique_names_that_parse_back() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
            assert_eq!(EventRates::default().named()[k as usize].0, k.as_str());
        }
    }

    #[test]
    fn sepsis_rises_over_hours_and_resolves() {
        let k = EventKind::Sepsis;
        assert_eq!(k.intensity(0.0, 1.0), 0.0);
        assert!(k.intensity(0.3, 1.0) > 0.4 && k.intensity(0.3, 1.0) < 0.6);
        assert_eq!(k.intensity(0.7, 1.0), 1.0);
        assert!(k.intensity(0.99, 1.0) < 0.1);
        assert!(k.duration_range(false).0 >= 4.0 * 3600.0);
    }

    #[test]
    fn motion_dips_last_seconds_and_are_v_shaped() {
        let k = EventKind::Spo2Motion;
        let (lo, hi) = k.duration_range(false);
        assert!(lo >= 5.0 && hi <= 60.0);
        assert_eq!(k.intensity(0.5, 1.0), 1.0);
        assert!(k.intensity(0.1, 1.0) < 0.3 && k.intensity(0.9, 1.0) < 0.3);
    }

    #[test]
    fn poisson_counts_match_the_rate() {
        let mut rng = Pcg64Mcg::seed_from_u64(1);
        // 2 per day over 1000 targets for one day in 5 s steps: expect 2000.
        let n: u64 = (0..17_280).map(|_| draw_count(2.0, 1000, 5.0, &mut rng)).sum();
        assert!((1850..=2150).contains(&n), "{n}");
        assert_eq!(draw_count(0.0, 1000, 5.0, &mut rng), 0);
    }
}
