//! One bed: a record played through its own bedside monitor, a whole second at a time.

use super::{Recording, ReplayError, Ward, ALARM_ONSET_SECONDS, LOOP_SECONDS};
use crate::exposition::render_labels;
use crate::monitor::{BedMonitor, ChannelInfo, Numerics};

/// A channel the monitor analyses (ECG, arterial pressure, pleth), with its label pre-rendered.
#[derive(Debug, Clone)]
pub struct Published {
    /// Index among the bed's channels (and its numerics).
    pub index: usize,
    /// Name and kind.
    pub info: ChannelInfo,
    /// `channel="<name>"`, to join the bed's labels.
    pub label: String,
}

/// A record playing in a bed.
#[derive(Debug)]
pub struct Bed {
    recording: Recording,
    number: String,
    labels: String,
    published: Vec<Published>,
    alarm_label: Option<String>,
    frames_per_second: usize,
    seconds: u32,
    monitor: BedMonitor,
    /// Whole seconds of the record the monitor has taken in.
    fed: u32,
    numerics: Vec<Numerics>,
    alarm_on: bool,
}

impl Bed {
    /// Bed `number` of `ward`, playing `recording` from its start.
    pub fn new(recording: Recording, number: &str, ward: &Ward) -> Result<Self, ReplayError> {
        let fail = |reason: &str| ReplayError::Unplayable { name: recording.name.clone(), reason: reason.into() };
        if !(recording.frequency.is_finite() && recording.frequency >= 1.0) {
            return Err(fail("the sampling frequency must be at least 1 Hz"));
        }
        if recording.signals.is_empty() || recording.signals.len() != recording.descriptions.len() {
            return Err(fail("needs at least one signal, each with its description"));
        }
        let frames_per_second = recording.frequency.round() as usize;
        let frames = recording.signals.iter().map(Vec::len).min().unwrap_or(0);
        let seconds = u32::try_from(frames / frames_per_second).map_err(|_| fail("longer than the replay plays"))?;
        if seconds == 0 {
            return Err(fail("shorter than a second"));
        }
        let monitor = BedMonitor::new(&recording.descriptions, recording.frequency);
        let published = monitor
            .channels()
            .into_iter()
            .enumerate()
            .filter(|(_, c)| c.kind.has_beats())
            .map(|(index, info)| Published { index, label: format!("channel=\"{}\"", info.name), info })
            .collect();
        let labels = render_labels(&[
            ("department", ward.department()),
            ("ward", ward.name()),
            ("bed", number),
            ("patient", &recording.name),
        ]);
        let alarm_label = recording.alarm.map(|t| format!("type=\"{t}\""));
        let numerics = monitor.numerics();
        Ok(Self {
            recording,
            number: number.to_owned(),
            labels,
            published,
            alarm_label,
            frames_per_second,
            seconds,
            monitor,
            fed: 0,
            numerics,
            alarm_on: false,
        })
    }

    /// Show the playback's whole `second`: the monitor takes in the record's samples up to that
    /// second (or the record's end). When `looping`, the record starts over, with a new monitor,
    /// every [`LOOP_SECONDS`] (or its length, if longer).
    pub fn seek(&mut self, second: u64, looping: bool) {
        let second = if looping { second % u64::from(self.seconds.max(LOOP_SECONDS)) } else { second };
        let target = u32::try_from(second).unwrap_or(u32::MAX).min(self.seconds);
        // The monitor's state is a function of the samples taken in alone, so a loop that skipped
        // whole laps between two scrapes needs a new monitor only when it went back.
        if target < self.fed {
            self.monitor = BedMonitor::new(&self.recording.descriptions, self.recording.frequency);
            self.fed = 0;
            self.numerics = self.monitor.numerics();
        }
        if target > self.fed {
            let signals = &self.recording.signals;
            let mut frame = vec![0.0f32; signals.len()];
            let from = self.fed as usize * self.frames_per_second;
            for i in from..target as usize * self.frames_per_second {
                for (slot, s) in frame.iter_mut().zip(signals) {
                    *slot = s[i];
                }
                self.monitor.push_frame(&frame);
            }
            self.fed = target;
            self.numerics = self.monitor.numerics();
        }
        self.alarm_on = second >= u64::from(ALARM_ONSET_SECONDS);
    }

    /// The record's name (the `patient` label).
    pub fn record(&self) -> &str {
        &self.recording.name
    }

    /// The bed number (`01`, `02`, …).
    pub fn number(&self) -> &str {
        &self.number
    }

    /// `{department="…",ward="…",bed="…",patient="…"}`.
    pub fn labels(&self) -> &str {
        &self.labels
    }

    /// The channels the monitor analyses, with their labels.
    pub fn published(&self) -> &[Published] {
        &self.published
    }

    /// Every channel's numerics at the second shown (indexed as the monitor's channels).
    pub fn numerics(&self) -> &[Numerics] {
        &self.numerics
    }

    /// Whole seconds of the record the monitor has taken in.
    pub fn position(&self) -> u32 {
        self.fed
    }

    /// The record's length in whole seconds.
    pub fn seconds(&self) -> u32 {
        self.seconds
    }

    /// The alarm's `type="…"` label and whether it is raised, for a record that names one.
    pub fn alarm(&self) -> Option<(&str, bool)> {
        self.alarm_label.as_deref().map(|l| (l, self.alarm_on))
    }
}
