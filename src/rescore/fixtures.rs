//! Hand-made windows for the unit tests of features, artifact rules and scores.

use super::window::{Series, Window};

/// A signal of a hand-made window: its name and its value by (minutes before the end, index).
pub type Made<'a> = (&'a str, &'a dyn Fn(f64, usize) -> f64);

/// A 2 h window at 5 s steps ending at `END`, each signal a function of minutes before the end
/// (0 = the end) and the sample index (for deterministic noise).
pub fn window(signals: &[Made<'_>]) -> Window {
    let (start, end, step) = (END - 2 * 3_600_000, END, 5_000);
    let mut w = Window { start_ms: start, end_ms: end, step_ms: step, ..Window::default() };
    for (name, f) in signals {
        let pairs = (0..=1440).map(|i| {
            let t = start + i as i64 * step;
            (t, f((end - t) as f64 / 60_000.0, i))
        });
        w.signals.insert(name.to_string(), Series::from_pairs(pairs));
    }
    w
}

/// End of every hand-made window, Unix ms.
pub const END: i64 = 1_800_000_000_000;

/// Deterministic noise in [−1, 1] (a fixed pseudo-random sequence).
pub fn noise(i: usize) -> f64 {
    let x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) ^ 0xD1B5_4A32_D192_ED03;
    (x % 2001) as f64 / 1000.0 - 1.0
}
