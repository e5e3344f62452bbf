//! A bedside monitor in software: waveforms in, the numerics a monitor computes out, once a
//! second, per channel — and what the rescoring needs to tell a true arrhythmia alarm from a
//! false one.
//!
//! Pure and streaming: [`BedMonitor`] takes each channel's samples as they arrive and, at each
//! whole second, gives every channel's [`Numerics`] computed from the samples up to that moment
//! only, so a replayed record and a live one give the same series, and nothing after an alarm
//! informs the judgement of it. The simulated ECG can go through the same code.
//!
//! - [`filter`]: causal IIR sections and moving sums.
//! - [`qrs`]: two QRS detectors (Pan–Tompkins; a slope detector), for beats and their agreement.
//! - [`pulse`]: pulse onsets in arterial pressure and the plethysmogram (slope sum function).
//! - [`rhythm`]: beat shapes against the lead's template; the spectrum of the last 4 s.
//! - [`channel`]: one channel's stream and its numerics.

pub mod channel;
pub mod filter;
pub mod pulse;
pub mod qrs;
pub mod rhythm;

use channel::ChannelMonitor;

/// What a channel carries, from its WFDB description.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelKind {
    /// An ECG lead (I, II, III, aVR, aVL, aVF, V, V1–V6, MCL).
    Ecg,
    /// Invasive arterial blood pressure.
    ArterialPressure,
    /// The pulse oximeter's plethysmogram.
    Pleth,
    /// Respiration (impedance).
    Respiration,
    /// Anything else: recorded, not analysed.
    Other,
}

impl ChannelKind {
    /// The kind of a channel described as `description` (case-insensitive).
    pub fn of(description: &str) -> Self {
        let d = description.trim().to_ascii_uppercase();
        const LEADS: [&str; 9] = ["I", "II", "III", "AVR", "AVL", "AVF", "V", "MCL", "MLII"];
        if LEADS.contains(&d.as_str()) || (d.starts_with('V') && d[1..].parse::<u8>().is_ok()) || d.starts_with("MCL") {
            ChannelKind::Ecg
        } else if d == "ABP" || d == "ART" || d.starts_with("ART") {
            ChannelKind::ArterialPressure
        } else if d == "PLETH" || d == "PPG" {
            ChannelKind::Pleth
        } else if d.starts_with("RESP") {
            ChannelKind::Respiration
        } else {
            ChannelKind::Other
        }
    }

    /// Whether beats are detected on it.
    pub fn has_beats(self) -> bool {
        matches!(self, ChannelKind::Ecg | ChannelKind::ArterialPressure | ChannelKind::Pleth)
    }
}

/// What a channel shows at one moment. Rates are NaN until enough beats were seen; the ECG
/// fields are 0 on other channels.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Numerics {
    /// Beats detected in the last minute.
    pub beats: u32,
    /// Heart (pulse) rate over the last 5 beat intervals, per minute.
    pub rate5: f32,
    /// Over the last 17 intervals, per minute.
    pub rate17: f32,
    /// Seconds since the last beat.
    pub last_beat_age: f32,
    /// Signal quality over the last 10 s, 0–1: ECG, the two detectors' agreement; pulsatile,
    /// regular plausible pulses; both lowered by flat stretches.
    pub quality: f32,
    /// ECG: the run ending at the last beat of abnormal beats shaped alike, each less than
    /// 750 ms after the one before (what a ventricular tachycardia makes).
    pub abnormal_run: f32,
    /// ECG: share of the last 10 s's beats that are abnormal.
    pub abnormal_fraction: f32,
    /// ECG: median width of the last 5 beats, seconds.
    pub qrs_width: f32,
    /// ECG: dominant frequency of the last 4 s (1–30 Hz), hertz.
    pub dominant_hz: f32,
    /// ECG: share of the last 4 s's 1–30 Hz power within ±1 Hz of the dominant frequency.
    pub concentration: f32,
}

/// One numeric a monitor publishes per channel: its Prometheus family, the signal name the
/// rescoring knows it by (`<signal>:<channel>` in a window), and how to read it.
pub struct NumericSpec {
    /// Metric family, with the patient's labels and `channel`.
    pub metric: &'static str,
    /// Help text.
    pub help: &'static str,
    /// The signal name in rescoring windows.
    pub signal: &'static str,
    /// Whether it exists on pulsatile channels too (else ECG only).
    pub every_channel: bool,
    /// Its value.
    pub read: fn(&Numerics) -> f32,
}

