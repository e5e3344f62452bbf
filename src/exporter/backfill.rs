//! Backfill: N hours of simulated history as timestamped OpenMetrics, with its ground truth.
//!
//! `promtool tsdb create-blocks-from openmetrics FILE DIR` imports the output, so models can be
//! trained and alert rules evaluated on a day of history in seconds. The expositions of every
//! step are collected by [`History`] and written family by family, series by series.

use crate::exposition::history::History;
use crate::exposition::{Format, Writer};
use crate::sim::events::GroundTruth;
use crate::sim::metrics::write_simulation;
use crate::sim::Simulation;
use std::io::{self, Write};

/// What a backfill wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Simulation steps (scrape instants).
    pub steps: u64,
    /// Distinct series.
    pub series: usize,
    /// Samples written.
    pub samples: u64,
    /// Ground-truth events written.
    pub events: usize,
}

/// Run `sim` (built to start `hours` before the end) for `hours` in steps of `step_seconds`,
/// writing the history to `metrics_out` and the ground truth to `events_out` (JSON lines).
pub fn backfill(
    sim: &mut Simulation,
    hours: f64,
    step_seconds: f64,
    metrics_out: &mut impl Write,
    events_out: &mut impl Write,
) -> io::Result<Summary> {
    let steps = (hours * 3600.0 / step_seconds).floor() as u64;
    backfill_steps(sim, steps, step_seconds, metrics_out, events_out)
}

/// Run `sim` for `steps` steps of `step_seconds` from its current time, writing as [`backfill`]
/// does. Successive calls on one simulation write consecutive stretches of one history.
pub fn backfill_steps(
    sim: &mut Simulation,
    steps: u64,
    step_seconds: f64,
    metrics_out: &mut impl Write,
    events_out: &mut impl Write,
) -> io::Result<Summary> {
    let start = sim.time();
    let mut history = History::default();
    let mut truth: Vec<GroundTruth> = Vec::new();
    let mut scratch = Vec::new();
    for step in 1..=steps {
        sim.advance_to(start + step as f64 * step_seconds, &mut truth);
        scratch.clear();
        let mut w = Writer::new(&mut scratch, Format::OpenMetrics);
        write_simulation(sim, &mut w);
        history.ingest(std::str::from_utf8(&scratch).expect("the writer writes UTF-8"), step as u32);
    }
    let samples = history.write(metrics_out, start, step_seconds)?;
    for t in &truth {
        serde_json::to_writer(&mut *events_out, t)?;
        events_out.write_all(b"\n")?;
    }
    metrics_out.flush()?;
    events_out.flush()?;
    Ok(Summary { steps, series: history.series(), samples, events: truth.len() })
}
