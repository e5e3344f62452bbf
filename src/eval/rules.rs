//! The repository's rule files (`prometheus/rules/*.yml`), read as Prometheus reads them: groups
//! with their `interval` (the global `evaluation_interval` when absent), alerting rules with
//! `expr`, `for`, `keep_firing_for` and `labels`. Expressions are kept as text for Prometheus to
//! evaluate; nothing here interprets PromQL.
//!
//! Recording rules are counted, not evaluated: their outputs exist only where a Prometheus has
//! recorded them, never over a backfilled past. An alerting rule that uses one gets the recording
//! rule's expression in its place (reported as a [`Substitution`]; `recording.rs`); a use that
//! cannot be replaced so is an error that names both rules.
//!
//! Field names and defaults follow Prometheus' rule-file format
//! (<https://prometheus.io/docs/prometheus/latest/configuration/recording_rules/>,
//! <https://prometheus.io/docs/prometheus/latest/configuration/alerting_rules/>); unknown fields
//! are errors, as Prometheus' strict YAML reading makes them.

use super::recording::{substitute, Recording};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Prometheus' own default `global.evaluation_interval`, when the configuration gives none
/// (<https://prometheus.io/docs/prometheus/latest/configuration/configuration/>).
pub const PROMETHEUS_DEFAULT_EVALUATION_INTERVAL_MS: i64 = 60_000;

/// Why the rule files cannot be evaluated.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// A file or directory could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is not a valid rule file (or configuration).
    #[error("{file}: {source}")]
    Yaml {
        /// The file.
        file: String,
        /// What the YAML reader says.
        source: serde_yaml::Error,
    },
    /// A rule's field is unusable.
    #[error("{file}: {rule}: {reason}")]
    Rule {
        /// The file.
        file: String,
        /// The group and rule, e.g. `group wardwatch-cluster, rule NodeDiskFull`.
        rule: String,
        /// What is wrong and what to do.
        reason: String,
    },
}

/// One alerting rule, ready for Prometheus to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    /// `alert:` name.
    pub name: String,
    /// The rule file's name (e.g. `clinical.yml`).
    pub file: String,
    /// The group's name.
    pub group: String,
    /// The group's evaluation interval, ms.
    pub interval_ms: i64,
    /// The expression as evaluated (recording rules' outputs replaced by their expressions).
    pub expr: String,
    /// `for:`, ms (0 when absent).
    pub for_ms: i64,
    /// `keep_firing_for:`, ms (0 when absent).
    pub keep_firing_for_ms: i64,
    /// `labels:`, added to every alert of the rule.
    pub labels: BTreeMap<String, String>,
}

impl AlertRule {
    /// The `severity` label (empty when the rule has none).
    pub fn severity(&self) -> &str {
        self.labels.get("severity").map_or("", String::as_str)
    }
}

/// An alerting rule that used a recording rule's output, and got its expression instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Substitution {
    /// The alerting rule.
    pub alert: String,
    /// The recording rule whose expression replaced its name.
    pub record: String,
}

/// Every rule of the files.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSet {
    /// Alerting rules, in file (sorted by name), group and rule order.
    pub alerts: Vec<AlertRule>,
    /// Rule groups.
    pub groups: usize,
    /// Recording rules.
    pub recording: usize,
    /// Recording rules' outputs replaced in alerting rules.
    pub substitutions: Vec<Substitution>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    groups: Vec<RawGroup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    name: String,
    interval: Option<String>,
    #[serde(default)]
    limit: u64,
    rules: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    alert: Option<String>,
    record: Option<String>,
    expr: String,
    #[serde(rename = "for")]
    for_: Option<String>,
    keep_firing_for: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    #[allow(dead_code)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Config {
    #[serde(default)]
    global: Global,
}

#[derive(Deserialize, Default)]
struct Global {
    evaluation_interval: Option<String>,
}

