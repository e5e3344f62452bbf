//! Synthetic ECG from the ECGSYN dynamical model (McSharry et al., IEEE TBME 2003).
//!
//! A point circles a unit limit cycle in (x, y) at angular speed ω = 2π/RR; z, the ECG,
//! is pushed up or down by a Gaussian event whenever the phase θ = atan2(y, x) passes one
//! of the P, Q, R, S, T angles. As in ECGSYN the R event sits at θ = 0 and each RR interval
//! starts at θ = 0, so **the R peak of every beat falls at the start of its interval**:
//! R peaks are at the cumulative sums of the RR intervals and R-to-R distances equal them.

use rand::Rng;
use rand_distr::StandardNormal;
use std::f64::consts::{PI, TAU};

/// Output sample rate of the synthetic ECG, per ECGSYN.
pub const SAMPLE_RATE_HZ: f64 = 256.0;

/// ECGSYN integrates at twice the output rate and keeps every second sample.
const OVERSAMPLE: usize = 2;
const INTEGRATION_RATE_HZ: f64 = SAMPLE_RATE_HZ * OVERSAMPLE as f64;
/// Respiratory frequency: drives both baseline wander and respiratory sinus arrhythmia.
const RESP_FREQ_HZ: f64 = 0.25;
const MAYER_FREQ_HZ: f64 = 0.1;
/// Spectral width (standard deviation) of each RR spectral peak, per ECGSYN.
const PEAK_SD_HZ: f64 = 0.01;
/// Correlation time of the oscillators' frequency wander: long against 1/(2π·PEAK_SD_HZ) ≈ 16 s
/// so the peak keeps ECGSYN's width (no motional narrowing), yet each patient's rhythm still
/// drifts in frequency within minutes instead of being a fixed tone.
const FREQ_WANDER_TAU_S: f64 = 30.0;
/// ECGSYN's LF/HF power ratio.
const LF_HF_RATIO: f64 = 0.5;
/// ECGSYN scales z linearly onto this range in millivolts.
const ECG_MIN_MV: f64 = -0.4;
const ECG_MAX_MV: f64 = 1.2;

/// Angles (degrees), amplitudes and widths (radians) of P, Q, R, S, T at 60 bpm.
const THETA_DEG: [f64; 5] = [-70.0, -15.0, 0.0, 15.0, 100.0];
const A: [f64; 5] = [1.2, -5.0, 30.0, -7.5, 0.75];
const B: [f64; 5] = [0.25, 0.1, 0.1, 0.1, 0.4];
const S_WAVE: usize = 3;
const T_WAVE: usize = 4;

/// Where ST and the PR baseline are read, at 60 bpm, relative to the R peak. Both scale with
/// √RR because the model's QRS widths and S, Q angles do (θ and b scale by √(HR/60)).
const ST_OFFSET_S: f64 = 0.095;
const PR_OFFSET_S: f64 = -0.090;
/// Half-width of the averaging windows used for the ST and PR levels.
const LEVEL_HALF_WINDOW_S: f64 = 0.010;

/// Slope detector parameters: derivative span, relative threshold, absolute floor (mV/s),
/// refractory period and the search window for the R apex around a trigger.
const SLOPE_SPAN_S: f64 = 0.012;
const SLOPE_FRACTION: f64 = 0.4;
const SLOPE_FLOOR_MV_PER_S: f64 = 5.0;
const REFRACTORY_S: f64 = 0.2;
const APEX_SEARCH_S: (f64, f64) = (0.03, 0.08);

/// Beat-to-beat interval generator with ECGSYN's bimodal spectrum, streaming one beat at a time.
#[derive(Debug, Clone)]
pub struct RrProcess {
    lf: Oscillator,
    hf: Oscillator,
}

/// A narrow-band oscillator whose frequency wanders (Ornstein–Uhlenbeck) around its centre:
/// over many patients this yields ECGSYN's Gaussian spectral peak, at O(1) cost per beat.
#[derive(Debug, Clone)]
struct Oscillator {
    centre_hz: f64,
    /// Fraction of the RR variance carried by this oscillator.
    variance_share: f64,
    amplitude_s: f64,
    phase: f64,
    freq_offset_hz: f64,
}

