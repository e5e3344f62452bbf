//! One channel of a bedside monitor, streaming: samples in, beats detected, and once a second
//! the numerics a monitor shows and the rescoring reads.

use super::filter::{Cascade, Front};
use super::pulse::PulseDetector;
use super::qrs::{Beat, Detector, PanTompkins, SlopeDetector};
use super::rhythm::{Morphology, Shape, Spectrum};
use super::{ChannelKind, Numerics};
use std::collections::VecDeque;

/// Seconds of beats and samples kept for the numerics.
const KEEP_SECONDS: f64 = 60.0;
/// The window signal quality is judged over.
const QUALITY_SECONDS: f64 = 10.0;
/// Two detectors agree on a beat within this many seconds.
const MATCH_SECONDS: f64 = 0.15;

/// A streaming monitor of one channel.
#[derive(Debug)]
pub struct ChannelMonitor {
    kind: ChannelKind,
    fs: f64,
    n: usize,
    primary: Primary,
    /// ECG only: the second opinion for the agreement index.
    second: Option<SlopeDetector>,
    beats: VecDeque<Beat>,
    second_beats: VecDeque<Beat>,
    /// ECG only: the 1–40 Hz band, for shapes and the spectrum.
    band: Option<Front>,
    filtered: VecDeque<f64>,
    /// The raw signal of the last [`QUALITY_SECONDS`], for flat-line detection.
    raw: VecDeque<f32>,
    morphology: Option<Morphology>,
    spectrum: Option<Spectrum>,
    /// Beats waiting for the samples after their R peak.
    pending: VecDeque<Beat>,
    shapes: VecDeque<(usize, Shape)>,
}

#[derive(Debug)]
enum Primary {
    Qrs(Box<PanTompkins>),
    Pulse(Box<PulseDetector>),
    None,
}

impl ChannelMonitor {
    /// A monitor of a `kind` channel sampled at `fs` Hz.
    pub fn new(kind: ChannelKind, fs: f64) -> Self {
        let ecg = kind == ChannelKind::Ecg;
        let primary = match kind {
            ChannelKind::Ecg => Primary::Qrs(Box::new(PanTompkins::new(fs))),
            ChannelKind::ArterialPressure | ChannelKind::Pleth => Primary::Pulse(Box::new(PulseDetector::new(fs))),
            _ => Primary::None,
        };
        Self {
            kind,
            fs,
            n: 0,
            primary,
            second: ecg.then(|| SlopeDetector::new(fs)),
            beats: VecDeque::new(),
            second_beats: VecDeque::new(),
            band: ecg.then(|| Front::new(Cascade::band_pass(1.0, 40.0, fs))),
            filtered: VecDeque::new(),
            raw: VecDeque::new(),
            morphology: ecg.then(|| Morphology::new(fs)),
            spectrum: ecg.then(|| Spectrum::new(fs, 4.0)),
            pending: VecDeque::new(),
            shapes: VecDeque::new(),
        }
    }

    /// What this channel is.
    pub fn kind(&self) -> ChannelKind {
        self.kind
    }

    /// Take the next sample (NaN when invalid).
    pub fn push(&mut self, x: f32) {
        self.n += 1;
        let keep = (KEEP_SECONDS * self.fs) as usize;
        self.raw.push_back(x);
        if self.raw.len() > (QUALITY_SECONDS * self.fs) as usize {
            self.raw.pop_front();
        }
        let beat = match &mut self.primary {
            Primary::Qrs(d) => d.push(x),
            Primary::Pulse(d) => d.push(x),
            Primary::None => None,
        };
        if let Some(b) = beat {
            self.beats.push_back(b);
            self.pending.push_back(b);
        }
        if let Some(b) = self.second.as_mut().and_then(|d| d.push(x)) {
            self.second_beats.push_back(b);
        }
        if let Some(f) = self.band.as_mut().and_then(|band| band.step(x)) {
            self.filtered.push_back(f);
            if self.filtered.len() > (4.5 * self.fs) as usize {
                self.filtered.pop_front();
            }
            self.classify_pending();
        }
        let horizon = self.n.saturating_sub(keep);
        while self.beats.front().is_some_and(|b| b.at < horizon) {
            self.beats.pop_front();
        }
        while self.second_beats.front().is_some_and(|b| b.at < horizon) {
            self.second_beats.pop_front();
        }
        while self.shapes.front().is_some_and(|(at, _)| *at < horizon) {
            self.shapes.pop_front();
        }
    }

    /// Shapes of beats whose window after the R peak is complete.
    fn classify_pending(&mut self) {
        let Some(morphology) = &mut self.morphology else { return };
        let (before, after) = morphology.span();
        while let Some(&beat) = self.pending.front() {
            let newest = self.n - 1;
            if newest < beat.at + after {
                break;
            }
            self.pending.pop_front();
            let back = newest - beat.at; // samples from the R peak to the newest sample
            let len = self.filtered.len();
            if back + before >= len {
                continue;
            }
            let r = len - 1 - back;
            let window: Vec<f64> = self.filtered.range(r - before..=r + after).copied().collect();
            self.shapes.push_back((beat.at, morphology.classify(&window)));
        }
    }

