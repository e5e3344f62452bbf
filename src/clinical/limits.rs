//! A patient's own alarm limits, as a clinician sets them at admission, and the bounds no
//! personal limit may cross.
//!
//! One threshold for everyone is the main source of false alarms: a patient with COPD whose
//! prescribed SpO2 target is 88–92% (BTS guideline for oxygen use in adults, 2017; NEWS2 SpO2
//! scale 2, RCP 2017) alarms all day at a 90% limit. Lowering the SpO2 limit from 90% to 88% cut
//! SpO2 alarms by 63% (Welch, Biomed Instrum Technol 2011), and limits set to the patient cut
//! alarms further. Here:
//!
//! - **SpO2**: on NEWS2 scale 1, alarm below 91.5%, where it scores 3 (≤ 91% as NEWS2 rounds to
//!   the percent); for a patient prescribed scale 2, below 86%: two points under the target's
//!   floor of 88%, where scale 2 scores 1–2, and above its score-3 band (≤ 83%).
//! - **Heart rate**: the review limits move with the patient's resting rate — high at resting
//!   plus 35/min, low at resting minus 25/min — but stay within NEWS2's bands: high between 111
//!   and 130/min (scored 2), low between 41 and 50/min (scored 1). The emergency limits stay
//!   where NEWS2 scores 3 (≤ 40, ≥ 131).
//! - **Systolic pressure**: review below resting − 30 mmHg, between 91 and 100 mmHg (NEWS2 scores
//!   91–100 as 2); emergency at ≤ 90 for everyone.
//! - **Respiration**: review at resting + 7/min, between 21 and 24/min (NEWS2 scores 21–24 as 2);
//!   emergency at ≥ 25 for everyone.
//!
//! No personal limit is ever wider than NEWS2's score-3 bands: every reading NEWS2 scores 3 is
//! beyond a limit (checked by the tests against [`super::news2`]).

use super::news2::Spo2Scale;
use serde::Serialize;

/// SpO2 scale 1's score-3 band is ≤ 91%, and NEWS2 rounds to the percent: below 91.5%.
pub const SCALE1_SPO2_LOW: f64 = 0.915;
/// Two points under the floor of the 88–92% target of SpO2 scale 2.
pub const SCALE2_SPO2_LOW: f64 = 0.86;

/// A patient's alarm limits; an alarm is a reading beyond one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AlarmLimits {
    /// SpO2 below this (ratio) alarms.
    pub spo2_low: f64,
    /// Heart rate at or below this (/min) needs a review.
    pub heart_rate_low: f64,
    /// Heart rate at or above this (/min) needs a review.
    pub heart_rate_high: f64,
    /// Systolic pressure at or below this (mmHg) needs a review.
    pub systolic_low: f64,
    /// Respiration at or above this (/min) needs a review.
    pub respiration_high: f64,
}

/// What a clinician sets the limits from: the patient's SpO2 scale and resting readings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resting {
    /// The NEWS2 SpO2 scale prescribed.
    pub spo2_scale: Spo2Scale,
    /// Resting heart rate, /min.
    pub heart_rate: f64,
    /// Resting systolic pressure, mmHg.
    pub systolic: f64,
    /// Resting respiration rate, /min.
    pub respiration: f64,
}

impl AlarmLimits {
    /// The limits a clinician sets for a patient at rest like `r`.
    pub fn for_patient(r: &Resting) -> Self {
        Self {
            spo2_low: match r.spo2_scale {
                Spo2Scale::Scale1 => SCALE1_SPO2_LOW,
                Spo2Scale::Scale2 => SCALE2_SPO2_LOW,
            },
            heart_rate_low: (r.heart_rate - 25.0).round().clamp(41.0, 50.0),
            heart_rate_high: (r.heart_rate + 35.0).round().clamp(111.0, 130.0),
            systolic_low: (r.systolic - 30.0).round().clamp(91.0, 100.0),
            respiration_high: (r.respiration + 7.0).round().clamp(21.0, 24.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clinical::news2;

    fn resting(scale: Spo2Scale, hr: f64, sbp: f64, rr: f64) -> Resting {
        Resting { spo2_scale: scale, heart_rate: hr, systolic: sbp, respiration: rr }
    }

    #[test]
    fn a_copd_patient_alarms_below_their_own_target_and_others_at_the_classic_limit() {
        let copd = AlarmLimits::for_patient(&resting(Spo2Scale::Scale2, 76.0, 126.0, 18.0));
        let other = AlarmLimits::for_patient(&resting(Spo2Scale::Scale1, 76.0, 126.0, 15.0));
        assert_eq!((copd.spo2_low, other.spo2_low), (0.86, 0.915));
        assert_eq!((other.heart_rate_low, other.heart_rate_high), (50.0, 111.0));
        let failing_heart = AlarmLimits::for_patient(&resting(Spo2Scale::Scale1, 92.0, 108.0, 16.0));
        assert_eq!((failing_heart.heart_rate_high, failing_heart.systolic_low), (127.0, 91.0));
        assert_eq!(AlarmLimits::for_patient(&resting(Spo2Scale::Scale1, 60.0, 150.0, 20.0)).respiration_high, 24.0);
    }

    #[test]
    fn no_limit_is_wider_than_the_news2_score_3_bands() {
        for scale in [Spo2Scale::Scale1, Spo2Scale::Scale2] {
            for hr in (40..=120).step_by(5) {
                for sbp in (90..=180).step_by(10) {
                    for rr in 8..=26 {
                        let l = AlarmLimits::for_patient(&resting(scale, f64::from(hr), f64::from(sbp), f64::from(rr)));
                        // Every reading NEWS2 scores 3 is beyond the limit that guards it.
                        for spo2 in (700..=999).map(|p| f64::from(p) / 1000.0) {
                            let three = match scale {
                                Spo2Scale::Scale1 => news2::spo2_scale1(spo2) == 3,
                                Spo2Scale::Scale2 => news2::spo2_scale2(spo2, false) == 3,
                            };
                            assert!(
                                !three || spo2 < l.spo2_low,
                                "SpO2 {spo2} on {scale:?} scores 3 but is inside {l:?}"
                            );
                        }
                        for pulse in 20..=200 {
                            let p = f64::from(pulse);
                            let beyond = p <= l.heart_rate_low || p >= l.heart_rate_high;
                            assert!(news2::pulse(p) < 3 || beyond, "pulse {p} scores 3, inside {l:?}");
                        }
                        for s in 60..=120 {
                            let s = f64::from(s);
                            assert!(
                                news2::systolic_bp(s) < 3 || s <= l.systolic_low,
                                "systolic {s} scores 3, inside {l:?}"
                            );
                        }
                        for r in 20..=40 {
                            let r = f64::from(r);
                            assert!(news2::respiration_rate(r) < 3 || r >= l.respiration_high, "respiration {r}");
                        }
                    }
                }
            }
        }
    }
}