impl Oscillator {
    fn new<R: Rng + ?Sized>(rng: &mut R, centre_hz: f64, variance_share: f64, sd: f64) -> Self {
        let mut osc = Self {
            centre_hz,
            variance_share,
            amplitude_s: 0.0,
            phase: rng.random_range(0.0..TAU),
            freq_offset_hz: PEAK_SD_HZ * rng.sample::<f64, _>(StandardNormal),
        };
        osc.set_sd(sd);
        osc
    }

    /// A sinusoid of amplitude √2·σ has standard deviation σ.
    fn set_sd(&mut self, sd: f64) {
        self.amplitude_s = (2.0 * self.variance_share).sqrt() * sd.max(0.0);
    }

    fn value(&self) -> f64 {
        self.amplitude_s * fast_cos(self.phase)
    }

    fn advance<R: Rng + ?Sized>(&mut self, dt: f64, rng: &mut R) {
        self.phase += TAU * (self.centre_hz + self.freq_offset_hz) * dt;
        // One beat moves the phase by less than a turn; only a skip needs the division.
        self.phase = if (0.0..TAU).contains(&self.phase) { self.phase } else { self.phase.rem_euclid(TAU) };
        // Exact OU update for an arbitrary step, so irregular beat spacing is fine; for one beat
        // (dt ≪ τ) the second-order expansion is exact to 1e-4 and saves an exp per beat.
        let x = dt / FREQ_WANDER_TAU_S;
        let decay = if x < 0.1 { 1.0 - x + 0.5 * x * x } else { (-x).exp() };
        let kick: f64 = rng.sample(StandardNormal);
        self.freq_offset_hz = self.freq_offset_hz * decay + PEAK_SD_HZ * (1.0 - decay * decay).sqrt() * kick;
    }
}

/// cos(x) for x in [0, 2π), to about 1e-6: the RR oscillators need a cosine per beat for
/// 10,000 patients, and the library's is several times slower for precision we cannot use.
fn fast_cos(x: f64) -> f64 {
    // Reduce to [-π/2, π/2] via cos(x) = -cos(x - π), then an even Taylor polynomial to x¹².
    let (y, sign) = if x < PI / 2.0 {
        (x, 1.0)
    } else if x < 1.5 * PI {
        (x - PI, -1.0)
    } else {
        (x - TAU, 1.0)
    };
    let y2 = y * y;
    let p = 1.0
        + y2 * (-1.0 / 2.0
            + y2 * (1.0 / 24.0
                + y2 * (-1.0 / 720.0
                    + y2 * (1.0 / 40_320.0 + y2 * (-1.0 / 3_628_800.0 + y2 * (1.0 / 479_001_600.0))))));
    sign * p
}

impl RrProcess {
    /// `hrv_sd_seconds`: standard deviation of RR intervals (ECGSYN default corresponds to hrstd=1 bpm; a value ~0.03 s is realistic for a resting adult; pass 0 for a metronome).
    ///
    /// ECGSYN's hrstd = 1 bpm at 60 bpm is 60·1/60² ≈ 0.017 s.
    pub fn new<R: Rng + ?Sized>(rng: &mut R, hrv_sd_seconds: f64) -> Self {
        // σ_LF² / σ_HF² = LF_HF_RATIO and σ_LF² + σ_HF² = sd².
        let lf_share = LF_HF_RATIO / (1.0 + LF_HF_RATIO);
        Self {
            lf: Oscillator::new(rng, MAYER_FREQ_HZ, lf_share, hrv_sd_seconds),
            hf: Oscillator::new(rng, RESP_FREQ_HZ, 1.0 - lf_share, hrv_sd_seconds),
        }
    }

    /// Draw the next RR interval in seconds for a beat at the given mean heart rate (beats per minute); the mean of many draws is 60/mean_hr.
    ///
    /// As in ECGSYN, RR = 60/HR + (zero-mean variability with the configured sd in seconds),
    /// read at the beat's onset; the oscillators then advance by that RR in real time.
    /// The result is bounded (sum of two sinusoids) and floored at a quarter of the mean.
    ///
    /// # Panics
    /// If `mean_hr_bpm` is not finite and positive.
    pub fn next_rr<R: Rng + ?Sized>(&mut self, mean_hr_bpm: f64, rng: &mut R) -> f64 {
        assert!(
            mean_hr_bpm.is_finite() && mean_hr_bpm > 0.0,
            "mean heart rate must be finite and positive, got {mean_hr_bpm}"
        );
        let mean_rr = 60.0 / mean_hr_bpm;
        let rr = (mean_rr + self.lf.value() + self.hf.value()).max(0.25 * mean_rr);
        self.lf.advance(rr, rng);
        self.hf.advance(rr, rng);
        rr
    }

