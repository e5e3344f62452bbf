//! One alert through the whole chain: target → history → model → policy, within a time budget,
//! failing open. A notification's alerts are rescored together and summed up in one verdict.
//!
//! Failing open means: when the alert maps to no target, the history cannot be read in time, or
//! the model fails, the alert goes out unscored at its normal priority, saying why — never held
//! back, never dropped.

use super::audit::{AuditEntry, Shadow, WindowSpan};
use super::history::{HistoryRequest, HistorySource, Naming, SignalGroup};
use super::policy::{Decision, Policy, Recheck, Verdict};
use super::score::{Assessment, Features, Scorer, Subject};
use super::targets::{promql_string, Targets};
use super::window::Window;
use crate::alert::notification::{GroupVerdict, Notification, Scoring};
use crate::alert::payload::{Alert, LabelSet, Status};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A scoring model as the sidecar uses it: pure, deterministic, cheap enough to run per alert.
pub trait Model: Send + Sync {
    /// Score an alert on its entity's window.
    fn assess(&self, subject: &Subject, window: &Window) -> Result<Assessment, String>;
    /// Score named features directly (the REST API's `/predict`).
    fn assess_features(&self, subject: &Subject, features: &Features) -> Result<Assessment, String>;
    /// A stable identifier of the model (changes when its parameters or training change).
    fn version(&self) -> String;
    /// What `/model_info` shows: training data, features, thresholds.
    fn info(&self) -> serde_json::Value;
    /// The model as it is now, for one that can be replaced while the sidecar runs
    /// ([`ModelSlot`]), so that an alert is scored and labelled by one and the same model;
    /// `None` for a model that never changes.
    fn current(&self) -> Option<Arc<dyn Model>> {
        None
    }
}

/// A model that can be replaced while alerts are being scored (a reload): each use reads the
/// model of the moment, and an alert scored while it is replaced is scored wholly by the old or
/// wholly by the new one.
pub struct ModelSlot {
    model: std::sync::RwLock<Arc<dyn Model>>,
}

impl ModelSlot {
    /// A slot holding `model`.
    pub fn new(model: Arc<dyn Model>) -> Self {
        Self { model: std::sync::RwLock::new(model) }
    }

    /// The model now.
    pub fn get(&self) -> Arc<dyn Model> {
        self.model.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Score with `model` from now on; the model it replaces.
    pub fn replace(&self, model: Arc<dyn Model>) -> Arc<dyn Model> {
        std::mem::replace(&mut *self.model.write().unwrap_or_else(|p| p.into_inner()), model)
    }
}

impl Model for ModelSlot {
    fn assess(&self, subject: &Subject, window: &Window) -> Result<Assessment, String> {
        self.get().assess(subject, window)
    }
    fn assess_features(&self, subject: &Subject, features: &Features) -> Result<Assessment, String> {
        self.get().assess_features(subject, features)
    }
    fn version(&self) -> String {
        self.get().version()
    }
    fn info(&self) -> serde_json::Value {
        self.get().info()
    }
    fn current(&self) -> Option<Arc<dyn Model>> {
        Some(self.get())
    }
}

impl Model for Scorer {
    fn assess(&self, subject: &Subject, window: &Window) -> Result<Assessment, String> {
        Ok(Scorer::assess(self, subject, window))
    }
    fn assess_features(&self, subject: &Subject, features: &Features) -> Result<Assessment, String> {
        if subject.arrhythmia().is_some() {
            let known = super::arrhythmia::feature_names();
            if let Some(unknown) = features.keys().find(|k| known.binary_search(k).is_err()) {
                return Err(format!(
                    "unknown feature `{unknown}` for an arrhythmia alarm (GET /model_info lists them)"
                ));
            }
            return Ok(self.score(subject, features));
        }
        let known = &known_features()[subject.entity.index()];
        if let Some(unknown) = features.keys().find(|k| known.binary_search(k).is_err()) {
            let kind = subject.entity.as_str();
            return Err(format!("unknown feature `{unknown}` for entity {kind} (GET /model_info lists them)"));
        }
        Ok(self.score(subject, features))
    }
    fn version(&self) -> String {
        Scorer::version(self).to_owned()
    }
    fn info(&self) -> serde_json::Value {
        let features: serde_json::Map<String, serde_json::Value> = super::score::EntityKind::ALL
            .iter()
            .map(|k| (k.as_str().to_owned(), serde_json::json!(super::score::feature_names(*k))))
            .collect();
        serde_json::json!({
            "features": features,
            "arrhythmia_features": super::arrhythmia::feature_names(),
            "arrhythmia_params": self.arrhythmia_params(),
            "training": self.training(),
        })
    }
}

/// Every feature name per entity kind (sorted), computed once: `/batch_predict` checks each sample.
fn known_features() -> &'static [Vec<String>] {
    static NAMES: std::sync::OnceLock<Vec<Vec<String>>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| super::score::EntityKind::ALL.iter().map(|k| super::score::feature_names(*k)).collect())
}

