//! The event engine: draws random events, starts scenario events on time, and ends them.
//!
//! Random events are Poisson processes per kind and department (rates × acuity), so a quiet
//! general ward and a busy ICU differ as real ones do. No entity gets two events of the same kind
//! at once. Every started event becomes ground truth the moment it starts.

use crate::exposition::render_labels;
use crate::sim::cluster::Cluster;
use crate::sim::config::{DepartmentKind, EventRates};
use crate::sim::events::{
    draw_count, draw_parameter, draw_severity, Event, EventClass, EventKind, GroundTruth, Target,
};
use crate::sim::network::Network;
use crate::sim::patient::Patient;
use crate::sim::scenario::Planned;
use chrono::{TimeZone, Utc};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use std::collections::{BTreeMap, VecDeque};

/// A scenario event whose target name matches nothing in the hospital.
#[derive(Debug, thiserror::Error)]
#[error("scenario event {index} (`{kind}`): no {what} named `{name}` in this hospital")]
pub struct UnknownTarget {
    /// Index in the scenario, in time order.
    pub index: usize,
    /// Kind name.
    pub kind: &'static str,
    /// Patient, device, link or node.
    pub what: &'static str,
    /// The name given.
    pub name: String,
}

/// The world an event can act on, borrowed from the simulation.
pub struct World<'a> {
    /// Patients.
    pub patients: &'a [Patient],
    /// Network.
    pub network: &'a Network,
    /// Cluster.
    pub cluster: &'a Cluster,
}

/// Scenario events resolved to targets, waiting for their start.
#[derive(Debug, Clone)]
struct Due {
    start: f64,
    kind: EventKind,
    target: Target,
    duration: Option<f64>,
    severity: f64,
}

/// Random and scheduled events, those active, and counts of those started.
#[derive(Debug, Clone)]
pub struct Schedule {
    rng: Pcg64Mcg,
    rates: EventRates,
    due: VecDeque<Due>,
    active: Vec<Event>,
    next_id: u64,
    started: [u64; 18],
    by_department: Vec<(DepartmentKind, Vec<usize>)>,
}

impl Schedule {
    /// An engine for this world, with scenario events resolved against it.
    pub fn new(
        rates: EventRates,
        seed: u64,
        start: f64,
        plan: &[Planned],
        world: &World<'_>,
    ) -> Result<Self, UnknownTarget> {
        let mut by_department: Vec<(DepartmentKind, Vec<usize>)> = Vec::new();
        for (i, p) in world.patients.iter().enumerate() {
            match by_department.iter_mut().find(|(k, _)| *k == p.kind) {
                Some((_, v)) => v.push(i),
                None => by_department.push((p.kind, vec![i])),
            }
        }
        let due = plan
            .iter()
            .enumerate()
            .map(|(index, p)| {
                Ok(Due {
                    start: start + p.offset,
                    kind: p.kind,
                    target: resolve(index, p, world)?,
                    duration: p.duration,
                    severity: p.severity,
                })
            })
            .collect::<Result<_, UnknownTarget>>()?;
        Ok(Self {
            rng: Pcg64Mcg::seed_from_u64(seed),
            rates,
            due,
            active: Vec::new(),
            next_id: 1,
            started: [0; 18],
            by_department,
        })
    }

    /// Events in progress.
    pub fn active(&self) -> &[Event] {
        &self.active
    }

    /// Events started so far, by kind (index = `kind as usize`).
    pub fn started(&self) -> &[u64; 18] {
        &self.started
    }

    /// Remove and return the events that have ended by `t`.
    pub fn take_ended(&mut self, t: f64) -> Vec<Event> {
        let (ended, active): (Vec<Event>, Vec<Event>) = self.active.drain(..).partition(|e| e.end <= t);
        self.active = active;
        ended
    }

    /// Start the scenario events due by `t` and the random ones drawn for the step `(t − dt, t]`;
    /// their ground truth is appended to `log`.
    pub fn start_due(&mut self, t: f64, dt: f64, world: &World<'_>, log: &mut Vec<GroundTruth>) {
        while self.due.front().is_some_and(|d| d.start <= t) {
            let d = self.due.pop_front().expect("front exists");
            self.begin(d, world, log);
        }
        for kind in EventKind::ALL {
            let rate = kind.rate(&self.rates);
            if rate <= 0.0 {
                continue;
            }
            for target in self.draw_targets(kind, rate, dt, world) {
                let start = t - dt * self.rng.random::<f64>();
                let due = Due { start, kind, target, duration: None, severity: draw_severity(&mut self.rng) };
                self.begin(due, world, log);
            }
        }
    }

