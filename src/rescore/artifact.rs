//! Cross-signal evidence of sensor artifacts (probe-off, lead-off, impossible rates, stuck sensors,
//! cuff errors), and of corroboration by partner signals, each a number in [0, 1].
//!
//! The rules are the ones a nurse or a biomedical engineer applies at the bedside, knowing how
//! monitors lie: the body is one system, so a real change in one vital shows in its partners
//! (hypoxia drives respiration and heart rate up; a falling pressure draws a baroreflex tachycardia),
//! while a sensor fault shows in that sensor's own quality signal and nowhere else.

use super::features::{self, index_at, Profile, SignalStats, RECENT_MS};
use super::score::Subject;
use super::window::{signal, Series, Window};

/// How far over a physiological rate limit counts as certain (twice the limit).
const RATE_CERTAIN: f64 = 2.0;
/// The stretch over which rates of change are checked, ms.
const RATE_WINDOW_MS: i64 = 10 * 60_000;
/// The shortest span a rate of change is measured over, ms: three 5 s scrapes, longer than a
/// pulse oximeter's or thermometer's own averaging, so a single noisy sample cannot count.
const RATE_SPAN_MS: i64 = 15_000;
/// The stretch that must be unnaturally smooth for a stuck sensor, ms.
const STUCK_SPAN_MS: i64 = 3 * 60_000;

/// Linear ramp: 0 at or below `lo`, 1 at or above `hi`.
pub fn ramp(x: f64, lo: f64, hi: f64) -> f64 {
    if x.is_nan() {
        return 0.0;
    }
    ((x - lo) / (hi - lo)).clamp(0.0, 1.0)
}

/// The fastest a signal's true value can change, per second; `None` where fast change is real
/// (heart rate switches abruptly at the onset of an arrhythmia).
///
/// - SpO2 1 point/s: respiratory failure lowers SpO2 by about 0.5 point per 10 min
///   and even apnoea desaturates adults by well under 1 point/s; a pulse
///   oximeter also averages over several seconds.
/// - Temperature 1 °C/min: core temperature is buffered by the body's heat capacity (~3.5 kJ/K/kg);
///   a fever rises over tens of minutes, so a degree a minute is the probe, not the patient.
/// - Arterial pressure 3 mmHg/s (45 mmHg in 15 s): beat-to-beat and respiratory swings are
///   5–10 mmHg and averaged out, and even the abrupt onset of a tachyarrhythmia lowers systolic
///   pressure by tens of mmHg; a flushed arterial line or a wrong cuff steps by 50–100 mmHg at once.
pub fn rate_limit(name: &str) -> Option<f64> {
    match name {
        signal::SPO2 => Some(0.01),
        signal::TEMPERATURE => Some(1.0 / 60.0),
        signal::SYSTOLIC | signal::MEAN_PRESSURE => Some(3.0),
        _ => None,
    }
}

/// The cross-signal evidence of one alert's window.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Evidence {
    /// SpO2 dip with pleth signal lost (quality fell, pulse disagrees with the ECG) while heart
    /// rate and respiration are unchanged: probe-off or motion.
    pub probe_off: f64,
    /// ECG quality lost and ECG heart rate implausible while the pleth shows a steady pulse.
    pub lead_off: f64,
    /// The alerting signal moved faster than physiology allows.
    pub impossible_rate: f64,
    /// The alerting signal is unnaturally smooth where it normally varies (stuck or dislodged).
    pub stuck: f64,
    /// A blood-pressure step with no baroreflex response and unchanged perfusion: cuff error.
    pub bp_cuff: f64,
    /// Partner signals move as the body would with a real change (0 = no corroboration).
    pub corroboration: f64,
}

