//! Rhythm features of an ECG lead: each beat's shape against the lead's own template, and the
//! spectrum of the last seconds.
//!
//! - **Shape.** Each beat (−100 ms … +150 ms around its R peak, 1–40 Hz) is compared with the
//!   median of the lead's recent normal beats: its correlation at the best alignment, and its
//!   width (the time its slope stays above a quarter of its steepest). A ventricular beat is
//!   unlike the patient's usual beat, or like it in outline but much wider; so is most noise,
//!   which is why quality and the other channels decide between the two.
//! - **Spectrum.** Ventricular flutter and fibrillation are oscillations of 3–9 Hz with little
//!   else (Clayton, Murray & Campbell, "Comparison of four techniques for recognition of
//!   ventricular fibrillation from the surface ECG", Med Biol Eng Comput 1993): the dominant
//!   frequency of the last 4 s and the share of 1–30 Hz power within ±1 Hz of it
//!   ("concentration") tell such a waveform from QRS complexes, whose power spreads over many
//!   harmonics of the heart rate.

use realfft::RealFftPlanner;
use std::collections::VecDeque;
use std::sync::Arc;

/// Beats in the template.
const TEMPLATE_BEATS: usize = 9;
/// Correlation under which a beat is unlike the template.
const UNLIKE: f64 = 0.70;
/// Correlation at which an abnormal beat is like the abnormal beat before it.
const LIKE: f64 = 0.80;
/// Consecutive consistent abnormal beats after which they are the usual beat (far more than the
/// 5 beats of a ventricular tachycardia alarm, or the seconds the alarm is judged on).
const ADOPT_AFTER_BEATS: usize = 40;

/// How one beat compares with the lead's template.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    /// Correlation with the template (1 before there is one).
    pub correlation: f64,
    /// Width, seconds.
    pub width: f64,
    /// Width over the template's.
    pub width_ratio: f64,
    /// Unlike the template (correlation under 0.7 at the best alignment, or a little unlike and
    /// half as wide again): a ventricular beat, or noise.
    pub abnormal: bool,
    /// Abnormal, and shaped like the abnormal beat before it: the run is monomorphic, as a
    /// ventricular tachycardia is and noise is not.
    pub like_previous: bool,
}

/// The lead's running template of normal beats.
#[derive(Debug, Clone)]
pub struct Morphology {
    fs: f64,
    before: usize,
    after: usize,
    /// Largest shift tried when aligning a beat with the template (40 ms).
    lag: usize,
    normal: VecDeque<Vec<f64>>,
    template: Option<(Vec<f64>, f64)>,
    /// The consecutive abnormal beats ending at the last one.
    streak: VecDeque<Vec<f64>>,
    streak_len: usize,
}

impl Morphology {
    /// Beats at `fs` Hz.
    pub fn new(fs: f64) -> Self {
        Self {
            fs,
            before: (0.100 * fs) as usize,
            after: (0.150 * fs) as usize,
            lag: (0.040 * fs) as usize,
            normal: VecDeque::new(),
            template: None,
            streak: VecDeque::new(),
            streak_len: 0,
        }
    }

    /// Samples needed before and after the R peak.
    pub fn span(&self) -> (usize, usize) {
        (self.before, self.after)
    }

    fn width(&self, beat: &[f64]) -> f64 {
        let slopes: Vec<f64> = beat.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
        let max = slopes.iter().copied().fold(0.0, f64::max);
        if max <= 0.0 {
            return 0.0;
        }
        let above: Vec<usize> = slopes.iter().enumerate().filter(|(_, s)| **s > 0.25 * max).map(|(i, _)| i).collect();
        match (above.first(), above.last()) {
            (Some(a), Some(b)) => (b - a + 1) as f64 / self.fs,
            _ => 0.0,
        }
    }

