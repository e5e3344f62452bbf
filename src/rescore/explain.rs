//! Physiological severity of a level, and the reasons behind a score in words and numbers.

use super::artifact::ramp;
use super::score::{Components, Features, Reason, Subject};
use super::window::signal;

/// How dangerous a level is in itself, in [0, 1], from adult reference ranges and the NEWS2
/// bands (Royal College of Physicians, 2017): 0 at the edge of normal, 1 where NEWS2 scores 3 and well beyond. Signals
/// without clinical bands (infrastructure) use the robust z against their own baseline: 3 → 0,
/// 10 → 1.
pub fn severity(focus: &str, level: f64, z: f64) -> f64 {
    match focus {
        // SpO2 ≤ 91% scores 3 on NEWS2 scale 1; 84% and below is severe hypoxaemia. See
        // [`spo2_severity`] for patients whose own baseline is low.
        signal::SPO2 => ramp(0.94 - level, 0.0, 0.10),
        // Pulse ≥ 131 or ≤ 40 scores 3.
        signal::HEART_RATE | signal::PULSE_RATE => ramp(level, 110.0, 160.0).max(ramp(50.0 - level, 0.0, 20.0)),
        // Systolic ≤ 90 scores 3; ≥ 220 scores 3.
        signal::SYSTOLIC => ramp(110.0 - level, 10.0, 40.0).max(ramp(level, 200.0, 240.0)),
        // MAP < 65 mmHg is shock.
        signal::MEAN_PRESSURE => ramp(70.0 - level, 0.0, 20.0),
        // Respiration ≥ 25 or ≤ 8 scores 3.
        signal::RESPIRATION_RATE => ramp(level, 20.0, 30.0).max(ramp(10.0 - level, 0.0, 4.0)),
        // ≥ 39.1 °C scores 2, ≤ 35.0 °C scores 3.
        signal::TEMPERATURE => ramp(level, 38.0, 40.0).max(ramp(36.0 - level, 0.0, 2.0)),
        // Level-2 hypoglycaemia < 3.0 mmol/L.
        signal::GLUCOSE => ramp(4.0 - level, 0.0, 1.5),
        // Lactate > 2 with hypotension is septic shock, ≥ 4 severe (Sepsis-3).
        signal::LACTATE => ramp(level, 2.0, 6.0),
        // NEWS2 5–6 urgent, ≥ 7 emergency.
        signal::NEWS2 => ramp(level, 4.0, 9.0),
        // New confusion (or worse) scores 3 on its own: a red score, reviewed at once.
        signal::CONSCIOUSNESS => ramp(level, 0.0, 3.0),
        signal::LINK_UP => 1.0 - level.clamp(0.0, 1.0),
        // Utilisation: past 90% a node has no headroom left for a burst or a failover.
        signal::CPU | signal::MEMORY | signal::DISK => ramp(level, 0.8, 0.95).max(ramp(z.abs(), 3.0, 10.0)),
        // Loss above 1% breaks real-time streams (bedside telemetry, voice).
        signal::PACKET_LOSS => ramp(level, 0.005, 0.05).max(ramp(z.abs(), 3.0, 10.0)),
        _ => ramp(z.abs(), 3.0, 10.0),
    }
}

/// SpO2 severity against the patient's own baseline: a baseline under 92% marks chronic
/// hypoxaemia (CO2 retention), whose target is 88–92% and whose NEWS2 scale 2 scores 1 at 86–87%,
/// 2 at 84–85% and 3 at ≤ 83% (NEWS2 scale 2, RCP 2017); so 89% is on target for them, not an emergency.
pub fn spo2_severity(level: f64, baseline: f64) -> f64 {
    if baseline < 0.92 {
        ramp(0.88 - level, 0.0, 0.06)
    } else {
        severity(signal::SPO2, level, 0.0)
    }
}

/// A signal's name in a sentence.
pub fn label(name: &str) -> &str {
    match name {
        signal::SPO2 => "SpO2",
        signal::HEART_RATE => "heart rate",
        signal::PULSE_RATE => "pleth pulse",
        signal::SYSTOLIC => "systolic pressure",
        signal::MEAN_PRESSURE => "mean arterial pressure",
        signal::RESPIRATION_RATE => "respiration",
        signal::TEMPERATURE => "temperature",
        signal::NEWS2 => "NEWS2",
        signal::CONSCIOUSNESS => "NEWS2 consciousness score",
        signal::PLETH_QUALITY => "pleth signal quality",
        signal::ECG_QUALITY => "ECG signal quality",
        other => other,
    }
}

