//! The whole simulated hospital: patients, network, cluster and events, advanced in time.
//!
//! The simulation is a pure function of (configuration, seed, scenario, the times it is advanced
//! to): the exporter advances it to "now" at each scrape, backfill advances it in fixed steps.

use crate::sim::cluster::{Cluster, ClusterIncidents};
use crate::sim::config::{DepartmentKind, HospitalConfig};
use crate::sim::events::{Event, EventKind, GroundTruth, Target};
use crate::sim::monitor::LeadOff;
use crate::sim::network::{Network, NetworkIncidents};
use crate::sim::patient::Patient;
use crate::sim::physiology::StepCoefficients;
use crate::sim::scenario::Planned;
use crate::sim::schedule::{Schedule, UnknownTarget, World};
use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;

/// Longest simulation step, seconds. Every state update is exact for any step (Ornstein–Uhlenbeck),
/// so the step only bounds how finely event onsets and nurse actions are timed.
pub const MAX_STEP_SECONDS: f64 = 15.0;
/// Most steps taken to catch up with a long gap between scrapes; beyond that steps get longer.
pub const MAX_STEPS_PER_ADVANCE: u64 = 360;

/// A ward, as the simulation knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Ward {
    /// Department name.
    pub department: String,
    /// Ward name.
    pub name: String,
    /// Department kind.
    pub kind: DepartmentKind,
    /// Beds.
    pub beds: u32,
}

/// The simulated hospital.
#[derive(Debug, Clone)]
pub struct Simulation {
    /// Hospital name.
    pub name: String,
    /// Wards in configuration order.
    pub wards: Vec<Ward>,
    /// Patients, ward by ward.
    pub patients: Vec<Patient>,
    /// The hospital network.
    pub network: Network,
    /// The Kubernetes cluster.
    pub cluster: Cluster,
    schedule: Schedule,
    rng: Pcg64Mcg,
    time: f64,
    steps: u64,
}