    /// Compare a beat (`before + after + 1` samples around its R peak, band-passed) with the
    /// template, then learn from it if it is normal.
    pub fn classify(&mut self, beat: &[f64]) -> Shape {
        let mean = beat.iter().sum::<f64>() / beat.len().max(1) as f64;
        let centred: Vec<f64> = beat.iter().map(|v| v - mean).collect();
        let width = self.width(&centred);
        let mut shape = match &self.template {
            None => Shape { correlation: 1.0, width, width_ratio: 1.0, abnormal: false, like_previous: false },
            Some((template, template_width)) => {
                let correlation = best_correlation(template, &centred, self.lag);
                let width_ratio = if *template_width > 0.0 { width / template_width } else { 1.0 };
                let abnormal = correlation < UNLIKE || (correlation < 0.92 && width_ratio > 1.5);
                Shape { correlation, width, width_ratio, abnormal, like_previous: false }
            }
        };
        if shape.abnormal {
            shape.like_previous =
                self.streak.back().is_some_and(|previous| best_correlation(previous, &centred, self.lag) >= LIKE);
            self.streak.push_back(centred.clone());
            self.streak_len += 1;
            if self.streak.len() > TEMPLATE_BEATS {
                self.streak.pop_front();
            }
            self.adopt_streak();
            return shape;
        }
        self.streak.clear();
        self.streak_len = 0;
        if self.template.is_none() || shape.correlation > 0.9 {
            self.normal.push_back(centred);
            if self.normal.len() > TEMPLATE_BEATS {
                self.normal.pop_front();
            }
            if self.normal.len() >= 3 {
                let template = median_beat(&self.normal);
                let w = self.width(&template);
                self.template = Some((template, w));
            }
        }
        shape
    }
}

impl Morphology {
    /// A morphology abnormal for longer than any alarm's run, and consistent, is the patient's
    /// usual beat now (a lead moved, a new bundle-branch block): it becomes the template.
    fn adopt_streak(&mut self) {
        if self.streak_len < ADOPT_AFTER_BEATS || self.streak.len() < TEMPLATE_BEATS {
            return;
        }
        let median = median_beat(&self.streak);
        if self.streak.iter().all(|b| best_correlation(&median, b, self.lag) >= 0.9) {
            let w = self.width(&median);
            self.template = Some((median, w));
            self.normal = std::mem::take(&mut self.streak);
            self.streak_len = 0;
        }
    }
}

fn median_beat(beats: &VecDeque<Vec<f64>>) -> Vec<f64> {
    let len = beats[0].len();
    (0..len)
        .map(|i| {
            let mut column: Vec<f64> = beats.iter().map(|b| b[i]).collect();
            column.sort_by(f64::total_cmp);
            column[column.len() / 2]
        })
        .collect()
}

/// The best correlation of `beat` with `template` over shifts of up to `lag` samples either way
/// (the fiducial point of a beat moves a little from beat to beat).
fn best_correlation(template: &[f64], beat: &[f64], lag: usize) -> f64 {
    let n = template.len().min(beat.len());
    let mut best = correlation(template, beat);
    for shift in 1..=lag.min(n / 4) {
        best = best.max(correlation(&template[shift..n], &beat[..n - shift]));
        best = best.max(correlation(&template[..n - shift], &beat[shift..n]));
    }
    best
}

/// Pearson correlation of two equally long series (0 when either is constant).
pub fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    if n < 2 {
        return 0.0;
    }
    let (ma, mb) = (a[..n].iter().sum::<f64>() / n as f64, b[..n].iter().sum::<f64>() / n as f64);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (x, y) = (a[i] - ma, b[i] - mb);
        sab += x * y;
        saa += x * x;
        sbb += y * y;
    }
    if saa <= 0.0 || sbb <= 0.0 {
        0.0
    } else {
        sab / (saa * sbb).sqrt()
    }
}

/// The spectrum of the last seconds of a lead.
#[derive(Clone)]
pub struct Spectrum {
    fs: f64,
    len: usize,
    fft: Arc<dyn realfft::RealToComplex<f64>>,
    window: Vec<f64>,
}

impl std::fmt::Debug for Spectrum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spectrum").field("fs", &self.fs).field("len", &self.len).finish()
    }
}

