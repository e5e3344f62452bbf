//! From named features to one calibrated score in [0, 1], with reasons in words and numbers.

use super::artifact::ramp;
use super::explain;
use super::features::{self, signals, STATS};
use super::model::{self, AnomalyModel, Fit};
use super::window::{signal, Window};
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

impl Subject {
    /// The bedside monitor's arrhythmia alarm this is, if it is one (focus `arrhythmia:<type>`).
    pub fn arrhythmia(&self) -> Option<super::arrhythmia::Alarm> {
        self.focus.as_deref().and_then(super::arrhythmia::Alarm::from_focus)
    }
}

impl EntityKind {
    /// Every kind, in index order.
    pub const ALL: [EntityKind; 5] =
        [EntityKind::Patient, EntityKind::Device, EntityKind::Link, EntityKind::Node, EntityKind::Cluster];

    /// Position in [`EntityKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Label value, e.g. `patient`.
    pub fn as_str(self) -> &'static str {
        ["patient", "device", "link", "node", "cluster"][self as usize]
    }
}

/// Weights of the logistic combination (log-odds per unit of each component in [0, 1]). Chosen so
/// that: a severe level alone is not enough (bias −2 + severity 3 → 0.73, below escalation), a
/// severe level the patient's partners corroborate escalates, and strong artifact evidence (−6)
/// outweighs everything else together.
const BIAS: f64 = -2.0;
const W_SEVERITY: f64 = 3.0;
const W_DEVIATION: f64 = 1.2;
const W_ANOMALY: f64 = 1.0;
const W_CORROBORATION: f64 = 1.5;
const W_ARTIFACT: f64 = 6.0;
/// Most reasons an assessment carries.
const MAX_REASONS: usize = 4;

/// The components of a score, each in [0, 1], before they are combined.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Components {
    /// How dangerous the focus level is in itself (see [`super::explain::severity`]).
    pub severity: f64,
    /// How far the focus level is from the entity's own baseline: robust |z| 2 → 0, 8 → 1.
    pub deviation: f64,
    /// Multivariate anomaly from the model: `score_samples` −0.5 → 0, −0.75 → 1.
    pub anomaly: f64,
    /// Partner signals corroborate a real change.
    pub corroboration: f64,
    /// Likelihood of an artifact: the noisy-or of the artifact rules.
    pub artifact: f64,
}

impl Components {
    /// The calibrated score: a logistic of the weighted components.
    pub fn score(&self) -> f64 {
        let logit = BIAS
            + W_SEVERITY * self.severity
            + W_DEVIATION * self.deviation
            + W_ANOMALY * self.anomaly
            + W_CORROBORATION * self.corroboration
            - W_ARTIFACT * self.artifact;
        1.0 / (1.0 + (-logit).exp())
    }
}

/// Turns an alert's features into an [`Assessment`]; holds one anomaly model per entity kind.
pub struct Scorer {
    models: [Option<Box<dyn AnomalyModel>>; 5],
    version: String,
    /// Thresholds for bedside monitors' arrhythmia alarms.
    arrhythmia: super::arrhythmia::Params,
    /// Where the anomaly models' rows came from.
    training: serde_json::Value,
}

impl std::fmt::Debug for Scorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scorer").field("version", &self.version).finish_non_exhaustive()
    }
}

/// Version of the feature set and of the score's combination; part of [`Scorer::version`].
pub const SCORE_VERSION: &str = "rescore-1";

impl Scorer {
    /// A scorer without anomaly models (their component is 0): rules and baselines only.
    pub fn without_models() -> Self {
        Self {
            models: Default::default(),
            version: format!("{SCORE_VERSION}+no-model"),
            arrhythmia: Default::default(),
            training: serde_json::Value::Null,
        }
    }

