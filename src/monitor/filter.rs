//! Causal filters for streaming samples: second-order IIR sections and a moving sum.
//!
//! Coefficients follow R. Bristow-Johnson's "Cookbook formulae for audio EQ biquad filter
//! coefficients" (the bilinear transform of the analogue Butterworth prototype, Q = 1/√2), so a
//! cascade of one high-pass and one low-pass section is a second-order Butterworth band-pass.

use std::f64::consts::{FRAC_1_SQRT_2, PI};

/// One second-order section, direct form I, in `f64` (ECG amplitudes span 1e-3..1e1).
#[derive(Debug, Clone, Copy)]
pub struct Biquad {
    b: [f64; 3],
    a: [f64; 2],
    x: [f64; 2],
    y: [f64; 2],
}

impl Biquad {
    fn new(b: [f64; 3], a0: f64, a: [f64; 2]) -> Self {
        Self { b: b.map(|v| v / a0), a: a.map(|v| v / a0), x: [0.0; 2], y: [0.0; 2] }
    }

    /// A Butterworth low-pass at `cutoff` Hz for samples at `fs` Hz.
    pub fn low_pass(cutoff: f64, fs: f64) -> Self {
        let (cos, alpha) = Self::omega(cutoff, fs);
        let b1 = 1.0 - cos;
        Self::new([b1 / 2.0, b1, b1 / 2.0], 1.0 + alpha, [-2.0 * cos, 1.0 - alpha])
    }

    /// A Butterworth high-pass at `cutoff` Hz for samples at `fs` Hz.
    pub fn high_pass(cutoff: f64, fs: f64) -> Self {
        let (cos, alpha) = Self::omega(cutoff, fs);
        let b0 = (1.0 + cos) / 2.0;
        Self::new([b0, -(1.0 + cos), b0], 1.0 + alpha, [-2.0 * cos, 1.0 - alpha])
    }

    fn omega(cutoff: f64, fs: f64) -> (f64, f64) {
        let w = 2.0 * PI * (cutoff / fs).clamp(1e-6, 0.499);
        (w.cos(), w.sin() / (2.0 * FRAC_1_SQRT_2))
    }

    /// Filter one sample.
    pub fn step(&mut self, x: f64) -> f64 {
        let y = self.b[0] * x + self.b[1] * self.x[0] + self.b[2] * self.x[1]
            - self.a[0] * self.y[0]
            - self.a[1] * self.y[1];
        self.x = [x, self.x[0]];
        self.y = [y, self.y[0]];
        y
    }

    /// The gain at 0 Hz.
    fn dc_gain(&self) -> f64 {
        (self.b[0] + self.b[1] + self.b[2]) / (1.0 + self.a[0] + self.a[1])
    }

    /// Start from a steady input `x` (no step response at the first sample).
    pub fn settle(&mut self, x: f64) {
        let y = x * self.dc_gain();
        self.x = [x, x];
        self.y = [y, y];
    }
}

/// A cascade of sections applied in order.
#[derive(Debug, Clone)]
pub struct Cascade(Vec<Biquad>);

impl Cascade {
    /// Sections applied in the order given.
    pub fn new(sections: Vec<Biquad>) -> Self {
        Self(sections)
    }

    /// A band-pass from `low` to `high` Hz: one high-pass and one low-pass section.
    pub fn band_pass(low: f64, high: f64, fs: f64) -> Self {
        Self(vec![Biquad::high_pass(low, fs), Biquad::low_pass(high, fs)])
    }

    /// Filter one sample.
    pub fn step(&mut self, x: f64) -> f64 {
        self.0.iter_mut().fold(x, |v, s| s.step(v))
    }

    /// Start every section from a steady input `x`.
    pub fn settle(&mut self, x: f64) {
        let mut v = x;
        for s in &mut self.0 {
            s.settle(v);
            v *= s.dc_gain();
        }
    }
}

