//! The hospital's configuration: structure, event rates and the simulated infrastructure.
//!
//! Raw YAML is parsed into [`HospitalConfig`] (serde, unknown fields rejected) and then validated
//! purely — no disk or network — by [`HospitalConfig::validate`], which names the bad field.
//! `--patients N` is applied by [`HospitalConfig::with_patients`] before validation.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// The embedded default hospital, used when no `--config` is given.
pub const DEFAULT_HOSPITAL_YAML: &str = include_str!("default_hospital.yaml");

/// Errors from loading or validating a hospital configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or parsed.
    #[error(transparent)]
    File(#[from] crate::yaml::YamlError),
    /// A field holds a value the simulation cannot use.
    #[error(transparent)]
    Invalid(#[from] crate::yaml::FieldError),
}

/// Kind of department; sets acuity (how sick patients are, how often they deteriorate) and monitoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DepartmentKind {
    /// Intensive care: continuous arterial pressure, capnography, frequent labs, sick patients.
    Icu,
    /// Cardiology: more arrhythmia, telemetry.
    Cardiology,
    /// General medicine: older patients, sepsis and COPD.
    GeneralMedicine,
    /// Surgery: post-operative patients, haemorrhage-like hypotension.
    Surgery,
}

/// The whole hospital.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HospitalConfig {
    /// Name shown on the landing page.
    #[serde(default = "default_name")]
    pub name: String,
    /// Departments with their wards; at least one.
    pub departments: Vec<DepartmentConfig>,
    /// Rates of randomly drawn events.
    #[serde(default)]
    pub events: EventRates,
    /// The hospital network.
    #[serde(default)]
    pub network: NetworkConfig,
    /// The Kubernetes cluster running the hospital's software.
    #[serde(default)]
    pub cluster: ClusterConfig,
}

fn default_name() -> String {
    "wardwatch general hospital".to_string()
}

/// One department.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepartmentConfig {
    /// Label value `department`: lower-case letters, digits, `-` and `_`.
    pub name: String,
    /// Kind of care, which sets patient acuity and monitoring.
    pub kind: DepartmentKind,
    /// Wards of the department; at least one.
    pub wards: Vec<WardConfig>,
}

/// One ward.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WardConfig {
    /// Label value `ward`, unique in the hospital.
    pub name: String,
    /// Number of beds (1..=10000).
    pub beds: u32,
    /// Occupied beds, each with one patient; at most `beds`. Defaults to all beds.
    #[serde(default)]
    pub patients: Option<u32>,
}

/// Mean number of events per day, by kind. Clinical rates are per patient-day, network per
/// link-day (devices for exfiltration), cluster per node-day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventRates {
    /// Multiplier on every rate; 0 turns random events off (scenario events still happen).
    pub scale: f64,
    /// Sepsis developing over hours, per patient-day (multiplied by department acuity).
    pub sepsis: f64,
    /// Acute hypoxia, per patient-day.
    pub hypoxia: f64,
    /// Tachyarrhythmia, per patient-day.
    pub tachyarrhythmia: f64,
    /// Hypotension, per patient-day.
    pub hypotension: f64,
    /// Hypoglycaemia, per patient-day.
    pub hypoglycaemia: f64,
    /// SpO2 motion dips of 5–60 s, per patient-day.
    pub spo2_motion: f64,
    /// SpO2 probe off, per patient-day.
    pub spo2_probe_off: f64,
    /// ECG lead off, per patient-day.
    pub ecg_lead_off: f64,
    /// Blood-pressure cuff error (one wrong reading), per patient-day.
    pub bp_cuff_error: f64,
    /// Stuck or dislodged sensor, per patient-day.
    pub stuck_sensor: f64,
    /// DDoS burst on the internet/cloud link, per day.
    pub ddos: f64,
    /// Exfiltration from one bedside device, per day.
    pub exfiltration: f64,
    /// Flapping link, per link-day.
    pub link_flap: f64,
    /// Latency spike, per link-day.
    pub latency_spike: f64,
    /// Memory leak, per node-day.
    pub memory_leak: f64,
    /// CPU saturation, per node-day.
    pub cpu_saturation: f64,
    /// Crash-looping workload, per node-day.
    pub crash_loop: f64,
    /// Disk filling up, per node-day.
    pub disk_fill: f64,
}

