//! The simulated hospital scraped in memory as Prometheus would: every step the exposition is
//! written and read back into per-series rolling buffers, so each entity's last two hours can be
//! cut out as a [`Window`] at any moment. Memory stays bounded by the buffers' length.

use crate::exposition::{Format, Writer};
use crate::rescore::score::EntityKind;
use crate::rescore::window::{signal, Series, Window};
use crate::sim::config::HospitalConfig;
use crate::sim::events::GroundTruth;
use crate::sim::metrics::write_simulation;
use crate::sim::Simulation;
use std::collections::HashMap;

/// Families that carry no entity signal (or the ground truth itself, which scoring must not see).
const SKIPPED_PREFIXES: [&str; 3] = ["wardwatch_simulat", "wardwatch_ward_", "wardwatch_network_link_capacity"];

/// The entity signal a series carries, and whether it is a counter (read as a rate).
fn signal_of(metric: &str, labels: &[(String, String)]) -> Option<(&'static str, bool)> {
    use signal::*;
    let s = match metric {
        "wardwatch_patient_news2_parameter_score" => {
            let consciousness = labels.iter().any(|(k, v)| k == "parameter" && v == "consciousness");
            return consciousness.then_some((CONSCIOUSNESS, false));
        }
        "wardwatch_patient_heart_rate_beats_per_minute" => (HEART_RATE, false),
        "wardwatch_patient_pulse_rate_beats_per_minute" => (PULSE_RATE, false),
        "wardwatch_patient_spo2_ratio" => (SPO2, false),
        "wardwatch_patient_pleth_signal_quality_ratio" => (PLETH_QUALITY, false),
        "wardwatch_patient_ecg_signal_quality_ratio" => (ECG_QUALITY, false),
        "wardwatch_patient_ecg_st_deviation_volts" => (ST_DEVIATION, false),
        "wardwatch_patient_blood_pressure_systolic_mmhg" => (SYSTOLIC, false),
        "wardwatch_patient_blood_pressure_diastolic_mmhg" => (DIASTOLIC, false),
        "wardwatch_patient_blood_pressure_mean_mmhg" => (MEAN_PRESSURE, false),
        "wardwatch_patient_respiration_rate_breaths_per_minute" => (RESPIRATION_RATE, false),
        "wardwatch_patient_temperature_celsius" => (TEMPERATURE, false),
        "wardwatch_patient_fio2_ratio" => (FIO2, false),
        "wardwatch_patient_etco2_mmhg" => (ETCO2, false),
        "wardwatch_patient_wbc_cells_per_liter" => (WBC, false),
        "wardwatch_patient_glucose_mmol_per_liter" => (GLUCOSE, false),
        "wardwatch_patient_lactate_mmol_per_liter" => (LACTATE, false),
        "wardwatch_patient_news2_score" => (NEWS2, false),
        "wardwatch_network_device_transmit_bytes_total" | "wardwatch_network_link_transmit_bytes_total" => {
            (TRANSMIT_RATE, true)
        }
        "wardwatch_network_device_receive_bytes_total" | "wardwatch_network_link_receive_bytes_total" => {
            (RECEIVE_RATE, true)
        }
        "wardwatch_network_link_errors_total" => (ERROR_RATE, true),
        "wardwatch_network_link_latency_seconds" => (LATENCY, false),
        "wardwatch_network_link_packet_loss_ratio" => (PACKET_LOSS, false),
        "wardwatch_network_link_up" => (LINK_UP, false),
        "wardwatch_node_cpu_utilisation_ratio" | "wardwatch_cluster_cpu_request_ratio" => (CPU, false),
        "wardwatch_node_memory_utilisation_ratio" | "wardwatch_cluster_mem_request_ratio" => (MEMORY, false),
        "wardwatch_node_disk_utilisation_ratio" => (DISK, false),
        "wardwatch_node_pods" | "wardwatch_cluster_pod_ratio" => (PODS, false),
        "wardwatch_node_container_restarts_total" => (RESTART_RATE, true),
        _ => return None,
    };
    Some(s)
}

/// The entity a series belongs to, from its labels (and the cluster families, which have none).
fn entity_of(metric: &str, labels: &[(String, String)]) -> Option<(EntityKind, String)> {
    let get = |k: &str| labels.iter().find(|(l, _)| l == k).map(|(_, v)| v.clone());
    if let Some(p) = get("patient") {
        Some((EntityKind::Patient, p))
    } else if let Some(d) = get("device") {
        Some((EntityKind::Device, d))
    } else if let Some(l) = get("link") {
        Some((EntityKind::Link, l))
    } else if let Some(n) = get("node") {
        Some((EntityKind::Node, n))
    } else if metric.starts_with("wardwatch_cluster_") {
        Some((EntityKind::Cluster, "cluster".to_string()))
    } else {
        None
    }
}