    /// The numerics at the newest sample.
    pub fn numerics(&self) -> Numerics {
        let now = self.n as f64 / self.fs;
        let times: Vec<f64> = self.beats.iter().map(|b| b.at as f64 / self.fs).collect();
        let rate = |beats: usize| -> f32 {
            if times.len() <= beats {
                return f32::NAN;
            }
            let span = times[times.len() - 1] - times[times.len() - 1 - beats];
            if span > 0.0 {
                (60.0 * beats as f64 / span) as f32
            } else {
                f32::NAN
            }
        };
        let last_beat_age = times.last().map_or((now).min(KEEP_SECONDS) as f32, |t| (now - t) as f32);
        let mut out = Numerics {
            beats: self.beats.len() as u32,
            rate5: rate(5),
            rate17: rate(17),
            last_beat_age,
            quality: self.quality() as f32,
            ..Numerics::default()
        };
        if self.kind == ChannelKind::Ecg {
            let window = now - QUALITY_SECONDS;
            let recent: Vec<&Shape> =
                self.shapes.iter().filter(|(at, _)| *at as f64 / self.fs >= window).map(|(_, s)| s).collect();
            out.abnormal_run = self.ventricular_run() as f32;
            out.abnormal_fraction = if recent.is_empty() {
                0.0
            } else {
                recent.iter().filter(|s| s.abnormal).count() as f32 / recent.len() as f32
            };
            out.qrs_width = {
                let mut w: Vec<f64> = recent.iter().rev().take(5).map(|s| s.width).collect();
                w.sort_by(f64::total_cmp);
                w.get(w.len() / 2).copied().unwrap_or(f64::NAN) as f32
            };
            if let Some(spectrum) = &self.spectrum {
                let n = spectrum.samples().min(self.filtered.len());
                if n >= spectrum.samples() / 2 {
                    let stretch: Vec<f64> = self.filtered.range(self.filtered.len() - n..).copied().collect();
                    let f = spectrum.features(&stretch);
                    out.dominant_hz = f.dominant_hz as f32;
                    out.concentration = f.concentration as f32;
                }
            }
        }
        out
    }

    /// The run of beats ending at the last one that a ventricular tachycardia would make: each
    /// abnormal, shaped like the one before, and less than 750 ms after it (a ventricular run at
    /// above 100/min slows for a beat or two as it starts and ends).
    fn ventricular_run(&self) -> usize {
        let limit = (0.75 * self.fs) as usize;
        let mut run = 0;
        let mut later: Option<usize> = None;
        for (at, shape) in self.shapes.iter().rev() {
            let fast = later.is_none_or(|l| l.saturating_sub(*at) < limit);
            if !shape.abnormal || !fast {
                break;
            }
            run += 1;
            if !shape.like_previous {
                break;
            }
            later = Some(*at);
        }
        run
    }

    /// Signal quality over the last [`QUALITY_SECONDS`], in [0, 1].
    fn quality(&self) -> f64 {
        let flat = self.flat_fraction();
        let base = match self.kind {
            ChannelKind::Ecg => self.agreement(),
            ChannelKind::ArterialPressure | ChannelKind::Pleth => self.pulse_regularity(),
            _ => 0.0,
        };
        base * (1.0 - flat)
    }

    /// Share of the window in flat stretches (a quarter second or more without change): a lead
    /// off, a disconnected line, a saturated amplifier.
    fn flat_fraction(&self) -> f64 {
        if self.raw.is_empty() {
            return 1.0;
        }
        let min_run = (0.25 * self.fs) as usize;
        let (mut flat, mut run) = (0usize, 0usize);
        let mut previous: Option<f32> = None;
        for &x in &self.raw {
            let same = !x.is_finite() || previous.is_some_and(|p| (x - p).abs() <= f32::EPSILON * p.abs().max(1e-3));
            if same {
                run += 1;
            } else {
                if run >= min_run {
                    flat += run;
                }
                run = 0;
            }
            if x.is_finite() {
                previous = Some(x);
            }
        }
        if run >= min_run {
            flat += run;
        }
        flat as f64 / self.raw.len() as f64
    }

    /// ECG: how far the two detectors agree on the window's beats (bSQI).
    fn agreement(&self) -> f64 {
        let end = self.n as f64 / self.fs - 0.5;
        let start = end - QUALITY_SECONDS + 0.5;
        let pick = |beats: &VecDeque<Beat>| -> Vec<f64> {
            beats.iter().map(|b| b.at as f64 / self.fs).filter(|t| *t >= start && *t <= end).collect()
        };
        let (a, b) = (pick(&self.beats), pick(&self.second_beats));
        if a.is_empty() && b.is_empty() {
            return 0.0;
        }
        let matched = a.iter().filter(|t| b.iter().any(|u| (*t - u).abs() <= MATCH_SECONDS)).count();
        matched as f64 / (a.len() + b.len() - matched) as f64
    }

    /// ABP or PPG: the share of the window's pulses with a plausible interval and a size like
    /// the others'.
    fn pulse_regularity(&self) -> f64 {
        let now = self.n as f64 / self.fs;
        let recent: Vec<&Beat> = self.beats.iter().filter(|b| b.at as f64 / self.fs >= now - QUALITY_SECONDS).collect();
        if recent.len() < 3 {
            return 0.0;
        }
        let intervals: Vec<f64> = recent.windows(2).map(|w| (w[1].at - w[0].at) as f64 / self.fs).collect();
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (mi, ms) = (median(intervals.clone()), median(recent.iter().map(|b| b.size).collect()));
        let good_interval =
            intervals.iter().filter(|i| **i > 0.25 && **i < 2.5 && (*i / mi - 1.0).abs() < 0.35).count();
        let good_size = recent.iter().filter(|b| b.size > 0.4 * ms && b.size < 2.5 * ms).count();
        (good_interval as f64 / intervals.len() as f64) * (good_size as f64 / recent.len() as f64)
    }
}