impl Default for EventRates {
    /// Rates chosen so that artifacts outnumber real deterioration by about 10:1, as on real wards
    /// (Drew et al. 2014: 88.8% of ICU arrhythmia alarms false).
    fn default() -> Self {
        Self {
            scale: 1.0,
            sepsis: 0.02,
            hypoxia: 0.05,
            tachyarrhythmia: 0.04,
            hypotension: 0.04,
            hypoglycaemia: 0.03,
            spo2_motion: 3.0,
            spo2_probe_off: 0.5,
            ecg_lead_off: 0.4,
            bp_cuff_error: 0.3,
            stuck_sensor: 0.1,
            ddos: 0.2,
            exfiltration: 0.1,
            link_flap: 0.05,
            latency_spike: 0.1,
            memory_leak: 0.1,
            cpu_saturation: 0.2,
            crash_loop: 0.1,
            disk_fill: 0.05,
        }
    }
}

/// The hospital network: bedside devices → ward switches → core → cloud/EHR.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// Capacity of each bedside access port, bits per second.
    pub access_capacity_bits_per_second: f64,
    /// Capacity of each ward switch uplink to the core, bits per second.
    pub ward_uplink_capacity_bits_per_second: f64,
    /// Capacity of the core to the on-site datacenter, bits per second.
    pub core_capacity_bits_per_second: f64,
    /// Capacity of the link to the cloud EHR, bits per second.
    pub cloud_capacity_bits_per_second: f64,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            access_capacity_bits_per_second: 100e6,
            ward_uplink_capacity_bits_per_second: 1e9,
            core_capacity_bits_per_second: 10e9,
            cloud_capacity_bits_per_second: 1e9,
        }
    }
}

/// The Kubernetes cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// Number of worker nodes (1..=1000).
    pub nodes: u32,
    /// CPU cores per node.
    pub node_cpu_cores: f64,
    /// Memory per node, bytes.
    pub node_memory_bytes: f64,
    /// Disk per node, bytes.
    pub node_disk_bytes: f64,
    /// Pod capacity per node (Kubernetes default 110).
    pub node_pod_capacity: u32,
    /// Pods running at baseline, over the whole cluster.
    pub pods: u32,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            nodes: 6,
            node_cpu_cores: 16.0,
            node_memory_bytes: 64.0 * 1024.0 * 1024.0 * 1024.0,
            node_disk_bytes: 500e9,
            node_pod_capacity: 110,
            pods: 240,
        }
    }
}

