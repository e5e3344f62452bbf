//! Scenario files: events scheduled at known offsets from the start of a run, on named entities.
//!
//! ```yaml
//! events:
//!   - {at: 10m, kind: sepsis, target: p00003, duration: 6h, severity: 0.9}
//!   - {at: 30m, kind: spo2_probe_off, target: p00007, duration: 90s}
//!   - {at: 1h, kind: ddos, duration: 5m}
//!   - {at: 2h, kind: link_flap, target: icu-1-uplink, duration: 10m}
//!   - {at: 3h, kind: memory_leak, target: node-2, duration: 4h}
//! ```
//! Clinical events and artifacts target a patient, `exfiltration` a patient's bedside device (by
//! patient or device name), `link_flap` and `latency_spike` a link, cluster incidents a node;
//! `ddos` always hits the cloud link. `duration` defaults to the middle of the kind's usual range.

use crate::duration::seconds as parse_duration;
use crate::sim::events::{EventClass, EventKind};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A scenario as written in the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The scheduled events.
    pub events: Vec<ScenarioEvent>,
}

/// One scheduled event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioEvent {
    /// Offset from the start of the run, e.g. `10m`.
    pub at: String,
    /// Kind, e.g. `sepsis`.
    pub kind: EventKind,
    /// Patient, device, link or node name; not used by `ddos`.
    #[serde(default)]
    pub target: Option<String>,
    /// How long it lasts, e.g. `6h`.
    #[serde(default)]
    pub duration: Option<String>,
    /// Peak severity in (0, 1]; defaults to 0.9.
    #[serde(default)]
    pub severity: Option<f64>,
}

/// A scenario event with times resolved, ready to be matched to entities.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    /// Seconds after the start of the run.
    pub offset: f64,
    /// Kind.
    pub kind: EventKind,
    /// Entity name, if any.
    pub target: Option<String>,
    /// Seconds, if given.
    pub duration: Option<f64>,
    /// Peak severity.
    pub severity: f64,
}

/// A scenario file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read or parsed.
    #[error(transparent)]
    File(#[from] crate::yaml::YamlError),
    /// A bad value.
    #[error("{path}: field `events[{index}].{field}`: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// Event index.
        index: usize,
        /// Field name.
        field: &'static str,
        /// Reason.
        reason: String,
    },
}

impl Scenario {
    /// Read and parse a scenario file.
    pub fn from_file(path: &Path) -> Result<Vec<Planned>, ScenarioError> {
        let s: Scenario = crate::yaml::read(path)?;
        s.plan(&path.display().to_string())
    }

    /// Parse and validate scenario text; `origin` names the file in errors.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Vec<Planned>, ScenarioError> {
        let s: Scenario = crate::yaml::parse(text, origin)?;
        s.plan(origin)
    }

    /// Resolve durations and check every field.
    pub fn plan(&self, origin: &str) -> Result<Vec<Planned>, ScenarioError> {
        let invalid = |index, field, reason| ScenarioError::Invalid { path: origin.to_string(), index, field, reason };
        let mut out = Vec::with_capacity(self.events.len());
        for (i, e) in self.events.iter().enumerate() {
            let offset = parse_duration(&e.at).map_err(|r| invalid(i, "at", r))?;
            let duration = match &e.duration {
                Some(d) => {
                    let d = parse_duration(d).map_err(|r| invalid(i, "duration", r))?;
                    if d <= 0.0 {
                        return Err(invalid(i, "duration", "must be longer than 0".into()));
                    }
                    Some(d)
                }
                None => None,
            };
            let severity = e.severity.unwrap_or(0.9);
            if !(severity > 0.0 && severity <= 1.0) {
                return Err(invalid(i, "severity", format!("{severity} is outside (0, 1]")));
            }
            let needs_target = e.kind != EventKind::Ddos;
            if needs_target && e.target.is_none() {
                let what = match e.kind.class() {
                    EventClass::Deterioration | EventClass::Artifact => "a patient",
                    EventClass::Network if e.kind == EventKind::Exfiltration => "a patient or device",
                    EventClass::Network => "a link",
                    EventClass::Cluster => "a node",
                };
                return Err(invalid(i, "target", format!("`{}` needs {what}", e.kind.as_str())));
            }
            out.push(Planned { offset, kind: e.kind, target: e.target.clone(), duration, severity });
        }
        out.sort_by(|a, b| a.offset.total_cmp(&b.offset));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_example_parses_in_time_order() {
        let yaml = "events:\n  - {at: 1h, kind: ddos, duration: 5m}\n  - {at: 10m, kind: sepsis, target: p00003, duration: 6h, severity: 0.9}\n";
        let plan = Scenario::from_yaml(yaml, "s.yaml").unwrap();
        assert_eq!(plan[0].kind, EventKind::Sepsis);
        assert_eq!(plan[0].offset, 600.0);
        assert_eq!(plan[0].duration, Some(21_600.0));
        assert_eq!(plan[1].target, None);
    }

    #[test]
    fn missing_target_and_bad_values_name_the_field() {
        let err = Scenario::from_yaml("events:\n  - {at: 1m, kind: link_flap}\n", "s.yaml").unwrap_err();
        assert_eq!(err.to_string(), "s.yaml: field `events[0].target`: `link_flap` needs a link");
        let err = Scenario::from_yaml("events:\n  - {at: soon, kind: ddos}\n", "s.yaml").unwrap_err();
        assert!(err.to_string().contains("events[0].at"), "{err}");
        let err = Scenario::from_yaml("events:\n  - {at: 1m, kind: ddos, severity: 2}\n", "s.yaml").unwrap_err();
        assert!(err.to_string().contains("severity"), "{err}");
    }

    #[test]
    fn unknown_kind_is_rejected_by_name() {
        let err = Scenario::from_yaml("events:\n  - {at: 1m, kind: alien_invasion}\n", "s.yaml").unwrap_err();
        assert!(err.to_string().contains("alien_invasion"), "{err}");
    }
}
