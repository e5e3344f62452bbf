//! The chart of an alert's recent history, as its email and the console show it, drawn with
//! `plotters` into a PNG.
//!
//! A [`Chart`] is one or more stacked [`Panel`]s over the same time axis: the alert's own reading
//! first (with the rule's threshold, or the patient's own alarm limit, as a dashed line), then
//! the companion signals that tell a real deterioration from an artifact (for a patient, heart
//! rate and the pleth signal's quality). Each panel is in its clinical unit ([`unit_of`]: SpO2 in
//! %, rates per minute), has a legend, and the moment the alert began is a vertical line across
//! all of them. The time axis shows clock times in the site's time zone. Gaps in the data break a
//! line. The PNG carries the chart's title as its `Title` text chunk.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use plotters::prelude::*;

/// Series colours (Tableau 10 without its red, which marks limits and the alert's start).
pub const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(23, 190, 207),
];
/// The colour of thresholds, limits and the alert's start.
pub const MARK: RGBColor = RGBColor(204, 0, 0);
/// Height of the title strip, of the first panel and of each companion panel, in pixels.
const TITLE_HEIGHT: u32 = 30;
const MAIN_HEIGHT: u32 = 240;
const COMPANION_HEIGHT: u32 = 120;

/// One line of a panel, in the panel's unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// What it is, for the legend ("SpO2 p00003", "own alarm limit").
    pub label: String,
    /// Samples as (Unix seconds, value); a non-finite value or a gap of more than three steps
    /// breaks the line.
    pub points: Vec<(f64, f64)>,
    /// Drawn dashed in the limit colour (a limit, not a reading).
    pub limit: bool,
}

/// One panel: a quantity in one unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// The quantity, e.g. "SpO2".
    pub title: String,
    /// Its unit as readers write it, e.g. "%", "/min" (empty when it has none).
    pub unit: String,
    /// The lines.
    pub lines: Vec<Line>,
    /// The rule's threshold, a dashed line.
    pub threshold: Option<f64>,
}

/// A chart: panels over one time axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// The title, e.g. "HypoxiaDetected — patient p00003, bed 03, ward icu-1".
    pub title: String,
    /// The panels, the alert's own reading first.
    pub panels: Vec<Panel>,
    /// When the alert began (Unix seconds), marked on every panel.
    pub alert_start: Option<f64>,
    /// The time zone of the clock times on the axis.
    pub time_zone: Tz,
    /// Width in pixels.
    pub width: u32,
}

/// The unit a metric's name ends in, as readers write it, and the factor to it from the base
/// unit (Prometheus's convention: ratios, seconds, volts): `_ratio` is shown in %, `_volts` in mV.
pub fn unit_of(metric: &str) -> (&'static str, f64) {
    const UNITS: [(&str, &str, f64); 10] = [
        ("_ratio", "%", 100.0),
        ("_beats_per_minute", "/min", 1.0),
        ("_breaths_per_minute", "/min", 1.0),
        ("_mmhg", "mmHg", 1.0),
        ("_celsius", "°C", 1.0),
        ("_mmol_per_liter", "mmol/L", 1.0),
        ("_volts", "mV", 1000.0),
        ("_seconds", "s", 1.0),
        ("_cells_per_liter", "/L", 1.0),
        ("_bytes", "B", 1.0),
    ];
    UNITS.iter().find(|(suffix, _, _)| metric.ends_with(suffix)).map_or(("", 1.0), |(_, unit, f)| (unit, *f))
}

/// The height of `chart` in pixels.
pub fn height(chart: &Chart) -> u32 {
    TITLE_HEIGHT + MAIN_HEIGHT + COMPANION_HEIGHT * chart.panels.len().saturating_sub(1) as u32
}

/// Render `chart` as a PNG.
pub fn render_png(chart: &Chart) -> Result<Vec<u8>, String> {
    crate::plotting::ensure_font()?;
    let (w, h) = (chart.width.clamp(200, 4096), height(chart));
    let mut rgb = vec![255u8; (w * h * 3) as usize];
    draw(chart, &mut rgb, w, h).map_err(|e| format!("cannot draw the chart: {e}"))?;
    encode(&rgb, w, h, &chart.title).map_err(|e| format!("cannot encode the chart: {e}"))
}

