//! The simulation's state as Prometheus metric families, written straight from the state.
//!
//! Names follow Prometheus's naming practices (<https://prometheus.io/docs/practices/naming/>): one prefix, base units (SpO2 and FiO2 as ratios, ST deviation in
//! volts, temperature in celsius), domain units spelled out where there is no base unit
//! (`_beats_per_minute`, `_mmhg`, `_mmol_per_liter`). Every patient series carries
//! `department`, `ward`, `bed` and `patient`, so `avg by (ward)` and friends mean something.

use crate::clinical::limits::AlarmLimits;
use crate::clinical::news2::Parameter;
use crate::exposition::{render_labels, Family, Kind, Writer};
use crate::sim::events::EventKind;
use crate::sim::monitor::Column;
use crate::sim::Simulation;

const fn gauge(name: &'static str, help: &'static str, decimals: u8) -> Family {
    Family { name, help, kind: Kind::Gauge, decimals }
}

/// The per-patient reading families, in [`Column`] order.
pub const PATIENT_FAMILIES: [Family; Column::COUNT] = [
    gauge("wardwatch_patient_heart_rate_beats_per_minute", "Heart rate the monitor counts from ECG R-R intervals.", 1),
    gauge("wardwatch_patient_pulse_rate_beats_per_minute", "Pulse rate from the SpO2 plethysmogram.", 1),
    gauge("wardwatch_patient_spo2_ratio", "Peripheral oxygen saturation (SpO2) as a ratio.", 4),
    gauge("wardwatch_patient_pleth_signal_quality_ratio", "Quality of the plethysmogram signal, 0 (none) to 1.", 3),
    gauge("wardwatch_patient_ecg_signal_quality_ratio", "Quality of the ECG signal, 0 (none) to 1.", 3),
    gauge("wardwatch_patient_ecg_st_deviation_volts", "ST-segment deviation from the isoelectric line.", 6),
    gauge(
        "wardwatch_patient_blood_pressure_systolic_mmhg",
        "Systolic blood pressure (cuff at the ward's cadence, or arterial line).",
        1,
    ),
    gauge("wardwatch_patient_blood_pressure_diastolic_mmhg", "Diastolic blood pressure.", 1),
    gauge("wardwatch_patient_blood_pressure_mean_mmhg", "Mean arterial pressure.", 1),
    gauge("wardwatch_patient_respiration_rate_breaths_per_minute", "Respiration rate.", 1),
    gauge("wardwatch_patient_temperature_celsius", "Body temperature.", 2),
    gauge("wardwatch_patient_fio2_ratio", "Fraction of inspired oxygen (0.21 is room air).", 2),
    gauge("wardwatch_patient_etco2_mmhg", "End-tidal carbon dioxide.", 1),
    gauge("wardwatch_patient_wbc_cells_per_liter", "White blood cell count, last lab result.", 0),
    gauge("wardwatch_patient_glucose_mmol_per_liter", "Blood glucose, last result.", 1),
    gauge("wardwatch_patient_lactate_mmol_per_liter", "Blood lactate, last lab result.", 2),
];

/// Reads one limit out of a patient's [`AlarmLimits`].
pub type LimitReader = fn(&AlarmLimits) -> f64;

/// The per-patient alarm limits ([`crate::clinical::limits`]), with how to read each.
pub const LIMIT_FAMILIES: [(Family, LimitReader); 5] = [
    (
        gauge(
            "wardwatch_patient_spo2_alarm_low_ratio",
            "SpO2 under which this patient's monitor alarms (scale 1 or 2 target).",
            3,
        ),
        |l| l.spo2_low,
    ),
    (
        gauge(
            "wardwatch_patient_heart_rate_alarm_low_beats_per_minute",
            "Heart rate at or under which this patient needs a review.",
            0,
        ),
        |l| l.heart_rate_low,
    ),
    (
        gauge(
            "wardwatch_patient_heart_rate_alarm_high_beats_per_minute",
            "Heart rate at or over which this patient needs a review.",
            0,
        ),
        |l| l.heart_rate_high,
    ),
    (
        gauge(
            "wardwatch_patient_blood_pressure_systolic_alarm_low_mmhg",
            "Systolic pressure at or under which this patient needs a review.",
            0,
        ),
        |l| l.systolic_low,
    ),
    (
        gauge(
            "wardwatch_patient_respiration_rate_alarm_high_breaths_per_minute",
            "Respiration rate at or over which this patient needs a review.",
            0,
        ),
        |l| l.respiration_high,
    ),
];

