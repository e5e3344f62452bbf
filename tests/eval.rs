//! The rescoring evaluated against the simulator's ground truth, reduced to fit a debug build:
//! two seeds × 6 simulated hours, every alerting rule of the repository evaluated by a real
//! Prometheus over each seed's backfilled history (the full figures come from
//! `wardwatch-sidecar eval`).

mod common;

use std::time::Duration;
use wardwatch::eval::prometheus::Tools;
use wardwatch::eval::report::Figures;
use wardwatch::eval::stream::Recorder;
use wardwatch::eval::training;
use wardwatch::eval::{self, delays, EvalOptions};
use wardwatch::rescore::policy::Policy;
use wardwatch::rescore::score::{EntityKind, Subject};

#[tokio::test]
async fn rescoring_keeps_true_alerts_and_downgrades_artifacts_on_held_out_seeds() {
    if common::require_tool("prometheus").is_none() || common::require_tool("promtool").is_none() {
        return;
    }
    let tools = Tools::locate().expect("prometheus and promtool on PATH");
    let sets = eval::load_rule_sets().expect("the repository's rule files and the baseline read");
    assert!(sets.wardwatch.alerts.iter().any(|r| r.name == "HypoxiaDetected"), "the SpO2 rule is evaluated");
    let options = EvalOptions { first_seed: 2, seeds: 2, hours: 6.0, policy: Policy::default() };
    let train_seed = eval::training_seed(options.first_seed, options.seeds);
    assert!(!(2..4).contains(&train_seed), "the model is trained on a seed it is not evaluated on");
    let (fit, label) = training::DEFAULT_MODEL;
    let (_scorer, all) = eval::evaluate(&options, &sets, &tools, fit, label).await.expect("the evaluation runs");
    let f = Figures::of(&all.records, options.seeds, options.hours);
    assert!(f.counts[0] >= 5 && f.counts[1] >= 50, "enough true and artifact alerts to judge: {f:?}");
    assert_eq!(f.critical_true_kept, 100.0, "{f:?}");
    assert!(f.true_kept >= 98.0, "{f:?}");
    assert!(f.artifact_downgraded >= 60.0, "{f:?}");
    assert!(f.auc >= 0.90, "{f:?}");
    assert!(f.false_per_patient_day_after < f.false_per_patient_day_before, "{f:?}");

    // By event, as a clinician counts.
    let s = eval::summary(&options, &all);
    let (ours, plain) = (&s.wardwatch, &s.baseline);
    assert!(ours.critical_events >= 3, "enough critical deteriorations to judge: {s:?}");
    assert_eq!(ours.critical_events_notified, ours.critical_events, "every critical event notified: {s:?}");
    assert_eq!(ours.true_events_notified, plain.true_events_notified, "nothing the baseline notifies is lost: {s:?}");
    assert!(plain.false_per_patient_day >= 10.0, "the baseline is as noisy as fixed thresholds are: {s:?}");
    assert!(
        ours.false_per_patient_day * 5.0 <= plain.false_per_patient_day,
        "a fifth of the baseline's false notifications at most: {s:?}"
    );
    assert!(
        ours.median_minutes_to_notification <= plain.median_minutes_to_notification,
        "critical events notified no later than by fixed thresholds: {s:?}"
    );
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

#[tokio::test]
async fn a_longer_for_never_fires_more_alerts() {
    if common::require_tool("prometheus").is_none() || common::require_tool("promtool").is_none() {
        return;
    }
    let tools = Tools::locate().expect("prometheus and promtool on PATH");
    let rules = eval::load_rules().expect("the repository's rule files read");
    let options = EvalOptions { first_seed: 5, seeds: 1, hours: 4.0, policy: Policy::default() };
    let sweep = delays::sweep(&options, &rules, &tools).await.expect("the sweep runs");
    let hypoxia = sweep.iter().find(|r| r.rule == "HypoxiaDetected").expect("the SpO2 rule is swept");
    assert_eq!(hypoxia.shipped_for_ms, 15_000);
    assert!(hypoxia.cells[0].false_alerts > hypoxia.cells[7].false_alerts, "{hypoxia:?}");
    assert!(!hypoxia.cells[3].first_alert_ms.is_empty(), "the shipped delay alerts hypoxias: {hypoxia:?}");
    for r in &sweep {
        for (i, pair) in r.cells.windows(2).enumerate() {
            // Every alert a longer delay fires, a shorter one fired from the same pending start.
            assert!(pair[1].alerts <= pair[0].alerts, "{} at {} ms: {r:?}", r.rule, delays::FOR_MS[i + 1]);
        }
    }
}