fn draw(chart: &Chart, rgb: &mut [u8], w: u32, h: u32) -> Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::with_buffer(rgb, (w, h)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, rest) = root.split_vertically(TITLE_HEIGHT);
    let title: String = chart.title.chars().take(120).collect();
    top.draw(&Text::new(title, (10, 7), ("sans-serif", 17).into_font().color(&BLACK)))?;
    let (t0, t1) = time_range(chart);
    let mut areas = Vec::new();
    let mut remaining = rest;
    for i in 0..chart.panels.len() {
        if i + 1 == chart.panels.len() {
            areas.push(remaining.clone());
            break;
        }
        let cut = if i == 0 { MAIN_HEIGHT } else { COMPANION_HEIGHT };
        let (a, b) = remaining.split_vertically(cut);
        areas.push(a);
        remaining = b;
    }
    let tz = chart.time_zone;
    // The time axis in minutes from the start of the local hour (see `hour_before`).
    let origin = hour_before(t0, tz);
    let minutes = move |t: f64| (t - origin) / 60.0;
    let at = move |m: &f64| origin + m * 60.0;
    // Minutes on an axis of an hour; seconds too when the history is a few minutes long.
    let format = if t1 - t0 < 600.0 { "%H:%M:%S" } else { "%H:%M" };
    let clock = move |t: &f64| {
        DateTime::<Utc>::from_timestamp(*t as i64, 0)
            .map_or(String::new(), |d| d.with_timezone(&tz).format(format).to_string())
    };
    let tick = move |m: &f64| clock(&at(m));
    for (i, (panel, area)) in chart.panels.iter().zip(&areas).enumerate() {
        let (v0, v1) = value_range(panel);
        // The first panel names its quantity on the axis; a companion's legend names it, and its
        // axis (a third of the height) says only the unit.
        let caption = match (i, panel.unit.as_str()) {
            (0, "") => panel.title.clone(),
            (0, unit) => format!("{} ({unit})", panel.title),
            (_, unit) => unit.to_owned(),
        };
        let last = i + 1 == chart.panels.len();
        let mut c = ChartBuilder::on(area)
            .margin_left(8)
            .margin_right(14)
            .margin_top(4)
            .x_label_area_size(if last { 40 } else { 4 })
            .y_label_area_size(52)
            .build_cartesian_2d(minutes(t0)..minutes(t1), v0..v1)?;
        let mut mesh = c.configure_mesh();
        mesh.light_line_style(RGBColor(236, 236, 236))
            .bold_line_style(RGBColor(220, 220, 220))
            .y_labels(if i == 0 { 6 } else { 3 })
            .y_desc(caption)
            .y_label_formatter(&|v| format_value(*v))
            .label_style(("sans-serif", 12));
        if last {
            mesh.x_labels(8).x_label_formatter(&tick).x_desc(format!("time ({})", tz.name()));
        } else {
            mesh.x_labels(8).x_label_formatter(&|_| String::new());
        }
        mesh.draw()?;
        if let Some(t) = panel.threshold.filter(|t| t.is_finite()) {
            c.draw_series(DashedLineSeries::new([(minutes(t0), t), (minutes(t1), t)], 6, 4, MARK.stroke_width(1)))?
                .label(format!("threshold {}", format_value(t)))
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], MARK.stroke_width(1)));
        }
        let mut colour = 0;
        for line in &panel.lines {
            let style = if line.limit {
                MARK.stroke_width(2)
            } else {
                colour += 1;
                PALETTE[(colour - 1) % PALETTE.len()].stroke_width(2)
            };
            let mut legend = true;
            for run in runs(&line.points) {
                let run: Vec<(f64, f64)> = run.into_iter().map(|(t, v)| (minutes(t), v)).collect();
                if line.limit {
                    let drawn = c.draw_series(DashedLineSeries::new(run, 6, 4, style))?;
                    if std::mem::take(&mut legend) {
                        drawn
                            .label(line.label.clone())
                            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style));
                    }
                } else if run.len() == 1 {
                    let drawn = c.draw_series(run.into_iter().map(|p| Circle::new(p, 2, style.filled())))?;
                    if std::mem::take(&mut legend) {
                        drawn
                            .label(line.label.clone())
                            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style));
                    }
                } else {
                    let drawn = c.draw_series(LineSeries::new(run, style))?;
                    if std::mem::take(&mut legend) {
                        drawn
                            .label(line.label.clone())
                            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style));
                    }
                }
            }
        }
        if let Some(start) = chart.alert_start.filter(|s| (t0..=t1).contains(s)) {
            let drawn =
                c.draw_series(LineSeries::new([(minutes(start), v0), (minutes(start), v1)], MARK.stroke_width(1)))?;
            if i == 0 {
                drawn
                    .label(format!("alert since {}", clock(&start)))
                    .legend(|(x, y)| PathElement::new(vec![(x + 8, y - 6), (x + 8, y + 6)], MARK.stroke_width(1)));
            }
        }
        c.configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .label_font(("sans-serif", 12))
            .border_style(RGBColor(200, 200, 200))
            .background_style(WHITE.mix(0.85))
            .draw()?;
    }
    root.present()?;
    Ok(())
}

