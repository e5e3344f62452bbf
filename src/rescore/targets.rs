//! Which series belong to an alert: configuration keyed by labels, with defaults for the
//! repository's rules.
//!
//! A target applies to an alert when every one of its `match` regexes fully matches the alert's
//! label (a missing label counts as empty). Its queries are PromQL with `$label` placeholders,
//! replaced by the alert's label values (escaped for a PromQL string). The first target that
//! matches wins. The alert's focus signal is looked up by alert name, and otherwise found in the
//! rule's expression (its `generatorURL`).

use super::history::{Naming, SignalGroup};
use super::score::EntityKind;
use crate::alert::payload::LabelSet;
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The default targets, matching the repository's exporter and rules.
pub const DEFAULT_TARGETS_YAML: &str = include_str!("default_targets.yaml");

/// One query of a target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryConfig {
    /// PromQL with `$label` placeholders.
    pub query: String,
    /// Every series the query returns is this signal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// Or: series named by metric name → signal.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub signals: BTreeMap<String, String>,
    /// With `signals`: the label telling apart the series of one metric (e.g. `channel`), each
    /// becoming the signal `<signal>:<label value>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// One kind of alert subject and how to fetch its history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// What the alert is about.
    pub entity: EntityKind,
    /// Label → regex (fully anchored); all must match.
    #[serde(rename = "match")]
    pub matchers: BTreeMap<String, String>,
    /// The labels naming the entity, e.g. `[patient]` (its key in the audit log and in memory).
    pub key: Vec<String>,
    /// The signal groups, one request each.
    pub queries: Vec<QueryConfig>,
    /// The window's length for this target (default: `rescoring.lookback`), e.g. `5m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookback: Option<String>,
    /// The window's step for this target (default: `rescoring.step`), e.g. `1s` for a monitor's
    /// numerics scraped every second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
}

/// The whole mapping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetsConfig {
    /// Targets, first match wins.
    pub targets: Vec<TargetConfig>,
    /// Alert name → the signal its threshold is on; `$label` is replaced by the alert's value
    /// (`ArrhythmiaAlarm: "arrhythmia:$type"`).
    #[serde(default)]
    pub focus: BTreeMap<String, String>,
    /// Label values that name a signal by another name where a focus takes them (`$label`):
    /// NEWS2's parameter names, such as `pulse: heart_rate`.
    #[serde(default)]
    pub signal_names: BTreeMap<String, String>,
}

impl Default for TargetsConfig {
    fn default() -> Self {
        serde_yaml::from_str(DEFAULT_TARGETS_YAML).expect("the embedded default targets are valid")
    }
}

/// Why the targets configuration is unusable.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TargetsError {
    /// A matcher is not a valid regex.
    #[error("targets[{index}].match.{label}: invalid regex {pattern:?}: {reason}")]
    Regex {
        /// Target index.
        index: usize,
        /// The label.
        label: String,
        /// The pattern.
        pattern: String,
        /// The regex error.
        reason: String,
    },
    /// A query names neither `signal` nor `signals`, or both.
    #[error("targets[{index}].queries[{query}]: give exactly one of `signal` or `signals`")]
    Naming {
        /// Target index.
        index: usize,
        /// Query index.
        query: usize,
    },
    /// A target's lookback or step is not a positive duration.
    #[error("targets[{index}].{field}: {reason}")]
    Window {
        /// Target index.
        index: usize,
        /// `lookback` or `step`.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// A target has no query or no key.
    #[error("targets[{index}]: {reason}")]
    Empty {
        /// Target index.
        index: usize,
        /// What is missing.
        reason: &'static str,
    },
}

/// A validated target.
#[derive(Debug, Clone)]
struct Target {
    entity: EntityKind,
    matchers: Vec<(String, Regex)>,
    key: Vec<String>,
    queries: Vec<QueryConfig>,
    lookback: Option<std::time::Duration>,
    step: Option<std::time::Duration>,
}

/// Validated targets, ready to resolve alerts.
#[derive(Debug, Clone)]
pub struct Targets {
    targets: Vec<Target>,
    focus: BTreeMap<String, String>,
    signal_names: BTreeMap<String, String>,
}

/// What [`Targets::resolve`] gives for one alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// What the alert is about.
    pub entity: EntityKind,
    /// The entity's key, e.g. `patient=p00003`.
    pub key: String,
    /// The labels the key is made of, with the alert's values.
    pub key_labels: Vec<(String, String)>,
    /// The queries, placeholders filled in.
    pub groups: Vec<SignalGroup>,
    /// The signal the alert's threshold is on, if known.
    pub focus: Option<String>,
    /// This target's window length, when it has its own.
    pub lookback: Option<std::time::Duration>,
    /// This target's window step, when it has its own.
    pub step: Option<std::time::Duration>,
}