const NEWS2_TOTAL: Family =
    gauge("wardwatch_patient_news2_score", "NEWS2 aggregate score (RCP 2017) of the current readings.", 0);
const NEWS2_PARAMETER: Family =
    gauge("wardwatch_patient_news2_parameter_score", "NEWS2 score of one parameter of the current readings.", 0);
const WARD_BEDS: Family = gauge("wardwatch_ward_beds", "Beds in the ward.", 0);
const WARD_PATIENTS: Family = gauge("wardwatch_ward_patients", "Patients in the ward.", 0);
const EVENT_ACTIVE: Family = gauge(
    "wardwatch_simulated_event_active",
    "1 while a simulated event (ground truth) acts on the labelled entity.",
    0,
);
const EVENTS_STARTED: Family = Family {
    name: "wardwatch_simulated_events_started",
    help: "Simulated events started since the exporter started, by kind.",
    kind: Kind::Counter,
    decimals: 0,
};
const STEPS: Family =
    Family { name: "wardwatch_simulation_steps", help: "Simulation steps taken.", kind: Kind::Counter, decimals: 0 };

/// The `parameter` label of each NEWS2 parameter, in [`Parameter::ALL`] order.
const NEWS2_LABELS: [&str; 7] = [
    "parameter=\"respiration_rate\"",
    "parameter=\"spo2\"",
    "parameter=\"air_or_oxygen\"",
    "parameter=\"systolic_bp\"",
    "parameter=\"pulse\"",
    "parameter=\"consciousness\"",
    "parameter=\"temperature\"",
];

/// Series per patient: readings, alarm limits, NEWS2 total and its seven parameters.
pub const SERIES_PER_PATIENT: usize = Column::COUNT + LIMIT_FAMILIES.len() + 1 + Parameter::ALL.len();

/// Write every metric of the simulation.
pub fn write_simulation(sim: &Simulation, w: &mut Writer<'_>) {
    write_patients(sim, w);
    write_wards(sim, w);
    sim.network.write_metrics(w);
    sim.cluster.write_metrics(w);
    write_events(sim, w);
}

fn write_patients(sim: &Simulation, w: &mut Writer<'_>) {
    for (col, family) in PATIENT_FAMILIES.iter().enumerate() {
        w.family(*family);
        for p in &sim.patients {
            w.sample(&p.labels, "", p.readings.values[col]);
        }
    }
    for (family, read) in LIMIT_FAMILIES {
        w.family(family);
        for p in &sim.patients {
            w.sample(&p.labels, "", read(&p.limits));
        }
    }
    w.family(NEWS2_TOTAL);
    for p in &sim.patients {
        w.sample(&p.labels, "", f64::from(p.readings.news2.total()));
    }
    w.family(NEWS2_PARAMETER);
    for p in &sim.patients {
        for (i, extra) in NEWS2_LABELS.iter().enumerate() {
            w.sample(&p.labels, extra, f64::from(p.readings.news2.parameters[i]));
        }
    }
}

fn write_wards(sim: &Simulation, w: &mut Writer<'_>) {
    let labels: Vec<String> =
        sim.wards.iter().map(|ward| render_labels(&[("department", &ward.department), ("ward", &ward.name)])).collect();
    w.family(WARD_BEDS);
    for (ward, l) in sim.wards.iter().zip(&labels) {
        w.sample(l, "", f64::from(ward.beds));
    }
    let mut occupied = vec![0u32; sim.wards.len()];
    for p in &sim.patients {
        occupied[p.ward_index] += 1;
    }
    w.family(WARD_PATIENTS);
    for (n, l) in occupied.iter().zip(&labels) {
        w.sample(l, "", f64::from(*n));
    }
}

fn write_events(sim: &Simulation, w: &mut Writer<'_>) {
    w.family(EVENT_ACTIVE);
    for e in sim.active_events() {
        w.sample(&e.labels, "", 1.0);
    }
    w.family(EVENTS_STARTED);
    for kind in EventKind::ALL {
        let labels = render_labels(&[("kind", kind.as_str()), ("class", kind.class().as_str())]);
        w.sample(&labels, "", sim.events_started()[kind as usize] as f64);
    }
    w.family(STEPS);
    w.sample("", "", sim.steps() as f64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn news2_parameter_labels_follow_the_chart_order() {
        for (label, p) in NEWS2_LABELS.iter().zip(Parameter::ALL) {
            assert_eq!(*label, format!("parameter=\"{}\"", p.as_str()));
        }
    }
}
