//! NEWS2: the National Early Warning Score 2 (Royal College of Physicians, 2017).
//!
//! Seven physiological parameters are each scored 0–3 against the NEWS2 chart and
//! summed into an aggregate score, which maps to a clinical [`Response`].
//!
//! | parameter             | 3     | 2      | 1         | 0         | 1         | 2       | 3                                        |
//! |-----------------------|-------|--------|-----------|-----------|-----------|---------|------------------------------------------|
//! | respiration rate /min | ≤8    |        | 9–11      | 12–20     |           | 21–24   | ≥25                                      |
//! | SpO2 scale 1 (%)      | ≤91   | 92–93  | 94–95     | ≥96       |           |         |                                          |
//! | air or oxygen         |       | oxygen |           | air       |           |         |                                          |
//! | systolic BP (mmHg)    | ≤90   | 91–100 | 101–110   | 111–219   |           |         | ≥220                                     |
//! | pulse /min            | ≤40   |        | 41–50     | 51–90     | 91–110    | 111–130 | ≥131                                     |
//! | consciousness         |       |        |           | alert     |           |         | new confusion, voice, pain, unresponsive |
//! | temperature (°C)      | ≤35.0 |        | 35.1–36.0 | 36.1–38.0 | 38.1–39.0 | ≥39.1   |                                          |
//!
//! SpO2 scale 2 (hypercapnic respiratory failure, target 88–92 %): ≤83 → 3;
//! 84–85 → 2; 86–87 → 1; 88–92, or ≥93 on air → 0; on oxygen 93–94 → 1,
//! 95–96 → 2, ≥97 → 3.
//!
//! # Real-valued measurements
//!
//! The chart is written in whole numbers (temperature in tenths of a degree), but
//! the simulator publishes real values (e.g. respiration 20.4 /min, SpO2 as the
//! ratio 0.953). A value is first rounded to the chart's resolution and then
//! banded, so there are no gaps between rows:
//!
//! * respiration rate, systolic BP and pulse: nearest integer, halves away from
//!   zero (20.4 → 20 → 0 points; 20.5 → 21 → 2 points);
//! * SpO2: the ratio is multiplied by 100 and rounded to the nearest integer
//!   percent, halves away from zero (0.955 → 96 % → 0 points on scale 1);
//! * temperature: nearest tenth of a degree, halves away from zero
//!   (38.04 → 38.0 → 0 points; 38.05 → 38.1 → 1 point).
//!
//! # Missing readings
//!
//! A NaN measurement scores 3, the worst a parameter can score. A missing reading
//! is not reassuring: scoring it 0 would let a failed sensor hide deterioration,
//! whereas 3 guarantees at least an urgent ward review ([`Response::LowMedium`]).
//! Infinite values band like any other out-of-range value (+∞ pulse → 3).
//!
//! The scoring functions neither allocate nor panic; each is a handful of float
//! comparisons, since they run for every patient on every scrape.

use serde::{Deserialize, Serialize};

/// Level of consciousness on the ACVPU scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Consciousness {
    /// A: alert.
    Alert,
    /// C: new confusion (new-onset disorientation, delirium or agitation).
    NewConfusion,
    /// V: responds to voice.
    Voice,
    /// P: responds to pain.
    Pain,
    /// U: unresponsive.
    Unresponsive,
}

/// Which SpO2 scale applies to the patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Spo2Scale {
    /// Scale 1: the default, for patients without hypercapnic respiratory failure.
    #[default]
    Scale1,
    /// Scale 2: hypercapnic respiratory failure with a prescribed target of 88–92 %.
    Scale2,
}

/// One set of observations, in the units of the chart except SpO2 which is a
/// ratio 0..1 (as the metrics publish it).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Observations {
    /// Respiration rate, breaths per minute.
    pub respiration_rate_per_minute: f64,
    /// Peripheral oxygen saturation as a ratio (0.96 = 96 %).
    pub spo2_ratio: f64,
    /// Whether the patient is receiving supplemental oxygen (false = room air).
    pub on_oxygen: bool,
    /// Systolic blood pressure, mmHg.
    pub systolic_mmhg: f64,
    /// Pulse, beats per minute.
    pub pulse_per_minute: f64,
    /// Level of consciousness (ACVPU).
    pub consciousness: Consciousness,
    /// Temperature, degrees Celsius.
    pub temperature_celsius: f64,
    /// SpO2 scale the patient is scored on; scale 1 unless prescribed otherwise.
    #[serde(default)]
    pub spo2_scale: Spo2Scale,
}

