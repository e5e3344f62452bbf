//! Pulse onsets in a pulsatile waveform — arterial blood pressure or the pulse oximeter's
//! plethysmogram — by the slope sum function of Zong, Heldt, Moody & Mark ("An open-source
//! algorithm to detect onset of arterial blood pressure pulses", Computers in Cardiology 2003).
//!
//! The signal is low-passed at 16 Hz; the slope sum function (SSF) adds its rises over the last
//! 128 ms, so it peaks on each pulse's upstroke. A pulse is a crossing of an adaptive threshold
//! (half the recent pulses' SSF peaks, decaying through a long pause), confirmed once the SSF has
//! peaked; its onset is where the SSF last rose from near zero. An eye-closing period of 250 ms
//! keeps the dicrotic notch from counting twice. Scale-free, so it serves ABP in mmHg and PPG in
//! arbitrary units alike.

use super::filter::{Cascade, MovingSum};
use super::qrs::{Beat, Detector};
use std::collections::VecDeque;

fn samples(seconds: f64, fs: f64) -> usize {
    (seconds * fs).round().max(1.0) as usize
}

/// The slope-sum pulse detector for one pulsatile channel.
#[derive(Debug, Clone)]
pub struct PulseDetector {
    fs: f64,
    n: usize,
    last_value: Option<f64>,
    low: Cascade,
    settled: bool,
    previous: f64,
    ssf: MovingSum,
    /// Recent SSF values, to find a pulse's onset behind its crossing.
    recent: VecDeque<f64>,
    /// The low-passed signal of the last 2 s, to tell an onset from a dicrotic notch.
    levels_2s: VecDeque<f64>,
    learning: Vec<f64>,
    levels: VecDeque<f64>,
    threshold: f64,
    last_onset: Option<usize>,
    /// A crossing followed to its peak: (index of the crossing, peak SSF, index of the peak).
    rising: Option<(usize, f64, usize)>,
}

impl PulseDetector {
    /// A detector for samples at `fs` Hz.
    pub fn new(fs: f64) -> Self {
        let low =
            Cascade::new(vec![super::filter::Biquad::low_pass(16.0, fs), super::filter::Biquad::low_pass(16.0, fs)]);
        Self {
            fs,
            n: 0,
            last_value: None,
            low,
            settled: false,
            previous: 0.0,
            ssf: MovingSum::new(samples(0.128, fs)),
            recent: VecDeque::new(),
            levels_2s: VecDeque::new(),
            learning: Vec::new(),
            levels: VecDeque::new(),
            threshold: f64::INFINITY,
            last_onset: None,
            rising: None,
        }
    }

    fn level(&self) -> f64 {
        let mut l: Vec<f64> = self.levels.iter().copied().collect();
        l.sort_by(f64::total_cmp);
        l.get(l.len() / 2).copied().unwrap_or(0.0)
    }

    /// The onset: going back from the crossing, where the SSF was last under 2% of the peak.
    fn onset(&self, crossing: usize, peak: f64) -> usize {
        let back = self.n - 1 - crossing;
        let end = self.recent.len().saturating_sub(back + 1);
        let limit = end.saturating_sub(samples(0.25, self.fs));
        let mut k = end;
        while k > limit && self.recent[k] > 0.02 * peak {
            k -= 1;
        }
        crossing - (end - k)
    }
}

impl PulseDetector {
    /// Whether the signal at `onset` lies in the lower 45% of the last 2 s's range: a pulse
    /// starts from the diastolic trough, a dicrotic notch from well above it.
    fn near_trough(&self, onset: usize) -> bool {
        let back = self.n - 1 - onset.min(self.n - 1);
        let len = self.levels_2s.len();
        if back >= len {
            return true;
        }
        let at = self.levels_2s[len - 1 - back];
        let (min, max) = self.levels_2s.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        max <= min || (at - min) <= 0.45 * (max - min)
    }
}

