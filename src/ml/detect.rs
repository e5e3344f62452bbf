//! A causal streaming anomaly detector for one metric series.
//!
//! Each value is scored against the empirical distribution of the values before it (the last
//! [`DetectorConfig::history`] rows, no parametric model): its two-sided rank tail probability
//! `p = (min(#≥x, #≤x) + 1) / (m + 1)`, divided by `1 + excess/spread` when the value lies beyond
//! everything seen (`excess` is the distance past the extreme, `spread` the interquartile range).
//! The tail score is `1 − p`. A row is an anomaly when its score is at least [`THRESHOLD`],
//! which, with a 1,000-row history, means a value past the range of the last 1,000 rows. After a
//! detection, the next [`DetectorConfig::refractory`] rows have their score halved, so one
//! incident raises one alarm: NAB counts only the first detection in a window and charges every
//! later one outside it.
//!
//! A row's score uses only that row and earlier ones. The parameters and the one threshold were
//! chosen on NAB's AWS CloudWatch files, as NAB itself tunes one threshold per detector over its
//! corpus; see docs/anomaly-detection.md, "Anomaly detection on real data (NAB)".

use std::collections::VecDeque;

/// The one threshold for every series: `anomaly_score >= THRESHOLD` is an anomaly. With a
/// 1,000-row history, 1 − 1/1000 means "beyond the range of the last 1,000 rows" (such a value
/// scores at least 1 − 1/1001); during warm-up the value must also lie well past the range.
/// Chosen over NAB's AWS files (standard profile) together with the history and refractory
/// period; see docs/anomaly-detection.md.
pub const THRESHOLD: f64 = 0.9990;

/// The detector's parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectorConfig {
    /// Rows of history a value is compared with (1,000 rows: 3.5 days of 5-minute data).
    pub history: usize,
    /// Rows before the first score; earlier rows score 0.
    pub warm_up: usize,
    /// Rows after a detection whose score is halved (150 rows: 12.5 h of 5-minute data).
    pub refractory: usize,
    /// `anomaly_score >= threshold` is an anomaly; [`THRESHOLD`] unless evaluating others.
    pub threshold: f64,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig { history: 1000, warm_up: 50, refractory: 150, threshold: THRESHOLD }
    }
}

/// One scored row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// How far out in the recent distribution the value lies, in [0, 1).
    pub tail_score: f64,
    /// The tail score, halved during the refractory period after a detection.
    pub anomaly_score: f64,
    /// `anomaly_score >= threshold` ([`THRESHOLD`] by default).
    pub is_anomaly: bool,
}

/// The streaming detector: feed values in time order with [`Detector::update`].
#[derive(Debug, Clone)]
pub struct Detector {
    config: DetectorConfig,
    recent: VecDeque<f64>,
    sorted: Vec<f64>,
    rows_since_detection: Option<usize>,
}

impl Default for Detector {
    fn default() -> Self {
        Detector::new(DetectorConfig::default())
    }
}

impl Detector {
    /// A detector with no history.
    pub fn new(config: DetectorConfig) -> Self {
        let history = config.history.max(1);
        Detector {
            config: DetectorConfig { history, ..config },
            recent: VecDeque::with_capacity(history + 1),
            sorted: Vec::with_capacity(history + 1),
            rows_since_detection: None,
        }
    }

    /// Scores `value` against the rows before it, then adds it to the history.
    pub fn update(&mut self, value: f64) -> Scored {
        let tail_score = self.tail_score(value);
        let refractory = self.rows_since_detection.is_some_and(|r| r < self.config.refractory);
        let anomaly_score = if refractory { tail_score * 0.5 } else { tail_score };
        let is_anomaly = anomaly_score >= self.config.threshold;
        self.rows_since_detection = match self.rows_since_detection {
            _ if is_anomaly => Some(0),
            Some(r) => Some(r.saturating_add(1)),
            None => None,
        };
        self.remember(value);
        Scored { tail_score, anomaly_score, is_anomaly }
    }

    fn tail_score(&self, x: f64) -> f64 {
        let m = self.sorted.len();
        if m < self.config.warm_up.max(1) {
            return 0.0;
        }
        let below_or_equal = self.sorted.partition_point(|&h| h <= x);
        let above_or_equal = m - self.sorted.partition_point(|&h| h < x);
        let p = (below_or_equal.min(above_or_equal) + 1) as f64 / (m + 1) as f64;
        let (lowest, highest) = (self.sorted[0], self.sorted[m - 1]);
        let iqr = self.sorted[3 * m / 4] - self.sorted[m / 4];
        let spread = iqr.max(0.01 * (highest - lowest)).max(1e-9);
        let excess = (x - highest).max(lowest - x).max(0.0);
        1.0 - p / (1.0 + excess / spread)
    }

    fn remember(&mut self, value: f64) {
        self.recent.push_back(value);
        let at = self.sorted.partition_point(|&h| h < value);
        self.sorted.insert(at, value);
        if self.recent.len() > self.config.history {
            if let Some(old) = self.recent.pop_front() {
                let at = self.sorted.partition_point(|&h| h < old);
                self.sorted.remove(at);
            }
        }
    }
}

/// Scores a whole series (the evaluation's entry point).
pub fn score_series(values: &[f64], config: DetectorConfig) -> Vec<Scored> {
    let mut detector = Detector::new(config);
    values.iter().map(|&v| detector.update(v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize) -> Vec<f64> {
        // A deterministic, bounded, non-constant series.
        (0..n).map(|i| 10.0 + ((i * 7919) % 101) as f64 / 100.0).collect()
    }

    #[test]
    fn spike_past_the_range_is_an_anomaly_and_ordinary_values_are_not() {
        let mut values = noise(600);
        values.push(25.0);
        let scored = score_series(&values, DetectorConfig::default());
        assert!(scored[..600].iter().all(|s| !s.is_anomaly));
        assert!(scored[600].is_anomaly, "{:?}", scored[600]);
        assert!(scored.iter().all(|s| (0.0..1.0).contains(&s.anomaly_score)));
    }

    #[test]
    fn drop_below_the_range_is_an_anomaly_too() {
        let mut values = noise(600);
        values.push(-5.0);
        assert!(score_series(&values, DetectorConfig::default())[600].is_anomaly);
    }

    #[test]
    fn second_spike_within_refractory_period_is_not_reported() {
        let mut values = noise(600);
        values.push(25.0);
        values.extend(noise(10));
        values.push(40.0);
        let scored = score_series(&values, DetectorConfig::default());
        assert!(scored[600].is_anomaly);
        assert!(!scored[611].is_anomaly);
        assert!(scored[611].tail_score >= THRESHOLD, "the value itself is still extreme");
    }

    #[test]
    fn warm_up_rows_score_zero() {
        let scored = score_series(&[1.0, 100.0, -100.0], DetectorConfig::default());
        assert!(scored.iter().all(|s| s.anomaly_score == 0.0));
    }

    #[test]
    fn score_is_causal() {
        let mut values = noise(700);
        values[650] = 30.0;
        let full = score_series(&values, DetectorConfig::default());
        let prefix = score_series(&values[..640], DetectorConfig::default());
        assert_eq!(&full[..640], &prefix[..]);
    }

    #[test]
    fn history_forgets_old_values() {
        let config = DetectorConfig { history: 100, warm_up: 10, refractory: 0, ..DetectorConfig::default() };
        let mut values = vec![50.0];
        values.extend(noise(300));
        values.push(45.0);
        let scored = score_series(&values, config);
        assert!(scored[301].is_anomaly, "50 left the 100-row history long ago");
    }
}
