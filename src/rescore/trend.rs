//! The reading an alert is about, and where it has been heading, in words a nurse reads:
//! "SpO2 86%, falling from 95% over 3 min".
//!
//! From the alert's focus signal in the window its rescoring read (so a replay says the same):
//! the last reading at or before the alert's start, compared with the highest and the lowest
//! of the 15 minutes before it. It is falling (or rising) when it lies further from the highest
//! (lowest) than the signal's smallest change that matters clinically; else it is steady.

use super::window::Window;

/// How far back the trend looks.
const TREND_MS: i64 = 15 * 60 * 1000;

/// A signal as people read it: its name, unit, factor from the stored (base) unit, decimals, and
/// the smallest change worth saying (in the unit shown).
struct Reading {
    signal: &'static str,
    name: &'static str,
    unit: &'static str,
    factor: f64,
    decimals: usize,
    change: f64,
}

const READINGS: [Reading; 12] = [
    Reading { signal: "spo2", name: "SpO2", unit: "%", factor: 100.0, decimals: 0, change: 2.0 },
    Reading { signal: "heart_rate", name: "heart rate", unit: "/min", factor: 1.0, decimals: 0, change: 10.0 },
    Reading { signal: "pulse_rate", name: "pulse rate", unit: "/min", factor: 1.0, decimals: 0, change: 10.0 },
    Reading { signal: "respiration_rate", name: "respiration", unit: "/min", factor: 1.0, decimals: 0, change: 3.0 },
    Reading { signal: "systolic", name: "systolic pressure", unit: " mmHg", factor: 1.0, decimals: 0, change: 10.0 },
    Reading { signal: "mean_pressure", name: "mean pressure", unit: " mmHg", factor: 1.0, decimals: 0, change: 8.0 },
    Reading { signal: "temperature", name: "temperature", unit: " °C", factor: 1.0, decimals: 1, change: 0.5 },
    Reading { signal: "glucose", name: "glucose", unit: " mmol/L", factor: 1.0, decimals: 1, change: 1.0 },
    Reading { signal: "lactate", name: "lactate", unit: " mmol/L", factor: 1.0, decimals: 1, change: 1.0 },
    Reading { signal: "etco2", name: "EtCO2", unit: " mmHg", factor: 1.0, decimals: 0, change: 5.0 },
    Reading { signal: "news2", name: "NEWS2", unit: "", factor: 1.0, decimals: 0, change: 2.0 },
    Reading { signal: "st_deviation", name: "ST deviation", unit: " mV", factor: 1000.0, decimals: 1, change: 0.1 },
];

/// "SpO2 86%, falling from 95% over 3 min" for the focus `signal` of `window`; `None` for a
/// signal people do not read this way, or without samples.
pub fn describe(window: &Window, signal: &str) -> Option<String> {
    let r = READINGS.iter().find(|r| r.signal == signal)?;
    let series = window.signal(signal)?;
    let samples: Vec<(i64, f64)> = series
        .times_ms
        .iter()
        .zip(&series.values)
        .map(|(&t, &v)| (t, v * r.factor))
        .filter(|(t, v)| v.is_finite() && *t <= window.end_ms && *t >= window.end_ms - TREND_MS)
        .collect();
    let &(now_ms, now) = samples.last()?;
    let show = |v: f64| format!("{v:.prec$}{}", r.unit, prec = r.decimals);
    // The latest moment at the highest (lowest): when the fall (rise) began.
    let (high_ms, high) = samples.iter().copied().fold(samples[0], |a, b| if b.1 >= a.1 { b } else { a });
    let (low_ms, low) = samples.iter().copied().fold(samples[0], |a, b| if b.1 <= a.1 { b } else { a });
    let over = |since_ms: i64| {
        let minutes = ((now_ms - since_ms) as f64 / 60_000.0).round().max(1.0);
        format!("{minutes:.0} min")
    };
    let text = if high - now >= r.change && high - now >= now - low {
        format!("{} {}, falling from {} over {}", r.name, show(now), show(high), over(high_ms))
    } else if now - low >= r.change {
        format!("{} {}, rising from {} over {}", r.name, show(now), show(low), over(low_ms))
    } else {
        format!("{} {}, steady over {}", r.name, show(now), over(samples[0].0))
    };
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rescore::window::Series;

    fn window(signal: &str, values: &[f64]) -> Window {
        let step = 30_000;
        let end = values.len() as i64 * step;
        let series = Series::from_pairs(values.iter().enumerate().map(|(i, &v)| ((i as i64 + 1) * step, v)));
        Window { start_ms: 0, end_ms: end, step_ms: step, signals: [(signal.to_owned(), series)].into() }
    }

    #[test]
    fn a_falling_saturation_reads_as_a_nurse_says_it() {
        let mut spo2 = vec![0.95; 20];
        spo2.extend([0.94, 0.92, 0.90, 0.88, 0.87, 0.86]);
        assert_eq!(describe(&window("spo2", &spo2), "spo2").unwrap(), "SpO2 86%, falling from 95% over 3 min");
    }

    #[test]
    fn a_rise_and_a_steady_reading_are_said_too() {
        let mut hr: Vec<f64> = vec![72.0; 10];
        hr.extend([80.0, 90.0, 104.0]);
        assert_eq!(
            describe(&window("heart_rate", &hr), "heart_rate").unwrap(),
            "heart rate 104/min, rising from 72/min over 2 min"
        );
        let flat = vec![37.2, 37.3, 37.2, 37.3];
        assert_eq!(
            describe(&window("temperature", &flat), "temperature").unwrap(),
            "temperature 37.3 °C, steady over 2 min"
        );
    }

    #[test]
    fn only_the_last_quarter_hour_and_known_signals_count() {
        let mut spo2 = vec![0.99; 10]; // more than 15 minutes before the end
        spo2.extend(vec![0.93; 40]);
        assert_eq!(describe(&window("spo2", &spo2), "spo2").unwrap(), "SpO2 93%, steady over 15 min");
        assert_eq!(describe(&window("transmit_rate", &[1.0, 2.0]), "transmit_rate"), None);
        assert_eq!(describe(&window("spo2", &[f64::NAN]), "spo2"), None);
    }
}