impl Targets {
    /// Validate a configuration.
    pub fn new(config: &TargetsConfig) -> Result<Self, TargetsError> {
        let mut targets = Vec::new();
        for (index, t) in config.targets.iter().enumerate() {
            let mut matchers = Vec::new();
            for (label, pattern) in &t.matchers {
                let re = Regex::new(&format!("^(?:{pattern})$")).map_err(|e| TargetsError::Regex {
                    index,
                    label: label.clone(),
                    pattern: pattern.clone(),
                    reason: e.to_string(),
                })?;
                matchers.push((label.clone(), re));
            }
            if t.queries.is_empty() {
                return Err(TargetsError::Empty { index, reason: "`queries` is empty" });
            }
            if t.key.is_empty() {
                return Err(TargetsError::Empty { index, reason: "`key` is empty" });
            }
            for (query, q) in t.queries.iter().enumerate() {
                if q.signal.is_some() != q.signals.is_empty() || (q.label.is_some() && q.signals.is_empty()) {
                    return Err(TargetsError::Naming { index, query });
                }
            }
            let window = |field: &'static str, text: &Option<String>| {
                text.as_deref()
                    .map(|t| {
                        crate::duration::parse(t, true).map_err(|reason| TargetsError::Window { index, field, reason })
                    })
                    .transpose()
            };
            targets.push(Target {
                entity: t.entity,
                matchers,
                key: t.key.clone(),
                queries: t.queries.clone(),
                lookback: window("lookback", &t.lookback)?,
                step: window("step", &t.step)?,
            });
        }
        Ok(Self { targets, focus: config.focus.clone(), signal_names: config.signal_names.clone() })
    }

    /// The entity, queries and focus for an alert; `None` when no target matches.
    pub fn resolve(&self, labels: &LabelSet, generator_url: &str) -> Option<Resolved> {
        let label = |name: &str| labels.get(name).map(String::as_str).unwrap_or("");
        let target = self.targets.iter().find(|t| t.matchers.iter().all(|(l, re)| re.is_match(label(l))))?;
        let key_labels: Vec<(String, String)> = target.key.iter().map(|k| (k.clone(), label(k).to_owned())).collect();
        let key = key_labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
        let groups = target
            .queries
            .iter()
            .map(|q| SignalGroup {
                query: substitute(&q.query, labels),
                naming: match (&q.signal, &q.label) {
                    (Some(s), _) => Naming::One(s.clone()),
                    (None, Some(label)) => Naming::ByMetricAndLabel { names: q.signals.clone(), label: label.clone() },
                    (None, None) => Naming::ByMetric(q.signals.clone()),
                },
            })
            .collect();
        let alertname = label("alertname");
        let focus = match self.focus.get(alertname) {
            Some(f) => Some(fill(f, labels, |v| self.signal_names.get(v).cloned().unwrap_or_else(|| v.to_owned()))),
            None => focus_from_expression(target, generator_url),
        };
        let (lookback, step) = (target.lookback, target.step);
        Some(Resolved { entity: target.entity, key, key_labels, groups, focus, lookback, step })
    }
}

/// The first of the target's metric names that the rule's expression selects, as its signal.
fn focus_from_expression(target: &Target, generator_url: &str) -> Option<String> {
    let expr = crate::promql::expression_from_generator_url(generator_url)?;
    let selected = crate::promql::metric_names(&expr);
    let mut best: Option<(usize, &String)> = None;
    for q in &target.queries {
        let named = q.signals.iter().map(|(m, s)| (m.clone(), s));
        let single = q
            .signal
            .iter()
            .flat_map(|s| crate::promql::metric_names(&q.query).into_iter().take(1).map(move |m| (m, s)));
        for (metric, signal) in named.chain(single) {
            if let Some(at) = selected.iter().position(|m| *m == metric) {
                if best.is_none_or(|(b, _)| at < b) {
                    best = Some((at, signal));
                }
            }
        }
    }
    best.map(|(_, s)| s.clone())
}

