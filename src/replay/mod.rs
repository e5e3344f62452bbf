//! Recorded patients served as the beds of one ward: each WFDB record plays through the bedside
//! monitor ([`crate::monitor`]) as if it were arriving now, and a scrape shows what the monitor
//! shows at that moment.
//!
//! **Time.** All beds play together on one clock: at Unix time `start + t` the playback is
//! `start_offset + t × speed` seconds into every record. A bed shows the monitor's numerics at
//! the last whole second of playback, computed from its record's samples from 0 up to that
//! second and no further, so they equal [`crate::monitor::analyse`] of the record at that
//! second. A scrape feeds each monitor only the samples since the previous one; time never goes
//! back (an earlier scrape time shows the state already reached).
//!
//! **Alarm.** The challenge's records end 0 or 30 s after the bedside monitor raised its alarm,
//! 5 minutes into the record ([`ALARM_ONSET_SECONDS`]; Clifford et al., "The PhysioNet/Computing
//! in Cardiology Challenge 2015: reducing false arrhythmia alarms in the ICU", Computing in
//! Cardiology 2015;42:273–276). A bed's alarm, of the type its header's first comment names, is
//! 0 before that second of playback and 1 from it. Whether the alarm was true is never read: a
//! [`Recording`] carries only the alarm type.
//!
//! **End.** After its record ends a bed keeps its last numerics and its alarm. With looping, a
//! bed restarts from the beginning [`LOOP_SECONDS`] after it started (or at the end of a longer
//! record), with a new monitor.
//!
//! - [`bed`]: one record's playback through its monitor.
//! - [`metrics`]: the beds as Prometheus metrics.
//! - [`backfill`]: the same series as timestamped OpenMetrics, one sample a second.

pub mod backfill;
pub mod bed;
pub mod metrics;

use crate::wfdb::{self, Record, WfdbError};
use bed::Bed;
use std::collections::HashSet;
use std::path::Path;

/// Seconds from a challenge record's start to the bedside monitor's alarm (Clifford et al. 2015).
pub const ALARM_ONSET_SECONDS: u32 = 300;
/// A looping bed restarts this long after it started: the alarm onset plus the 30 s the
/// challenge's longer records run past it.
pub const LOOP_SECONDS: u32 = 330;

/// Why a replay cannot be set up; each message names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// A record or the record list could not be read.
    #[error(transparent)]
    Wfdb(#[from] WfdbError),
    /// Nothing to play.
    #[error("no records to replay in {0}")]
    NoRecords(String),
    /// The same record chosen twice would be two beds with one patient.
    #[error("record {0} is listed twice")]
    Duplicate(String),
    /// A record the monitor cannot play.
    #[error("record {name}: {reason}")]
    Unplayable {
        /// The record.
        name: String,
        /// Why.
        reason: String,
    },
    /// A playback speed that is not a positive number.
    #[error("{0}: must be a finite number above 0")]
    Speed(f64),
    /// A start offset that is not a time in the records.
    #[error("{0} s: must be a finite number of seconds, 0 or more")]
    StartOffset(f64),
    /// An empty department or ward label.
    #[error("{0}: must not be empty")]
    EmptyLabel(&'static str),
    /// A time that is neither Unix seconds nor RFC 3339.
    #[error("`{0}` is not a time: give Unix seconds or RFC 3339, e.g. 2026-12-01T08:05:00Z")]
    Time(String),
    /// The output could not be written.
    #[error("cannot write the backfill: {0}")]
    Write(#[from] std::io::Error),
}

/// A record as the replay takes it: signals and the alarm type, never the challenge's label.
#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    /// The record's name; it becomes the bed's `patient` label.
    pub name: String,
    /// Samples per second per signal.
    pub frequency: f64,
    /// The signals' WFDB descriptions (`II`, `V`, `PLETH`, `ABP`, ...), in frame order.
    pub descriptions: Vec<String>,
    /// One vector per signal in physical units, NaN where invalid.
    pub signals: Vec<Vec<f32>>,
    /// The alarm type label the header's first comment names, if any.
    pub alarm: Option<&'static str>,
}

impl From<Record> for Recording {
    fn from(record: Record) -> Self {
        let alarm = record.comments().next().and_then(crate::monitor::alarm_type);
        Self {
            name: record.name,
            frequency: record.frequency,
            descriptions: record.specs.into_iter().map(|s| s.description).collect(),
            signals: record.signals,
            alarm,
        }
    }
}

/// Read `names` from `dir`, or every record of `dir/RECORDS` when `names` is empty.
pub fn read_recordings(dir: &Path, names: &[String]) -> Result<Vec<Recording>, ReplayError> {
    let listed;
    let names = if names.is_empty() {
        listed = wfdb::record_names(dir)?;
        &listed
    } else {
        names
    };
    if names.is_empty() {
        return Err(ReplayError::NoRecords(dir.display().to_string()));
    }
    names.iter().map(|n| Ok(wfdb::read_record(dir, n)?.into())).collect()
}

/// The ward the beds are in: its `department` and `ward` labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ward {
    department: String,
    name: String,
}

