//! Two QRS detectors working on different principles, so that their agreement measures how far
//! an ECG lead can be trusted (Li, Mark & Clifford, "Robust heart rate estimation from multiple
//! asynchronous noisy sources", Physiol Meas 2008: the bSQI).
//!
//! - [`PanTompkins`]: band-pass 5–15 Hz, derivative, squaring, 150 ms moving-window integration,
//!   adaptive signal and noise levels, T-wave rejection and search-back (Pan & Tompkins, "A
//!   real-time QRS detection algorithm", IEEE TBME 1985).
//! - [`SlopeDetector`]: the smoothed absolute slope of an 8–20 Hz band against a threshold taken
//!   from the last beats' slopes that decays through a long interval (in the family of
//!   Christov, "Real time electrocardiogram QRS detection using combined adaptive threshold",
//!   BioMed Eng OnLine 2004).
//!
//! Both are causal and stream one sample at a time: a [`Beat`] comes out when the detector has
//! decided, at most a few hundred milliseconds after its R peak, and records both moments.

use super::filter::{Cascade, Front, MovingSum};
use std::collections::VecDeque;

/// One detected beat.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Beat {
    /// Sample index of its fiducial point (the R peak, or a pulse's onset).
    pub at: usize,
    /// Sample index at which the detector decided it (≥ `at`).
    pub decided: usize,
    /// Its size in the detector's own units (for thresholds and quality).
    pub size: f64,
}

/// A streaming beat detector.
pub trait Detector {
    /// Take the next sample (NaN for an invalid one); a beat when one is decided.
    fn push(&mut self, x: f32) -> Option<Beat>;
}

/// Seconds → samples at `fs`.
fn samples(seconds: f64, fs: f64) -> usize {
    (seconds * fs).round().max(1.0) as usize
}

/// Pan–Tompkins on one ECG lead.
#[derive(Debug, Clone)]
pub struct PanTompkins {
    fs: f64,
    n: usize,
    band: Front,
    /// The band-passed signal's last values, for the derivative and the R peak's position.
    recent: VecDeque<f64>,
    mwi: MovingSum,
    /// Integrated signal: the current rising peak (value, index).
    peak: Option<(f64, usize)>,
    /// The largest rejected peak since the last QRS, for search-back: (value, index, slope).
    best_rejected: Option<(f64, usize, f64)>,
    spki: f64,
    npki: f64,
    learning: Vec<f64>,
    last_qrs: Option<usize>,
    last_slope: f64,
    rr: VecDeque<usize>,
    qrs_levels: VecDeque<f64>,
}

impl PanTompkins {
    /// A detector for samples at `fs` Hz.
    pub fn new(fs: f64) -> Self {
        Self {
            fs,
            n: 0,
            band: Front::new(Cascade::band_pass(5.0, 15.0, fs)),
            recent: VecDeque::with_capacity(samples(0.4, fs) + 8),
            mwi: MovingSum::new(samples(0.150, fs)),
            peak: None,
            best_rejected: None,
            spki: 0.0,
            npki: 0.0,
            learning: Vec::new(),
            last_qrs: None,
            last_slope: 0.0,
            rr: VecDeque::new(),
            qrs_levels: VecDeque::new(),
        }
    }

    fn threshold(&self) -> f64 {
        self.npki + 0.25 * (self.spki - self.npki)
    }

    fn rr_average(&self) -> Option<f64> {
        (self.rr.len() >= 2).then(|| self.rr.iter().sum::<usize>() as f64 / self.rr.len() as f64)
    }