impl Evidence {
    /// Feature names and values.
    pub fn named(&self) -> [(&'static str, f64); 6] {
        [
            ("artifact.probe_off", self.probe_off),
            ("artifact.lead_off", self.lead_off),
            ("artifact.impossible_rate", self.impossible_rate),
            ("artifact.stuck", self.stuck),
            ("artifact.bp_cuff", self.bp_cuff),
            ("evidence.corroboration", self.corroboration),
        ]
    }
}

/// The signals an alert on `focus` depends on: NEWS2 is made of the vitals it scores.
pub fn constituents(focus: &str) -> &[&'static str] {
    const NEWS2: [&str; 5] =
        [signal::RESPIRATION_RATE, signal::SPO2, signal::SYSTOLIC, signal::HEART_RATE, signal::TEMPERATURE];
    match focus {
        signal::NEWS2 => &NEWS2,
        signal::SPO2 => &[signal::SPO2],
        signal::HEART_RATE => &[signal::HEART_RATE],
        signal::SYSTOLIC => &[signal::SYSTOLIC],
        signal::MEAN_PRESSURE => &[signal::MEAN_PRESSURE],
        signal::TEMPERATURE => &[signal::TEMPERATURE],
        signal::RESPIRATION_RATE => &[signal::RESPIRATION_RATE],
        _ => &[],
    }
}

/// All evidence for an alert: the rules that bear on its focus signal (all of them for NEWS2).
pub fn evidence(subject: &Subject, window: &Window, profile: &Profile) -> Evidence {
    let Some(focus) = subject.focus.as_deref() else { return Evidence::default() };
    let bears = |s: &str| constituents(focus).contains(&s);
    let worst = |f: &dyn Fn(&Series, &str) -> f64| {
        constituents(focus).iter().filter_map(|&name| window.signal(name).map(|s| f(s, name))).fold(0.0f64, f64::max)
    };
    Evidence {
        probe_off: if bears(signal::SPO2) { probe_off(profile) } else { 0.0 },
        lead_off: if bears(signal::HEART_RATE) { lead_off(profile) } else { 0.0 },
        impossible_rate: worst(&|s, name| rate_limit(name).map_or(0.0, |l| impossible_rate(s, window.end_ms, l))),
        stuck: worst(&|s, name| stuck(s, window.end_ms, features::floor_of(name))),
        bp_cuff: if bears(signal::SYSTOLIC) || bears(signal::MEAN_PRESSURE) { bp_cuff(profile) } else { 0.0 },
        corroboration: corroboration(focus, profile),
    }
}

fn rise(s: Option<&SignalStats>) -> f64 {
    s.map_or(0.0, |s| s.level - s.baseline)
}

/// SpO2 dip × (pleth signal lost, or a fall too abrupt for the blood) × (heart rate and
/// respiration unchanged).
pub fn probe_off(p: &Profile) -> f64 {
    let Some(spo2) = p.get(signal::SPO2) else { return 0.0 };
    let dip = ramp(spo2.baseline - spo2.level, 0.02, 0.05);
    let quality_lost = p.get(signal::PLETH_QUALITY).map_or(0.0, |q| {
        // A sudden fall in the last 10 minutes (slow falls are poor perfusion), or no signal at all.
        ramp(-q.change_10m, 0.05, 0.2).max(ramp(0.2 - q.level, 0.0, 0.15))
    });
    let pulse_mismatch = match (p.get(signal::PULSE_RATE), p.get(signal::HEART_RATE)) {
        (Some(pulse), Some(hr)) => ramp((pulse.level - hr.level).abs(), 10.0, 30.0),
        _ => 0.0,
    };
    // Respiratory failure lowers SpO2 by about 0.5 point per 10 min (§1); 5 points within a
    // minute, with breathing and circulation unchanged, is the probe moving, not the blood.
    let abrupt = ramp(-spo2.change_1m, 0.02, 0.05);
    // Hypoxia drives respiration (~1 /min per point under target) and heart rate up (§1).
    let steady = (1.0 - ramp(rise(p.get(signal::HEART_RATE)), 5.0, 15.0))
        * (1.0 - ramp(rise(p.get(signal::RESPIRATION_RATE)), 3.0, 6.0));
    dip * quality_lost.max(pulse_mismatch).max(abrupt * steady) * (0.5 + 0.5 * steady)
}

/// ECG quality lost × ECG rate disagreeing with the pleth pulse × a real, steady pleth pulse.
pub fn lead_off(p: &Profile) -> f64 {
    let (Some(hr), Some(ecg)) = (p.get(signal::HEART_RATE), p.get(signal::ECG_QUALITY)) else { return 0.0 };
    let ecg_lost = ramp(0.5 - ecg.level, 0.0, 0.3);
    match p.get(signal::PULSE_RATE) {
        Some(pulse) => {
            let disagree = ramp((hr.level - pulse.level).abs(), 15.0, 40.0);
            let pleth_good = p.get(signal::PLETH_QUALITY).map_or(0.5, |q| ramp(q.level, 0.2, 0.4));
            let pulse_steady = 1.0 - ramp((pulse.level - pulse.baseline).abs(), 15.0, 30.0);
            ecg_lost * disagree * pleth_good * pulse_steady
        }
        // No pleth to compare with: only a count no heart produces is evidence.
        None => ecg_lost * if hr.level <= 0.0 || hr.level > 250.0 { 0.5 } else { 0.0 },
    }
}

/// Fastest change in the last 10 minutes against the physiological limit: 0 within it, 1 at
/// twice it. Each change is measured over at least `RATE_SPAN_MS` (15 s, so measurement noise between
/// two samples does not count), and a held reading (cuff, lab) over the time since the previous
/// reading, since the body had all that time to change.
pub fn impossible_rate(series: &Series, end_ms: i64, limit_per_s: f64) -> f64 {
    let Some(last) = index_at(series, end_ms) else { return 0.0 };
    let (ts, vs) = (&series.times_ms, &series.values);
    let from = features::count_before(ts, end_ms - RATE_WINDOW_MS).max(1);
    // Time of the last change of value before sample `from`.
    let mut changed_at = (1..from).rev().find(|&i| vs[i] != vs[i - 1]).map_or(ts[0], |i| ts[i]);
    let mut fastest = 0.0f64;
    for i in from..=last {
        if vs[i] == vs[i - 1] {
            continue;
        }
        let span_ms = RATE_SPAN_MS.max(ts[i] - changed_at);
        let before = features::value_at(series, ts[i] - span_ms);
        fastest = fastest.max((vs[i] - before).abs() / (span_ms as f64 / 1000.0));
        changed_at = ts[i];
    }
    ramp(fastest / limit_per_s, 1.0, RATE_CERTAIN)
}

/// Mean absolute second difference of consecutive samples in `[from, to)`: how rough the signal
/// is once its trend is removed (measurement noise and physiological variability).
fn roughness(values: &[f64]) -> Option<f64> {
    if values.len() < 3 {
        return None;
    }
    let sum: f64 = values.windows(3).map(|w| (w[2] - 2.0 * w[1] + w[0]).abs()).sum();
    Some(sum / (values.len() - 2) as f64)
}

/// A signal that normally varies has gone unnaturally smooth over the last 3 minutes (a stuck
/// value, or a dislodged probe drifting to ambient): 1 when its roughness is under 5% of its
/// usual roughness (the window before its last 15 minutes, so a probe stuck for an hour is
/// still compared with its working self), 0 above 25%. Signals that are held by nature (cuff, labs) never count.
pub fn stuck(series: &Series, end_ms: i64, floor: f64) -> f64 {
    let Some(last) = index_at(series, end_ms) else { return 0.0 };
    let recent_from = features::count_before(&series.times_ms, end_ms - STUCK_SPAN_MS);
    let baseline_to = features::count_before(&series.times_ms, end_ms - RECENT_MS);
    let (Some(recent), Some(usual)) =
        (roughness(&series.values[recent_from..=last]), roughness(&series.values[..baseline_to]))
    else {
        return 0.0;
    };
    if last + 1 - recent_from < 12 || usual < 0.1 * floor {
        return 0.0;
    }
    1.0 - ramp(recent / usual, 0.05, 0.25)
}

/// A pressure step of 20–35% or more with no baroreflex response in heart rate and unchanged
/// perfusion (pleth quality): a mis-sized cuff or a flushed line rather than the circulation.
pub fn bp_cuff(p: &Profile) -> f64 {
    let Some(sys) = p.get(signal::SYSTOLIC).or_else(|| p.get(signal::MEAN_PRESSURE)) else { return 0.0 };
    let before = sys.level - sys.change_10m;
    if before <= 0.0 {
        return 0.0;
    }
    let jump = ramp(sys.change_10m.abs() / before, 0.2, 0.35);
    let hr = p.get(signal::HEART_RATE);
    // A real fall in pressure speeds the heart (baroreflex; haemorrhage: HR up, BP down, §1), and
    // any large change of rhythm in the same minutes means the circulation itself changed; a
    // wrong cuff leaves the heart alone.
    let reflex = match hr {
        Some(hr) if sys.change_10m < 0.0 => hr.change_10m.abs().max(hr.level - hr.baseline),
        Some(hr) => hr.change_10m.abs().max(hr.baseline - hr.level),
        None => 0.0,
    };
    let no_reflex = 1.0 - ramp(reflex, 5.0, 15.0);
    let perfusion_kept = if sys.change_10m < 0.0 {
        1.0 - p.get(signal::PLETH_QUALITY).map_or(0.0, |q| ramp(q.baseline - q.level, 0.1, 0.25))
    } else {
        1.0
    };
    jump * no_reflex * (0.5 + 0.5 * perfusion_kept)
}

/// How strongly partner signals corroborate a real change in `focus` (the couplings of §1).
pub fn corroboration(focus: &str, p: &Profile) -> f64 {
    let hr_up = ramp(rise(p.get(signal::HEART_RATE)), 5.0, 15.0);
    let hr_moved = ramp(rise(p.get(signal::HEART_RATE)).abs(), 5.0, 15.0);
    let rr_up = ramp(rise(p.get(signal::RESPIRATION_RATE)), 2.0, 6.0);
    match focus {
        signal::SPO2 => rr_up.max(hr_up).max(ramp(rise(p.get(signal::ETCO2)), 3.0, 8.0)),
        signal::HEART_RATE => {
            // The pleth counts the same pulse, and the ECG is clean.
            match (p.get(signal::PULSE_RATE), p.get(signal::HEART_RATE)) {
                (Some(pulse), Some(hr)) => {
                    let agree = 1.0 - ramp((pulse.level - hr.level).abs(), 10.0, 25.0);
                    agree * p.get(signal::ECG_QUALITY).map_or(0.5, |q| ramp(q.level, 0.5, 0.8))
                }
                _ => 0.0,
            }
        }
        signal::SYSTOLIC | signal::MEAN_PRESSURE => {
            let lactate_up = ramp(rise(p.get(signal::LACTATE)), 0.5, 1.5);
            let perfusion_down = ramp(-rise(p.get(signal::PLETH_QUALITY)), 0.05, 0.2);
            hr_up.max(lactate_up).max(perfusion_down)
        }
        signal::RESPIRATION_RATE => {
            let spo2_down = ramp(-rise(p.get(signal::SPO2)), 0.02, 0.05);
            let fever = ramp(rise(p.get(signal::TEMPERATURE)), 0.5, 1.5);
            spo2_down.max(hr_up).max(fever)
        }
        signal::TEMPERATURE => hr_moved,
        signal::GLUCOSE => hr_up,
        signal::LACTATE => hr_up.max(ramp(-rise(p.get(signal::SYSTOLIC)), 10.0, 30.0)),
        signal::NEWS2 => {
            let vitals =
                [signal::HEART_RATE, signal::RESPIRATION_RATE, signal::SPO2, signal::SYSTOLIC, signal::TEMPERATURE];
            let moved = vitals.iter().filter(|&&v| p.get(v).is_some_and(|s| s.z.abs() >= 3.0)).count();
            ramp(moved as f64, 1.0, 3.0)
        }
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rescore::features::extract;
    use crate::rescore::fixtures::{noise, window, Made};
    use crate::rescore::score::{EntityKind, Features};

    fn patient(focus: &str, signals: &[Made<'_>]) -> Features {
        let subject = Subject {
            alertname: "Test".into(),
            severity: "critical".into(),
            entity: EntityKind::Patient,
            focus: Some(focus.into()),
        };
        extract(&subject, &window(signals))
    }

    /// Steady vitals of a calm patient, with the monitor's noise.
    fn hr(_: f64, i: usize) -> f64 {
        78.0 + 2.0 * noise(i)
    }
    fn rr(_: f64, i: usize) -> f64 {
        16.0 + 0.7 * noise(i + 7)
    }

    #[test]
    fn probe_off_dip_with_steady_heart_rate_and_respiration_is_likely_an_artifact() {
        let f = patient(
            "spo2",
            &[
                ("spo2", &|m: f64, i| if m < 0.5 { 0.70 } else { 0.96 + 0.003 * noise(i) }),
                ("pleth_quality", &|m: f64, _| if m < 0.5 { 0.02 } else { 0.85 }),
                ("pulse_rate", &|m: f64, i| if m < 0.5 { 0.0 } else { hr(m, i) }),
                ("heart_rate", &hr),
                ("respiration_rate", &rr),
            ],
        );
        assert!(f["artifact.probe_off"] > 0.9, "{}", f["artifact.probe_off"]);
        // 26 points within the 15 s span: 1.7 points/s against a limit of 1.
        assert!(f["artifact.impossible_rate"] > 0.5, "{}", f["artifact.impossible_rate"]);
        assert!(f["evidence.corroboration"] < 0.1);
    }

    #[test]
    fn real_hypoxic_drift_with_rising_respiration_is_not_an_artifact() {
        // SpO2 drifts from 96% to 88% over 25 minutes; respiration and heart rate climb with it.
        let drift = |m: f64| ((25.0 - m) / 25.0).clamp(0.0, 1.0);
        let f = patient(
            "spo2",
            &[
                ("spo2", &|m, i| 0.96 - 0.08 * drift(m) + 0.003 * noise(i)),
                ("pleth_quality", &|_, i| 0.85 + 0.03 * noise(i + 3)),
                ("pulse_rate", &|m, i| hr(m, i) + 9.0 * drift(m)),
                ("heart_rate", &|m, i| hr(m, i) + 9.0 * drift(m)),
                ("respiration_rate", &|m, i| rr(m, i) + 8.0 * drift(m)),
            ],
        );
        assert!(f["artifact.probe_off"] < 0.1, "{}", f["artifact.probe_off"]);
        assert!(f["artifact.impossible_rate"] == 0.0);
        assert!(f["evidence.corroboration"] > 0.9, "{}", f["evidence.corroboration"]);
    }

    #[test]
    fn lead_off_with_a_steady_pleth_pulse_is_likely_an_artifact() {
        let f = patient(
            "heart_rate",
            &[
                ("heart_rate", &|m, i| if m < 0.3 { 0.0 } else { hr(m, i) }),
                ("ecg_quality", &|m, _| if m < 0.3 { 0.02 } else { 0.95 }),
                ("pulse_rate", &hr),
                ("pleth_quality", &|_, _| 0.85),
            ],
        );
        assert!(f["artifact.lead_off"] > 0.9, "{}", f["artifact.lead_off"]);
        // A real tachyarrhythmia: clean ECG, the pleth counts the same fast pulse.
        let f = patient(
            "heart_rate",
            &[
                ("heart_rate", &|m, i| if m < 3.0 { 160.0 + 3.0 * noise(i) } else { hr(m, i) }),
                ("ecg_quality", &|_, _| 0.95),
                ("pulse_rate", &|m, i| if m < 3.0 { 158.0 + 3.0 * noise(i + 1) } else { hr(m, i) }),
                ("pleth_quality", &|_, _| 0.85),
            ],
        );
        assert_eq!(f["artifact.lead_off"], 0.0);
        assert!(f["evidence.corroboration"] > 0.9);
    }

    #[test]
    fn a_temperature_probe_drifting_to_ambient_is_stuck_and_too_fast() {
        // Dislodged at 7 minutes before the end: cools to 33 °C with a 2-minute time constant,
        // without the noise a probe on the skin shows.
        let f = patient(
            "temperature",
            &[("temperature", &|m: f64, i| {
                if m < 7.0 {
                    33.0 + 4.0 * (-(7.0 - m) / 2.0).exp()
                } else {
                    37.0 + 0.04 * noise(i)
                }
            })],
        );
        assert!(f["artifact.stuck"] > 0.9, "{}", f["artifact.stuck"]);
        // Nearly 2 °C/min at the start of the fall, against a limit of 1.
        assert!(f["artifact.impossible_rate"] > 0.5, "{}", f["artifact.impossible_rate"]);
    }

    #[test]
    fn a_smooth_fever_is_neither_stuck_nor_too_fast() {
        let f = patient("temperature", &[("temperature", &|m: f64, i| 39.5 - 0.01 * m + 0.04 * noise(i))]);
        assert_eq!(f["artifact.stuck"], 0.0);
        assert_eq!(f["artifact.impossible_rate"], 0.0);
    }

    #[test]
    fn held_cuff_readings_are_not_impossible_rates_but_a_step_without_baroreflex_is_a_cuff_error() {
        // Cuff every 15 min; the last reading, 2 min ago, is 45% low; heart rate unchanged.
        let cuff = |m: f64, _: usize| if m < 2.0 { 68.0 } else { 125.0 + ((m / 15.0).floor() % 3.0) };
        let f = patient("systolic", &[("systolic", &cuff), ("heart_rate", &hr), ("pleth_quality", &|_, _| 0.85)]);
        assert_eq!(f["artifact.impossible_rate"], 0.0, "57 mmHg since the reading 15 min before");
        assert!(f["artifact.bp_cuff"] > 0.9, "{}", f["artifact.bp_cuff"]);
        // The same low reading with a baroreflex tachycardia is real hypotension.
        let f = patient(
            "systolic",
            &[("systolic", &cuff), ("heart_rate", &|m, i| hr(m, i) + if m < 12.0 { 25.0 } else { 0.0 })],
        );
        assert!(f["artifact.bp_cuff"] < 0.05, "{}", f["artifact.bp_cuff"]);
        assert!(f["evidence.corroboration"] > 0.9);
    }

    #[test]
    fn a_flushed_arterial_line_moves_faster_than_a_circulation_can() {
        let f = patient("systolic", &[("systolic", &|m: f64, i| if m < 0.2 { 250.0 } else { 120.0 + 3.0 * noise(i) })]);
        assert!(f["artifact.impossible_rate"] > 0.9);
    }
}
