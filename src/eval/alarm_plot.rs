//! A picture of one real alarm for the people judging the rescoring: the last 20 s of every
//! waveform before the onset with the beats the monitor found, then each channel's rate and
//! signal quality over the last minute, titled with the alarm, the expert's label and the
//! decision with its reason.

use super::alarms::{Decided, ONSET_SECONDS};
use crate::monitor::pulse::PulseDetector;
use crate::monitor::qrs::{detect_all, PanTompkins};
use crate::monitor::{channel_name, ChannelKind};
use crate::wfdb::Record;
use plotters::prelude::*;
use std::path::Path;

/// Seconds of waveform shown before the onset.
const WAVE_SECONDS: f64 = 20.0;
/// Seconds of numerics shown before the onset.
const TREND_SECONDS: f64 = 60.0;
const WIDTH: u32 = 1400;
const ROW: u32 = 170;

/// Colours of the channels' trends, in order.
const COLOURS: [RGBColor; 4] =
    [RGBColor(31, 119, 180), RGBColor(214, 39, 40), RGBColor(44, 160, 44), RGBColor(148, 103, 189)];

/// Draw `record`'s alarm and its decision into the PNG file `path`.
pub fn draw(path: &Path, record: &Record, decided: &Decided, truth: Option<bool>) -> Result<(), String> {
    crate::plotting::ensure_font()?;
    let shown: Vec<usize> =
        (0..record.specs.len()).filter(|&i| ChannelKind::of(&record.specs[i].description).has_beats()).collect();
    let height = ROW * shown.len() as u32 + 2 * ROW + 60;
    let root = BitMapBackend::new(path, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let label = match truth {
        Some(true) => "true alarm",
        Some(false) => "false alarm",
        None => "unlabelled",
    };
    let verdict = if decided.kept { "kept at full priority" } else { "downgraded as a likely artifact" };
    let title = format!("{} — {} ({label}) — {verdict}", decided.name, decided.alarm.words());
    let (top, rest) = root.split_vertically(60);
    top.titled(&title, ("sans-serif", 26)).map_err(|e| e.to_string())?;
    let reason = decided.reasons.first().cloned().unwrap_or_default();
    top.draw(&Text::new(reason, (20, 36), ("sans-serif", 17).into_font().color(&RGBColor(80, 80, 80))))
        .map_err(|e| e.to_string())?;
    let (waves, trends) = rest.split_vertically(ROW * shown.len() as u32);
    let rows = waves.split_evenly((shown.len().max(1), 1));
    let fs = record.frequency;
    let (from, to) = (ONSET_SECONDS - WAVE_SECONDS, ONSET_SECONDS);
    for (area, &i) in rows.iter().zip(&shown) {
        wave(area, record, i, fs, from, to).map_err(|e| e.to_string())?;
    }
    let (rates, quality) = trends.split_vertically(ROW);
    trend(&rates, decided, "rate5", "rate over 5 beats (/min)", (0.0, 250.0)).map_err(|e| e.to_string())?;
    trend(&quality, decided, "quality", "signal quality", (0.0, 1.05)).map_err(|e| e.to_string())?;
    root.present().map_err(|e| format!("cannot write {}: {e}", path.display()))
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;
type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// One channel's waveform with the beats its detector found (up to the onset only).
fn wave(area: &Area, record: &Record, i: usize, fs: f64, from: f64, to: f64) -> DrawResult {
    let spec = &record.specs[i];
    let end = ((to * fs) as usize).min(record.signals[i].len());
    let signal = &record.signals[i][..end];
    let start = ((from * fs) as usize).min(end);
    let points: Vec<(f64, f64)> =
        (start..end).filter(|&k| signal[k].is_finite()).map(|k| (k as f64 / fs, signal[k] as f64)).collect();
    let (lo, hi) = points.iter().fold((f64::MAX, f64::MIN), |(lo, hi), (_, v)| (lo.min(*v), hi.max(*v)));
    let (lo, hi) = if lo < hi { (lo, hi) } else { (-1.0, 1.0) };
    let pad = 0.08 * (hi - lo);
    let kind = ChannelKind::of(&spec.description);
    let beats = match kind {
        ChannelKind::Ecg => detect_all(&mut PanTompkins::new(fs), signal),
        _ => detect_all(&mut PulseDetector::new(fs), signal),
    };
    let caption = format!("{} ({})", channel_name(&spec.description), spec.units);
    let mut chart = ChartBuilder::on(area)
        .margin(6)
        .x_label_area_size(22)
        .y_label_area_size(70)
        .caption(caption, ("sans-serif", 16))
        .build_cartesian_2d(from..to, (lo - pad)..(hi + pad))?;
    chart.configure_mesh().x_labels(11).y_labels(4).x_label_formatter(&|x| format!("{x:.0} s")).draw()?;
    chart.draw_series(LineSeries::new(points, &BLACK))?;
    let marks = beats.iter().filter(|b| b.at >= start && b.at < end && signal[b.at].is_finite());
    chart.draw_series(marks.map(|b| Circle::new((b.at as f64 / fs, signal[b.at] as f64), 4, RED.filled())))?;
    Ok(())
}

/// One numeric of every channel over the last minute before the onset.
fn trend(area: &Area, decided: &Decided, signal: &str, caption: &str, range: (f64, f64)) -> DrawResult {
    let (from, to) = (ONSET_SECONDS - TREND_SECONDS, ONSET_SECONDS);
    let mut chart = ChartBuilder::on(area)
        .margin(6)
        .x_label_area_size(26)
        .y_label_area_size(70)
        .caption(caption, ("sans-serif", 16))
        .build_cartesian_2d(from..to, range.0..range.1)?;
    chart.configure_mesh().x_labels(13).y_labels(5).x_label_formatter(&|x| format!("{x:.0} s")).draw()?;
    for (k, (channel, points)) in decided.trends.iter().filter(|(c, _)| c.starts_with(signal)).enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let line = points.iter().filter(|(t, v)| *t >= from && v.is_finite()).map(|&(t, v)| (t, v.min(range.1)));
        let name = channel.split(':').nth(1).unwrap_or(channel).to_owned();
        chart
            .draw_series(LineSeries::new(line, colour.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    chart.configure_series_labels().border_style(BLACK).background_style(WHITE.mix(0.8)).draw()?;
    Ok(())
}