/// Why an alert went out unscored (the `reason` label of the failures metric).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No target maps the alert to an entity's history.
    NoTarget,
    /// The history could not be read (Prometheus down, an error, garbage).
    History,
    /// The history did not arrive within the time budget.
    Timeout,
    /// The model could not score the window.
    Model,
}

impl Failure {
    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::NoTarget => "no_target",
            Failure::History => "history",
            Failure::Timeout => "timeout",
            Failure::Model => "model",
        }
    }
}

/// A scored alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// The entity whose history was read.
    pub entity: String,
    /// The window read.
    pub window: WindowSpan,
    /// The model's assessment.
    pub assessment: Assessment,
    /// The policy's verdict.
    pub verdict: Verdict,
    /// The model's version.
    pub model_version: String,
    /// The alert's reading and where it was heading ([`super::trend`]), when people read it so.
    pub trend: Option<String>,
    /// The shadow model's verdict on the same window, when one is configured.
    pub shadow: Option<Shadow>,
}

/// What one alert's window gave: the subject, the assessment and the model behind it, and the
/// shadow model's assessment when there is one.
struct Assessed {
    subject: Subject,
    assessment: Assessment,
    entity: String,
    span: WindowSpan,
    trend: Option<String>,
    model_version: String,
    shadow: Option<(String, Assessment)>,
}

/// One alert's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertOutcome {
    /// The alert's fingerprint.
    pub fingerprint: String,
    /// The alert's labels.
    pub labels: LabelSet,
    /// The alert's `startsAt`.
    pub starts_at: DateTime<Utc>,
    /// Scored, or why not.
    pub result: Result<Scored, (Failure, String)>,
    /// Time spent, the history fetch included.
    pub elapsed: Duration,
}

/// The rescoring chain.
pub struct Rescorer {
    /// Where windows come from.
    pub history: Arc<dyn HistorySource>,
    /// Which series belong to an alert.
    pub targets: Targets,
    /// The scoring model.
    pub model: Arc<dyn Model>,
    /// The decision policy.
    pub policy: Policy,
    /// Window length.
    pub lookback: Duration,
    /// Window step.
    pub step: Duration,
    /// Bound on rescoring one alert, the history fetch included.
    pub budget: Duration,
    /// A candidate model scoring every alert beside `model`, for comparison only.
    pub shadow: Option<Arc<dyn Model>>,
}

/// The subject of an alert.
pub fn subject(labels: &LabelSet, entity: super::score::EntityKind, focus: Option<String>) -> Subject {
    let get = |k: &str| labels.get(k).cloned().unwrap_or_default();
    Subject { alertname: get("alertname"), severity: get("severity"), entity, focus }
}