/// Every numeric, in publishing order.
pub const NUMERICS: [NumericSpec; 9] = [
    NumericSpec {
        metric: "wardwatch_patient_monitor_rate_5_beats_per_minute",
        help: "Heart or pulse rate over the channel's last 5 beat intervals.",
        signal: "rate5",
        every_channel: true,
        read: |n| n.rate5,
    },
    NumericSpec {
        metric: "wardwatch_patient_monitor_rate_17_beats_per_minute",
        help: "Heart or pulse rate over the channel's last 17 beat intervals.",
        signal: "rate17",
        every_channel: true,
        read: |n| n.rate17,
    },
    NumericSpec {
        metric: "wardwatch_patient_monitor_last_beat_age_seconds",
        help: "Time since the channel's last detected beat.",
        signal: "last_beat_age",
        every_channel: true,
        read: |n| n.last_beat_age,
    },
    NumericSpec {
        metric: "wardwatch_patient_monitor_signal_quality_ratio",
        help: "Signal quality over the last 10 s (ECG: two detectors' agreement; pulsatile: regular plausible pulses).",
        signal: "quality",
        every_channel: true,
        read: |n| n.quality,
    },
    NumericSpec {
        metric: "wardwatch_patient_monitor_abnormal_beat_run",
        help: "Run ending at the last beat of abnormal beats shaped alike, each under 750 ms after the one before.",
        signal: "abnormal_run",
        every_channel: false,
        read: |n| n.abnormal_run,
    },
    NumericSpec {
        metric: "wardwatch_patient_monitor_abnormal_beat_ratio",
        help: "Share of the last 10 s's beats unlike the patient's usual beat.",
        signal: "abnormal_fraction",
        every_channel: false,
        read: |n| n.abnormal_fraction,
    },
    NumericSpec {
        metric: "wardwatch_patient_monitor_qrs_width_seconds",
        help: "Median width of the last 5 QRS complexes.",
        signal: "qrs_width",
        every_channel: false,
        read: |n| n.qrs_width,
    },
    NumericSpec {
        metric: "wardwatch_patient_monitor_dominant_frequency_hertz",
        help: "Dominant frequency of the last 4 s of ECG (1-30 Hz).",
        signal: "dominant_hz",
        every_channel: false,
        read: |n| n.dominant_hz,
    },
    NumericSpec {
        metric: "wardwatch_patient_monitor_spectral_concentration_ratio",
        help: "Share of the last 4 s's 1-30 Hz ECG power within 1 Hz of its dominant frequency.",
        signal: "concentration",
        every_channel: false,
        read: |n| n.concentration,
    },
];

/// The monitor's own alarm, as a metric: 1 from the alarm's onset, per alarm type.
pub const ALARM_METRIC: &str = "wardwatch_patient_monitor_alarm";

/// The arrhythmia alarms of the 2015 challenge, as `type` label values.
pub const ALARM_TYPES: [&str; 5] = [
    "asystole",
    "extreme_bradycardia",
    "extreme_tachycardia",
    "ventricular_tachycardia",
    "ventricular_flutter_fibrillation",
];

/// The alarm type label for a challenge header's alarm comment (`Asystole`, `Bradycardia`,
/// `Tachycardia`, `Ventricular_Tachycardia`, `Ventricular_Flutter_Fib`).
pub fn alarm_type(comment: &str) -> Option<&'static str> {
    match comment.trim().to_ascii_lowercase().as_str() {
        "asystole" => Some(ALARM_TYPES[0]),
        "bradycardia" | "extreme_bradycardia" => Some(ALARM_TYPES[1]),
        "tachycardia" | "extreme_tachycardia" => Some(ALARM_TYPES[2]),
        "ventricular_tachycardia" => Some(ALARM_TYPES[3]),
        "ventricular_flutter_fib" | "ventricular_flutter_fibrillation" => Some(ALARM_TYPES[4]),
        _ => None,
    }
}

/// One channel of a bed: its name (e.g. `ecg_ii`, `abp`, `pleth`) and kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelInfo {
    /// Lower-case name, unique within the bed.
    pub name: String,
    /// What it carries.
    pub kind: ChannelKind,
}

/// The channel name for a WFDB description: `ecg_<lead>` for leads, else the kind's name.
pub fn channel_name(description: &str) -> String {
    let kind = ChannelKind::of(description);
    let clean: String = description
        .trim()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
        .collect();
    match kind {
        ChannelKind::Ecg => format!("ecg_{clean}"),
        ChannelKind::ArterialPressure => "abp".into(),
        ChannelKind::Pleth => "pleth".into(),
        ChannelKind::Respiration => "resp".into(),
        ChannelKind::Other => clean,
    }
}

