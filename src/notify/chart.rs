//! A small line-chart rasteriser for the email's history chart: pure, deterministic, no fonts.
//!
//! [`render_png`] draws series on an RGB canvas — white background, light grid, axes, one
//! coloured 2 px polyline per series, an optional dashed threshold — labels the top and bottom of
//! the value axis with a built-in 3×5 digit font, and encodes a PNG carrying the title as its
//! `Title` text chunk. Non-finite values and gaps in time break a line; a lone sample is a dot; a
//! constant series is a flat line in the middle.

use crate::prometheus::Series;

/// An RGB colour.
type Rgb = [u8; 3];

const BACKGROUND: Rgb = [255, 255, 255];
const GRID: Rgb = [232, 232, 232];
const AXIS: Rgb = [96, 96, 96];
const LABEL: Rgb = [80, 80, 80];
const THRESHOLD: Rgb = [204, 0, 0];
/// Series colours (Tableau 10 without its red, which marks the threshold).
pub const PALETTE: [Rgb; 8] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [23, 190, 207],
];
/// Smallest and largest side of the image, in pixels.
const MIN_SIDE: u32 = 16;
const MAX_SIDE: u32 = 4096;
/// Glyphs are drawn at this scale: 6×10 px, 8 px apart.
const SCALE: i64 = 2;
const ADVANCE: i64 = 4 * SCALE;
const MARGIN: i64 = 8;

/// Render `series` as a `width`×`height` PNG (each side clamped to 16..=4096) titled `title`.
/// Never fails: an empty or all-NaN input gives an empty chart.
pub fn render_png(title: &str, series: &[Series], threshold: Option<f64>, width: u32, height: u32) -> Vec<u8> {
    let (w, h) = (width.clamp(MIN_SIDE, MAX_SIDE), height.clamp(MIN_SIDE, MAX_SIDE));
    let mut canvas = Canvas::new(w, h);
    let threshold = threshold.filter(|t| t.is_finite());
    let bounds = Bounds::of(series, threshold);
    let labels = bounds.map(|b| (format_value(b.v1, b.v1 - b.v0), format_value(b.v0, b.v1 - b.v0)));
    let label_chars = labels.as_ref().map_or(0, |(a, b)| a.len().max(b.len())) as i64;
    let mut area = Area::inside(w, h, MARGIN + label_chars * ADVANCE);
    if area.width() < 16 || area.height() < 8 {
        area = Area::inside(w, h, 2);
    }
    canvas.grid(&area);
    canvas.axes(&area);
    if let Some(b) = bounds {
        if area.left >= MARGIN + label_chars * ADVANCE {
            if let Some((top, bottom)) = &labels {
                canvas.text_right(area.left - 4, area.top, top, LABEL);
                canvas.text_right(area.left - 4, area.bottom - 5 * SCALE + 1, bottom, LABEL);
            }
        }
        if let Some(t) = threshold {
            canvas.dashed_hline(&area, area.y(&b, t), THRESHOLD);
        }
        for (i, s) in series.iter().enumerate() {
            canvas.series(&area, &b, s, PALETTE[i % PALETTE.len()]);
        }
    }
    canvas.encode(title).unwrap_or_default()
}

/// The data ranges shown: time `t0..t1` (s) and value `v0..v1`, both non-empty.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bounds {
    t0: f64,
    t1: f64,
    v0: f64,
    v1: f64,
}