    /// The steepest band-passed slope in the 150 ms before `index` (QRS vs T wave).
    fn slope_before(&self, index: usize) -> f64 {
        let back = self.n - 1 - index.min(self.n - 1);
        let window = samples(0.150, self.fs);
        let len = self.recent.len();
        let end = len.saturating_sub(back);
        let start = end.saturating_sub(window + samples(0.075, self.fs));
        let slice: Vec<f64> = self.recent.range(start..end).copied().collect();
        slice.windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0, f64::max)
    }

    /// The R peak: the largest |band-passed| value in the 250 ms before the integrator's peak.
    fn r_peak(&self, index: usize) -> usize {
        let back = self.n - 1 - index.min(self.n - 1);
        let len = self.recent.len();
        let end = len.saturating_sub(back);
        let start = end.saturating_sub(samples(0.25, self.fs));
        let offset = (start..end).max_by(|&a, &b| self.recent[a].abs().total_cmp(&self.recent[b].abs())).unwrap_or(end);
        (self.n - 1).saturating_sub(len - 1 - offset.min(len - 1))
    }

    fn accept(&mut self, value: f64, index: usize, slope: f64, search_back: bool) -> Beat {
        self.spki = if search_back { 0.25 * value + 0.75 * self.spki } else { 0.125 * value + 0.875 * self.spki };
        let at = self.r_peak(index);
        if let Some(last) = self.last_qrs {
            self.rr.push_back(at.saturating_sub(last));
            if self.rr.len() > 8 {
                self.rr.pop_front();
            }
        }
        self.qrs_levels.push_back(value);
        if self.qrs_levels.len() > 8 {
            self.qrs_levels.pop_front();
        }
        self.last_qrs = Some(at);
        self.last_slope = slope;
        self.best_rejected = None;
        Beat { at, decided: self.n - 1, size: value }
    }

    /// A confirmed peak of the integrated signal: QRS or noise.
    fn classify(&mut self, value: f64, index: usize) -> Option<Beat> {
        let slope = self.slope_before(index);
        let refractory = samples(0.200, self.fs);
        let t_wave_zone = samples(0.360, self.fs);
        let since = self.last_qrs.map(|l| self.r_peak(index).saturating_sub(l));
        if since.is_some_and(|s| s < refractory) {
            return None;
        }
        if value > self.threshold() {
            let t_wave = since.is_some_and(|s| s < t_wave_zone) && slope < 0.5 * self.last_slope;
            if !t_wave {
                return Some(self.accept(value, index, slope, false));
            }
        }
        self.npki = 0.125 * value + 0.875 * self.npki;
        if self.best_rejected.is_none_or(|(v, _, _)| value > v) {
            self.best_rejected = Some((value, index, slope));
        }
        None
    }

    /// Search back: after 1.66 average intervals without a QRS, the largest peak above half the
    /// threshold is one. Through a longer pause the levels decay, to a floor under the recent
    /// QRS levels, so a lead's beats are found again after an artefact raised them.
    fn search_back(&mut self) -> Option<Beat> {
        let last = self.last_qrs?;
        let gap = self.n.saturating_sub(last) as f64;
        let rr = self.rr_average().unwrap_or(self.fs);
        if gap > 1.66 * rr {
            if let Some((value, index, slope)) = self.best_rejected {
                if value > 0.5 * self.threshold() && index > last + samples(0.2, self.fs) {
                    return Some(self.accept(value, index, slope, true));
                }
            }
        }
        if gap > 1.66 * rr && gap > 1.5 * self.fs && self.n.is_multiple_of(samples(0.25, self.fs)) {
            let mut levels: Vec<f64> = self.qrs_levels.iter().copied().collect();
            levels.sort_by(f64::total_cmp);
            let floor = levels.get(levels.len() / 2).copied().unwrap_or(0.0) * 0.3;
            self.spki = (self.spki * 0.9).max(floor);
            self.npki = self.npki.min(self.spki * 0.5);
        }
        None
    }
}

impl Detector for PanTompkins {
    fn push(&mut self, x: f32) -> Option<Beat> {
        self.n += 1;
        let f = self.band.step(x)?;
        self.recent.push_back(f);
        if self.recent.len() > samples(0.4, self.fs) + 8 {
            self.recent.pop_front();
        }
        let len = self.recent.len();
        let d = if len >= 5 {
            let r = |k: usize| self.recent[len - 1 - k];
            (2.0 * r(0) + r(1) - r(3) - 2.0 * r(4)) / 8.0
        } else {
            0.0
        };
        let integrated = self.mwi.step(d * d) / self.mwi.len() as f64;
        let index = self.n - 1;
        // Learning: two seconds to set the levels.
        if self.n <= samples(2.0, self.fs) {
            self.learning.push(integrated);
            if self.n == samples(2.0, self.fs) {
                let max = self.learning.iter().copied().fold(0.0, f64::max);
                let mean = self.learning.iter().sum::<f64>() / self.learning.len() as f64;
                self.spki = 0.25 * max;
                self.npki = 0.5 * mean;
                self.learning = Vec::new();
            }
            return None;
        }
        // A peak of the integrated signal is confirmed once 100 ms pass without a larger value.
        match self.peak {
            Some((v, _)) if integrated > v => self.peak = Some((integrated, index)),
            None if integrated > 0.0 => self.peak = Some((integrated, index)),
            _ => {}
        }
        if let Some((v, at)) = self.peak {
            if index - at >= samples(0.100, self.fs) && integrated < 0.5 * v {
                self.peak = None;
                if let Some(beat) = self.classify(v, at) {
                    return Some(beat);
                }
            }
        }
        self.search_back()
    }
}

