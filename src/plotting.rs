//! What every chart needs: a TrueType font for its text, found once on the machine.
//!
//! `plotters` draws text with a font registered from bytes (its `ab_glyph` backend), so no
//! system font library is linked. The font is DejaVu Sans, the sans-serif face Debian, Ubuntu and
//! most Linux distributions install (package `fonts-dejavu-core`), or the file named by
//! `WARDWATCH_FONT`.

use std::sync::OnceLock;

/// Where DejaVu Sans (or a metric-compatible face) is usually installed.
const CANDIDATES: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

/// Register the charts' font as `sans-serif`, once; an error says what to install.
pub fn ensure_font() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let chosen = std::env::var("WARDWATCH_FONT").ok();
        let paths = chosen.iter().map(String::as_str).chain(CANDIDATES);
        for path in paths {
            let Ok(bytes) = std::fs::read(path) else { continue };
            // ab_glyph keeps a reference to the bytes for the life of the process.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, bytes).is_ok() {
                return Ok(());
            }
        }
        Err("no TrueType font for chart text: install fonts-dejavu-core, or set WARDWATCH_FONT to a .ttf file".into())
    })
    .clone()
}