/// A cascade as a detector's front end: it starts settled at the first valid sample (no step
/// response), and an invalid (NaN) sample repeats the last valid one.
#[derive(Debug, Clone)]
pub struct Front {
    cascade: Cascade,
    last: Option<f64>,
}

impl Front {
    /// A front end filtering through `cascade`.
    pub fn new(cascade: Cascade) -> Self {
        Self { cascade, last: None }
    }

    /// Filter one sample; `None` until the first valid one.
    pub fn step(&mut self, x: f32) -> Option<f64> {
        let x = if x.is_finite() {
            let x = f64::from(x);
            if self.last.is_none() {
                self.cascade.settle(x);
            }
            self.last = Some(x);
            x
        } else {
            self.last?
        };
        Some(self.cascade.step(x))
    }
}

/// The sum of the last `len` values, kept exactly by a ring buffer.
#[derive(Debug, Clone)]
pub struct MovingSum {
    ring: Vec<f64>,
    at: usize,
    sum: f64,
    /// Samples since the last exact recomputation (bounds floating-point drift).
    since_exact: usize,
}

impl MovingSum {
    /// A window of `len` samples (at least 1), initially zeros.
    pub fn new(len: usize) -> Self {
        Self { ring: vec![0.0; len.max(1)], at: 0, sum: 0.0, since_exact: 0 }
    }

    /// Add `x`, drop the oldest value, and return the window's sum.
    pub fn step(&mut self, x: f64) -> f64 {
        self.sum += x - self.ring[self.at];
        self.ring[self.at] = x;
        self.at = (self.at + 1) % self.ring.len();
        self.since_exact += 1;
        if self.since_exact >= 1 << 16 {
            self.sum = self.ring.iter().sum();
            self.since_exact = 0;
        }
        self.sum
    }

    /// The window's length.
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// Never empty (at least one slot).
    pub fn is_empty(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gain_at(mut f: Cascade, hz: f64, fs: f64) -> f64 {
        let n = (fs * 20.0) as usize;
        let out: Vec<f64> = (0..n).map(|i| f.step((2.0 * PI * hz * i as f64 / fs).sin())).collect();
        let tail = &out[n / 2..];
        (tail.iter().map(|v| v * v).sum::<f64>() / tail.len() as f64 * 2.0).sqrt()
    }

    #[test]
    fn the_band_pass_keeps_its_band_and_rejects_the_rest() {
        let fs = 250.0;
        let qrs = || Cascade::band_pass(5.0, 15.0, fs);
        assert!((gain_at(qrs(), 9.0, fs) - 1.0).abs() < 0.15, "{}", gain_at(qrs(), 9.0, fs));
        assert!(gain_at(qrs(), 0.3, fs) < 0.01, "baseline wander removed");
        assert!(gain_at(qrs(), 60.0, fs) < 0.08, "mains removed: {}", gain_at(qrs(), 60.0, fs));
        let cut = gain_at(Cascade::new(vec![Biquad::low_pass(16.0, fs)]), 16.0, fs);
        assert!((cut - FRAC_1_SQRT_2).abs() < 0.02, "-3 dB at the cutoff: {cut}");
    }

    #[test]
    fn a_settled_filter_passes_a_steady_level_without_a_transient() {
        let mut lp = Biquad::low_pass(16.0, 250.0);
        lp.settle(80.0);
        assert!((lp.step(80.0) - 80.0).abs() < 1e-9);
        let mut hp = Cascade::band_pass(5.0, 15.0, 250.0);
        hp.settle(3.0);
        assert!(hp.step(3.0).abs() < 1e-9);
    }

    #[test]
    fn the_moving_sum_is_exact() {
        let mut m = MovingSum::new(3);
        let sums: Vec<f64> = [1.0, 2.0, 3.0, 4.0, 5.0].iter().map(|&x| m.step(x)).collect();
        assert_eq!(sums, [1.0, 3.0, 6.0, 9.0, 12.0]);
    }
}