/// The start of the local clock's hour at or before `t` in `tz`, Unix seconds: the time axis
/// counts minutes from it, so that the round numbers the axis picks are whole clock minutes.
fn hour_before(t: f64, tz: Tz) -> f64 {
    use chrono::{Offset, TimeZone};
    let offset = DateTime::<Utc>::from_timestamp(t as i64, 0)
        .map_or(0.0, |d| tz.offset_from_utc_datetime(&d.naive_utc()).fix().local_minus_utc() as f64);
    ((t + offset) / 3600.0).floor() * 3600.0 - offset
}

/// The runs of a line between its breaks: non-finite values, and gaps longer than three times
/// its usual step.
fn runs(points: &[(f64, f64)]) -> Vec<Vec<(f64, f64)>> {
    let finite: Vec<(f64, f64)> = points.iter().copied().filter(|(t, v)| t.is_finite() && v.is_finite()).collect();
    let mut steps: Vec<f64> = finite.windows(2).map(|w| w[1].0 - w[0].0).filter(|d| *d > 0.0).collect();
    steps.sort_by(f64::total_cmp);
    let step = steps.get(steps.len() / 2).copied().unwrap_or(f64::INFINITY);
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut previous: Option<(f64, f64)> = None;
    for p in points.iter().copied().filter(|(t, _)| t.is_finite()) {
        if !p.1.is_finite() {
            previous = None;
            continue;
        }
        match (previous, out.last_mut()) {
            (Some(q), Some(run)) if p.0 - q.0 <= 3.0 * step => run.push(p),
            _ => out.push(vec![p]),
        }
        previous = Some(p);
    }
    out
}

/// The time axis: every sample and the alert's start; an hour ending now when there is none.
fn time_range(chart: &Chart) -> (f64, f64) {
    let times = chart
        .panels
        .iter()
        .flat_map(|p| p.lines.iter())
        .flat_map(|l| l.points.iter().map(|p| p.0))
        .chain(chart.alert_start)
        .filter(|t| t.is_finite());
    let (lo, hi) = times.fold((f64::MAX, f64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
    if lo > hi {
        let now = Utc::now().timestamp() as f64;
        return (now - 3600.0, now);
    }
    if hi - lo < 60.0 {
        return (lo - 30.0, hi + 30.0);
    }
    (lo, hi)
}

/// A panel's value axis: every finite sample and the threshold, padded by 8%; a constant sits
/// in the middle.
fn value_range(panel: &Panel) -> (f64, f64) {
    let values =
        panel.lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)).chain(panel.threshold).filter(|v| v.is_finite());
    let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return (0.0, 1.0);
    }
    let span = hi - lo;
    if span <= f64::EPSILON * hi.abs().max(1.0) {
        let pad = hi.abs().max(1.0) * 0.05;
        return (lo - pad, hi + pad);
    }
    (lo - 0.08 * span, hi + 0.08 * span)
}