/// The seven NEWS2 parameters, in chart order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Parameter {
    /// Respiration rate.
    RespirationRate,
    /// Oxygen saturation (scale 1 or 2, per [`Observations::spo2_scale`]).
    Spo2,
    /// Air or supplemental oxygen.
    AirOrOxygen,
    /// Systolic blood pressure.
    SystolicBp,
    /// Pulse.
    Pulse,
    /// Level of consciousness.
    Consciousness,
    /// Temperature.
    Temperature,
}

impl Parameter {
    /// All parameters in chart order; this is also the index order of [`Score::parameters`].
    pub const ALL: [Parameter; 7] = [
        Parameter::RespirationRate,
        Parameter::Spo2,
        Parameter::AirOrOxygen,
        Parameter::SystolicBp,
        Parameter::Pulse,
        Parameter::Consciousness,
        Parameter::Temperature,
    ];

    /// Label value used in metrics, e.g. `"respiration_rate"`, `"spo2"`,
    /// `"air_or_oxygen"`, `"systolic_bp"`, `"pulse"`, `"consciousness"`, `"temperature"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Parameter::RespirationRate => "respiration_rate",
            Parameter::Spo2 => "spo2",
            Parameter::AirOrOxygen => "air_or_oxygen",
            Parameter::SystolicBp => "systolic_bp",
            Parameter::Pulse => "pulse",
            Parameter::Consciousness => "consciousness",
            Parameter::Temperature => "temperature",
        }
    }
}

/// Clinical response the total calls for.
///
/// Ordered by urgency: `Low < LowMedium < Medium < High`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// Total 0–4 with no single parameter scoring 3: ward-based response.
    Low,
    /// A single parameter scores 3 (total ≤ 4): urgent ward-based review.
    LowMedium,
    /// Total 5–6: key threshold for urgent response.
    Medium,
    /// Total ≥ 7: emergency response.
    High,
}

/// Per-parameter scores and their total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Score {
    /// Score of each parameter (0–3), in [`Parameter::ALL`] order.
    pub parameters: [u8; 7],
}

impl Score {
    /// Aggregate NEWS2 score: the sum of the parameter scores (0–20).
    pub fn total(&self) -> u8 {
        self.parameters.iter().sum()
    }

    /// Score of one parameter.
    pub fn get(&self, p: Parameter) -> u8 {
        self.parameters[p as usize]
    }

    /// Clinical response: total ≥ 7 → High; 5–6 → Medium; otherwise any single
    /// parameter scoring 3 → LowMedium; otherwise Low.
    pub fn response(&self) -> Response {
        let total = self.total();
        if total >= 7 {
            Response::High
        } else if total >= 5 {
            Response::Medium
        } else if self.parameters.iter().any(|&s| s >= 3) {
            Response::LowMedium
        } else {
            Response::Low
        }
    }
}

/// Scores a full set of observations, using the SpO2 scale the observations name.
pub fn score(obs: &Observations) -> Score {
    let spo2 = match obs.spo2_scale {
        Spo2Scale::Scale1 => spo2_scale1(obs.spo2_ratio),
        Spo2Scale::Scale2 => spo2_scale2(obs.spo2_ratio, obs.on_oxygen),
    };
    Score {
        parameters: [
            respiration_rate(obs.respiration_rate_per_minute),
            spo2,
            air_or_oxygen(obs.on_oxygen),
            systolic_bp(obs.systolic_mmhg),
            pulse(obs.pulse_per_minute),
            consciousness(obs.consciousness),
            temperature(obs.temperature_celsius),
        ],
    }
}

