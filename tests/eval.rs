//! The rescoring evaluated against the simulator's ground truth, reduced to fit a debug build:
//! two seeds × 6 simulated hours, every alerting rule of the repository evaluated by a real
//! Prometheus over each seed's backfilled history (the full figures come from
//! `wardwatch-sidecar eval`).

mod common;

use std::time::Duration;
use wardwatch::rescore::eval::prometheus::Tools;
use wardwatch::rescore::eval::report::Figures;
use wardwatch::rescore::eval::stream::Recorder;
use wardwatch::rescore::eval::{self, EvalOptions};
use wardwatch::rescore::policy::Policy;
use wardwatch::rescore::score::{EntityKind, Subject};
use wardwatch::rescore::training;

#[tokio::test]
async fn rescoring_keeps_true_alerts_and_downgrades_artifacts_on_held_out_seeds() {
    if common::require_tool("prometheus").is_none() || common::require_tool("promtool").is_none() {
        return;
    }
    let tools = Tools::locate().expect("prometheus and promtool on PATH");
    let rules = eval::load_rules().expect("the repository's rule files read");
    assert!(rules.alerts.iter().any(|r| r.name == "HypoxiaDetected"), "the SpO2 rule is evaluated");
    let options = EvalOptions { first_seed: 2, seeds: 2, hours: 6.0, policy: Policy::default() };
    let train_seed = eval::training_seed(options.first_seed, options.seeds);
    assert!(!(2..4).contains(&train_seed), "the model is trained on a seed it is not evaluated on");
    let (fit, label) = training::DEFAULT_MODEL;
    let (_scorer, records) = eval::evaluate(&options, &rules, &tools, fit, label).await.expect("the evaluation runs");
    let f = Figures::of(&records, options.seeds, options.hours);
    assert!(f.counts[0] >= 5 && f.counts[1] >= 50, "enough true and artifact alerts to judge: {f:?}");
    assert_eq!(f.critical_true_kept, 100.0, "{f:?}");
    assert!(f.true_kept >= 98.0, "{f:?}");
    assert!(f.artifact_downgraded >= 60.0, "{f:?}");
    assert!(f.auc >= 0.90, "{f:?}");
    assert!(f.false_per_patient_day_after < f.false_per_patient_day_before, "{f:?}");
}

#[test]
fn replaying_an_alert_on_the_same_window_gives_the_same_assessment_and_decision() {
    let scorer = training::default_scorer();
    let policy = Policy::default();
    let mut rec = Recorder::new(7, 1_767_571_200_000, training::STEP_MS, training::WINDOW_MS);
    for _ in 0..(30 * 60_000 / training::STEP_MS) {
        rec.advance();
    }
    let patient = rec.entities.iter().position(|e| e.kind == EntityKind::Patient).expect("patients");
    let subject = Subject {
        alertname: "HypoxiaDetected".into(),
        severity: "critical".into(),
        entity: EntityKind::Patient,
        focus: Some("spo2".into()),
    };
    let window = rec.window(patient, training::WINDOW_MS);
    let (a, b) = (scorer.assess(&subject, &window), scorer.assess(&subject, &window.clone()));
    assert_eq!(a, b);
    let firing = Duration::from_secs(30);
    assert_eq!(policy.decide(&subject, &a, firing), policy.decide(&subject, &b, firing));
    assert!(!a.reasons.is_empty() || a.score < 0.2, "a scored alert says why: {a:?}");
}