/// `global.evaluation_interval` of a Prometheus configuration, ms (Prometheus' default when unset).
pub fn evaluation_interval(file: &str, config_yaml: &str) -> Result<i64, RulesError> {
    let config: Config =
        serde_yaml::from_str(config_yaml).map_err(|source| RulesError::Yaml { file: file.to_string(), source })?;
    match config.global.evaluation_interval {
        None => Ok(PROMETHEUS_DEFAULT_EVALUATION_INTERVAL_MS),
        Some(text) => crate::duration::prometheus_ms(&text).map_err(|reason| RulesError::Rule {
            file: file.to_string(),
            rule: "global.evaluation_interval".into(),
            reason,
        }),
    }
}

/// Read every `*.yml` / `*.yaml` file of `dir` (sorted by name), groups without an `interval`
/// evaluating every `default_interval_ms`.
pub fn load(dir: &Path, default_interval_ms: i64) -> Result<RuleSet, RulesError> {
    load_overlaid(dir, None, default_interval_ms)
}

/// As [`load`], with each file of `overlay` (if any) in place of the file of the same name in
/// `dir`, or beside them when `dir` has none.
pub fn load_overlaid(dir: &Path, overlay: Option<&Path>, default_interval_ms: i64) -> Result<RuleSet, RulesError> {
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    for d in std::iter::once(dir).chain(overlay) {
        files.extend(read_rule_files(d)?);
    }
    parse(&files.into_iter().collect::<Vec<_>>(), default_interval_ms)
}

/// The rule files of `dir` as (file name, text).
fn read_rule_files(dir: &Path) -> Result<Vec<(String, String)>, RulesError> {
    let read_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RulesError::Read { path, source }
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_err(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    paths.sort();
    let mut files = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(read_err(&path))?;
        let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        files.push((name, text));
    }
    Ok(files)
}