impl Detector for PulseDetector {
    fn push(&mut self, x: f32) -> Option<Beat> {
        self.n += 1;
        let x = if x.is_finite() { x as f64 } else { self.last_value? };
        self.last_value = Some(x);
        if !self.settled {
            self.low.settle(x);
            self.previous = x;
            self.settled = true;
        }
        let y = self.low.step(x);
        let ssf = self.ssf.step((y - self.previous).max(0.0));
        self.previous = y;
        self.recent.push_back(ssf);
        if self.recent.len() > samples(0.6, self.fs) {
            self.recent.pop_front();
        }
        self.levels_2s.push_back(y);
        if self.levels_2s.len() > samples(2.0, self.fs) {
            self.levels_2s.pop_front();
        }
        let index = self.n - 1;
        if self.n <= samples(8.0, self.fs) {
            self.learning.push(ssf);
            if self.n == samples(8.0, self.fs) {
                let mean = self.learning.iter().sum::<f64>() / self.learning.len() as f64;
                let mut sorted = std::mem::take(&mut self.learning);
                sorted.sort_by(f64::total_cmp);
                // The learning window's typical pulse: its 95th percentile of SSF.
                let p95 = sorted[sorted.len() * 95 / 100];
                self.threshold = (0.5 * p95).max(1.5 * mean);
            }
            if self.n < samples(8.0, self.fs) {
                return None;
            }
        }
        if let Some((crossing, peak, at)) = self.rising {
            if ssf > peak {
                self.rising = Some((crossing, ssf, index));
                return None;
            }
            if index - at < samples(0.050, self.fs) && index - crossing < samples(0.300, self.fs) {
                return None;
            }
            self.rising = None;
            let onset = self.onset(crossing, peak);
            if !self.near_trough(onset) {
                // A rise that starts high in the waveform: the dicrotic notch, or a bump.
                return None;
            }
            self.last_onset = Some(onset);
            self.levels.push_back(peak);
            if self.levels.len() > 5 {
                self.levels.pop_front();
            }
            self.threshold = 0.5 * self.level();
            return Some(Beat { at: onset, decided: index, size: peak });
        }
        let eye_closed = self.last_onset.is_some_and(|o| index < o + samples(0.25, self.fs));
        if let Some(o) = self.last_onset {
            // Through a pause longer than 2 s the threshold decays, to a fifth of the pulses' level.
            if index > o + samples(2.0, self.fs) && index.is_multiple_of(samples(0.1, self.fs)) {
                self.threshold = (self.threshold * 0.93).max(0.2 * self.level());
            }
        }
        if !eye_closed && ssf > self.threshold && ssf > 0.0 {
            self.rising = Some((index, ssf, index));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::qrs::detect_all;

    /// An arterial pressure wave: diastolic 70, a systolic upstroke to 120 and a dicrotic notch,
    /// one pulse every `rr` seconds starting at 0.3 s; pulse onsets returned.
    pub(crate) fn synthetic_abp(fs: f64, seconds: f64, rr: f64) -> (Vec<f32>, Vec<f64>) {
        let onsets: Vec<f64> = (0..).map(|k| 0.3 + k as f64 * rr).take_while(|t| *t < seconds).collect();
        let signal = (0..(fs * seconds) as usize)
            .map(|i| {
                let t = i as f64 / fs;
                let since = onsets.iter().rev().find(|&&o| o <= t).map_or(10.0, |o| t - o);
                let wave = if since < 0.12 {
                    50.0 * (since / 0.12)
                } else {
                    50.0 * (-(since - 0.12) / 0.35).exp() + 6.0 * (-((since - 0.33) / 0.04).powi(2)).exp()
                };
                (70.0 + wave) as f32
            })
            .collect();
        (signal, onsets)
    }

    #[test]
    fn every_pulse_onset_is_found_once_across_rates() {
        for rr in [0.4, 0.8, 1.4] {
            let (abp, onsets) = synthetic_abp(250.0, 40.0, rr);
            let beats: Vec<_> = detect_all(&mut PulseDetector::new(250.0), &abp)
                .into_iter()
                .filter(|b| (8.05..39.0).contains(&(b.at as f64 / 250.0)))
                .collect();
            let expected: Vec<f64> = onsets.into_iter().filter(|t| *t > 8.1 && *t < 39.0).collect();
            let found =
                expected.iter().filter(|o| beats.iter().any(|b| (b.at as f64 / 250.0 - *o).abs() < 0.06)).count();
            let extra = beats.len() - found;
            assert_eq!((found, extra), (expected.len(), 0), "RR {rr}s: {:?}", &beats[..beats.len().min(5)]);
        }
    }

    #[test]
    fn a_flat_line_has_no_pulses_and_pulses_return_after_it() {
        let fs = 250.0;
        let (mut abp, onsets) = synthetic_abp(fs, 40.0, 0.75);
        let (from, to) = ((20.0 * fs) as usize, (26.0 * fs) as usize);
        for v in &mut abp[from..to] {
            *v = 70.0;
        }
        let beats = detect_all(&mut PulseDetector::new(fs), &abp);
        assert_eq!(beats.iter().filter(|b| b.at > from + 60 && b.at < to).count(), 0);
        let after = onsets.iter().filter(|t| **t > 27.0).count();
        let found = beats.iter().filter(|b| b.at as f64 / fs > 27.0).count();
        assert!(found + 1 >= after, "{found} of {after} after the pause");
    }
}