    /// Advance the oscillators by `seconds` without drawing beats, as if the beats in between had
    /// happened: a monitor only keeps the last few, so older ones need not be drawn one by one.
    pub fn skip<R: Rng + ?Sized>(&mut self, seconds: f64, rng: &mut R) {
        if seconds > 0.0 {
            self.lf.advance(seconds, rng);
            self.hf.advance(seconds, rng);
        }
    }

    /// Change the RR standard deviation (seconds) without disturbing the oscillators' phases.
    pub fn set_hrv_sd(&mut self, sd_seconds: f64) {
        self.lf.set_sd(sd_seconds);
        self.hf.set_sd(sd_seconds);
    }
}

/// Morphology and noise of one synthetic ECG lead.
#[derive(Debug, Clone, PartialEq)]
pub struct Morphology {
    /// Shift of the ST segment (and T wave) from the PR baseline, millivolts; + is elevation.
    pub st_deviation_mv: f64,
    /// Amplitude of the 0.25 Hz respiratory baseline wander in the output, millivolts.
    pub baseline_wander_mv: f64,
    /// Half-range of additive uniform measurement noise (ECGSYN's Anoise), millivolts.
    pub noise_mv: f64,
}

impl Default for Morphology {
    /// A clean resting lead: no ST change, slight respiratory wander, no noise.
    fn default() -> Self {
        Self { st_deviation_mv: 0.0, baseline_wander_mv: 0.05, noise_mv: 0.0 }
    }
}

/// The five Gaussian events, adjusted for the mean heart rate as ECGSYN does.
struct Waves {
    theta: [f64; 5],
    a: [f64; 5],
    b: [f64; 5],
}

impl Waves {
    /// With h = √(HR/60): widths scale by h, angles by (√h, h, 1, h, √h), which keeps wave
    /// amplitudes and the QT interval plausible across heart rates.
    fn for_mean_rr(mean_rr: f64) -> Self {
        let h = (1.0 / mean_rr).sqrt();
        let angle_scale = [h.sqrt(), h, 1.0, h, h.sqrt()];
        Self { theta: std::array::from_fn(|i| THETA_DEG[i].to_radians() * angle_scale[i]), a: A, b: B.map(|b| b * h) }
    }
}

#[derive(Debug, Clone, Copy)]
struct State {
    x: f64,
    y: f64,
    z: f64,
}

impl State {
    fn plus(self, k: State, s: f64) -> State {
        State { x: self.x + s * k.x, y: self.y + s * k.y, z: self.z + s * k.z }
    }

    fn phase(self) -> f64 {
        self.y.atan2(self.x)
    }
}

/// (θ − θᵢ) wrapped into [−π, π).
fn wrap(angle: f64) -> f64 {
    // Phases here stay within a turn or so of the range; branches avoid fmod in the hot loop.
    match angle {
        a if (-PI..PI).contains(&a) => a,
        a if (PI..3.0 * PI).contains(&a) => a - TAU,
        a if (-3.0 * PI..-PI).contains(&a) => a + TAU,
        a => (a + PI).rem_euclid(TAU) - PI,
    }
}

/// ECGSYN's equations with z₀ = 0. The z equation is linear in z and its drive depends only on
/// θ, so the respiratory z₀ term just adds a lagged 0.25 Hz sinusoid; `synthesize` adds that
/// after scaling so its amplitude is in true millivolts.
fn derivs(s: State, omega: f64, w: &Waves) -> State {
    let alpha = 1.0 - (s.x * s.x + s.y * s.y).sqrt();
    let theta = s.phase();
    let drive: f64 = (0..5)
        .map(|i| {
            let d = wrap(theta - w.theta[i]);
            // Beyond 6 widths the term is below 1e-7 of its peak; skipping the exp halves the cost.
            if d.abs() > 6.0 * w.b[i] {
                return 0.0;
            }
            -w.a[i] * d * (-d * d / (2.0 * w.b[i] * w.b[i])).exp()
        })
        .sum();
    State { x: alpha * s.x - omega * s.y, y: alpha * s.y + omega * s.x, z: drive - s.z }
}