/// Seed of entity `i` in stream `stream`, spread so neighbouring seeds share nothing.
fn sub_seed(seed: u64, stream: u64, i: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03) ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    // SplitMix64 finaliser.
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Simulation {
    /// Build a hospital from a validated configuration, starting at `start` (Unix seconds), with
    /// scenario events scheduled relative to it.
    pub fn new(cfg: &HospitalConfig, seed: u64, start: f64, plan: &[Planned]) -> Result<Self, UnknownTarget> {
        let mut wards = Vec::new();
        let mut patients = Vec::new();
        let total: u32 = cfg.wards().map(|w| w.patients.unwrap_or(w.beds)).sum();
        let id_width = total.to_string().len().max(5);
        for dept in &cfg.departments {
            for ward in &dept.wards {
                let ward_index = wards.len();
                let occupied = ward.patients.unwrap_or(ward.beds);
                let bed_width = ward.beds.to_string().len().max(2);
                for bed in 1..=occupied {
                    let n = patients.len() as u64;
                    patients.push(Patient::admit(
                        format!("p{:0id_width$}", n + 1),
                        (&dept.name, &ward.name, format!("{bed:0bed_width$}")),
                        ward_index,
                        dept.kind,
                        sub_seed(seed, 1, n),
                    ));
                }
                wards.push(Ward {
                    department: dept.name.clone(),
                    name: ward.name.clone(),
                    kind: dept.kind,
                    beds: ward.beds,
                });
            }
        }
        let mut rng = Pcg64Mcg::seed_from_u64(sub_seed(seed, 2, 0));
        let ward_names: Vec<(String, String)> = wards.iter().map(|w| (w.department.clone(), w.name.clone())).collect();
        let devices: Vec<(usize, String)> = patients.iter().map(|p| (p.ward_index, p.bed.clone())).collect();
        let network = Network::new(&cfg.network, &ward_names, &devices, &mut rng);
        let cluster = Cluster::new(&cfg.cluster, &mut rng);
        let world = World { patients: &patients, network: &network, cluster: &cluster };
        let schedule = Schedule::new(cfg.events.clone(), sub_seed(seed, 3, 0), start, plan, &world)?;
        Ok(Self { name: cfg.name.clone(), wards, patients, network, cluster, schedule, rng, time: start, steps: 0 })
    }

    /// Simulated time, Unix seconds.
    pub fn time(&self) -> f64 {
        self.time
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Events in progress.
    pub fn active_events(&self) -> &[Event] {
        self.schedule.active()
    }

    /// Events started so far, by kind (index = `kind as usize`).
    pub fn events_started(&self) -> &[u64; 18] {
        self.schedule.started()
    }

    /// Index of the patient with this id.
    pub fn patient_index(&self, id: &str) -> Option<usize> {
        self.patients.iter().position(|p| p.id == id)
    }

    /// Advance to `t` (Unix seconds) in steps of at most [`MAX_STEP_SECONDS`]; the ground truth of
    /// events that start on the way is appended to `log`. Going backwards does nothing.
    pub fn advance_to(&mut self, t: f64, log: &mut Vec<GroundTruth>) {
        let gap = t - self.time;
        if gap.is_nan() || gap <= 0.0 {
            return;
        }
        let n = ((gap / MAX_STEP_SECONDS).ceil() as u64).clamp(1, MAX_STEPS_PER_ADVANCE);
        let dt = gap / n as f64;
        for i in 1..=n {
            let now = if i == n { t } else { self.time + dt };
            self.step(now, now - self.time, log);
        }
    }

    fn step(&mut self, now: f64, dt: f64, log: &mut Vec<GroundTruth>) {
        let c = StepCoefficients::new(dt, now);
        for e in self.schedule.take_ended(now) {
            self.clear_effect(&e);
        }
        let world = World { patients: &self.patients, network: &self.network, cluster: &self.cluster };
        self.schedule.start_due(now, dt, &world, log);
        let (net, clu) = self.apply_effects(now);
        for p in &mut self.patients {
            p.step(&c);
        }
        self.network.step(dt, c.circadian, &net, &mut self.rng);
        self.cluster.step(dt, c.circadian, &clu, &mut self.rng);
        self.time = now;
        self.steps += 1;
    }

    /// Set every active event's effect at time `t`; returns the infrastructure incidents.
    fn apply_effects(&mut self, t: f64) -> (NetworkIncidents, ClusterIncidents) {
        let mut net = NetworkIncidents::default();
        let mut clu = ClusterIncidents::default();
        for e in self.schedule.active() {
            let x = e.intensity_at(t);
            let progress = ((t - e.start) / (e.end - e.start)).clamp(0.0, 1.0);
            match e.target {
                Target::Patient(i) => patient_effect(&mut self.patients[i], e, x, progress),
                Target::Device(i) => net.exfiltration.push((i, x)),
                Target::Link(i) => match e.kind {
                    EventKind::Ddos => net.ddos = net.ddos.max(x),
                    EventKind::LinkFlap => net.flapping.push(i),
                    _ => net.latency_spike.push((i, x)),
                },
                Target::Node(i) => match e.kind {
                    EventKind::MemoryLeak => clu.memory_leak.push((i, progress)),
                    EventKind::CpuSaturation => clu.cpu_saturation.push((i, x)),
                    EventKind::CrashLoop => clu.crash_loop.push(i),
                    _ => clu.disk_fill.push((i, progress)),
                },
            }
        }
        (net, clu)
    }

    /// Undo an ended event's effect on its patient (infrastructure incidents are rebuilt each step).
    fn clear_effect(&mut self, e: &Event) {
        if let Target::Patient(i) = e.target {
            let p = &mut self.patients[i];
            let (d, a) = (&mut p.physiology.drivers, &mut p.monitor.artifacts);
            match e.kind {
                EventKind::Sepsis => d.sepsis = 0.0,
                EventKind::Hypoxia => d.hypoxia = 0.0,
                EventKind::Tachyarrhythmia => d.arrhythmia = 0.0,
                EventKind::Hypotension => d.hypotension = 0.0,
                EventKind::Hypoglycaemia => d.hypoglycaemia = 0.0,
                EventKind::Spo2Motion => a.spo2_motion_depth = 0.0,
                EventKind::Spo2ProbeOff => a.spo2_probe_off = false,
                EventKind::EcgLeadOff => a.lead_off = LeadOff::No,
                EventKind::BpCuffError => a.bp_error_factor = None,
                EventKind::StuckSensor => a.temperature_stuck = false,
                _ => {}
            }
        }
    }
}

/// Set a clinical event's or artifact's effect on a patient.
fn patient_effect(p: &mut Patient, e: &Event, x: f64, progress: f64) {
    let (d, a) = (&mut p.physiology.drivers, &mut p.monitor.artifacts);
    match e.kind {
        EventKind::Sepsis => d.sepsis = x,
        EventKind::Hypoxia => d.hypoxia = x,
        EventKind::Tachyarrhythmia => {
            // Onset and offset are abrupt: the rhythm switches.
            d.arrhythmia = 1.0;
            d.arrhythmia_rate = e.parameter;
        }
        EventKind::Hypotension => d.hypotension = x,
        EventKind::Hypoglycaemia => d.hypoglycaemia = x,
        EventKind::Spo2Motion => a.spo2_motion_depth = e.parameter * e.kind.intensity(progress, 1.0),
        EventKind::Spo2ProbeOff => a.spo2_probe_off = true,
        EventKind::EcgLeadOff => {
            a.lead_off = if e.parameter == 0.0 { LeadOff::Flat } else { LeadOff::Noise };
        }
        EventKind::BpCuffError => a.bp_error_factor = Some(e.parameter),
        EventKind::StuckSensor => a.temperature_stuck = true,
        _ => {}
    }
}

#[cfg(test)]
mod tests;