/// One scraped series.
#[derive(Debug, Clone)]
pub struct SeriesInfo {
    /// Metric name as exposed (counters end in `_total`).
    pub metric: String,
    /// Label pairs.
    pub labels: Vec<(String, String)>,
    /// The entity it belongs to, if any (index into [`Recorder::entities`]).
    pub entity: Option<usize>,
    /// Its entity signal, if any.
    pub signal: Option<&'static str>,
    /// A counter: windows carry its per-second rate.
    pub counter: bool,
}

/// An entity and the series of its signals.
#[derive(Debug, Clone)]
pub struct EntityInfo {
    /// Kind.
    pub kind: EntityKind,
    /// Identifying label value (patient id, device, link or node name; `cluster`).
    pub key: String,
    /// (signal, series id, counter) for each of its signals.
    pub signals: Vec<(&'static str, usize, bool)>,
}

/// The embedded default hospital with `seed`, its clock at `start_ms`: what the [`Recorder`]
/// scrapes, and what a backfill of the same seed must write.
pub fn simulation(seed: u64, start_ms: i64) -> Simulation {
    let cfg = HospitalConfig::embedded_default();
    Simulation::new(&cfg, seed, start_ms as f64 / 1000.0, &[]).expect("no scenario, no unknown target")
}

/// The simulation, scraped every step into rolling buffers.
pub struct Recorder {
    sim: Simulation,
    step_ms: i64,
    start_ms: i64,
    capacity: usize,
    step: u64,
    /// Every series seen, by id.
    pub series: Vec<SeriesInfo>,
    values: Vec<Vec<f64>>,
    first_step: Vec<u64>,
    index: HashMap<Box<str>, usize>,
    keys: Vec<Box<str>>,
    order: Vec<usize>,
    /// Every entity seen.
    pub entities: Vec<EntityInfo>,
    entity_index: HashMap<(EntityKind, String), usize>,
    /// Ground truth of the events started so far.
    pub truth: Vec<GroundTruth>,
    scratch: Vec<u8>,
}

impl Recorder {
    /// The default hospital with `seed`, starting at `start_ms`, scraped every `step_ms`, keeping
    /// `keep_ms` of history per series.
    pub fn new(seed: u64, start_ms: i64, step_ms: i64, keep_ms: i64) -> Self {
        Self {
            sim: simulation(seed, start_ms),
            step_ms,
            start_ms,
            capacity: (keep_ms / step_ms) as usize + 1,
            step: 0,
            series: Vec::new(),
            values: Vec::new(),
            first_step: Vec::new(),
            index: HashMap::new(),
            keys: Vec::new(),
            order: Vec::new(),
            entities: Vec::new(),
            entity_index: HashMap::new(),
            truth: Vec::new(),
            scratch: Vec::with_capacity(1 << 20),
        }
    }

    /// The simulation being scraped (its ground truth is not for scoring, only for judging).
    pub fn simulation(&self) -> &Simulation {
        &self.sim
    }

    /// Current time, Unix ms.
    pub fn now_ms(&self) -> i64 {
        self.start_ms + self.step as i64 * self.step_ms
    }

    /// Scrape interval, ms.
    pub fn step_ms(&self) -> i64 {
        self.step_ms
    }