/// A value as an axis or legend shows it: at most three significant decimals.
fn format_value(v: f64) -> String {
    let a = v.abs();
    let text = if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    };
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// The RGB buffer as a PNG with `title` as its `Title` text chunk.
fn encode(rgb: &[u8], w: u32, h: u32, title: &str) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let title: String = title.chars().filter(|c| !c.is_control()).take(200).collect();
    if !title.is_empty() {
        enc.add_itxt_chunk("Title".into(), title)?;
    }
    let mut writer = enc.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Width, height and RGB pixels of a PNG.
    fn decode(png_bytes: &[u8]) -> (u32, u32, Vec<u8>) {
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = decoder.read_info().expect("a valid PNG");
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).expect("one frame");
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    fn count(px: &[u8], c: RGBColor) -> usize {
        px.chunks_exact(3).filter(|p| *p == [c.0, c.1, c.2]).count()
    }

    fn ramp(n: usize, from: f64) -> Vec<(f64, f64)> {
        (0..n).map(|i| (1_796_126_400.0 + 30.0 * i as f64, from - 0.1 * i as f64)).collect()
    }

    fn chart(panels: Vec<Panel>) -> Chart {
        Chart {
            title: "HypoxiaDetected — patient p00003".into(),
            panels,
            alert_start: Some(1_796_126_400.0 + 30.0 * 90.0),
            time_zone: chrono_tz::Europe::London,
            width: 640,
        }
    }

    fn spo2() -> Panel {
        let line = Line { label: "SpO2 p00003".into(), points: ramp(120, 97.0), limit: false };
        Panel { title: "SpO2".into(), unit: "%".into(), lines: vec![line], threshold: Some(90.0) }
    }

    #[test]
    fn units_follow_the_metric_names_suffix() {
        assert_eq!(unit_of("wardwatch_patient_spo2_ratio"), ("%", 100.0));
        assert_eq!(unit_of("wardwatch_patient_heart_rate_beats_per_minute"), ("/min", 1.0));
        assert_eq!(unit_of("wardwatch_patient_blood_pressure_systolic_mmhg"), ("mmHg", 1.0));
        assert_eq!(unit_of("wardwatch_patient_ecg_st_deviation_volts"), ("mV", 1000.0));
        assert_eq!(unit_of("up"), ("", 1.0));
    }

    #[test]
    fn the_reading_its_threshold_and_the_alerts_start_are_drawn_with_the_title() {
        let png = render_png(&chart(vec![spo2()])).unwrap();
        let (w, h, px) = decode(&png);
        assert_eq!((w, h), (640, TITLE_HEIGHT + MAIN_HEIGHT));
        assert!(count(&px, PALETTE[0]) > 300, "the reading: {}", count(&px, PALETTE[0]));
        assert!(count(&px, MARK) > 200, "threshold and start: {}", count(&px, MARK));
        assert!(px.chunks_exact(3).filter(|p| p[0] < 60 && p[1] < 60 && p[2] < 60).count() > 200, "text is drawn");
        let reader = png::Decoder::new(std::io::Cursor::new(&png)).read_info().unwrap();
        let title = reader.info().utf8_text.iter().find(|t| t.keyword == "Title").map(|t| t.get_text().unwrap());
        assert_eq!(title.as_deref(), Some("HypoxiaDetected — patient p00003"));
    }

    #[test]
    fn companion_panels_stack_below_the_reading() {
        let hr = Line { label: "heart rate".into(), points: ramp(120, 80.0), limit: false };
        let companion = Panel { title: "heart rate".into(), unit: "/min".into(), lines: vec![hr], threshold: None };
        let (_, h, _) = decode(&render_png(&chart(vec![spo2(), companion])).unwrap());
        assert_eq!(h, TITLE_HEIGHT + MAIN_HEIGHT + COMPANION_HEIGHT);
    }

    #[test]
    fn gaps_and_non_finite_values_break_a_line() {
        let mut points = ramp(10, 97.0);
        points[4].1 = f64::NAN;
        points.push((points[9].0 + 3600.0, 95.0));
        let runs = runs(&points);
        assert_eq!(runs.iter().map(Vec::len).collect::<Vec<_>>(), [4, 5, 1]);
    }

    #[test]
    fn an_empty_or_constant_chart_still_renders() {
        let empty = Panel { title: "SpO2".into(), unit: "%".into(), lines: vec![], threshold: None };
        assert!(render_png(&chart(vec![empty])).is_ok());
        let flat =
            Line { label: "x".into(), points: vec![(1_796_126_400.0, 5.0), (1_796_126_430.0, 5.0)], limit: false };
        let flat = Panel { title: "x".into(), unit: String::new(), lines: vec![flat], threshold: None };
        assert!(render_png(&chart(vec![flat])).is_ok());
        assert_eq!(format_value(95.0), "95");
        let utc_ten = 1_782_900_000.0; // 2026-07-01 10:00:00 UTC: 11:00 in London, 15:30 in Kolkata
        assert_eq!(hour_before(utc_ten + 1500.0, chrono_tz::Europe::London), utc_ten);
        assert_eq!(hour_before(utc_ten + 1500.0, chrono_tz::Asia::Kolkata), utc_ten - 1800.0, "15:00 IST");
        assert_eq!(format_value(0.25), "0.25");
    }
}