impl Ward {
    /// A ward of `department` named `name`; neither may be empty.
    pub fn new(department: &str, name: &str) -> Result<Self, ReplayError> {
        match (department.trim(), name.trim()) {
            ("", _) => Err(ReplayError::EmptyLabel("department")),
            (_, "") => Err(ReplayError::EmptyLabel("ward")),
            (d, n) => Ok(Self { department: d.to_owned(), name: n.to_owned() }),
        }
    }

    /// The department label.
    pub fn department(&self) -> &str {
        &self.department
    }

    /// The ward label.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Default for Ward {
    fn default() -> Self {
        Self { department: "icu".into(), name: "icu-replay".into() }
    }
}

/// Seconds of record per second of wall clock: finite and above 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Speed(f64);

impl Speed {
    /// Real time.
    pub const REAL_TIME: Speed = Speed(1.0);

    /// The factor.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for Speed {
    type Error = ReplayError;

    fn try_from(v: f64) -> Result<Self, Self::Error> {
        if v.is_finite() && v > 0.0 {
            Ok(Speed(v))
        } else {
            Err(ReplayError::Speed(v))
        }
    }
}

/// How the records play.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Playback {
    speed: Speed,
    start_offset: f64,
    looping: bool,
}

impl Playback {
    /// Play at `speed`, beginning `start_offset` seconds into the records (the monitors take in
    /// everything before it first), restarting each bed after [`LOOP_SECONDS`] if `looping`.
    pub fn new(speed: Speed, start_offset: f64, looping: bool) -> Result<Self, ReplayError> {
        if !(start_offset.is_finite() && start_offset >= 0.0) {
            return Err(ReplayError::StartOffset(start_offset));
        }
        Ok(Self { speed, start_offset, looping })
    }
}

impl Default for Playback {
    fn default() -> Self {
        Self { speed: Speed::REAL_TIME, start_offset: 0.0, looping: false }
    }
}

/// The beds of one ward, each playing a record, on one clock.
#[derive(Debug)]
pub struct Replay {
    beds: Vec<Bed>,
    ward: Ward,
    playback: Playback,
    /// Unix time at which the playback is at the start offset; `None` until started.
    start: Option<f64>,
    /// The whole second of playback reached.
    second: u64,
}

impl Replay {
    /// One bed per recording (`01`, `02`, … in order), each monitor already fed up to the start
    /// offset. The clock does not run until [`Replay::start`].
    pub fn new(recordings: Vec<Recording>, ward: Ward, playback: Playback) -> Result<Self, ReplayError> {
        if recordings.is_empty() {
            return Err(ReplayError::NoRecords("the list".into()));
        }
        let mut seen = HashSet::new();
        if let Some(r) = recordings.iter().find(|r| !seen.insert(r.name.clone())) {
            return Err(ReplayError::Duplicate(r.name.clone()));
        }
        let beds = recordings
            .into_iter()
            .enumerate()
            .map(|(i, r)| Bed::new(r, &format!("{:02}", i + 1), &ward))
            .collect::<Result<Vec<_>, _>>()?;
        let mut replay = Self { beds, ward, playback, start: None, second: 0 };
        replay.seek(playback.start_offset.floor() as u64);
        Ok(replay)
    }

    /// Start the clock: at `now` (Unix seconds) the playback is at the start offset.
    pub fn start(&mut self, now: f64) {
        self.start = Some(now);
    }

    /// Seconds into the records at `now`.
    pub fn position(&self, now: f64) -> f64 {
        let elapsed = self.start.map_or(0.0, |s| (now - s).max(0.0));
        self.playback.start_offset + elapsed * self.playback.speed.get()
    }

    /// Feed every monitor the samples up to the whole second of playback at `now`.
    pub fn advance_to(&mut self, now: f64) {
        let second = self.position(now).floor() as u64;
        if second > self.second {
            self.seek(second);
        }
    }

    fn seek(&mut self, second: u64) {
        self.second = second;
        for bed in &mut self.beds {
            bed.seek(second, self.playback.looping);
        }
    }

    /// The beds, in bed order.
    pub fn beds(&self) -> &[Bed] {
        &self.beds
    }

    /// The ward the beds are in.
    pub fn ward(&self) -> &Ward {
        &self.ward
    }
}

#[cfg(test)]
mod tests;
