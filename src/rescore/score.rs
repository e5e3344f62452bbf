//! From named features to one calibrated score in [0, 1], with reasons in words and numbers.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What kind of entity an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    /// A patient (labels department, ward, bed, patient).
    Patient,
    /// A bedside device's traffic (labels ward, bed, device).
    Device,
    /// A network link (labels tier, link).
    Link,
    /// A cluster node (label node).
    Node,
    /// The cluster as a whole.
    Cluster,
}

/// The alert being scored, as far as scoring needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subject {
    /// The alert's name, e.g. `HypoxiaDetected`.
    pub alertname: String,
    /// The alert's severity label (`critical`, `warning`, `info`).
    pub severity: String,
    /// What the alert is about.
    pub entity: EntityKind,
    /// The signal whose threshold the alert crossed (see `window::signal`), if one.
    pub focus: Option<String>,
}

/// Named features of one alert's window; names are stable (they are the model's inputs and
/// the REST API's fields).
pub type Features = BTreeMap<String, f64>;

/// One reason behind a score, most important first in [`Assessment::reasons`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    /// In words and numbers, e.g. "SpO2 84% but heart rate and respiration unchanged, signal
    /// quality 0.2 — typical of probe-off".
    pub text: String,
    /// Signed contribution to the score: positive makes the alert more credible.
    pub weight: f64,
}

/// The scored alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assessment {
    /// How credible and severe the situation is, calibrated to [0, 1]; 1 = genuine deterioration.
    pub score: f64,
    /// Likelihood that a sensor artifact caused the alert, [0, 1].
    pub artifact: f64,
    /// The top reasons.
    pub reasons: Vec<Reason>,
}