/// The slope detector on one ECG lead.
#[derive(Debug, Clone)]
pub struct SlopeDetector {
    fs: f64,
    n: usize,
    band: Front,
    previous: f64,
    smooth: MovingSum,
    recent: VecDeque<f64>,
    maxima: VecDeque<f64>,
    learning_max: f64,
    last: Option<usize>,
    rr: VecDeque<usize>,
    /// A crossing being followed to its peak: (start index, largest slope so far).
    crossing: Option<(usize, f64)>,
}

impl SlopeDetector {
    /// A detector for samples at `fs` Hz.
    pub fn new(fs: f64) -> Self {
        Self {
            fs,
            n: 0,
            band: Front::new(Cascade::band_pass(8.0, 20.0, fs)),
            previous: 0.0,
            smooth: MovingSum::new(samples(0.040, fs)),
            recent: VecDeque::new(),
            maxima: VecDeque::new(),
            learning_max: 0.0,
            last: None,
            rr: VecDeque::new(),
            crossing: None,
        }
    }

    fn threshold(&self) -> f64 {
        let mut m: Vec<f64> = self.maxima.iter().copied().collect();
        m.sort_by(f64::total_cmp);
        let level = m.get(m.len() / 2).copied().unwrap_or(self.learning_max);
        let base = 0.4 * level;
        // Through a long interval the threshold falls to half, from 1.2 to 2 average intervals.
        let (Some(last), Some(rr)) = (self.last, self.rr_average()) else { return base };
        let gap = (self.n - last) as f64;
        let fall = ((gap - 1.2 * rr) / (0.8 * rr)).clamp(0.0, 1.0);
        base * (1.0 - 0.5 * fall)
    }

    fn rr_average(&self) -> Option<f64> {
        (!self.rr.is_empty()).then(|| self.rr.iter().sum::<usize>() as f64 / self.rr.len() as f64)
    }
}

impl Detector for SlopeDetector {
    fn push(&mut self, x: f32) -> Option<Beat> {
        self.n += 1;
        let f = self.band.step(x)?;
        let slope = (f - self.previous).abs();
        self.previous = f;
        let y = self.smooth.step(slope) / self.smooth.len() as f64;
        self.recent.push_back(f);
        if self.recent.len() > samples(0.3, self.fs) {
            self.recent.pop_front();
        }
        let index = self.n - 1;
        if self.n <= samples(2.0, self.fs) {
            self.learning_max = self.learning_max.max(y);
            return None;
        }
        if let Some((start, peak)) = self.crossing {
            let peak = peak.max(y);
            self.crossing = Some((start, peak));
            // Decide 100 ms after the crossing: the R peak is the largest |band| value since.
            if index - start >= samples(0.100, self.fs) {
                self.crossing = None;
                let span = samples(0.150, self.fs).min(self.recent.len());
                let tail = self.recent.len() - span;
                let best = (tail..self.recent.len())
                    .max_by(|&a, &b| self.recent[a].abs().total_cmp(&self.recent[b].abs()))
                    .unwrap_or(tail);
                let at = index - (self.recent.len() - 1 - best);
                if let Some(last) = self.last {
                    self.rr.push_back(at.saturating_sub(last));
                    if self.rr.len() > 8 {
                        self.rr.pop_front();
                    }
                }
                self.last = Some(at);
                self.maxima.push_back(peak);
                if self.maxima.len() > 5 {
                    self.maxima.pop_front();
                }
                return Some(Beat { at, decided: index, size: peak });
            }
            return None;
        }
        let blanked = self.last.is_some_and(|l| index < l + samples(0.250, self.fs));
        if !blanked && y > self.threshold() && y > 0.0 {
            self.crossing = Some((index, y));
        }
        None
    }
}