    /// A scorer with a model per kind fitted on `rows[kind.index()]` (kinds with no rows get none).
    pub fn fit(rows: &[Vec<Vec<f32>>; 5], fit: Fit, seed: u64, label: &str) -> Self {
        let mut models: [Option<Box<dyn AnomalyModel>>; 5] = Default::default();
        for (slot, rows) in models.iter_mut().zip(rows) {
            if !rows.is_empty() {
                *slot = Some(fit(rows, seed));
            }
        }
        Self {
            models,
            version: format!("{SCORE_VERSION}+{label}-seed{seed}"),
            arrhythmia: Default::default(),
            training: serde_json::Value::Null,
        }
    }

    /// The same scorer under another version (a model file's, named by its content).
    pub fn with_version(mut self, version: String) -> Self {
        self.version = version;
        self
    }

    /// The same scorer, its training described by `training` (for `/model_info`).
    pub fn with_training(mut self, training: serde_json::Value) -> Self {
        self.training = training;
        self
    }

    /// Where the anomaly models' rows came from (null when unknown).
    pub fn training(&self) -> &serde_json::Value {
        &self.training
    }

    /// The same scorer judging arrhythmia alarms with thresholds `params`.
    pub fn with_arrhythmia(mut self, params: super::arrhythmia::Params) -> Self {
        self.arrhythmia = params;
        self
    }

    /// The thresholds arrhythmia alarms are judged with.
    pub fn arrhythmia_params(&self) -> &super::arrhythmia::Params {
        &self.arrhythmia
    }

    /// The model version: feature set, combination, anomaly model and its training seed.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Extract the features of `window` and score them.
    pub fn assess(&self, subject: &Subject, window: &Window) -> Assessment {
        if subject.arrhythmia().is_some() {
            return self.score(subject, &super::arrhythmia::summarise(window));
        }
        self.score(subject, &features::extract(subject, window))
    }

    /// The components of a score. Missing features take their neutral value: a missing statistic
    /// or z is "at baseline" (0), missing artifact or corroboration evidence is 0, and a missing
    /// focus level has no severity — so an empty feature set scores low (0.12) but not zero.
    pub fn components(&self, subject: &Subject, features: &Features) -> Components {
        let get = |k: &str| features.get(k).copied().filter(|v| v.is_finite()).unwrap_or(0.0);
        let focus = subject.focus.as_deref().unwrap_or("");
        let severity = features.get("focus.level").filter(|v| v.is_finite()).map_or(0.0, |&level| {
            match (focus, features.get("focus.baseline")) {
                (signal::SPO2, Some(&baseline)) if baseline.is_finite() => explain::spo2_severity(level, baseline),
                _ => explain::severity(focus, level, get("focus.z")),
            }
        });
        let anomaly = self.models[subject.entity.index()].as_ref().map_or(0.0, |m| {
            let mut row = Vec::with_capacity(16);
            model::vector(subject.entity, features, &mut row);
            ramp(-m.score_samples(&row), 0.5, 0.75)
        });
        let artifact = 1.0 - ARTIFACT_RULES.iter().map(|k| 1.0 - get(k).clamp(0.0, 1.0)).product::<f64>();
        Components {
            severity,
            deviation: ramp(get("focus.z").abs(), 2.0, 8.0),
            anomaly,
            corroboration: get("evidence.corroboration").clamp(0.0, 1.0),
            artifact,
        }
    }

    /// Score named features (the REST API's input); see [`Scorer::components`] for missing ones.
    /// A monitor's arrhythmia alarm is judged on its own features ([`super::arrhythmia`]).
    pub fn score(&self, subject: &Subject, features: &Features) -> Assessment {
        if let Some(alarm) = subject.arrhythmia() {
            return super::arrhythmia::assess(alarm, features, &self.arrhythmia);
        }
        let c = self.components(subject, features);
        let mut reasons = explain::reasons(subject, features, &c);
        reasons.sort_by(|a, b| b.weight.abs().total_cmp(&a.weight.abs()));
        reasons.truncate(MAX_REASONS);
        Assessment { score: c.score(), artifact: c.artifact, reasons }
    }
}

