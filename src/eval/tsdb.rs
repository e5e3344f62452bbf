//! A seed's simulated history as TSDB blocks: the exporter's backfill, imported by promtool.
//!
//! The simulation is built exactly as the in-memory [`Recorder`](super::stream::Recorder) builds
//! it ([`super::stream::simulation`]) and advanced to the same instants, so every series holds
//! the values the recorder scrapes. The history is written in pieces, one per 2-hour TSDB block
//! (promtool's default block length, aligned to the Unix epoch), so that memory and disk hold a
//! few pieces at a time; promtool imports each piece while the next ones are being written.
//!
//! The backfill writes no staleness markers (OpenMetrics text cannot carry them): a series that
//! stops being exposed stays visible for Prometheus' 5-minute lookback, where a scraping
//! Prometheus would mark it stale at the next scrape. Of the simulator's series only
//! `wardwatch_simulated_event_active` comes and goes.

use crate::exporter::backfill::backfill_steps;
use std::collections::VecDeque;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// promtool's default block length (`create-blocks-from --max-block-duration`), ms.
pub const BLOCK_MS: i64 = 2 * 3_600_000;

/// promtool processes importing at once. Each uses one core and takes about four times as long
/// as writing its piece, so two keep a two-core machine busy without starving the writer.
const IMPORTS_AT_ONCE: usize = 2;

/// Why the history could not be written or imported.
#[derive(Debug, thiserror::Error)]
pub enum TsdbError {
    /// Writing a piece of history failed.
    #[error("writing {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// promtool could not be run, or failed.
    #[error("promtool tsdb create-blocks-from openmetrics {}: {message}", file.display())]
    Import {
        /// The file it was importing.
        file: PathBuf,
        /// Its error output, or why it did not run.
        message: String,
    },
    /// The history's start is not a whole second (the simulation's clock would drift from the
    /// recorder's by rounding).
    #[error("the history must start on a whole second, not at {0} ms")]
    Start(i64),
}

/// What was written and imported, and how long it took.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Imported {
    /// Scrape instants written.
    pub steps: u64,
    /// Samples written.
    pub samples: u64,
    /// Distinct series in the largest piece.
    pub series: usize,
    /// Pieces (one TSDB block each).
    pub pieces: usize,
    /// Time spent simulating and writing OpenMetrics.
    pub backfill: Duration,
    /// Time promtool spent importing (overlapping the backfill).
    pub import: Duration,
}

/// Import one OpenMetrics file into the TSDB directory `data` with `promtool`.
pub fn import(promtool: &Path, file: &Path, data: &Path) -> Result<(), TsdbError> {
    let err = |message: String| TsdbError::Import { file: file.to_path_buf(), message };
    let out = Command::new(promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(file)
        .arg(data)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| err(format!("{}: {e}", promtool.display())))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(err(format!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim())))
    }
}

/// The step counts of the pieces of a history of `steps` scrapes every `step_ms` after
/// `start_ms`: one piece per [`BLOCK_MS`] block the scrapes fall in.
pub fn pieces(start_ms: i64, step_ms: i64, steps: u64) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::new();
    let mut block = None;
    for k in 1..=steps {
        let b = (start_ms + k as i64 * step_ms).div_euclid(BLOCK_MS);
        match out.last_mut() {
            Some(n) if block == Some(b) => *n += 1,
            _ => out.push(1),
        }
        block = Some(b);
    }
    out
}

/// Simulate `seed` from `start_ms` for `steps` scrapes every `step_ms`, and import the history
/// into the TSDB directory `data` (pieces are written to `work`, then removed).
pub fn write(
    seed: u64,
    start_ms: i64,
    step_ms: i64,
    steps: u64,
    promtool: &Path,
    work: &Path,
    data: &Path,
) -> Result<Imported, TsdbError> {
    if start_ms % 1000 != 0 {
        return Err(TsdbError::Start(start_ms));
    }
    let mut sim = super::stream::simulation(seed, start_ms);
    let mut done = Imported::default();
    let mut running: VecDeque<Import> = VecDeque::new();
    for (i, n) in pieces(start_ms, step_ms, steps).into_iter().enumerate() {
        let path = work.join(format!("history-{i:03}.om"));
        let write_err = |source| TsdbError::Write { path: path.clone(), source };
        let t = Instant::now();
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&path).map_err(write_err)?);
        let summary =
            backfill_steps(&mut sim, n, step_ms as f64 / 1000.0, &mut out, &mut std::io::sink()).map_err(write_err)?;
        drop(out);
        done.backfill += t.elapsed();
        done.steps += summary.steps;
        done.samples += summary.samples;
        done.series = done.series.max(summary.series);
        done.pieces += 1;
        if running.len() == IMPORTS_AT_ONCE {
            finish(running.pop_front(), &mut done)?;
        }
        let (promtool, data) = (promtool.to_path_buf(), data.to_path_buf());
        running.push_back(std::thread::spawn(move || {
            let t = Instant::now();
            let result = import(&promtool, &path, &data);
            let _ = std::fs::remove_file(&path);
            (result, t.elapsed())
        }));
    }
    while !running.is_empty() {
        finish(running.pop_front(), &mut done)?;
    }
    Ok(done)
}

/// A piece being imported: promtool's result and how long it took.
type Import = JoinHandle<(Result<(), TsdbError>, Duration)>;

/// Wait for an import and count its time.
fn finish(import: Option<Import>, done: &mut Imported) -> Result<(), TsdbError> {
    let Some(handle) = import else { return Ok(()) };
    let (result, took) = handle.join().expect("the import thread does not panic");
    done.import += took;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_follow_the_two_hour_blocks_of_the_epoch() {
        // From midnight: the first scrape at 00:00:05, the block's last at 01:59:55.
        let midnight = 1_767_571_200_000;
        assert_eq!(pieces(midnight, 5_000, 26 * 720), [vec![1439], vec![1440; 12], vec![1]].concat());
        // From 01:00: half a block, then whole ones, then the rest.
        assert_eq!(pieces(midnight + 3_600_000, 5_000, 3_000), [719, 1440, 3_000 - 719 - 1440]);
        assert!(pieces(midnight, 5_000, 0).is_empty());
        assert_eq!(pieces(midnight, 5_000, 5000).iter().sum::<u64>(), 5000);
    }
}