    /// Advance one step and scrape.
    pub fn advance(&mut self) {
        self.step += 1;
        self.sim.advance_to(self.now_ms() as f64 / 1000.0, &mut self.truth);
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        write_simulation(&self.sim, &mut Writer::new(&mut scratch, Format::Text));
        let text = std::str::from_utf8(&scratch).expect("the writer writes UTF-8");
        let mut ordinal = 0;
        let mut skipping = false;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                skipping = SKIPPED_PREFIXES.iter().any(|p| rest.starts_with(p));
                continue;
            }
            if skipping || line.starts_with('#') || line.is_empty() {
                continue;
            }
            let Some((key, value)) = line.rsplit_once(' ') else { continue };
            let id = match self.order.get(ordinal) {
                Some(&id) if *self.series_key(id) == *key => id,
                _ => self.lookup(key, ordinal),
            };
            ordinal += 1;
            let slot = (self.step % self.capacity as u64) as usize;
            self.values[id][slot] = value.parse().unwrap_or(f64::NAN);
        }
        self.scratch = scratch;
    }

    fn series_key(&self, id: usize) -> &str {
        &self.keys[id]
    }

    fn lookup(&mut self, key: &str, ordinal: usize) -> usize {
        let id = match self.index.get(key) {
            Some(&id) => id,
            None => self.register(key),
        };
        if ordinal < self.order.len() {
            self.order[ordinal] = id;
        } else {
            self.order.push(id);
        }
        id
    }

    fn register(&mut self, key: &str) -> usize {
        let (metric, labels) = parse_key(key);
        let id = self.series.len();
        let sig = signal_of(&metric, &labels);
        let entity = entity_of(&metric, &labels).filter(|_| sig.is_some()).map(|(kind, name)| {
            let next = self.entities.len();
            let e = *self.entity_index.entry((kind, name.clone())).or_insert(next);
            if e == next {
                self.entities.push(EntityInfo { kind, key: name, signals: Vec::new() });
            }
            let (s, counter) = sig.expect("filtered");
            self.entities[e].signals.push((s, id, counter));
            e
        });
        self.series.push(SeriesInfo {
            metric,
            labels,
            entity,
            signal: sig.map(|s| s.0),
            counter: sig.is_some_and(|s| s.1),
        });
        self.values.push(vec![f64::NAN; self.capacity]);
        self.first_step.push(self.step);
        self.index.insert(key.into(), id);
        self.keys.push(key.into());
        id
    }

    /// The entity of `kind` named `key` (a patient id, device, link or node; `cluster`), once seen.
    pub fn entity(&self, kind: EntityKind, key: &str) -> Option<usize> {
        self.entity_index.get(&(kind, key.to_string())).copied()
    }

    /// Value of series `id` `back` steps ago (0 = now), if still buffered.
    pub fn value(&self, id: usize, back: u64) -> Option<f64> {
        if back >= self.capacity as u64 || back > self.step || self.step - back < self.first_step[id] {
            return None;
        }
        let v = self.values[id][((self.step - back) % self.capacity as u64) as usize];
        v.is_finite().then_some(v)
    }

    /// The last `span_ms` of an entity's signals ending now (inclusive); counters as per-second
    /// rates over 1 minute, as `rate(x[1m])` would give.
    pub fn window(&self, entity: usize, span_ms: i64) -> Window {
        let now = self.now_ms();
        let back_max = ((span_ms / self.step_ms) as u64).min(self.capacity as u64 - 1);
        let rate_lag = (60_000 / self.step_ms) as u64;
        let mut w = Window { start_ms: now - span_ms, end_ms: now, step_ms: self.step_ms, ..Window::default() };
        for &(name, id, counter) in &self.entities[entity].signals {
            let mut s = Series {
                times_ms: Vec::with_capacity(back_max as usize + 1),
                values: Vec::with_capacity(back_max as usize + 1),
            };
            for back in (0..=back_max).rev() {
                let v = if counter {
                    match (self.value(id, back), self.value(id, back + rate_lag)) {
                        (Some(a), Some(b)) => Some(((a - b) / 60.0).max(0.0)),
                        _ => None,
                    }
                } else {
                    self.value(id, back)
                };
                if let Some(v) = v {
                    s.times_ms.push(now - back as i64 * self.step_ms);
                    s.values.push(v);
                }
            }
            w.signals.insert(name.to_string(), s);
        }
        w
    }
}

/// Split `name{a="b",c="d"}` into the name and label pairs.
fn parse_key(key: &str) -> (String, Vec<(String, String)>) {
    let Some((name, rest)) = key.split_once('{') else { return (key.to_string(), Vec::new()) };
    let labels = rest
        .trim_end_matches('}')
        .split("\",")
        .filter_map(|pair| {
            let (k, v) = pair.split_once("=\"")?;
            Some((k.to_string(), v.trim_end_matches('"').to_string()))
        })
        .collect();
    (name.to_string(), labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_split_into_name_and_labels() {
        let (n, l) = parse_key("m_total{ward=\"icu-1\",bed=\"03\"}");
        assert_eq!(n, "m_total");
        assert_eq!(l, vec![("ward".into(), "icu-1".into()), ("bed".into(), "03".into())]);
        assert_eq!(parse_key("m").1, vec![]);
    }

    #[test]
    fn recorder_buffers_each_patient_signal_and_cuts_windows_ending_now() {
        let mut r = Recorder::new(3, 1_800_000_000_000, 5_000, 600_000);
        for _ in 0..30 {
            r.advance();
        }
        let p = r.entities.iter().position(|e| e.kind == EntityKind::Patient).unwrap();
        let w = r.window(p, 600_000);
        let spo2 = w.signal(signal::SPO2).unwrap();
        assert_eq!(spo2.len(), 30);
        assert_eq!(spo2.last().unwrap().0, r.now_ms());
        let node = r.entities.iter().position(|e| e.kind == EntityKind::Node).unwrap();
        let restarts = r.window(node, 600_000);
        assert_eq!(restarts.signal(signal::RESTART_RATE).unwrap().len(), 30 - 12, "rates need a minute");
    }
}