impl Rescorer {
    /// Rescore one alert; `firing_for` is how long it has fired when the decision is made.
    pub async fn rescore_alert(&self, alert: &Alert, firing_for: Duration) -> AlertOutcome {
        let started = Instant::now();
        let result = match tokio::time::timeout(self.budget, self.score(alert, firing_for)).await {
            Ok(result) => result,
            Err(_) => Err((Failure::Timeout, format!("history not read within the {:?} budget", self.budget))),
        };
        AlertOutcome {
            fingerprint: alert.fingerprint.clone(),
            labels: alert.labels.clone(),
            starts_at: alert.starts_at,
            result,
            elapsed: started.elapsed(),
        }
    }

    async fn score(&self, alert: &Alert, firing_for: Duration) -> Result<Scored, (Failure, String)> {
        let a = self.assess(alert, alert.starts_at).await?;
        let verdict = self.policy.decide(&a.subject, &a.assessment, firing_for);
        let shadow = a.shadow.map(|(model_version, s)| Shadow {
            model_version,
            decision: self.policy.decide(&a.subject, &s, firing_for).decision,
            score: s.score,
            artifact: s.artifact,
        });
        let (entity, window, assessment, model_version, trend) =
            (a.entity, a.span, a.assessment, a.model_version, a.trend);
        Ok(Scored { entity, window, assessment, verdict, model_version, trend, shadow })
    }

    /// Assess `alert` on its entity's history up to `end`.
    async fn assess(&self, alert: &Alert, end: DateTime<Utc>) -> Result<Assessed, (Failure, String)> {
        let alertname = alert.labels.get("alertname").map_or("", String::as_str);
        let Some(target) = self.targets.resolve(&alert.labels, &alert.generator_url) else {
            return Err((Failure::NoTarget, format!("no rescoring target matches alert {alertname}")));
        };
        let request = HistoryRequest {
            entity: target.key.clone(),
            groups: target.groups,
            end_ms: end.timestamp_millis(),
            lookback: target.lookback.unwrap_or(self.lookback),
            step: target.step.unwrap_or(self.step),
        };
        let window = self.history.fetch(&request).await.map_err(|e| {
            let failure = if matches!(e, crate::rescore::history::FetchError::Timeout(_)) {
                Failure::Timeout
            } else {
                Failure::History
            };
            (failure, format!("history unavailable: {e}"))
        })?;
        if window.signals.is_empty() {
            return Err((Failure::History, format!("no history for {} before the alert started", target.key)));
        }
        let subject = subject(&alert.labels, target.entity, target.focus);
        let current = self.model.current();
        let model: &dyn Model = current.as_deref().unwrap_or(&*self.model);
        let assessment = model.assess(&subject, &window).map_err(|e| (Failure::Model, format!("model failed: {e}")))?;
        let span = WindowSpan {
            start_ms: window.start_ms,
            end_ms: window.end_ms,
            step_ms: window.step_ms,
            signals: window.signals.len(),
        };
        let trend = subject.focus.as_deref().and_then(|f| super::trend::describe(&window, f));
        // The shadow's failure is the shadow's: the decision stands without it.
        let shadow = self.shadow.as_ref().and_then(|m| Some((m.version(), m.assess(&subject, &window).ok()?)));
        Ok(Assessed { subject, assessment, entity: target.key, span, trend, model_version: model.version(), shadow })
    }

    /// Look again at downgraded alerts still firing at their re-escalation time `at`, each on its
    /// history up to `at` ([`Policy::recheck`]): the rechecks with the assessments behind them,
    /// or why one could not be scored. Replaying it at the same `at` gives the same answer.
    pub async fn recheck(&self, alerts: &[Alert], at: DateTime<Utc>) -> Vec<Result<(Recheck, Assessment), String>> {
        let futures = alerts.iter().map(|a| async move {
            let firing_for = (at - a.starts_at).to_std().unwrap_or_default();
            match tokio::time::timeout(self.budget, self.assess(a, at)).await {
                Ok(Ok(a)) => Ok((self.policy.recheck(&a.subject, &a.assessment, firing_for), a.assessment)),
                Ok(Err((_, why))) => Err(why),
                Err(_) => Err(format!("history not read within the {:?} budget", self.budget)),
            }
        });
        futures_util::future::join_all(futures).await
    }

