//! Backfill of recorded patients: the series a live replay serves, as timestamped OpenMetrics,
//! one sample a second, as a 1 s scrape of a replay started at the records' beginning would
//! have stored them.
//!
//! Every record starts at the same instant, [`ALARM_ONSET_SECONDS`] before the chosen onset, so
//! every bed's alarm turns to 1 at the onset. The samples run from 1 s after the start (the
//! first whole second the monitor has seen) to the end of the longest record, and at least to
//! the onset; a shorter record keeps its last numerics to the end, as it does live.

use super::{metrics::write_replay, Playback, Recording, Replay, ReplayError, Ward, ALARM_ONSET_SECONDS};
use crate::exposition::history::History;
use crate::exposition::{Format, Writer};
use std::io::Write;

/// What a backfill wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Beds (records).
    pub beds: usize,
    /// Unix time of the records' start.
    pub start: f64,
    /// Unix time of every alarm's onset.
    pub onset: f64,
    /// Seconds of history.
    pub seconds: u32,
    /// Distinct series.
    pub series: usize,
    /// Samples written.
    pub samples: u64,
}

/// Play `recordings` in `ward` so that each alarm's onset is at `onset` (Unix seconds), and
/// write their history to `out`.
pub fn backfill(
    recordings: Vec<Recording>,
    ward: Ward,
    onset: f64,
    out: &mut impl Write,
) -> Result<Summary, ReplayError> {
    let mut replay = Replay::new(recordings, ward, Playback::default())?;
    let start = onset - f64::from(ALARM_ONSET_SECONDS);
    replay.start(start);
    let seconds = replay.beds().iter().map(|b| b.seconds()).max().unwrap_or(0).max(ALARM_ONSET_SECONDS);
    let mut history = History::default();
    let mut scratch = Vec::new();
    for second in 1..=seconds {
        replay.advance_to(start + f64::from(second));
        scratch.clear();
        write_replay(&replay, &mut Writer::new(&mut scratch, Format::OpenMetrics));
        history.ingest(std::str::from_utf8(&scratch).expect("the writer writes UTF-8"), second);
    }
    let samples = history.write(out, start, 1.0)?;
    out.flush()?;
    Ok(Summary { beds: replay.beds().len(), start, onset, seconds, series: history.series(), samples })
}

/// An instant given as Unix seconds (`1764576300`) or RFC 3339 (`2026-12-01T08:05:00Z`).
pub fn parse_instant(text: &str) -> Result<f64, ReplayError> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        if seconds.is_finite() {
            return Ok(seconds);
        }
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis() as f64 / 1000.0)
        .map_err(|_| ReplayError::Time(text.to_owned()))
}