/// The artifact rules' feature names.
pub const ARTIFACT_RULES: [&str; 5] =
    ["artifact.probe_off", "artifact.lead_off", "artifact.impossible_rate", "artifact.stuck", "artifact.bp_cuff"];

/// Every feature name [`features::extract`] can produce for an entity kind, sorted.
pub fn feature_names(kind: EntityKind) -> Vec<String> {
    let mut names: Vec<String> = signals(kind)
        .iter()
        .map(|s| s.name)
        .chain(["focus"])
        .flat_map(|p| STATS.iter().map(move |stat| format!("{p}.{stat}")))
        .chain(ARTIFACT_RULES.iter().map(|s| s.to_string()))
        .chain(["evidence.corroboration".to_string()])
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spo2_alert() -> Subject {
        Subject {
            alertname: "HypoxiaDetected".into(),
            severity: "critical".into(),
            entity: EntityKind::Patient,
            focus: Some("spo2".into()),
        }
    }

    fn features(pairs: &[(&str, f64)]) -> Features {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn the_score_rises_with_the_severity_of_the_level() {
        let s = Scorer::without_models();
        let mut last = 0.0;
        for level in [0.93, 0.91, 0.89, 0.87, 0.85, 0.80] {
            let f = features(&[("focus.level", level), ("focus.baseline", 0.97), ("focus.z", (level - 0.97) / 0.005)]);
            let score = s.score(&spo2_alert(), &f).score;
            assert!(score > last, "SpO2 {level}: {score} after {last}");
            last = score;
        }
    }

    #[test]
    fn artifact_evidence_lowers_the_score_and_corroboration_raises_it() {
        let s = Scorer::without_models();
        let base = [("focus.level", 0.86), ("focus.baseline", 0.97), ("focus.z", -20.0)];
        let plain = s.score(&spo2_alert(), &features(&base));
        let mut probe = base.to_vec();
        probe.push(("artifact.probe_off", 0.9));
        let probe = s.score(&spo2_alert(), &features(&probe));
        let mut real = base.to_vec();
        real.push(("evidence.corroboration", 1.0));
        let real = s.score(&spo2_alert(), &features(&real));
        assert!(probe.score < 0.1 && probe.artifact == 0.9, "{probe:?}");
        assert!(real.score > plain.score && real.score > 0.9, "{real:?}");
        assert!(probe.reasons[0].weight < 0.0 && probe.reasons[0].text.contains("probe-off"), "{:?}", probe.reasons);
        assert!(real.reasons.windows(2).all(|w| w[0].weight.abs() >= w[1].weight.abs()), "most important first");
    }

    #[test]
    fn missing_features_are_neutral_not_an_error() {
        let s = Scorer::without_models();
        let a = s.score(&spo2_alert(), &Features::new());
        assert!((a.score - 1.0 / (1.0 + 2f64.exp())).abs() < 1e-12, "{}", a.score);
        assert_eq!(a.artifact, 0.0);
    }

    #[test]
    fn a_chronically_low_spo2_is_scored_on_the_patients_own_scale() {
        let s = Scorer::without_models();
        let copd = features(&[("focus.level", 0.89), ("focus.baseline", 0.90), ("focus.z", -1.0)]);
        let usual = features(&[("focus.level", 0.89), ("focus.baseline", 0.97), ("focus.z", -12.0)]);
        assert!(s.score(&spo2_alert(), &copd).score < 0.15);
        assert!(s.score(&spo2_alert(), &usual).score > 0.5);
    }

    #[test]
    fn feature_names_cover_every_signal_statistic_and_the_rules() {
        let names = feature_names(EntityKind::Node);
        assert!(names.contains(&"memory.slope_10m".to_string()));
        assert!(names.contains(&"focus.z".to_string()));
        assert!(names.contains(&"artifact.stuck".to_string()));
        assert_eq!(names.len(), (5 + 1) * STATS.len() + ARTIFACT_RULES.len() + 1);
    }
}