/// `value` escaped for a double-quoted PromQL string.
pub fn promql_string(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Replace `$label` with the alert's value, escaped for a double-quoted PromQL string.
fn substitute(query: &str, labels: &LabelSet) -> String {
    fill(query, labels, promql_string)
}

/// Replace `$label` with the alert's value, passed through `escape`.
fn fill(query: &str, labels: &LabelSet, escape: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(query.len());
    let mut rest = query;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let len = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
        if len == 0 {
            out.push('$');
        } else {
            out.push_str(&escape(labels.get(&after[..len]).map(String::as_str).unwrap_or("")));
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> LabelSet {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_patient_alert_fetches_that_patients_vitals() {
        let targets = Targets::new(&TargetsConfig::default()).unwrap();
        let r = targets.resolve(&labels(&[("alertname", "HypoxiaDetected"), ("patient", "p00003")]), "").unwrap();
        assert_eq!(r.entity, EntityKind::Patient);
        assert_eq!(r.key, "patient=p00003");
        assert_eq!(r.focus.as_deref(), Some("spo2"));
        assert!(r.groups[0].query.contains("patient=\"p00003\""), "{:?}", r.groups[0]);
        let Naming::ByMetric(names) = &r.groups[0].naming else { panic!("patient vitals are named by metric") };
        assert_eq!(names.get("wardwatch_patient_spo2_ratio").map(String::as_str), Some("spo2"));
    }

    #[test]
    fn an_arrhythmia_alarm_fetches_the_monitors_numerics_per_channel_at_one_second() {
        let targets = Targets::new(&TargetsConfig::default()).unwrap();
        let alarm = [("alertname", "ArrhythmiaAlarm"), ("patient", "v131l"), ("type", "asystole")];
        let r = targets.resolve(&labels(&alarm), "").unwrap();
        assert_eq!((r.key.as_str(), r.focus.as_deref()), ("patient=v131l", Some("arrhythmia:asystole")));
        assert_eq!(
            (r.lookback, r.step),
            (Some(std::time::Duration::from_secs(300)), Some(std::time::Duration::from_secs(1)))
        );
        let Naming::ByMetricAndLabel { names, label } = &r.groups[0].naming else { panic!("{:?}", r.groups[0]) };
        assert_eq!(label, "channel");
        let published: BTreeMap<String, String> =
            crate::monitor::NUMERICS.iter().map(|n| (n.metric.to_string(), n.signal.to_string())).collect();
        assert_eq!(names, &published, "the targets name every numeric the monitor publishes, as it names them");
        let series: BTreeMap<String, String> =
            [("__name__", "wardwatch_patient_monitor_rate_5_beats_per_minute"), ("channel", "ecg_ii")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        assert_eq!(r.groups[0].naming.signal_of(&series).as_deref(), Some("rate5:ecg_ii"));
        let other = targets.resolve(&labels(&[("alertname", "HypoxiaDetected"), ("patient", "v131l")]), "").unwrap();
        assert_eq!((other.lookback, other.step), (None, None), "other patient alerts keep the default window");
    }

    #[test]
    fn infrastructure_alerts_map_to_their_entity() {
        let targets = Targets::new(&TargetsConfig::default()).unwrap();
        let device = targets.resolve(&labels(&[("alertname", "X"), ("device", "mon-icu-1-03")]), "").unwrap();
        assert_eq!(device.entity, EntityKind::Device);
        let link = targets.resolve(&labels(&[("alertname", "X"), ("link", "icu-1-uplink")]), "").unwrap();
        assert_eq!(link.entity, EntityKind::Link);
        let node = targets.resolve(&labels(&[("alertname", "X"), ("node", "node-2")]), "").unwrap();
        assert_eq!(node.entity, EntityKind::Node);
        let cluster = targets.resolve(&labels(&[("alertname", "X"), ("class", "cluster")]), "").unwrap();
        assert_eq!(cluster.entity, EntityKind::Cluster);
        assert!(targets.resolve(&labels(&[("alertname", "Watchdog")]), "").is_none());
    }

    #[test]
    fn a_news2_parameter_alert_is_about_that_parameters_signal() {
        let targets = Targets::new(&TargetsConfig::default()).unwrap();
        let focus = |parameter: &str| {
            let alert = [("alertname", "News2SingleParameter"), ("patient", "p1"), ("parameter", parameter)];
            targets.resolve(&labels(&alert), "").unwrap().focus.unwrap()
        };
        assert_eq!(focus("pulse"), "heart_rate");
        assert_eq!(focus("systolic_bp"), "systolic");
        assert_eq!(focus("spo2"), "spo2");
        assert_eq!(focus("respiration_rate"), "respiration_rate");
        assert_eq!(focus("consciousness"), "consciousness");
    }

    #[test]
    fn focus_is_found_in_the_rules_expression_when_the_name_is_unknown() {
        let targets = Targets::new(&TargetsConfig::default()).unwrap();
        let url = "http://p:9090/graph?g0.expr=wardwatch_patient_lactate_mmol_per_liter+%3E%3D+4&g0.tab=1";
        let r = targets.resolve(&labels(&[("alertname", "SomeNewRule"), ("patient", "p1")]), url).unwrap();
        assert_eq!(r.focus.as_deref(), Some("lactate"));
    }

    #[test]
    fn label_values_cannot_break_out_of_the_query_string() {
        let q = substitute(r#"x{patient="$patient"}"#, &labels(&[("patient", r#"p"}or{a="\"#)]));
        assert_eq!(q, r#"x{patient="p\"}or{a=\"\\"}"#);
        assert_eq!(substitute("a $ b $missing", &labels(&[])), "a $ b ");
    }

    #[test]
    fn bad_configuration_is_refused_with_its_place() {
        let mut config = TargetsConfig::default();
        config.targets[0].matchers.insert("patient".into(), "(".into());
        let e = Targets::new(&config).unwrap_err();
        assert!(e.to_string().starts_with("targets[0].match.patient: invalid regex"), "{e}");
        let mut config = TargetsConfig::default();
        config.targets[2].queries[0].signals.insert("a".into(), "b".into());
        config.targets[2].queries[0].signal = Some("x".into());
        assert_eq!(Targets::new(&config).unwrap_err(), TargetsError::Naming { index: 2, query: 0 });
        let mut config = TargetsConfig::default();
        config.targets[0].step = Some("0s".into());
        let e = Targets::new(&config).unwrap_err().to_string();
        assert!(e.starts_with("targets[0].step:"), "{e}");
    }
}