/// Read rule files given as (name, text).
pub fn parse(files: &[(String, String)], default_interval_ms: i64) -> Result<RuleSet, RulesError> {
    let mut set = RuleSet { alerts: Vec::new(), groups: 0, recording: 0, substitutions: Vec::new() };
    let mut records = Vec::new();
    for (file, text) in files {
        let parsed: RuleFile =
            serde_yaml::from_str(text).map_err(|source| RulesError::Yaml { file: file.clone(), source })?;
        for g in parsed.groups {
            set.groups += 1;
            let err = |rule: &str, reason: String| RulesError::Rule {
                file: file.clone(),
                rule: format!("group {}, rule {rule}", g.name),
                reason,
            };
            if g.limit != 0 {
                return Err(err("-", "an alert `limit` is not modelled by the evaluation".into()));
            }
            let interval_ms = match &g.interval {
                Some(text) => crate::duration::prometheus_ms(text).map_err(|r| err("-", format!("interval: {r}")))?,
                None => default_interval_ms,
            };
            if interval_ms <= 0 {
                return Err(err("-", "the interval must be positive".into()));
            }
            for r in g.rules {
                match (r.alert, r.record) {
                    (Some(name), None) => {
                        let duration = |field: &str, v: &Option<String>| {
                            v.as_deref()
                                .map_or(Ok(0), crate::duration::prometheus_ms)
                                .map_err(|e| err(&name, format!("{field}: {e}")))
                        };
                        let for_ms = duration("for", &r.for_)?;
                        let keep_firing_for_ms = duration("keep_firing_for", &r.keep_firing_for)?;
                        if let Some((l, _)) = r.labels.iter().find(|(_, v)| v.contains("{{")) {
                            return Err(err(&name, format!("label `{l}` is a template, which is not expanded")));
                        }
                        set.alerts.push(AlertRule {
                            name,
                            file: file.clone(),
                            group: g.name.clone(),
                            interval_ms,
                            expr: r.expr.trim().to_string(),
                            for_ms,
                            keep_firing_for_ms,
                            labels: r.labels,
                        });
                    }
                    (None, Some(name)) => {
                        set.recording += 1;
                        records.push(Recording {
                            name,
                            expr: r.expr.trim().to_string(),
                            labelled: !r.labels.is_empty(),
                        });
                    }
                    _ => return Err(err("?", "a rule needs exactly one of `alert` and `record`".into())),
                }
            }
        }
    }
    for alert in &mut set.alerts {
        let (expr, used) = substitute(&alert.expr, &records).map_err(|reason| RulesError::Rule {
            file: alert.file.clone(),
            rule: format!("group {}, rule {}", alert.group, alert.name),
            reason,
        })?;
        alert.expr = expr;
        set.substitutions.extend(used.into_iter().map(|record| Substitution { alert: alert.name.clone(), record }));
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Result<RuleSet, RulesError> {
        parse(&[("t.yml".to_string(), text.to_string())], 15_000)
    }

    #[test]
    fn groups_give_their_interval_or_the_global_one_and_rules_their_for_and_labels() {
        let set = one("groups:
  - name: fast
    interval: 5s
    rules:
      - alert: Low
        expr: |
          m < 1
        for: 10s
        keep_firing_for: 1m
        labels: {severity: critical, class: clinical}
        annotations: {summary: low}
      - record: r:m:max
        expr: max(m)
  - name: slow
    rules:
      - alert: High
        expr: m > 9
")
        .unwrap();
        assert_eq!((set.groups, set.recording, set.alerts.len()), (2, 1, 2));
        let low = &set.alerts[0];
        assert_eq!((low.interval_ms, low.for_ms, low.keep_firing_for_ms), (5_000, 10_000, 60_000));
        assert_eq!((low.expr.as_str(), low.severity(), low.group.as_str()), ("m < 1", "critical", "fast"));
        let high = &set.alerts[1];
        assert_eq!((high.interval_ms, high.for_ms, high.severity()), (15_000, 0, ""));
        assert!(set.substitutions.is_empty());
    }

    #[test]
    fn the_global_evaluation_interval_is_read_with_prometheus_default() {
        assert_eq!(evaluation_interval("p.yml", "global:\n  evaluation_interval: 15s\n").unwrap(), 15_000);
        assert_eq!(evaluation_interval("p.yml", "scrape_configs: []\n").unwrap(), 60_000);
        assert!(evaluation_interval("p.yml", "global:\n  evaluation_interval: soon\n").is_err());
    }

    #[test]
    fn unknown_fields_bad_durations_and_templated_labels_are_errors_naming_the_rule() {
        let e = one("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: m\n        fro: 1m\n");
        assert!(e.unwrap_err().to_string().contains("fro"));
        let e = one("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: m\n        for: 1 min\n");
        assert!(e.unwrap_err().to_string().contains("group g, rule A: for"));
        let e = one("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: m\n        labels: {x: '{{ $value }}'}\n");
        assert!(e.unwrap_err().to_string().contains("template"));
    }

    #[test]
    fn the_repository_rules_all_read() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("prometheus/rules");
        let set = load(&dir, 15_000).unwrap();
        assert!(set.alerts.len() >= 40 && set.recording > 0, "{} alerts", set.alerts.len());
        let hypoxia = |set: &RuleSet| {
            let r = set.alerts.iter().find(|r| r.name == "HypoxiaDetected").expect("the SpO2 rule");
            (r.interval_ms, r.for_ms, r.expr.contains("alarm_low"))
        };
        assert_eq!(hypoxia(&set), (5_000, 15_000, true), "against each patient's own limit, for 15 s");
        assert!(set.alerts.iter().all(|r| r.interval_ms > 0 && !r.expr.is_empty()));
        let baseline = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("prometheus/baseline");
        let plain = load_overlaid(&dir, Some(&baseline), 15_000).unwrap();
        assert_eq!(hypoxia(&plain), (5_000, 10_000, false), "the baseline: one limit, 10 s");
        let infra =
            |set: &RuleSet| set.alerts.iter().filter(|r| r.labels.get("class").is_none_or(|c| c != "clinical")).count();
        assert_eq!(infra(&plain), infra(&set), "the baseline keeps the infrastructure rules");
        assert!(infra(&set) > 5);
    }
}