impl Bounds {
    /// Ranges covering every finite sample and the threshold, padded by 5 %; a single time or
    /// value is centred. `None` when there is nothing to show.
    fn of(series: &[Series], threshold: Option<f64>) -> Option<Bounds> {
        let finite = series.iter().flat_map(|s| &s.points).filter(|(t, v)| t.is_finite() && v.is_finite());
        let (mut t0, mut t1, mut v0, mut v1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
        for &(t, v) in finite {
            (t0, t1, v0, v1) = (t0.min(t), t1.max(t), v0.min(v), v1.max(v));
        }
        if t0 > t1 {
            let t = threshold?;
            (t0, t1, v0, v1) = (0.0, 1.0, t, t);
        }
        if let Some(t) = threshold {
            (v0, v1) = (v0.min(t), v1.max(t));
        }
        let (t0, t1) = if t1 - t0 > 0.0 { (t0, t1) } else { (t0 - 1.0, t1 + 1.0) };
        let pad = if v1 - v0 > 0.0 { (v1 - v0) * 0.05 } else { (v0.abs() * 0.1).max(1.0) };
        let (v0, v1) = (v0 - pad, v1 + pad);
        (v1 - v0 > 0.0 && v0.is_finite() && v1.is_finite()).then_some(Bounds { t0, t1, v0, v1 })
    }
}

/// The plot area, in pixels, edges included.
#[derive(Debug, Clone, Copy)]
struct Area {
    left: i64,
    top: i64,
    right: i64,
    bottom: i64,
}

impl Area {
    /// The canvas less the margins, `left` on the left.
    fn inside(w: u32, h: u32, left: i64) -> Area {
        let margin = if h < 48 || w < 48 { 2 } else { MARGIN };
        Area { left, top: margin, right: i64::from(w) - 1 - margin, bottom: i64::from(h) - 1 - margin }
    }
    fn width(&self) -> i64 {
        self.right - self.left
    }
    fn height(&self) -> i64 {
        self.bottom - self.top
    }
    /// Column of time `t`.
    fn x(&self, b: &Bounds, t: f64) -> i64 {
        self.left + ((t - b.t0) / (b.t1 - b.t0) * self.width() as f64).round() as i64
    }
    /// Row of value `v`.
    fn y(&self, b: &Bounds, v: f64) -> i64 {
        self.bottom - ((v - b.v0) / (b.v1 - b.v0) * self.height() as f64).round() as i64
    }
}

/// A label for `v` on an axis spanning `span`: enough decimals to tell the ends apart.
fn format_value(v: f64, span: f64) -> String {
    let a = v.abs();
    if a >= 1e6 || (a > 0.0 && a < 1e-3 && span < 1e-2) {
        return format!("{v:.1e}");
    }
    let decimals = (2.0 - span.max(1e-9).log10().floor()).clamp(0.0, 4.0) as usize;
    let s = format!("{v:.decimals$}");
    if s.starts_with('-') && s.bytes().all(|c| matches!(c, b'-' | b'0' | b'.')) {
        s[1..].to_string() // "-0.00"
    } else {
        s
    }
}

/// 3×5 glyphs, one row per byte (bit 2 = left column).
fn glyph(c: char) -> [u8; 5] {
    match c {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 7, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 1, 1],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        '.' => [0, 0, 0, 0, 2],
        '-' => [0, 0, 7, 0, 0],
        '+' => [0, 2, 7, 2, 0],
        'e' | 'E' => [7, 4, 7, 4, 7],
        _ => [0; 5],
    }
}

/// An RGB pixel buffer; drawing outside it is ignored.
struct Canvas {
    w: i64,
    h: i64,
    px: Vec<u8>,
}

impl Canvas {
    fn new(w: u32, h: u32) -> Canvas {
        let px = BACKGROUND.repeat(w as usize * h as usize);
        Canvas { w: i64::from(w), h: i64::from(h), px }
    }

    fn set(&mut self, x: i64, y: i64, c: Rgb) {
        if (0..self.w).contains(&x) && (0..self.h).contains(&y) {
            let i = ((y * self.w + x) * 3) as usize;
            self.px[i..i + 3].copy_from_slice(&c);
        }
    }

    /// A `size`×`size` square with its top-left corner at (x, y).
    fn square(&mut self, x: i64, y: i64, size: i64, c: Rgb) {
        for dy in 0..size {
            for dx in 0..size {
                self.set(x + dx, y + dy, c);
            }
        }
    }