/// Every channel of one bed.
#[derive(Debug)]
pub struct BedMonitor {
    fs: f64,
    channels: Vec<(ChannelInfo, ChannelMonitor)>,
    samples: usize,
}

impl BedMonitor {
    /// A bed whose channels are described as `descriptions` (WFDB), sampled at `fs` Hz.
    pub fn new(descriptions: &[String], fs: f64) -> Self {
        let mut channels: Vec<(ChannelInfo, ChannelMonitor)> = Vec::new();
        for d in descriptions {
            let kind = ChannelKind::of(d);
            let mut name = channel_name(d);
            if channels.iter().any(|(c, _)| c.name == name) {
                name = format!("{name}_{}", channels.len() + 1);
            }
            channels.push((ChannelInfo { name, kind }, ChannelMonitor::new(kind, fs)));
        }
        Self { fs, channels, samples: 0 }
    }

    /// The channels, in the order their samples are given.
    pub fn channels(&self) -> Vec<ChannelInfo> {
        self.channels.iter().map(|(c, _)| c.clone()).collect()
    }

    /// Samples per second.
    pub fn frequency(&self) -> f64 {
        self.fs
    }

    /// Take one frame: one sample per channel, in order.
    pub fn push_frame(&mut self, frame: &[f32]) {
        for ((_, m), &x) in self.channels.iter_mut().zip(frame) {
            m.push(x);
        }
        self.samples += 1;
    }

    /// Seconds of signal taken so far.
    pub fn elapsed_seconds(&self) -> f64 {
        self.samples as f64 / self.fs
    }

    /// Every channel's numerics now.
    pub fn numerics(&self) -> Vec<Numerics> {
        self.channels.iter().map(|(_, m)| m.numerics()).collect()
    }
}

/// Every channel's numerics at each whole second of `signals` up to `until` seconds: element
/// `s` of a channel's series is the state at second `s + 1`.
pub fn analyse(
    descriptions: &[String],
    signals: &[Vec<f32>],
    fs: f64,
    until: f64,
) -> (Vec<ChannelInfo>, Vec<Vec<Numerics>>) {
    let mut bed = BedMonitor::new(descriptions, fs);
    let per_second = fs.round() as usize;
    let len = signals.iter().map(Vec::len).min().unwrap_or(0).min((until * fs).round() as usize);
    let mut series = vec![Vec::with_capacity(len / per_second.max(1)); signals.len()];
    let mut frame = vec![0.0f32; signals.len()];
    for i in 0..len {
        for (slot, s) in frame.iter_mut().zip(signals) {
            *slot = s[i];
        }
        bed.push_frame(&frame);
        if (i + 1).is_multiple_of(per_second.max(1)) {
            for (out, n) in series.iter_mut().zip(bed.numerics()) {
                out.push(n);
            }
        }
    }
    (bed.channels(), series)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_are_named_and_kinded_from_their_wfdb_descriptions() {
        let kinds: Vec<ChannelKind> =
            ["II", "V", "aVF", "MCL", "PLETH", "ABP", "RESP", "V5", "CVP"].iter().map(|d| ChannelKind::of(d)).collect();
        use ChannelKind::*;
        assert_eq!(kinds, [Ecg, Ecg, Ecg, Ecg, Pleth, ArterialPressure, Respiration, Ecg, Other]);
        assert_eq!(channel_name("aVF"), "ecg_avf");
        let bed = BedMonitor::new(&["II".into(), "II".into(), "PLETH".into()], 250.0);
        let names: Vec<String> = bed.channels().into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["ecg_ii", "ecg_ii_2", "pleth"]);
    }

    #[test]
    fn a_clean_ecg_reads_its_rate_with_full_quality() {
        let fs = 250.0;
        let (ecg, _) = qrs::tests::synthetic_ecg(fs, 40.0, 0.75);
        let (_, series) = analyse(&["II".into()], &[ecg], fs, 40.0);
        let last = series[0].last().unwrap();
        assert_eq!(series[0].len(), 40);
        assert!((last.rate5 - 80.0).abs() < 1.0 && (last.rate17 - 80.0).abs() < 1.0, "{last:?}");
        assert!(last.quality > 0.95, "{last:?}");
        assert!(last.last_beat_age < 0.8);
        assert_eq!(last.abnormal_run, 0.0);
        assert!(last.qrs_width > 0.0 && last.qrs_width < 0.12, "{last:?}");
    }
}