// Every banding function below tests the non-3 bands and falls through to 3, so
// NaN (for which every comparison is false) scores 3 without a separate branch.

/// Converts an SpO2 ratio to a whole percent (half away from zero).
#[inline]
fn spo2_percent(ratio: f64) -> f64 {
    (ratio * 100.0).round()
}

/// Chart row "respiration rate /min": ≤8 → 3; 9–11 → 1; 12–20 → 0; 21–24 → 2; ≥25 → 3.
/// Rounded to the nearest integer first; NaN → 3.
pub fn respiration_rate(per_minute: f64) -> u8 {
    let r = per_minute.round();
    if (12.0..=20.0).contains(&r) {
        0
    } else if (9.0..=11.0).contains(&r) {
        1
    } else if (21.0..=24.0).contains(&r) {
        2
    } else {
        3
    }
}

/// Chart row "SpO2 scale 1 (%)": ≤91 → 3; 92–93 → 2; 94–95 → 1; ≥96 → 0.
/// The ratio is converted to a percent rounded to the nearest integer first; NaN → 3.
pub fn spo2_scale1(ratio: f64) -> u8 {
    let s = spo2_percent(ratio);
    if s >= 96.0 {
        0
    } else if s >= 94.0 {
        1
    } else if s >= 92.0 {
        2
    } else {
        3
    }
}

/// Chart row "SpO2 scale 2 (%)": ≤83 → 3; 84–85 → 2; 86–87 → 1; 88–92 → 0;
/// ≥93 on air → 0; on oxygen 93–94 → 1, 95–96 → 2, ≥97 → 3.
/// The ratio is converted to a percent rounded to the nearest integer first; NaN → 3.
pub fn spo2_scale2(ratio: f64, on_oxygen: bool) -> u8 {
    let s = spo2_percent(ratio);
    if s >= 93.0 {
        if !on_oxygen {
            0
        } else if s >= 97.0 {
            3
        } else if s >= 95.0 {
            2
        } else {
            1
        }
    } else if s >= 88.0 {
        0
    } else if s >= 86.0 {
        1
    } else if s >= 84.0 {
        2
    } else {
        3
    }
}

/// Chart row "air or oxygen": oxygen → 2; air → 0.
pub fn air_or_oxygen(on_oxygen: bool) -> u8 {
    if on_oxygen {
        2
    } else {
        0
    }
}

/// Chart row "systolic BP (mmHg)": ≤90 → 3; 91–100 → 2; 101–110 → 1; 111–219 → 0; ≥220 → 3.
/// Rounded to the nearest integer first; NaN → 3.
pub fn systolic_bp(mmhg: f64) -> u8 {
    let s = mmhg.round();
    if (111.0..=219.0).contains(&s) {
        0
    } else if (101.0..=110.0).contains(&s) {
        1
    } else if (91.0..=100.0).contains(&s) {
        2
    } else {
        3
    }
}

/// Chart row "pulse /min": ≤40 → 3; 41–50 → 1; 51–90 → 0; 91–110 → 1; 111–130 → 2; ≥131 → 3.
/// Rounded to the nearest integer first; NaN → 3.
pub fn pulse(per_minute: f64) -> u8 {
    let p = per_minute.round();
    if (51.0..=90.0).contains(&p) {
        0
    } else if (41.0..=50.0).contains(&p) || (91.0..=110.0).contains(&p) {
        1
    } else if (111.0..=130.0).contains(&p) {
        2
    } else {
        3
    }
}

/// Chart row "consciousness": alert → 0; new confusion, voice, pain or unresponsive → 3.
pub fn consciousness(c: Consciousness) -> u8 {
    match c {
        Consciousness::Alert => 0,
        Consciousness::NewConfusion | Consciousness::Voice | Consciousness::Pain | Consciousness::Unresponsive => 3,
    }
}