fn rk4(s: State, omega: f64, dt: f64, w: &Waves) -> State {
    let k1 = derivs(s, omega, w);
    let k2 = derivs(s.plus(k1, dt / 2.0), omega, w);
    let k3 = derivs(s.plus(k2, dt / 2.0), omega, w);
    let k4 = derivs(s.plus(k3, dt), omega, w);
    let sum = k1.plus(k2, 2.0).plus(k3, 2.0).plus(k4, 1.0);
    s.plus(sum, dt / 6.0)
}

/// z at θ = 0 on the periodic orbit for a steady RR, so the first beat already looks like the
/// rest: one beat from z = 0 gives z_end = c, and the orbit's fixed point is c / (1 − e^(−RR)).
fn periodic_start(rr: f64, w: &Waves) -> State {
    let steps = (rr * INTEGRATION_RATE_HZ).ceil().max(1.0);
    let dt = rr / steps;
    let omega = TAU / rr;
    let mut s = State { x: 1.0, y: 0.0, z: 0.0 };
    for _ in 0..steps as usize {
        s = rk4(s, omega, dt, w);
    }
    State { x: 1.0, y: 0.0, z: s.z / (1.0 - (-rr).exp()) }
}

/// Raw model z and phase θ at the output rate. ω follows the beat in progress; an integration
/// step that straddles a beat boundary is split there so each beat advances exactly 2π.
fn integrate(rr: &[f64], w: &Waves, n_out: usize) -> (Vec<f64>, Vec<f64>) {
    let dt = 1.0 / INTEGRATION_RATE_HZ;
    let mut s = periodic_start(rr[0], w);
    let (mut beat, mut beat_end) = (0, rr[0]);
    let mut z = Vec::with_capacity(n_out);
    let mut theta = Vec::with_capacity(n_out);
    for i in 0..n_out * OVERSAMPLE {
        if i % OVERSAMPLE == 0 {
            z.push(s.z);
            theta.push(s.phase());
        }
        let (mut t, t1) = (i as f64 * dt, (i + 1) as f64 * dt);
        while beat + 1 < rr.len() && beat_end < t1 {
            s = rk4(s, TAU / rr[beat], beat_end - t, w);
            t = beat_end;
            beat += 1;
            beat_end += rr[beat];
        }
        s = rk4(s, TAU / rr[beat], t1 - t, w);
    }
    (z, theta)
}

/// Cubic smoothstep from 0 at `lo` to 1 at `hi`.
fn smoothstep(lo: f64, hi: f64, x: f64) -> f64 {
    let u = ((x - lo) / (hi - lo)).clamp(0.0, 1.0);
    u * u * (3.0 - 2.0 * u)
}

/// ~1 from just after the S wave to the end of the T wave, 0 elsewhere (phase coordinates),
/// so an ST shift moves the ST segment and T wave but leaves the PR baseline alone.
fn st_window(theta: f64, w: &Waves) -> f64 {
    let (ts, bs) = (w.theta[S_WAVE], w.b[S_WAVE]);
    let (tt, bt) = (w.theta[T_WAVE], w.b[T_WAVE]);
    let rise = (ts + bs, ts + 2.5 * bs);
    let fall_end = (tt + 2.5 * bt).min(PI - 0.05);
    let fall_start = (tt + bt).clamp(rise.1, fall_end - 0.05);
    smoothstep(rise.0, rise.1, theta) * (1.0 - smoothstep(fall_start, fall_end, theta))
}