    /// Bresenham's line with a 2×2 brush.
    fn line(&mut self, (x0, y0): (i64, i64), (x1, y1): (i64, i64), c: Rgb) {
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let (mut x, mut y, mut err) = (x0, y0, dx + dy);
        loop {
            self.square(x, y, 2, c);
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    /// Five horizontal and seven vertical light lines across the area.
    fn grid(&mut self, a: &Area) {
        for i in 0..=4 {
            let y = a.top + a.height() * i / 4;
            (a.left..=a.right).for_each(|x| self.set(x, y, GRID));
        }
        for i in 0..=6 {
            let x = a.left + a.width() * i / 6;
            (a.top..=a.bottom).for_each(|y| self.set(x, y, GRID));
        }
    }

    /// The value axis on the left and the time axis at the bottom.
    fn axes(&mut self, a: &Area) {
        (a.top..=a.bottom).for_each(|y| self.set(a.left, y, AXIS));
        (a.left..=a.right).for_each(|x| self.set(x, a.bottom, AXIS));
    }

    /// A 2 px dashed line across the area at row `y` (6 px on, 4 off).
    fn dashed_hline(&mut self, a: &Area, y: i64, c: Rgb) {
        for x in (a.left..=a.right).filter(|x| (x - a.left) % 10 < 6) {
            self.set(x, y, c);
            self.set(x, y - 1, c);
        }
    }

    /// `text` ending just left of column `right`, its top at row `top`.
    fn text_right(&mut self, right: i64, top: i64, text: &str, c: Rgb) {
        let mut x = right - text.chars().count() as i64 * ADVANCE + SCALE;
        for ch in text.chars() {
            for (row, bits) in glyph(ch).iter().enumerate() {
                for col in 0..3 {
                    if bits & (4 >> col) != 0 {
                        self.square(x + col * SCALE, top + row as i64 * SCALE, SCALE, c);
                    }
                }
            }
            x += ADVANCE;
        }
    }

    /// One series: lines between neighbouring finite samples, broken at non-finite values and at
    /// gaps over 3 times the series' smallest interval; a sample with no neighbour is a dot.
    fn series(&mut self, a: &Area, b: &Bounds, s: &Series, c: Rgb) {
        let max_gap = min_interval(s).map_or(f64::INFINITY, |d| d * 3.0);
        let mut run: Vec<(i64, i64)> = Vec::new();
        let mut last_t = f64::NEG_INFINITY;
        for &(t, v) in &s.points {
            let ok = t.is_finite() && v.is_finite();
            if !ok || t - last_t > max_gap {
                self.polyline(&run, c);
                run.clear();
            }
            if ok {
                run.push((a.x(b, t), a.y(b, v)));
                last_t = t;
            }
        }
        self.polyline(&run, c);
    }

    /// Connect the points; a single point is a 4×4 dot.
    fn polyline(&mut self, points: &[(i64, i64)], c: Rgb) {
        match points {
            [] => {}
            [(x, y)] => self.square(x - 1, y - 1, 4, c),
            _ => points.windows(2).for_each(|p| self.line(p[0], p[1], c)),
        }
    }

    /// The PNG: 8-bit RGB, the title as an iTXt `Title` chunk.
    fn encode(&self, title: &str) -> Result<Vec<u8>, png::EncodingError> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, self.w as u32, self.h as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let title: String = title.chars().filter(|c| !c.is_control()).take(200).collect();
        if !title.is_empty() {
            enc.add_itxt_chunk("Title".into(), title)?;
        }
        let mut writer = enc.write_header()?;
        writer.write_image_data(&self.px)?;
        writer.finish()?;
        Ok(out)
    }
}

/// The smallest positive interval between consecutive finite samples.
fn min_interval(s: &Series) -> Option<f64> {
    let times: Vec<f64> = s.points.iter().filter(|(t, v)| t.is_finite() && v.is_finite()).map(|p| p.0).collect();
    times.windows(2).map(|w| w[1] - w[0]).filter(|d| *d > 0.0).min_by(f64::total_cmp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn series(points: &[(f64, f64)]) -> Series {
        Series { labels: BTreeMap::new(), points: points.to_vec() }
    }

    /// Width, height and RGB pixels of a PNG.
    fn decode(png_bytes: &[u8]) -> (u32, u32, Vec<u8>) {
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = decoder.read_info().expect("a valid PNG");
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).expect("one frame");
        assert_eq!(info.color_type, png::ColorType::Rgb);
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    fn count(px: &[u8], c: Rgb) -> usize {
        px.chunks_exact(3).filter(|p| *p == c).count()
    }

    fn ramp(n: usize) -> Series {
        series(&(0..n).map(|i| (1_700_000_000.0 + 30.0 * i as f64, 80.0 + (i % 7) as f64)).collect::<Vec<_>>())
    }

    #[test]
    fn png_has_the_requested_dimensions() {
        let (w, h, px) = decode(&render_png("HypoxiaDetected", &[ramp(120)], Some(90.0), 640, 240));
        assert_eq!((w, h, px.len()), (640, 240, 640 * 240 * 3));
    }

    #[test]
    fn each_series_is_drawn_in_its_colour() {
        let other = series(&ramp(120).points.iter().map(|(t, v)| (*t, v - 20.0)).collect::<Vec<_>>());
        let (_, _, px) = decode(&render_png("x", &[ramp(120), other], None, 640, 240));
        assert!(count(&px, PALETTE[0]) > 600, "first series: {}", count(&px, PALETTE[0]));
        assert!(count(&px, PALETTE[1]) > 600, "second series: {}", count(&px, PALETTE[1]));
        assert!(count(&px, BACKGROUND) > 640 * 240 / 2, "mostly white");
        assert!(count(&px, LABEL) > 0, "value labels are drawn");
    }

    #[test]
    fn threshold_is_a_dashed_red_line() {
        let (_, _, px) = decode(&render_png("x", &[ramp(60)], Some(95.0), 640, 240));
        let red_rows: Vec<usize> =
            (0..240).filter(|y| count(&px[y * 640 * 3..(y + 1) * 640 * 3], THRESHOLD) > 0).collect();
        assert_eq!(red_rows.len(), 2, "{red_rows:?}");
        let row = &px[red_rows[0] * 640 * 3..(red_rows[0] + 1) * 640 * 3];
        let red = count(row, THRESHOLD);
        assert!(red > 300 && red < 500, "dashed, not solid: {red}");
        let (_, _, none) = decode(&render_png("x", &[ramp(60)], Some(f64::NAN), 640, 240));
        assert_eq!(count(&none, THRESHOLD), 0);
    }

    #[test]
    fn empty_input_still_gives_a_valid_png() {
        for input in [vec![], vec![series(&[])], vec![series(&[(1.0, f64::NAN), (2.0, f64::INFINITY)])]] {
            let (w, h, px) = decode(&render_png("empty", &input, None, 640, 240));
            assert_eq!((w, h), (640, 240));
            assert!(count(&px, AXIS) > 0, "axes are drawn");
            assert_eq!(count(&px, PALETTE[0]), 0);
        }
        let (_, _, px) = decode(&render_png("only threshold", &[], Some(90.0), 640, 240));
        assert!(count(&px, THRESHOLD) > 0);
    }

    #[test]
    fn constant_series_is_a_flat_line_in_the_middle() {
        let flat = series(&[(0.0, 42.0), (30.0, 42.0), (60.0, 42.0)]);
        let (_, _, px) = decode(&render_png("flat", &[flat], None, 640, 240));
        let rows: Vec<usize> =
            (0..240).filter(|y| count(&px[y * 640 * 3..(y + 1) * 640 * 3], PALETTE[0]) > 0).collect();
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert!(rows[0].abs_diff(120) <= 2, "{rows:?}");
    }

    #[test]
    fn single_point_and_nan_gaps_are_drawn_without_panicking() {
        let (_, _, px) = decode(&render_png("one", &[series(&[(5.0, 1.0)])], None, 640, 240));
        assert_eq!(count(&px, PALETTE[0]), 16, "a 4×4 dot");
        let gappy = series(&[(0.0, 1.0), (1.0, f64::NAN), (2.0, 3.0), (3.0, f64::NEG_INFINITY), (4.0, 2.0)]);
        let (_, _, px) = decode(&render_png("gaps", &[gappy], None, 640, 240));
        assert_eq!(count(&px, PALETTE[0]), 3 * 16, "three isolated dots");
        let huge = series(&[(0.0, f64::MAX), (1.0, -f64::MAX), (2.0, 0.0)]);
        decode(&render_png("huge", &[huge], Some(1e300), 640, 240));
    }

    #[test]
    fn tiny_and_huge_sizes_are_clamped() {
        let (w, h, _) = decode(&render_png("x", &[ramp(10)], Some(1.0), 0, 1));
        assert_eq!((w, h), (MIN_SIDE, MIN_SIDE));
        let (w, h, _) = decode(&render_png("x", &[ramp(10)], None, 100_000, 20));
        assert_eq!((w, h), (MAX_SIDE, 20));
    }

    #[test]
    fn output_is_deterministic() {
        let input = [ramp(120), series(&[(1_700_000_000.0, 70.0), (1_700_003_570.0, 99.5)])];
        let a = render_png("HypoxiaDetected — ütf8", &input, Some(90.0), 640, 240);
        assert_eq!(a, render_png("HypoxiaDetected — ütf8", &input, Some(90.0), 640, 240));
        assert_ne!(a, render_png("HypoxiaDetected — ütf8", &input, Some(91.0), 640, 240));
    }

    #[test]
    fn labels_have_enough_decimals_for_the_span() {
        assert_eq!(format_value(98.123, 10.0), "98.1");
        assert_eq!(format_value(98.123, 200.0), "98");
        assert_eq!(format_value(0.0123, 0.01), "0.0123");
        assert_eq!(format_value(-0.0001, 10.0), "0.0");
        assert_eq!(format_value(2.5e9, 1e9), "2.5e9");
    }
}