/// A value with its unit, as a clinician writes it.
pub fn show(name: &str, v: f64) -> String {
    match name {
        signal::SPO2 | signal::FIO2 => format!("{:.0}%", v * 100.0),
        signal::HEART_RATE | signal::PULSE_RATE | signal::RESPIRATION_RATE => format!("{v:.0}/min"),
        signal::SYSTOLIC | signal::DIASTOLIC | signal::MEAN_PRESSURE | signal::ETCO2 => format!("{v:.0} mmHg"),
        signal::TEMPERATURE => format!("{v:.1} °C"),
        signal::GLUCOSE | signal::LACTATE => format!("{v:.1} mmol/L"),
        signal::NEWS2 | signal::CONSCIOUSNESS => format!("{v:.0}"),
        signal::PLETH_QUALITY | signal::ECG_QUALITY => format!("{v:.2}"),
        signal::TRANSMIT_RATE | signal::RECEIVE_RATE => format!("{:.0} kB/s", v / 1000.0),
        signal::LATENCY => format!("{:.0} ms", v * 1000.0),
        signal::CPU | signal::MEMORY | signal::DISK | signal::PACKET_LOSS => format!("{:.1}%", v * 100.0),
        _ => format!("{v:.3}"),
    }
}

/// A change with its unit ("6 points", "8/min").
fn show_change(name: &str, d: f64) -> String {
    match name {
        signal::SPO2 => format!("{:.0} points", d.abs() * 100.0),
        _ => show(name, d.abs()),
    }
}

/// The reasons behind the components, unsorted; weights are each component's log-odds.
pub fn reasons(subject: &Subject, f: &Features, c: &Components) -> Vec<Reason> {
    let get = |k: &str| f.get(k).copied().filter(|v| v.is_finite());
    let val = |k: &str| get(k).unwrap_or(0.0);
    let focus = subject.focus.as_deref().unwrap_or("");
    let mut out = Vec::with_capacity(8);
    // Only reasons that weigh something are written out.
    let mut push = |weight: f64, text: &dyn Fn() -> String| {
        if weight.abs() >= 0.05 {
            out.push(Reason { text: text(), weight });
        }
    };
    let level = get("focus.level");
    if let Some(level) = level {
        push(3.0 * c.severity, &|| {
            format!("{} {} — physiological severity {:.2}", label(focus), show(focus, level), c.severity)
        });
        push(1.2 * c.deviation, &|| {
            format!(
                "{} {} against this {}'s usual {} (robust z {:+.1})",
                label(focus),
                show(focus, level),
                subject.entity.as_str(),
                show(focus, val("focus.baseline")),
                val("focus.z")
            )
        });
    }
    if c.corroboration > 0.0 {
        let change = val("focus.change_10m");
        let verb = if change < 0.0 { "fell" } else { "rose" };
        push(1.5 * c.corroboration, &|| {
            format!(
                "{} {verb} {} in 10 min with heart rate {:+.0}/min and respiration {:+.0}/min against baseline — consistent with a real change",
                label(focus),
                show_change(focus, change),
                val("heart_rate.level") - val("heart_rate.baseline"),
                val("respiration_rate.level") - val("respiration_rate.baseline"),
            )
        });
    }
    push(1.0 * c.anomaly, &|| {
        format!("multivariate anomaly {:.2} against typical {} windows", c.anomaly, subject.entity.as_str())
    });
    let hr_steady = || {
        format!(
            "heart rate {} and respiration {} unchanged",
            show(signal::HEART_RATE, val("heart_rate.level")),
            show(signal::RESPIRATION_RATE, val("respiration_rate.level"))
        )
    };
    let a = val("artifact.probe_off");
    push(-6.0 * a, &|| {
        format!(
            "SpO2 {} but {}, pleth quality {:.2}, pleth pulse {} — typical of probe-off or motion",
            show(signal::SPO2, val("spo2.level")),
            hr_steady(),
            val("pleth_quality.level"),
            show(signal::PULSE_RATE, val("pulse_rate.level"))
        )
    });
    let a = val("artifact.lead_off");
    push(-6.0 * a, &|| {
        format!(
            "ECG quality {:.2} and ECG heart rate {} while the pleth counts a steady {} — typical of ECG lead-off",
            val("ecg_quality.level"),
            show(signal::HEART_RATE, val("heart_rate.level")),
            show(signal::PULSE_RATE, val("pulse_rate.level"))
        )
    });
    let a = val("artifact.impossible_rate");
    push(-6.0 * a, &|| {
        format!(
            "{} changed faster than physiology allows (over {:.1}× the limit) — a sensor, not the patient",
            if focus == signal::NEWS2 { "a vital NEWS2 is made of" } else { label(focus) },
            1.0 + a
        )
    });
    let a = val("artifact.stuck");
    push(-6.0 * a, &|| {
        format!(
            "{} unnaturally smooth for 3 min — a stuck or dislodged sensor",
            if focus == signal::NEWS2 { "a vital NEWS2 is made of" } else { label(focus) },
        )
    });
    let a = val("artifact.bp_cuff");
    push(-6.0 * a, &|| {
        format!(
            "systolic {} → {} with heart rate {} unchanged and perfusion kept — typical of a cuff error",
            show(signal::SYSTOLIC, val("systolic.level") - val("systolic.change_10m")),
            show(signal::SYSTOLIC, val("systolic.level")),
            show(signal::HEART_RATE, val("heart_rate.level"))
        )
    });
    out
}