/// Synthesize the ECG in millivolts at SAMPLE_RATE_HZ for the given sequence of RR intervals (seconds), starting at the beginning of the first interval, covering their total duration.
///
/// Each interval starts at its R peak (θ = 0), so sample 0 is the first R apex and R peaks
/// fall at the cumulative RR sums. Wave widths follow the strip's mean heart rate. z is scaled
/// onto −0.4…1.2 mV (per strip, as ECGSYN) before the ST shift, respiratory wander and noise
/// are added. Costs about 0.3 ms of CPU per second of ECG.
///
/// # Panics
/// If any interval is not finite and positive.
pub fn synthesize<R: Rng + ?Sized>(rr_intervals: &[f64], morphology: &Morphology, rng: &mut R) -> Vec<f32> {
    assert!(rr_intervals.iter().all(|rr| rr.is_finite() && *rr > 0.0), "RR intervals must be finite and positive");
    if rr_intervals.is_empty() {
        return Vec::new();
    }
    let total: f64 = rr_intervals.iter().sum();
    let waves = Waves::for_mean_rr(total / rr_intervals.len() as f64);
    let n_out = (total * SAMPLE_RATE_HZ).round() as usize;
    let (z, theta) = integrate(rr_intervals, &waves, n_out);

    let (lo, hi) = z.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let scale = if hi > lo { (ECG_MAX_MV - ECG_MIN_MV) / (hi - lo) } else { 0.0 };
    let resp_phase = rng.random_range(0.0..TAU);
    z.iter()
        .zip(&theta)
        .enumerate()
        .map(|(i, (&zi, &th))| {
            let t = i as f64 / SAMPLE_RATE_HZ;
            let mut v = (zi - lo) * scale + ECG_MIN_MV;
            v += morphology.st_deviation_mv * st_window(th, &waves);
            v += morphology.baseline_wander_mv * (TAU * RESP_FREQ_HZ * t + resp_phase).sin();
            if morphology.noise_mv > 0.0 {
                v += morphology.noise_mv * rng.random_range(-1.0..=1.0);
            }
            v as f32
        })
        .collect()
}

/// Indices of R peaks in a synthetic or real ECG sampled at `sample_rate_hz` (a simple derivative + threshold + refractory-period detector, what a bedside monitor does to count beats).
///
/// Samples are in millivolts. A steep slope (above 40% of the strip's 99.5th-percentile slope
/// and above 5 mV/s, so a flat line yields no beats) triggers a search for the signal maximum
/// nearby; a maximum on the first or last sample cannot be confirmed and is dropped.
pub fn detect_r_peaks(samples: &[f32], sample_rate_hz: f64) -> Vec<usize> {
    let n = samples.len();
    let span = ((SLOPE_SPAN_S * sample_rate_hz).round() as usize).max(1);
    if n < 2 * span + 3 || sample_rate_hz <= 0.0 {
        return Vec::new();
    }
    let per_s = sample_rate_hz / (2 * span) as f64;
    let slope: Vec<f64> = (0..n)
        .map(|i| {
            let (a, b) = (i.saturating_sub(span), (i + span).min(n - 1));
            (f64::from(samples[b]) - f64::from(samples[a])).abs() * per_s
        })
        .collect();
    let mut sorted = slope.clone();
    sorted.sort_by(f64::total_cmp);
    let threshold = (SLOPE_FRACTION * sorted[(n - 1) * 995 / 1000]).max(SLOPE_FLOOR_MV_PER_S);

    let to_samples = |s: f64| (s * sample_rate_hz).round() as usize;
    let (back, ahead, refractory) =
        (to_samples(APEX_SEARCH_S.0), to_samples(APEX_SEARCH_S.1), to_samples(REFRACTORY_S));
    let mut peaks = Vec::new();
    let mut i = 0;
    while i < n {
        if slope[i] <= threshold {
            i += 1;
            continue;
        }
        let lo = i.saturating_sub(back);
        let hi = (i + ahead).min(n - 1);
        let apex = (lo..=hi).max_by(|&a, &b| samples[a].total_cmp(&samples[b])).unwrap_or(i);
        // A maximum on the strip's edge may be a truncated slope rather than an apex.
        if apex > 0 && apex < n - 1 {
            peaks.push(apex);
        }
        i = apex.max(i) + refractory;
    }
    peaks
}