/// What the spectrum of a stretch says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpectralFeatures {
    /// The frequency of most power within 1–30 Hz.
    pub dominant_hz: f64,
    /// The share of 1–30 Hz power within ±1 Hz of the dominant frequency.
    pub concentration: f64,
}

impl Spectrum {
    /// A spectrum of `seconds` of samples at `fs` Hz (zero-padded to a power of two).
    pub fn new(fs: f64, seconds: f64) -> Self {
        let len = ((fs * seconds) as usize).next_power_of_two();
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(len);
        // A Hann window against leakage from the stretch's edges.
        let n = (fs * seconds) as usize;
        let window = (0..n).map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos()).collect();
        Self { fs, len, fft, window }
    }

    /// Samples the spectrum is taken over.
    pub fn samples(&self) -> usize {
        self.window.len()
    }

    /// Dominant frequency and concentration of `stretch` (at most [`Self::samples`] long).
    pub fn features(&self, stretch: &[f64]) -> SpectralFeatures {
        let n = stretch.len().min(self.window.len());
        let mean = stretch[..n].iter().sum::<f64>() / n.max(1) as f64;
        let mut input = vec![0.0; self.len];
        for i in 0..n {
            input[i] = (stretch[i] - mean) * self.window[i];
        }
        let mut output = self.fft.make_output_vec();
        if self.fft.process(&mut input, &mut output).is_err() {
            return SpectralFeatures { dominant_hz: 0.0, concentration: 0.0 };
        }
        let hz = |k: usize| k as f64 * self.fs / self.len as f64;
        let power: Vec<(f64, f64)> = output
            .iter()
            .enumerate()
            .map(|(k, c)| (hz(k), c.norm_sqr()))
            .filter(|(f, _)| *f >= 1.0 && *f <= 30.0)
            .collect();
        let total: f64 = power.iter().map(|(_, p)| p).sum();
        let Some(&(dominant, _)) = power.iter().max_by(|a, b| a.1.total_cmp(&b.1)) else {
            return SpectralFeatures { dominant_hz: 0.0, concentration: 0.0 };
        };
        let near: f64 = power.iter().filter(|(f, _)| (f - dominant).abs() <= 1.0).map(|(_, p)| p).sum();
        SpectralFeatures { dominant_hz: dominant, concentration: if total > 0.0 { near / total } else { 0.0 } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sinusoidal_flutter_is_concentrated_and_a_normal_ecg_is_not() {
        let fs = 250.0;
        let spectrum = Spectrum::new(fs, 4.0);
        let flutter: Vec<f64> = (0..1000).map(|i| (2.0 * std::f64::consts::PI * 5.0 * i as f64 / fs).sin()).collect();
        let f = spectrum.features(&flutter);
        assert!((f.dominant_hz - 5.0).abs() < 0.3 && f.concentration > 0.8, "{f:?}");
        let (ecg, _) = crate::monitor::qrs::tests::synthetic_ecg(fs, 4.0, 0.8);
        let ecg: Vec<f64> = ecg.iter().map(|&v| v as f64).collect();
        let n = spectrum.features(&ecg);
        assert!(n.concentration < 0.5, "{n:?}");
    }

    #[test]
    fn a_wide_unlike_beat_is_abnormal_and_does_not_spoil_the_template() {
        let fs = 250.0;
        let mut m = Morphology::new(fs);
        let (before, after) = m.span();
        let beat = |width: f64, sign: f64| -> Vec<f64> {
            (0..=before + after).map(|i| sign * (-(((i as f64 - before as f64) / fs) / width).powi(2)).exp()).collect()
        };
        for _ in 0..5 {
            assert!(!m.classify(&beat(0.012, 1.0)).abnormal);
        }
        let wide = m.classify(&beat(0.05, -1.0));
        assert!(wide.abnormal && wide.width_ratio > 1.3, "{wide:?}");
        let normal = m.classify(&beat(0.012, 1.0));
        assert!(!normal.abnormal && normal.correlation > 0.99, "{normal:?}");
    }
}