    /// Rescore every alert of a notification side by side. Firing alerts are judged on how long
    /// they have fired at `now`; resolved ones on how long they fired in all.
    pub async fn rescore(&self, notification: &Notification, now: DateTime<Utc>) -> Vec<AlertOutcome> {
        let futures = notification.alerts.iter().map(|a| {
            let end = match a.status {
                Status::Resolved => a.ends_at.unwrap_or(now),
                Status::Firing => now,
            };
            self.rescore_alert(a, (end - a.starts_at).to_std().unwrap_or_default())
        });
        futures_util::future::join_all(futures).await
    }

    /// Whether any of these alerts is still firing at `at`, according to Prometheus's `ALERTS`.
    /// `None` when that cannot be told (no target, history unavailable).
    pub async fn still_firing(&self, alerts: &[Alert], at: DateTime<Utc>) -> Option<bool> {
        let mut known = false;
        for alert in alerts {
            let target = self.targets.resolve(&alert.labels, &alert.generator_url)?;
            let alertname = alert.labels.get("alertname").map_or("", String::as_str);
            let mut selector = format!("alertstate=\"firing\",alertname=\"{}\"", promql_string(alertname));
            for (k, v) in &target.key_labels {
                selector.push_str(&format!(",{k}=\"{}\"", promql_string(v)));
            }
            let request = HistoryRequest {
                entity: format!("ALERTS:{alertname}:{}", target.key),
                groups: vec![SignalGroup {
                    query: format!("ALERTS{{{selector}}}"),
                    naming: Naming::One("firing".into()),
                }],
                end_ms: at.timestamp_millis(),
                lookback: Duration::ZERO,
                step: Duration::from_secs(1),
            };
            let fetched = tokio::time::timeout(self.budget, self.history.fetch(&request)).await;
            match fetched {
                Ok(Ok(window)) => {
                    known = true;
                    if window.signal("firing").is_some() {
                        return Some(true);
                    }
                }
                _ => return None,
            }
        }
        known.then_some(false)
    }
}

/// Sum up a notification's alert outcomes: the highest decision wins; an unscored alert counts
/// as `keep` (it goes out at its normal priority); with nothing scored the notification is
/// unscored, with the reasons.
pub fn summarise(outcomes: &[AlertOutcome]) -> Scoring {
    let unscored: Vec<String> = outcomes
        .iter()
        .filter_map(|o| o.result.as_ref().err().map(|(_, why)| format!("{}: {why}", alert_label(&o.labels))))
        .collect();
    let deciding = outcomes.iter().filter_map(|o| o.result.as_ref().ok().map(|s| (o, s))).max_by(|(_, a), (_, b)| {
        a.verdict.decision.cmp(&b.verdict.decision).then(a.assessment.score.total_cmp(&b.assessment.score))
    });
    let Some((outcome, scored)) = deciding else {
        let mut reasons: Vec<String> =
            outcomes.iter().filter_map(|o| o.result.as_ref().err()).map(|(_, w)| w.clone()).collect();
        reasons.dedup();
        return Scoring::Unscored { reason: reasons.join("; ") };
    };
    let mut decision = scored.verdict.decision;
    let mut reasons: Vec<String> = scored.verdict.reasons.iter().map(|r| r.text.clone()).collect();
    if !unscored.is_empty() && decision < Decision::Keep {
        decision = Decision::Keep;
        reasons.insert(0, format!("kept: {} alert(s) of the group could not be scored", unscored.len()));
    }
    reasons.truncate(4);
    Scoring::Scored(Box::new(GroupVerdict {
        decision,
        score: scored.assessment.score,
        artifact: scored.assessment.artifact,
        reasons,
        model_version: scored.model_version.clone(),
        alert: alert_label(&outcome.labels),
        unscored,
        reescalated: false,
        technical: false,
        trend: scored.trend.clone(),
    }))
}