impl HospitalConfig {
    /// Parse a configuration from YAML text; `origin` names the file in errors.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        Ok(crate::yaml::parse(text, origin)?)
    }

    /// Read and parse a configuration file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        Ok(crate::yaml::read(path)?)
    }

    /// The embedded default hospital.
    pub fn embedded_default() -> Self {
        Self::from_yaml(DEFAULT_HOSPITAL_YAML, "<embedded default>").expect("the embedded default hospital parses")
    }

    /// Spread `n` patients over the wards in proportion to their beds, adding beds where needed,
    /// so one configuration scales from one ward to a hospital group.
    pub fn with_patients(mut self, n: u32) -> Self {
        let total_beds: u64 = self.wards().map(|w| u64::from(w.beds.max(1))).sum();
        let (mut cum_beds, mut assigned) = (0u64, 0u64);
        for ward in self.departments.iter_mut().flat_map(|d| d.wards.iter_mut()) {
            // Cumulative rounding so the shares add up to exactly n.
            cum_beds += u64::from(ward.beds.max(1));
            let share_end = u64::from(n) * cum_beds / total_beds.max(1);
            let count = (share_end - assigned) as u32;
            assigned = share_end;
            ward.patients = Some(count);
            ward.beds = ward.beds.max(count).max(1);
        }
        self
    }

    /// Every ward, in configuration order.
    pub fn wards(&self) -> impl Iterator<Item = &WardConfig> {
        self.departments.iter().flat_map(|d| d.wards.iter())
    }

    /// Check every field; `origin` names the file in the error.
    pub fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid =
            |field: String, reason: String| ConfigError::Invalid(crate::yaml::FieldError::new(origin, field, reason));
        if self.departments.is_empty() {
            return Err(invalid("departments".into(), "at least one department is required".into()));
        }
        let mut seen_depts = std::collections::HashSet::new();
        let mut seen_wards = std::collections::HashSet::new();
        for (d, dept) in self.departments.iter().enumerate() {
            let at = format!("departments[{d}]");
            check_label(&dept.name).map_err(|r| invalid(format!("{at}.name"), r))?;
            if !seen_depts.insert(dept.name.as_str()) {
                return Err(invalid(format!("{at}.name"), format!("duplicate department `{}`", dept.name)));
            }
            if dept.wards.is_empty() {
                return Err(invalid(format!("{at}.wards"), "at least one ward is required".into()));
            }
            for (w, ward) in dept.wards.iter().enumerate() {
                let at = format!("{at}.wards[{w}]");
                check_label(&ward.name).map_err(|r| invalid(format!("{at}.name"), r))?;
                if !seen_wards.insert(ward.name.as_str()) {
                    return Err(invalid(format!("{at}.name"), format!("duplicate ward `{}`", ward.name)));
                }
                if ward.beds == 0 || ward.beds > 10_000 {
                    return Err(invalid(format!("{at}.beds"), format!("{} is outside 1..=10000", ward.beds)));
                }
                if let Some(p) = ward.patients {
                    if p > ward.beds {
                        return Err(invalid(
                            format!("{at}.patients"),
                            format!("{p} patients do not fit in {} beds", ward.beds),
                        ));
                    }
                }
            }
        }
        self.events.validate().map_err(|(f, r)| invalid(format!("events.{f}"), r))?;
        self.network.validate().map_err(|(f, r)| invalid(format!("network.{f}"), r))?;
        self.cluster.validate().map_err(|(f, r)| invalid(format!("cluster.{f}"), r))?;
        Ok(())
    }
}

/// A label value we put into metric labels and URLs: short and plain.
fn check_label(value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!("`{value}` must be 1–64 characters of a-z, 0-9, `-` or `_`"))
    }
}

fn check_non_negative(field: &str, v: f64) -> Result<(), (String, String)> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err((field.to_string(), format!("{v} must be a finite number ≥ 0")))
    }
}

fn check_positive(field: &str, v: f64) -> Result<(), (String, String)> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err((field.to_string(), format!("{v} must be a finite number > 0")))
    }
}

impl EventRates {
    fn validate(&self) -> Result<(), (String, String)> {
        for (name, v) in self.named() {
            check_non_negative(name, v)?;
        }
        check_non_negative("scale", self.scale)
    }