/// Chart row "temperature (°C)": ≤35.0 → 3; 35.1–36.0 → 1; 36.1–38.0 → 0;
/// 38.1–39.0 → 1; ≥39.1 → 2. Rounded to the nearest tenth first; NaN → 3.
pub fn temperature(celsius: f64) -> u8 {
    // Work in whole tenths of a degree so band edges compare exactly.
    let t = (celsius * 10.0).round();
    if (361.0..=380.0).contains(&t) {
        0
    } else if (351.0..=360.0).contains(&t) || (381.0..=390.0).contains(&t) {
        1
    } else if t >= 391.0 {
        2
    } else {
        3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asserts `f(input) == expected` for every pair, naming the failing input.
    fn check(name: &str, f: impl Fn(f64) -> u8, cases: &[(f64, u8)]) {
        for &(input, expected) in cases {
            assert_eq!(f(input), expected, "{name}({input})");
        }
    }

    /// Converts a whole percent to the ratio the metrics publish.
    fn pct(p: f64) -> f64 {
        p / 100.0
    }

    fn normal() -> Observations {
        Observations {
            respiration_rate_per_minute: 16.0,
            spo2_ratio: 0.98,
            on_oxygen: false,
            systolic_mmhg: 120.0,
            pulse_per_minute: 70.0,
            consciousness: Consciousness::Alert,
            temperature_celsius: 37.0,
            spo2_scale: Spo2Scale::Scale1,
        }
    }

    // ---- respiration rate ----

    #[test]
    fn respiration_rate_scores_every_band_edge_from_both_sides() {
        check(
            "respiration_rate",
            respiration_rate,
            &[
                (0.0, 3),
                (8.0, 3),
                (9.0, 1),
                (11.0, 1),
                (12.0, 0),
                (20.0, 0),
                (21.0, 2),
                (24.0, 2),
                (25.0, 3),
                (60.0, 3),
            ],
        );
    }

    #[test]
    fn respiration_rate_rounds_to_nearest_integer_before_banding() {
        check(
            "respiration_rate",
            respiration_rate,
            &[(20.4, 0), (20.5, 2), (20.6, 2), (11.5, 0), (11.49, 1), (8.49, 3), (8.5, 1), (24.49, 2), (24.5, 3)],
        );
    }

    // ---- SpO2 scale 1 ----

    #[test]
    fn spo2_scale1_scores_every_band_edge_from_both_sides() {
        check(
            "spo2_scale1",
            spo2_scale1,
            &[
                (pct(80.0), 3),
                (pct(91.0), 3),
                (pct(92.0), 2),
                (pct(93.0), 2),
                (pct(94.0), 1),
                (pct(95.0), 1),
                (pct(96.0), 0),
                (pct(100.0), 0),
            ],
        );
    }

    #[test]
    fn spo2_scale1_rounds_ratio_to_whole_percent_before_banding() {
        check(
            "spo2_scale1",
            spo2_scale1,
            &[(0.955, 0), (0.9549, 1), (0.953, 1), (0.935, 1), (0.9349, 2), (0.915, 2), (0.9149, 3)],
        );
    }

    // ---- SpO2 scale 2 ----

    #[test]
    fn spo2_scale2_scores_every_edge_below_target_regardless_of_oxygen() {
        for on_oxygen in [false, true] {
            check(
                if on_oxygen { "spo2_scale2(oxygen)" } else { "spo2_scale2(air)" },
                |r| spo2_scale2(r, on_oxygen),
                &[
                    (pct(70.0), 3),
                    (pct(83.0), 3),
                    (pct(84.0), 2),
                    (pct(85.0), 2),
                    (pct(86.0), 1),
                    (pct(87.0), 1),
                    (pct(88.0), 0),
                    (pct(92.0), 0),
                ],
            );
        }
    }

    #[test]
    fn spo2_scale2_scores_93_and_above_zero_on_air() {
        check(
            "spo2_scale2(air)",
            |r| spo2_scale2(r, false),
            &[
                (pct(92.0), 0),
                (pct(93.0), 0),
                (pct(94.0), 0),
                (pct(95.0), 0),
                (pct(96.0), 0),
                (pct(97.0), 0),
                (pct(100.0), 0),
            ],
        );
    }

    #[test]
    fn spo2_scale2_scores_every_edge_above_target_on_oxygen() {
        check(
            "spo2_scale2(oxygen)",
            |r| spo2_scale2(r, true),
            &[
                (pct(92.0), 0),
                (pct(93.0), 1),
                (pct(94.0), 1),
                (pct(95.0), 2),
                (pct(96.0), 2),
                (pct(97.0), 3),
                (pct(100.0), 3),
            ],
        );
    }

    #[test]
    fn spo2_scale2_rounds_ratio_to_whole_percent_before_banding() {
        check(
            "spo2_scale2(oxygen)",
            |r| spo2_scale2(r, true),
            &[(0.925, 1), (0.9249, 0), (0.875, 0), (0.8749, 1), (0.835, 2), (0.8349, 3), (0.965, 3), (0.9649, 2)],
        );
    }

    #[test]
    fn score_uses_the_spo2_scale_the_observations_name() {
        let mut obs = normal();
        obs.spo2_ratio = 0.89;
        assert_eq!(score(&obs).get(Parameter::Spo2), 3);
        obs.spo2_scale = Spo2Scale::Scale2;
        assert_eq!(score(&obs).get(Parameter::Spo2), 0);
        obs.spo2_ratio = 0.97;
        obs.on_oxygen = true;
        assert_eq!(score(&obs).get(Parameter::Spo2), 3);
        assert_eq!(score(&obs).get(Parameter::AirOrOxygen), 2);
    }

    // ---- air or oxygen ----

    #[test]
    fn air_scores_zero_and_oxygen_scores_two() {
        assert_eq!(air_or_oxygen(false), 0);
        assert_eq!(air_or_oxygen(true), 2);
    }

    // ---- systolic BP ----

    #[test]
    fn systolic_bp_scores_every_band_edge_from_both_sides() {
        check(
            "systolic_bp",
            systolic_bp,
            &[
                (50.0, 3),
                (90.0, 3),
                (91.0, 2),
                (100.0, 2),
                (101.0, 1),
                (110.0, 1),
                (111.0, 0),
                (219.0, 0),
                (220.0, 3),
                (280.0, 3),
            ],
        );
    }

    #[test]
    fn systolic_bp_rounds_to_nearest_integer_before_banding() {
        check("systolic_bp", systolic_bp, &[(90.49, 3), (90.5, 2), (110.4, 1), (110.5, 0), (219.49, 0), (219.5, 3)]);
    }

    // ---- pulse ----

    #[test]
    fn pulse_scores_every_band_edge_from_both_sides() {
        check(
            "pulse",
            pulse,
            &[
                (20.0, 3),
                (40.0, 3),
                (41.0, 1),
                (50.0, 1),
                (51.0, 0),
                (90.0, 0),
                (91.0, 1),
                (110.0, 1),
                (111.0, 2),
                (130.0, 2),
                (131.0, 3),
                (200.0, 3),
            ],
        );
    }

    #[test]
    fn pulse_rounds_to_nearest_integer_before_banding() {
        check("pulse", pulse, &[(40.49, 3), (40.5, 1), (90.4, 0), (90.5, 1), (130.49, 2), (130.5, 3)]);
    }

    // ---- consciousness ----

    #[test]
    fn alert_scores_zero_and_any_other_acvpu_level_scores_three() {
        assert_eq!(consciousness(Consciousness::Alert), 0);
        for c in [Consciousness::NewConfusion, Consciousness::Voice, Consciousness::Pain, Consciousness::Unresponsive] {
            assert_eq!(consciousness(c), 3, "{c:?}");
        }
    }

    // ---- temperature ----

    #[test]
    fn temperature_scores_every_band_edge_from_both_sides() {
        check(
            "temperature",
            temperature,
            &[
                (30.0, 3),
                (35.0, 3),
                (35.1, 1),
                (36.0, 1),
                (36.1, 0),
                (38.0, 0),
                (38.1, 1),
                (39.0, 1),
                (39.1, 2),
                (42.0, 2),
            ],
        );
    }

    #[test]
    fn temperature_rounds_to_nearest_tenth_before_banding() {
        check(
            "temperature",
            temperature,
            &[(35.04, 3), (35.05, 1), (36.04, 1), (36.05, 0), (38.04, 0), (38.05, 1), (39.04, 1), (39.05, 2)],
        );
    }

    // ---- NaN and non-finite input ----

    #[test]
    fn nan_reading_scores_worst_on_every_numeric_row() {
        let nan = f64::NAN;
        assert_eq!(respiration_rate(nan), 3);
        assert_eq!(spo2_scale1(nan), 3);
        assert_eq!(spo2_scale2(nan, false), 3);
        assert_eq!(spo2_scale2(nan, true), 3);
        assert_eq!(systolic_bp(nan), 3);
        assert_eq!(pulse(nan), 3);
        assert_eq!(temperature(nan), 3);
    }

    #[test]
    fn nan_reading_in_otherwise_normal_set_calls_for_urgent_ward_review() {
        let mut obs = normal();
        obs.pulse_per_minute = f64::NAN;
        let s = score(&obs);
        assert_eq!(s.get(Parameter::Pulse), 3);
        assert_eq!(s.total(), 3);
        assert_eq!(s.response(), Response::LowMedium);
    }

    #[test]
    fn infinite_readings_band_as_out_of_range_without_panicking() {
        for inf in [f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(respiration_rate(inf), 3);
            assert_eq!(systolic_bp(inf), 3);
            assert_eq!(pulse(inf), 3);
        }
        assert_eq!(spo2_scale1(f64::INFINITY), 0);
        assert_eq!(spo2_scale1(f64::NEG_INFINITY), 3);
        assert_eq!(temperature(f64::INFINITY), 2);
        assert_eq!(temperature(f64::NEG_INFINITY), 3);
    }

    // ---- whole observation sets ----

    #[test]
    fn whole_observation_sets_score_expected_totals_and_responses() {
        struct Case {
            name: &'static str,
            obs: Observations,
            parameters: [u8; 7],
            response: Response,
        }
        let n = normal();
        let cases = [
            Case { name: "all normal", obs: n, parameters: [0, 0, 0, 0, 0, 0, 0], response: Response::Low },
            Case {
                name: "total 4 without a 3 is low",
                obs: Observations { on_oxygen: true, respiration_rate_per_minute: 22.0, ..n },
                parameters: [2, 0, 2, 0, 0, 0, 0],
                response: Response::Low,
            },
            Case {
                name: "single 3 with total 3 is low-medium",
                obs: Observations { consciousness: Consciousness::NewConfusion, ..n },
                parameters: [0, 0, 0, 0, 0, 3, 0],
                response: Response::LowMedium,
            },
            Case {
                name: "single 3 with total 4 is low-medium",
                obs: Observations { respiration_rate_per_minute: 26.0, pulse_per_minute: 95.0, ..n },
                parameters: [3, 0, 0, 0, 1, 0, 0],
                response: Response::LowMedium,
            },
            Case {
                name: "total 5 is medium",
                obs: Observations { respiration_rate_per_minute: 21.0, spo2_ratio: 0.95, pulse_per_minute: 112.0, ..n },
                parameters: [2, 1, 0, 0, 2, 0, 0],
                response: Response::Medium,
            },
            Case {
                name: "total 6 with a single 3 is medium",
                obs: Observations { systolic_mmhg: 88.0, on_oxygen: true, temperature_celsius: 38.5, ..n },
                parameters: [0, 0, 2, 3, 0, 0, 1],
                response: Response::Medium,
            },
            Case {
                name: "total 7 is high",
                obs: Observations {
                    respiration_rate_per_minute: 24.0,
                    spo2_ratio: 0.93,
                    on_oxygen: true,
                    temperature_celsius: 38.2,
                    ..n
                },
                parameters: [2, 2, 2, 0, 0, 0, 1],
                response: Response::High,
            },
            Case {
                name: "septic picture is high",
                obs: Observations {
                    respiration_rate_per_minute: 28.4,
                    spo2_ratio: 0.912,
                    on_oxygen: true,
                    systolic_mmhg: 86.0,
                    pulse_per_minute: 134.6,
                    consciousness: Consciousness::Voice,
                    temperature_celsius: 39.46,
                    ..n
                },
                parameters: [3, 3, 2, 3, 3, 3, 2],
                response: Response::High,
            },
            Case {
                name: "scale 2 patient on target on oxygen",
                obs: Observations { spo2_ratio: 0.90, on_oxygen: true, spo2_scale: Spo2Scale::Scale2, ..n },
                parameters: [0, 0, 2, 0, 0, 0, 0],
                response: Response::Low,
            },
            Case {
                name: "real-valued readings round before banding",
                obs: Observations {
                    respiration_rate_per_minute: 20.4,
                    spo2_ratio: 0.955,
                    systolic_mmhg: 110.6,
                    pulse_per_minute: 90.4,
                    temperature_celsius: 38.04,
                    ..n
                },
                parameters: [0, 0, 0, 0, 0, 0, 0],
                response: Response::Low,
            },
        ];
        for case in cases {
            let s = score(&case.obs);
            let total: u8 = case.parameters.iter().sum();
            assert_eq!(s.parameters, case.parameters, "{}", case.name);
            assert_eq!(s.total(), total, "{}", case.name);
            assert_eq!(s.response(), case.response, "{}", case.name);
        }
    }

    #[test]
    fn response_thresholds_follow_total_then_single_three() {
        let with = |parameters| Score { parameters }.response();
        assert_eq!(with([0; 7]), Response::Low);
        assert_eq!(with([1, 1, 0, 2, 0, 0, 0]), Response::Low);
        assert_eq!(with([0, 0, 0, 0, 0, 0, 3]), Response::LowMedium);
        assert_eq!(with([1, 0, 0, 0, 0, 0, 3]), Response::LowMedium);
        assert_eq!(with([2, 0, 0, 0, 0, 0, 3]), Response::Medium);
        assert_eq!(with([1, 1, 1, 1, 1, 0, 0]), Response::Medium);
        assert_eq!(with([1, 1, 1, 1, 1, 1, 0]), Response::Medium);
        assert_eq!(with([1, 1, 1, 1, 1, 1, 1]), Response::High);
        assert_eq!(with([3, 3, 2, 3, 3, 3, 3]), Response::High);
        assert!(Response::Low < Response::LowMedium);
        assert!(Response::LowMedium < Response::Medium);
        assert!(Response::Medium < Response::High);
    }

    // ---- Parameter / Score plumbing ----

    #[test]
    fn parameters_are_in_chart_order_with_metric_labels() {
        let labels: Vec<&str> = Parameter::ALL.iter().map(|p| p.as_str()).collect();
        assert_eq!(
            labels,
            ["respiration_rate", "spo2", "air_or_oxygen", "systolic_bp", "pulse", "consciousness", "temperature"]
        );
        for (i, p) in Parameter::ALL.into_iter().enumerate() {
            assert_eq!(p as usize, i, "{p:?}");
        }
    }

    #[test]
    fn score_get_reads_the_parameter_in_all_order() {
        let s = Score { parameters: [1, 2, 3, 0, 1, 2, 3] };
        for (i, p) in Parameter::ALL.into_iter().enumerate() {
            assert_eq!(s.get(p), s.parameters[i], "{p:?}");
        }
    }

    #[test]
    fn enums_serialize_as_snake_case_and_scale_defaults_to_scale1() {
        assert_eq!(serde_json::to_string(&Consciousness::NewConfusion).unwrap(), "\"new_confusion\"");
        assert_eq!(serde_json::to_string(&Spo2Scale::Scale2).unwrap(), "\"scale2\"");
        assert_eq!(Spo2Scale::default(), Spo2Scale::Scale1);
        let obs: Observations = serde_json::from_str(
            r#"{"respiration_rate_per_minute":16,"spo2_ratio":0.97,"on_oxygen":false,
                "systolic_mmhg":120,"pulse_per_minute":70,"consciousness":"alert",
                "temperature_celsius":37.0}"#,
        )
        .unwrap();
        assert_eq!(obs.spo2_scale, Spo2Scale::Scale1);
        assert_eq!(score(&obs).total(), 0);
    }
}