/// Heart rate in beats per minute from the mean of RR intervals, as a monitor derives it from R-peak times; None for fewer than 2 peaks.
pub fn heart_rate_from_peaks(peaks: &[usize], sample_rate_hz: f64) -> Option<f64> {
    let (&first, &last) = (peaks.first()?, peaks.last()?);
    if peaks.len() < 2 || last <= first || sample_rate_hz <= 0.0 {
        return None;
    }
    let mean_rr_s = (last - first) as f64 / (peaks.len() - 1) as f64 / sample_rate_hz;
    Some(60.0 / mean_rr_s)
}

/// ST deviation in millivolts measured on a synthesized ECG: mean level shortly after each R peak (past the J point) minus the mean level of the PR segment (the isoelectric baseline, between P and Q), averaged over beats.
///
/// Levels are ±10 ms averages at R + 95 ms (ST) and R − 90 ms (PR) at 60 bpm, both scaled
/// by √RR (RR from the mean peak spacing) as the model's QRS timing is; there the unshifted
/// model reads within 0.01 mV of zero from 45 to 150 bpm. Beats whose windows leave the strip
/// are skipped; None if none remain.
pub fn measure_st_deviation(samples: &[f32], peaks: &[usize], sample_rate_hz: f64) -> Option<f64> {
    if sample_rate_hz <= 0.0 {
        return None;
    }
    let rate_scale = heart_rate_from_peaks(peaks, sample_rate_hz).map_or(1.0, |hr| (60.0 / hr).sqrt());
    let level = |centre: f64| -> Option<f64> {
        let half = LEVEL_HALF_WINDOW_S * sample_rate_hz;
        let (lo, hi) = ((centre - half).round(), (centre + half).round());
        if lo < 0.0 || hi >= samples.len() as f64 {
            return None;
        }
        let window = &samples[lo as usize..=hi as usize];
        Some(window.iter().map(|&v| f64::from(v)).sum::<f64>() / window.len() as f64)
    };
    let deviations: Vec<f64> = peaks
        .iter()
        .filter_map(|&p| {
            let offset = |s: f64| p as f64 + s * rate_scale * sample_rate_hz;
            Some(level(offset(ST_OFFSET_S))? - level(offset(PR_OFFSET_S))?)
        })
        .collect();
    if deviations.is_empty() {
        return None;
    }
    Some(deviations.iter().sum::<f64>() / deviations.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_cosine_matches_the_library_over_a_turn() {
        for i in 0..100_000 {
            let x = TAU * f64::from(i) / 100_000.0;
            assert!((fast_cos(x) - x.cos()).abs() < 1e-6, "cos({x})");
        }
    }
    use rand::SeedableRng;
    use rand_pcg::Pcg64Mcg;

    fn clean() -> Morphology {
        Morphology { st_deviation_mv: 0.0, baseline_wander_mv: 0.0, noise_mv: 0.0 }
    }

    fn draw_rr(rng: &mut Pcg64Mcg, hr: f64, sd: f64, n: usize) -> Vec<f64> {
        let mut process = RrProcess::new(rng, sd);
        (0..n).map(|_| process.next_rr(hr, rng)).collect()
    }

    /// R times in samples: each interval starts at its R peak.
    fn r_samples(rr: &[f64]) -> Vec<f64> {
        rr.iter()
            .scan(0.0, |t, &r| {
                let start = *t;
                *t += r;
                Some(start * SAMPLE_RATE_HZ)
            })
            .collect()
    }

    #[test]
    fn r_peak_timing_matches_configured_heart_rate() {
        let mut rng = Pcg64Mcg::seed_from_u64(1);
        for hr in [60.0_f64, 75.0, 120.0, 150.0] {
            let rr = 60.0 / hr;
            let beats = (20.0 / rr).round() as usize;
            let ecg = synthesize(&vec![rr; beats], &Morphology::default(), &mut rng);
            let peaks = detect_r_peaks(&ecg, SAMPLE_RATE_HZ);
            // The first R apex is sample 0, which the detector cannot confirm.
            assert_eq!(peaks.len(), beats - 1, "hr {hr}");
            let measured = heart_rate_from_peaks(&peaks, SAMPLE_RATE_HZ).unwrap();
            assert!((measured - hr).abs() < 1.0, "hr {hr}: measured {measured}");
            for pair in peaks.windows(2) {
                let gap = (pair[1] - pair[0]) as f64;
                assert!((gap - rr * SAMPLE_RATE_HZ).abs() <= 2.0, "hr {hr}: gap {gap}");
            }
        }
    }

    #[test]
    fn r_peaks_fall_at_cumulative_rr_sums_with_hrv() {
        let mut rng = Pcg64Mcg::seed_from_u64(2);
        let rr = draw_rr(&mut rng, 70.0, 0.05, 40);
        let morphology = Morphology { noise_mv: 0.01, ..Morphology::default() };
        let ecg = synthesize(&rr, &morphology, &mut rng);
        let peaks = detect_r_peaks(&ecg, SAMPLE_RATE_HZ);
        let expected = r_samples(&rr);
        assert_eq!(peaks.len(), rr.len() - 1);
        for (peak, want) in peaks.iter().zip(&expected[1..]) {
            let error_ms = (*peak as f64 - want).abs() / SAMPLE_RATE_HZ * 1000.0;
            assert!(error_ms <= 20.0, "peak {peak} expected {want}");
        }
    }

    #[test]
    fn output_spans_ecgsyn_range_with_r_as_each_beats_maximum() {
        let mut rng = Pcg64Mcg::seed_from_u64(3);
        let rr = draw_rr(&mut rng, 80.0, 0.04, 25);
        let ecg = synthesize(&rr, &clean(), &mut rng);
        assert_eq!(ecg.len(), (rr.iter().sum::<f64>() * SAMPLE_RATE_HZ).round() as usize);
        assert!(ecg.iter().all(|&v| (-0.4001..=1.2001).contains(&v)));
        // Sample 0 is the first R apex; R height varies a little with RR, as in ECGSYN.
        assert!(ecg[0] > 1.0 && ecg[0] > ecg[1], "first sample {}", ecg[0]);
        let r = r_samples(&rr);
        for k in 1..r.len() - 1 {
            let lo = (r[k] - rr[k - 1] * SAMPLE_RATE_HZ / 2.0) as usize;
            let hi = (r[k] + rr[k] * SAMPLE_RATE_HZ / 2.0) as usize;
            let apex = (lo..hi).max_by(|&a, &b| ecg[a].total_cmp(&ecg[b])).unwrap();
            assert!((apex as f64 - r[k]).abs() <= 1.0, "beat {k}: apex {apex}");
        }
    }

    #[test]
    fn waves_appear_in_pqrst_order_at_60_bpm() {
        let mut rng = Pcg64Mcg::seed_from_u64(4);
        let ecg = synthesize(&[1.0; 4], &clean(), &mut rng);
        let r = 2 * SAMPLE_RATE_HZ as usize;
        let ms = |t: f64| (r as f64 + t * SAMPLE_RATE_HZ / 1000.0) as usize;
        let arg = |lo: f64, hi: f64, max: bool| {
            let by = |a: &usize, b: &usize| ecg[*a].total_cmp(&ecg[*b]);
            let range = ms(lo)..ms(hi);
            let i = if max { range.max_by(by) } else { range.min_by(by) }.unwrap();
            assert!(i > ms(lo) && i + 1 < ms(hi), "extremum on window edge");
            i
        };
        let (p, q, s, t) =
            (arg(-350.0, -120.0, true), arg(-100.0, -5.0, false), arg(5.0, 100.0, false), arg(150.0, 450.0, true));
        assert!(p < q && q < r && r < s && s < t);
        let baseline = ecg[ms(-90.0)];
        assert!(ecg[p] > baseline + 0.1 && ecg[t] > baseline + 0.2);
        assert!(ecg[q] < baseline - 0.1 && ecg[s] < baseline - 0.2);
    }

    #[test]
    fn rr_process_mean_and_sd_match_configuration() {
        let mut rng = Pcg64Mcg::seed_from_u64(5);
        let rr = draw_rr(&mut rng, 72.0, 0.03, 5000);
        let mean = rr.iter().sum::<f64>() / rr.len() as f64;
        let sd = (rr.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / rr.len() as f64).sqrt();
        assert!((mean - 60.0 / 72.0).abs() < 0.01 * 60.0 / 72.0, "mean {mean}");
        assert!((sd - 0.03).abs() < 0.2 * 0.03, "sd {sd}");
    }

    #[test]
    fn metronome_rr_process_has_no_variability_until_sd_is_set() {
        let mut rng = Pcg64Mcg::seed_from_u64(6);
        let mut process = RrProcess::new(&mut rng, 0.0);
        assert!((0..50).all(|_| process.next_rr(50.0, &mut rng) == 1.2));
        process.set_hrv_sd(0.05);
        assert!((0..50).any(|_| (process.next_rr(50.0, &mut rng) - 1.2).abs() > 0.01));
    }

    /// Welch-style power of a beat-indexed series in [lo, hi) cycles per beat.
    fn band_power(series: &[f64], lo: f64, hi: f64) -> f64 {
        const SEG: usize = 256;
        let mean = series.iter().sum::<f64>() / series.len() as f64;
        let mut total = 0.0;
        for seg in series.chunks_exact(SEG) {
            for bin in (lo * SEG as f64).ceil() as usize..(hi * SEG as f64).ceil() as usize {
                let (mut re, mut im) = (0.0, 0.0);
                for (n, v) in seg.iter().enumerate() {
                    let hann = 0.5 - 0.5 * (TAU * n as f64 / SEG as f64).cos();
                    let angle = TAU * (bin * n) as f64 / SEG as f64;
                    re += (v - mean) * hann * angle.cos();
                    im -= (v - mean) * hann * angle.sin();
                }
                total += re * re + im * im;
            }
        }
        total
    }

    #[test]
    fn rr_spectrum_has_mayer_and_rsa_peaks_with_ecgsyn_lf_hf_ratio() {
        let mut rng = Pcg64Mcg::seed_from_u64(7);
        // At 60 bpm one beat is one second, so cycles per beat are hertz.
        let rr = draw_rr(&mut rng, 60.0, 0.03, 5000);
        let near = |f: f64| band_power(&rr, f - 0.02, f + 0.02);
        let control = near(0.4);
        assert!(near(0.1) > 100.0 * control && near(0.25) > 100.0 * control);
        let ratio = band_power(&rr, 0.04, 0.15) / band_power(&rr, 0.15, 0.4);
        assert!((0.3..0.8).contains(&ratio), "LF/HF {ratio}");
    }

    #[test]
    fn st_deviation_is_measured_as_configured() {
        let mut rng = Pcg64Mcg::seed_from_u64(8);
        for hr in [60.0, 120.0] {
            let rr = draw_rr(&mut rng, hr, 0.03, (hr / 3.0) as usize);
            for st in [0.2, -0.15, 0.0] {
                let morphology = Morphology { st_deviation_mv: st, noise_mv: 0.01, ..Morphology::default() };
                let ecg = synthesize(&rr, &morphology, &mut rng);
                let peaks = detect_r_peaks(&ecg, SAMPLE_RATE_HZ);
                let measured = measure_st_deviation(&ecg, &peaks, SAMPLE_RATE_HZ).unwrap();
                assert!((measured - st).abs() < 0.03, "hr {hr} st {st}: {measured}");
            }
        }
    }

    #[test]
    fn same_seed_gives_identical_samples() {
        let run = |seed| {
            let mut rng = Pcg64Mcg::seed_from_u64(seed);
            let rr = draw_rr(&mut rng, 75.0, 0.03, 10);
            let morphology = Morphology { noise_mv: 0.02, ..Morphology::default() };
            synthesize(&rr, &morphology, &mut rng)
        };
        assert_eq!(run(9), run(9));
        assert_ne!(run(9), run(10));
    }

    #[test]
    fn flat_line_has_no_beats_and_no_heart_rate() {
        let flat = vec![0.0_f32; 10 * SAMPLE_RATE_HZ as usize];
        assert!(detect_r_peaks(&flat, SAMPLE_RATE_HZ).is_empty());
        assert_eq!(heart_rate_from_peaks(&[], SAMPLE_RATE_HZ), None);
        assert_eq!(heart_rate_from_peaks(&[100], SAMPLE_RATE_HZ), None);
        assert_eq!(measure_st_deviation(&flat, &[], SAMPLE_RATE_HZ), None);
        assert!(synthesize(&[], &Morphology::default(), &mut Pcg64Mcg::seed_from_u64(0)).is_empty());
    }
}
