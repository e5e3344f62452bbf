use super::*;
use crate::exposition::{Format, Writer};
use crate::sim::metrics::write_simulation;
use crate::sim::monitor::Column;
use crate::sim::scenario::Scenario;

const T0: f64 = 1_767_225_600.0; // 2026-01-01T00:00:00Z

fn quiet_config() -> HospitalConfig {
    let mut cfg = HospitalConfig::embedded_default();
    cfg.events.scale = 0.0;
    cfg
}

fn exposition(sim: &Simulation) -> String {
    let mut b = Vec::new();
    let mut w = Writer::new(&mut b, Format::Text);
    write_simulation(sim, &mut w);
    w.finish();
    String::from_utf8(b).unwrap()
}

#[test]
fn same_seed_and_times_give_identical_output() {
    let cfg = HospitalConfig::embedded_default().with_patients(30);
    let run = |seed| {
        let mut sim = Simulation::new(&cfg, seed, T0, &[]).unwrap();
        let mut log = Vec::new();
        for i in 1..=200 {
            sim.advance_to(T0 + 7.5 * f64::from(i), &mut log);
        }
        (exposition(&sim), log)
    };
    let (a, la) = run(42);
    let (b, lb) = run(42);
    assert_eq!(a, b);
    assert_eq!(la, lb);
    let (c, _) = run(43);
    assert_ne!(a, c);
}

#[test]
fn patients_override_gives_that_many_patients_with_unique_ids() {
    let cfg = HospitalConfig::embedded_default().with_patients(500);
    let sim = Simulation::new(&cfg, 1, T0, &[]).unwrap();
    assert_eq!(sim.patients.len(), 500);
    let ids: std::collections::HashSet<_> = sim.patients.iter().map(|p| &p.id).collect();
    assert_eq!(ids.len(), 500);
}

#[test]
fn scenario_sepsis_unfolds_over_hours_and_is_published_as_ground_truth() {
    let plan = Scenario::from_yaml(
        "events:\n  - {at: 10m, kind: sepsis, target: p00003, duration: 6h, severity: 1.0}\n",
        "s.yaml",
    )
    .unwrap();
    let mut sim = Simulation::new(&quiet_config(), 7, T0, &plan).unwrap();
    let mut log = Vec::new();
    sim.advance_to(T0 + 300.0, &mut log);
    let before = sim.patients[2].physiology.vitals(0.0);
    assert!(log.is_empty());
    sim.advance_to(T0 + 600.0 + 4.0 * 3600.0, &mut log);
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].kind, EventKind::Sepsis);
    assert_eq!(log[0].entity["patient"], "p00003");
    assert_eq!((log[0].end - log[0].start).num_seconds(), 6 * 3600);
    let during = sim.patients[2].physiology.vitals(0.0);
    assert!(during.temperature > before.temperature + 1.5);
    assert!(during.heart_rate > before.heart_rate + 15.0);
    let text = exposition(&sim);
    assert!(text.contains("wardwatch_simulated_event_active{kind=\"sepsis\",class=\"deterioration\",bed=\"03\",department=\"icu\",patient=\"p00003\",ward=\"icu-1\"} 1"), "{text}");
    sim.advance_to(T0 + 600.0 + 6.0 * 3600.0 + 10.0, &mut log);
    assert!(sim.active_events().is_empty());
    assert_eq!(sim.patients[2].physiology.drivers.sepsis, 0.0);
}

#[test]
fn probe_off_artifact_crosses_the_hypoxia_threshold_with_a_calm_heart() {
    let plan =
        Scenario::from_yaml("events:\n  - {at: 1m, kind: spo2_probe_off, target: p00010, duration: 2m}\n", "s.yaml")
            .unwrap();
    let mut sim = Simulation::new(&quiet_config(), 3, T0, &plan).unwrap();
    let mut log = Vec::new();
    sim.advance_to(T0 + 55.0, &mut log);
    let hr0 = sim.patients[9].readings.values[Column::HeartRate as usize];
    sim.advance_to(T0 + 120.0, &mut log);
    let r = sim.patients[9].readings.values;
    assert!(r[Column::Spo2 as usize] < 0.90);
    assert!((r[Column::HeartRate as usize] - hr0).abs() < 15.0);
    assert_eq!(log[0].class, crate::sim::events::EventClass::Artifact);
}

#[test]
fn unknown_scenario_target_is_an_error_naming_it() {
    let plan = Scenario::from_yaml("events:\n  - {at: 1m, kind: memory_leak, target: node-99}\n", "s").unwrap();
    let err = Simulation::new(&quiet_config(), 1, T0, &plan).unwrap_err();
    assert!(err.to_string().contains("node-99"), "{err}");
}

#[test]
fn random_events_arrive_at_roughly_the_configured_rates() {
    let mut cfg = HospitalConfig::embedded_default().with_patients(1000);
    cfg.events = crate::sim::config::EventRates { scale: 1.0, ..Default::default() };
    let mut sim = Simulation::new(&cfg, 5, T0, &[]).unwrap();
    let mut log = Vec::new();
    sim.advance_to(T0 + 6.0 * 3600.0, &mut log);
    let motion = log.iter().filter(|e| e.kind == EventKind::Spo2Motion).count() as f64;
    // 3 per patient-day, ×2 in the ICU (a quarter of beds): about 1000 × 3 × 1.25 / 4 ≈ 940.
    assert!((600.0..1300.0).contains(&motion), "motion dips {motion}");
    let artifacts = log.iter().filter(|e| e.class == crate::sim::events::EventClass::Artifact).count();
    let real = log.iter().filter(|e| e.class == crate::sim::events::EventClass::Deterioration).count();
    assert!(artifacts > 5 * real, "artifacts {artifacts} vs deterioration {real}");
}

#[test]
fn a_long_gap_between_scrapes_is_caught_up_in_bounded_steps() {
    let mut sim = Simulation::new(&quiet_config(), 2, T0, &[]).unwrap();
    let mut log = Vec::new();
    sim.advance_to(T0 + 86_400.0, &mut log);
    assert_eq!(sim.steps(), MAX_STEPS_PER_ADVANCE);
    assert_eq!(sim.time(), T0 + 86_400.0);
    sim.advance_to(T0, &mut log);
    assert_eq!(sim.time(), T0 + 86_400.0, "time never goes backwards");
}