/// Run `detector` over a whole signal.
pub fn detect_all(detector: &mut impl Detector, signal: &[f32]) -> Vec<Beat> {
    signal.iter().filter_map(|&x| detector.push(x)).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A clean synthetic ECG at `fs`: narrow Gaussian R waves of 1 mV every `rr` seconds, a T wave
    /// 250 ms later, baseline wander and a little noise.
    pub(crate) fn synthetic_ecg(fs: f64, seconds: f64, rr: f64) -> (Vec<f32>, Vec<f64>) {
        let n = (fs * seconds) as usize;
        let beats: Vec<f64> = (0..).map(|k| 0.5 + k as f64 * rr).take_while(|t| *t < seconds).collect();
        let mut state = 12345u64;
        let mut noise = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 33) as f64 / (1u64 << 31) as f64 - 0.5) * 0.04
        };
        let signal = (0..n)
            .map(|i| {
                let t = i as f64 / fs;
                let mut v = 0.3 * (2.0 * std::f64::consts::PI * 0.25 * t).sin() + noise();
                for &b in &beats {
                    let d = t - b;
                    v += (-(d / 0.012).powi(2)).exp();
                    v += 0.3 * (-((d - 0.25) / 0.05).powi(2)).exp();
                }
                v as f32
            })
            .collect();
        (signal, beats)
    }

    /// How many of `truth` (seconds) a detected beat falls within 100 ms of, and false detections.
    pub(crate) fn score(beats: &[Beat], truth: &[f64], fs: f64) -> (usize, usize) {
        let times: Vec<f64> = beats.iter().map(|b| b.at as f64 / fs).collect();
        let hits = truth.iter().filter(|t| times.iter().any(|d| (d - *t).abs() < 0.1)).count();
        let false_beats = times.iter().filter(|d| !truth.iter().any(|t| (*d - t).abs() < 0.1)).count();
        (hits, false_beats)
    }

    #[test]
    fn both_detectors_find_every_beat_of_a_clean_ecg_and_nothing_else() {
        for rr in [0.4, 0.8, 1.5] {
            let (ecg, truth) = synthetic_ecg(250.0, 30.0, rr);
            let after_learning: Vec<f64> = truth.iter().copied().filter(|t| *t > 2.6 && *t < 29.6).collect();
            for (name, beats) in [
                ("pan-tompkins", detect_all(&mut PanTompkins::new(250.0), &ecg)),
                ("slope", detect_all(&mut SlopeDetector::new(250.0), &ecg)),
            ] {
                let beats: Vec<Beat> =
                    beats.into_iter().filter(|b| (2.55..29.55).contains(&(b.at as f64 / 250.0))).collect();
                let (hits, false_beats) = score(&beats, &after_learning, 250.0);
                assert_eq!((hits, false_beats), (after_learning.len(), 0), "{name} at RR {rr}s");
                assert!(beats.iter().all(|b| b.decided >= b.at && b.decided - b.at < 100), "{name}: causal, prompt");
            }
        }
    }

    #[test]
    fn a_flat_lead_gives_no_beats_and_the_beats_after_a_pause_are_found() {
        let fs = 250.0;
        let (mut ecg, truth) = synthetic_ecg(fs, 40.0, 0.8);
        let (from, to) = ((15.0 * fs) as usize, (22.0 * fs) as usize);
        for v in &mut ecg[from..to] {
            *v = 0.0;
        }
        for beats in [detect_all(&mut PanTompkins::new(fs), &ecg), detect_all(&mut SlopeDetector::new(fs), &ecg)] {
            let in_pause = beats.iter().filter(|b| b.at >= from + 25 && b.at < to).count();
            assert_eq!(in_pause, 0, "nothing detected in a 7 s flat line");
            let after: Vec<f64> = truth.iter().copied().filter(|t| *t > 24.0).collect();
            let (hits, _) = score(&beats, &after, fs);
            assert!(hits + 1 >= after.len(), "beats found again after the pause: {hits} of {}", after.len());
        }
    }
}