    fn draw_targets(&mut self, kind: EventKind, rate: f64, dt: f64, world: &World<'_>) -> Vec<Target> {
        let rng = &mut self.rng;
        let mut out = Vec::new();
        if matches!(kind.class(), EventClass::Deterioration | EventClass::Artifact) {
            for (dept, idx) in &self.by_department {
                let n = draw_count(rate * kind.acuity(*dept), idx.len(), dt, rng);
                out.extend((0..n).map(|_| Target::Patient(idx[rng.random_range(0..idx.len())])));
            }
            return out;
        }
        // DDoS and exfiltration have one rate for the whole hospital; the rest per link or node.
        let (population, len) = match kind {
            EventKind::Ddos | EventKind::Exfiltration => (1, world.network.devices.len()),
            _ if kind.class() == EventClass::Network => (world.network.links.len(), world.network.links.len()),
            _ => (world.cluster.nodes.len(), world.cluster.nodes.len()),
        };
        let n = draw_count(rate, population, dt, rng);
        for _ in 0..n {
            out.push(match kind {
                EventKind::Ddos => Target::Link(world.network.cloud_link()),
                EventKind::Exfiltration if len > 0 => Target::Device(rng.random_range(0..len)),
                _ if kind.class() == EventClass::Network => Target::Link(rng.random_range(0..len)),
                _ if len > 0 => Target::Node(rng.random_range(0..len)),
                _ => continue,
            });
        }
        out
    }

    fn begin(&mut self, d: Due, world: &World<'_>, log: &mut Vec<GroundTruth>) {
        if self.active.iter().any(|e| e.kind == d.kind && e.target == d.target) {
            return;
        }
        let arterial = matches!(d.target, Target::Patient(i) if world.patients[i].monitor.has_arterial_line());
        let duration = d.duration.unwrap_or_else(|| {
            let (lo, hi) = d.kind.duration_range(arterial);
            self.rng.random_range(lo..=hi)
        });
        let entity = entity_labels(d.target, world);
        let mut pairs: Vec<(&str, &str)> = vec![("kind", d.kind.as_str()), ("class", d.kind.class().as_str())];
        pairs.extend(entity.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let event = Event {
            id: self.next_id,
            kind: d.kind,
            target: d.target,
            start: d.start,
            end: d.start + duration,
            severity: d.severity,
            parameter: draw_parameter(d.kind, arterial, &mut self.rng),
            labels: render_labels(&pairs),
        };
        self.next_id += 1;
        self.started[d.kind as usize] += 1;
        log.push(GroundTruth {
            id: event.id,
            kind: event.kind,
            class: event.kind.class(),
            start: to_utc(event.start),
            end: to_utc(event.end),
            severity: event.severity,
            entity,
        });
        self.active.push(event);
    }
}

/// Unix seconds as a UTC time, to the millisecond.
pub fn to_utc(t: f64) -> chrono::DateTime<Utc> {
    Utc.timestamp_millis_opt((t * 1000.0).round() as i64).single().unwrap_or_default()
}

/// The labels by which an entity's own metrics identify it.
fn entity_labels(target: Target, world: &World<'_>) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let mut put = |k: &str, v: &str| {
        m.insert(k.to_string(), v.to_string());
    };
    match target {
        Target::Patient(i) | Target::Device(i) => {
            let p = &world.patients[i];
            put("department", &p.department);
            put("ward", &p.ward);
            put("bed", &p.bed);
            if matches!(target, Target::Patient(_)) {
                put("patient", &p.id);
            } else {
                put("device", &world.network.devices[i].name);
            }
        }
        Target::Link(i) => put("link", &world.network.links[i].name),
        Target::Node(i) => put("node", &world.cluster.nodes[i].name),
    }
    m
}

fn resolve(index: usize, p: &Planned, world: &World<'_>) -> Result<Target, UnknownTarget> {
    let name = p.target.clone().unwrap_or_default();
    let unknown = |what| UnknownTarget { index, kind: p.kind.as_str(), what, name: name.clone() };
    let patient = || world.patients.iter().position(|x| x.id == name);
    match (p.kind.class(), p.kind) {
        (EventClass::Deterioration | EventClass::Artifact, _) => {
            patient().map(Target::Patient).ok_or_else(|| unknown("patient"))
        }
        (_, EventKind::Ddos) => Ok(Target::Link(world.network.cloud_link())),
        (_, EventKind::Exfiltration) => patient()
            .or_else(|| world.network.devices.iter().position(|d| d.name == name))
            .map(Target::Device)
            .ok_or_else(|| unknown("patient or device")),
        (EventClass::Network, _) => world.network.link_index(&name).map(Target::Link).ok_or_else(|| unknown("link")),
        (EventClass::Cluster, _) => world.cluster.node_index(&name).map(Target::Node).ok_or_else(|| unknown("node")),
    }
}