fn alert_label(labels: &LabelSet) -> String {
    let name = labels.get("alertname").map_or("alert", String::as_str);
    let entity = ["patient", "device", "link", "node"].iter().find_map(|k| labels.get(*k));
    match entity {
        Some(e) => format!("{name} {e}"),
        None => name.to_string(),
    }
}

/// The audit entries of a notification's outcomes.
pub fn audit_entries(notification: &str, outcomes: &[AlertOutcome], now: DateTime<Utc>) -> Vec<AuditEntry> {
    outcomes
        .iter()
        .map(|o| {
            let base = AuditEntry::new(notification, &o.fingerprint, &o.labels, o.starts_at, now);
            match &o.result {
                Ok(s) => AuditEntry {
                    decision: Some(s.verdict.decision),
                    score: Some(s.assessment.score),
                    artifact: Some(s.assessment.artifact),
                    reasons: s.verdict.reasons.iter().map(|r| r.text.clone()).collect(),
                    model_version: Some(s.model_version.clone()),
                    entity: Some(s.entity.clone()),
                    window: Some(s.window),
                    shadow: s.shadow.clone(),
                    ..base
                },
                Err((failure, why)) => {
                    AuditEntry { reasons: vec![format!("unscored ({}): {why}", failure.as_str())], ..base }
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rescore::score::Reason;

    fn outcome(name: &str, result: Result<(Decision, f64), Failure>) -> AlertOutcome {
        let labels: LabelSet =
            [("alertname", name), ("patient", "p1")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let result = match result {
            Ok((decision, score)) => Ok(Scored {
                entity: "patient=p1".into(),
                window: WindowSpan { start_ms: 0, end_ms: 1, step_ms: 1, signals: 1 },
                assessment: Assessment { score, artifact: 1.0 - score, reasons: vec![] },
                verdict: Verdict { decision, reasons: vec![Reason { text: format!("{name} reason"), weight: 0.0 }] },
                model_version: "m".into(),
                trend: None,
                shadow: None,
            }),
            Err(f) => Err((f, format!("{} failed", f.as_str()))),
        };
        AlertOutcome {
            fingerprint: name.into(),
            labels,
            starts_at: DateTime::from_timestamp(0, 0).unwrap(),
            result,
            elapsed: Duration::ZERO,
        }
    }

    #[test]
    fn every_failure_is_a_preinitialised_metric_label() {
        for f in [Failure::NoTarget, Failure::History, Failure::Timeout, Failure::Model] {
            assert!(crate::sidecar::telemetry::SCORING_FAILURES.contains(&f.as_str()), "{f:?}");
        }
    }

    #[test]
    fn a_group_takes_its_most_urgent_decision() {
        let s = summarise(&[
            outcome("A", Ok((Decision::Downgrade, 0.1))),
            outcome("B", Ok((Decision::Escalate, 0.9))),
            outcome("C", Ok((Decision::Keep, 0.5))),
        ]);
        let Scoring::Scored(v) = s else { panic!("scored") };
        assert_eq!((v.decision, v.alert.as_str(), v.reasons[0].as_str()), (Decision::Escalate, "B p1", "B reason"));
    }

    #[test]
    fn an_unscored_alert_keeps_its_group_at_full_priority() {
        let s = summarise(&[outcome("A", Ok((Decision::Downgrade, 0.1))), outcome("B", Err(Failure::Timeout))]);
        let Scoring::Scored(v) = s else { panic!("scored") };
        assert_eq!(v.decision, Decision::Keep, "a group with an unscored alert is never downgraded");
        assert_eq!(v.unscored, ["B p1: timeout failed"]);
        let s = summarise(&[outcome("A", Err(Failure::History)), outcome("B", Err(Failure::History))]);
        assert_eq!(s, Scoring::Unscored { reason: "history failed".into() }, "the same reason once");
    }
}