    /// Every rate with its field name, in declaration order.
    pub fn named(&self) -> [(&'static str, f64); 18] {
        [
            ("sepsis", self.sepsis),
            ("hypoxia", self.hypoxia),
            ("tachyarrhythmia", self.tachyarrhythmia),
            ("hypotension", self.hypotension),
            ("hypoglycaemia", self.hypoglycaemia),
            ("spo2_motion", self.spo2_motion),
            ("spo2_probe_off", self.spo2_probe_off),
            ("ecg_lead_off", self.ecg_lead_off),
            ("bp_cuff_error", self.bp_cuff_error),
            ("stuck_sensor", self.stuck_sensor),
            ("ddos", self.ddos),
            ("exfiltration", self.exfiltration),
            ("link_flap", self.link_flap),
            ("latency_spike", self.latency_spike),
            ("memory_leak", self.memory_leak),
            ("cpu_saturation", self.cpu_saturation),
            ("crash_loop", self.crash_loop),
            ("disk_fill", self.disk_fill),
        ]
    }
}

impl NetworkConfig {
    fn validate(&self) -> Result<(), (String, String)> {
        check_positive("access_capacity_bits_per_second", self.access_capacity_bits_per_second)?;
        check_positive("ward_uplink_capacity_bits_per_second", self.ward_uplink_capacity_bits_per_second)?;
        check_positive("core_capacity_bits_per_second", self.core_capacity_bits_per_second)?;
        check_positive("cloud_capacity_bits_per_second", self.cloud_capacity_bits_per_second)
    }
}

impl ClusterConfig {
    fn validate(&self) -> Result<(), (String, String)> {
        if self.nodes == 0 || self.nodes > 1000 {
            return Err(("nodes".into(), format!("{} is outside 1..=1000", self.nodes)));
        }
        check_positive("node_cpu_cores", self.node_cpu_cores)?;
        check_positive("node_memory_bytes", self.node_memory_bytes)?;
        check_positive("node_disk_bytes", self.node_disk_bytes)?;
        if self.node_pod_capacity == 0 {
            return Err(("node_pod_capacity".into(), "must be at least 1".into()));
        }
        let capacity = u64::from(self.nodes) * u64::from(self.node_pod_capacity);
        if u64::from(self.pods) > capacity {
            return Err(("pods".into(), format!("{} pods exceed the cluster's capacity of {capacity}", self.pods)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_is_valid_and_has_the_three_core_departments() {
        let cfg = HospitalConfig::embedded_default();
        cfg.validate("<embedded default>").unwrap();
        let kinds: Vec<_> = cfg.departments.iter().map(|d| d.kind).collect();
        for k in [DepartmentKind::Icu, DepartmentKind::Cardiology, DepartmentKind::GeneralMedicine] {
            assert!(kinds.contains(&k), "missing {k:?}");
        }
    }

    #[test]
    fn patients_override_spreads_exactly_n_over_every_ward() {
        for n in [1, 7, 100, 10_000] {
            let cfg = HospitalConfig::embedded_default().with_patients(n);
            cfg.validate("x").unwrap();
            let total: u32 = cfg.wards().map(|w| w.patients.unwrap()).sum();
            assert_eq!(total, n);
        }
    }

    #[test]
    fn unknown_field_is_rejected_with_its_name() {
        let err = HospitalConfig::from_yaml("departments: []\nbedz: 3\n", "h.yaml").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("h.yaml:"), "{msg}");
        assert!(msg.contains("bedz"), "{msg}");
    }

    #[test]
    fn invalid_field_names_file_field_and_reason() {
        let yaml =
            "departments:\n  - name: icu\n    kind: icu\n    wards:\n      - {name: icu-1, beds: 4, patients: 9}\n";
        let cfg = HospitalConfig::from_yaml(yaml, "h.yaml").unwrap();
        let msg = cfg.validate("h.yaml").unwrap_err().to_string();
        assert_eq!(msg, "h.yaml: field `departments[0].wards[0].patients`: 9 patients do not fit in 4 beds");
    }

    #[test]
    fn bad_label_values_and_duplicates_are_rejected() {
        let yaml = "departments:\n  - name: ICU\n    kind: icu\n    wards: [{name: a, beds: 1}]\n";
        let cfg = HospitalConfig::from_yaml(yaml, "h").unwrap();
        assert!(cfg.validate("h").unwrap_err().to_string().contains("departments[0].name"));
        let yaml = "departments:\n  - name: icu\n    kind: icu\n    wards: [{name: a, beds: 1}, {name: a, beds: 2}]\n";
        let cfg = HospitalConfig::from_yaml(yaml, "h").unwrap();
        assert!(cfg.validate("h").unwrap_err().to_string().contains("duplicate ward"));
    }

    #[test]
    fn negative_rate_is_rejected() {
        let yaml =
            "departments:\n  - name: icu\n    kind: icu\n    wards: [{name: a, beds: 1}]\nevents: {sepsis: -1}\n";
        let cfg = HospitalConfig::from_yaml(yaml, "h").unwrap();
        let msg = cfg.validate("h").unwrap_err().to_string();
        assert!(msg.contains("events.sepsis"), "{msg}");
    }
}
