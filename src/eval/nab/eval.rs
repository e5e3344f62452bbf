//! Runs the streaming detector ([`crate::ml::detect`]) causally over a NAB corpus and scores it
//! with the ported scorer at the one shipped threshold.

use std::fmt;
use std::path::{Path, PathBuf};

use super::corpus::{self, CorpusError, LabelledSeries};
use super::{normalized_score, probation_length, row_at_threshold, CostMatrix, NabError, Sweeper, PROBATION_PERCENT};
use crate::ml::detect::{score_series, DetectorConfig};

/// Errors from an evaluation.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The data could not be read.
    #[error(transparent)]
    Corpus(#[from] CorpusError),
    /// The labels do not fit the data.
    #[error(transparent)]
    Nab(#[from] NabError),
    /// The directory could not be listed.
    #[error("{path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The directory holds no `*_windows.json`.
    #[error("{0}: no *_windows.json label file")]
    NoLabels(PathBuf),
}

/// How late a window's first detection came.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Delay {
    /// Rows after the window's first row.
    pub rows_from_window_start: usize,
    /// Minutes after the window's first row.
    pub minutes_from_window_start: f64,
    /// Minutes after the labelled anomaly (negative: before it), when the window has a label.
    pub minutes_from_label: Option<f64>,
}

/// One file's figures.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// The file's key in the label file.
    pub name: String,
    /// Rows after the probation period.
    pub scored_rows: usize,
    /// Labelled windows.
    pub windows: usize,
    /// Windows with a detection.
    pub detected: usize,
    /// Detections outside every window, after probation.
    pub false_alarms: usize,
    /// Raw NAB score (standard profile) at the shipped threshold.
    pub raw_score: f64,
    /// One entry per detected window.
    pub delays: Vec<Delay>,
}

/// A corpus's figures at the shipped threshold.
#[derive(Debug, Clone)]
pub struct Report {
    /// The corpus, named after its windows file (`aws` for `aws_windows.json`).
    pub corpus: String,
    /// The threshold used.
    pub threshold: f64,
    /// Per-file figures.
    pub files: Vec<FileReport>,
    /// Normalised NAB score per profile: standard, reward_low_FP_rate, reward_low_FN_rate.
    pub scores: [f64; 3],
    /// The standard-profile score NAB's optimiser would reach with a threshold tuned on this
    /// corpus alone, and that threshold: how much the shipped threshold leaves on the table.
    pub tuned: (f64, f64),
}

impl Report {
    /// Windows in the corpus.
    pub fn windows(&self) -> usize {
        self.files.iter().map(|f| f.windows).sum()
    }
    /// Windows with a detection.
    pub fn detected(&self) -> usize {
        self.files.iter().map(|f| f.detected).sum()
    }
    /// False alarms per 1,000 scored rows.
    pub fn false_alarms_per_1000(&self) -> f64 {
        let rows: usize = self.files.iter().map(|f| f.scored_rows).sum();
        let alarms: usize = self.files.iter().map(|f| f.false_alarms).sum();
        1000.0 * alarms as f64 / rows.max(1) as f64
    }
    /// Every detected window's delay.
    pub fn delays(&self) -> Vec<Delay> {
        self.files.iter().flat_map(|f| f.delays.iter().copied()).collect()
    }
}

fn mean_median(mut xs: Vec<f64>) -> (f64, f64) {
    if xs.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    let median = if n % 2 == 1 { xs[n / 2] } else { (xs[n / 2 - 1] + xs[n / 2]) / 2.0 };
    (xs.iter().sum::<f64>() / n as f64, median)
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let delays = self.delays();
        let (rows_mean, rows_median) = mean_median(delays.iter().map(|d| d.rows_from_window_start as f64).collect());
        let (min_mean, min_median) = mean_median(delays.iter().map(|d| d.minutes_from_window_start).collect());
        let (lab_mean, lab_median) = mean_median(delays.iter().filter_map(|d| d.minutes_from_label).collect());
        writeln!(f, "NAB corpus '{}', threshold {}", self.corpus, self.threshold)?;
        writeln!(f, "{:<56} {:>7} {:>8} {:>6} {:>8}", "file", "windows", "detected", "false", "raw")?;
        for file in &self.files {
            writeln!(
                f,
                "{:<56} {:>7} {:>8} {:>6} {:>8.3}",
                file.name, file.windows, file.detected, file.false_alarms, file.raw_score
            )?;
        }
        writeln!(
            f,
            "NAB score: standard {:.1}, reward_low_FP_rate {:.1}, reward_low_FN_rate {:.1}",
            self.scores[0], self.scores[1], self.scores[2]
        )?;
        writeln!(f, "(threshold tuned on this corpus alone: {:.1} at {})", self.tuned.0, self.tuned.1)?;
        writeln!(f, "event recall: {} of {} windows", self.detected(), self.windows())?;
        writeln!(f, "false alarms: {:.2} per 1,000 scored rows", self.false_alarms_per_1000())?;
        writeln!(
            f,
            "delay from window start: mean {rows_mean:.0} rows ({min_mean:.0} min), median {rows_median:.0} rows ({min_median:.0} min)"
        )?;
        write!(f, "delay from labelled anomaly: mean {lab_mean:.0} min, median {lab_median:.0} min")
    }
}

/// Evaluates every corpus in `dir`: each `<name>_windows.json` with its `<name>_labels.json`.
pub fn evaluate_nab(dir: &Path) -> Result<Vec<Report>, EvalError> {
    let io = |source| EvalError::Io { path: dir.to_path_buf(), source };
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let file_name = entry.map_err(io)?.file_name().to_string_lossy().into_owned();
        if let Some(name) = file_name.strip_suffix("_windows.json") {
            names.push(name.to_string());
        }
    }
    if names.is_empty() {
        return Err(EvalError::NoLabels(dir.to_path_buf()));
    }
    names.sort();
    names.iter().map(|name| evaluate_corpus(dir, name, DetectorConfig::default())).collect()
}

/// Evaluates one corpus (`<name>_windows.json`, `<name>_labels.json`) with the given detector
/// parameters, detections being rows at or above `config.threshold`.
pub fn evaluate_corpus(dir: &Path, name: &str, config: DetectorConfig) -> Result<Report, EvalError> {
    let threshold = config.threshold;
    let corpus =
        corpus::load(dir, &dir.join(format!("{name}_windows.json")), &dir.join(format!("{name}_labels.json")))?;
    let scored: Vec<Vec<f64>> = corpus
        .iter()
        .map(|s| score_series(&s.rows.iter().map(|r| r.value).collect::<Vec<_>>(), config))
        .map(|v| v.iter().map(|s| s.anomaly_score).collect())
        .collect();
    let profiles = [CostMatrix::STANDARD, CostMatrix::REWARD_LOW_FP, CostMatrix::REWARD_LOW_FN];
    let mut scores = [0.0; 3];
    let mut raw_standard = Vec::new();
    let mut null_standard = 0.0;
    for (k, cost) in profiles.into_iter().enumerate() {
        let raw = corpus_raw_score(&corpus, &scored, Sweeper::new(cost), threshold)?;
        let null = corpus_raw_score(&corpus, &vec![Vec::new(); corpus.len()], Sweeper::new(cost), 0.5)?;
        let perfect: f64 = corpus.iter().map(|s| s.windows.len() as f64 * cost.tp_weight).sum();
        scores[k] = normalized_score(raw.iter().sum(), null.iter().sum(), perfect);
        if k == 0 {
            raw_standard = raw;
            null_standard = null.iter().sum();
        }
    }
    let tuned = tuned_score(&corpus, &scored, null_standard)?;
    let files = corpus
        .iter()
        .zip(&scored)
        .zip(raw_standard)
        .map(|((series, scores), raw_score)| file_report(series, scores, threshold, raw_score))
        .collect();
    Ok(Report { corpus: name.to_string(), threshold, files, scores, tuned })
}

/// Per-file raw scores at `threshold`, as `nab/scorer.py` `scoreCorpus`; empty `scores` stand
/// for the null detector (all zero).
fn corpus_raw_score(
    corpus: &[LabelledSeries],
    scores: &[Vec<f64>],
    sweeper: Sweeper,
    threshold: f64,
) -> Result<Vec<f64>, EvalError> {
    let mut raw = Vec::with_capacity(corpus.len());
    for (i, (series, scores)) in corpus.iter().zip(scores).enumerate() {
        let zeros;
        let scores = if scores.is_empty() {
            zeros = vec![0.0; series.rows.len()];
            &zeros
        } else {
            scores
        };
        let points = sweeper.calc_sweep_score(&series.timestamps(), scores, &series.windows, (i, &series.name))?;
        let rows = sweeper.calc_score_by_threshold(&points);
        // NAB has no row when the threshold is below every score (and fails); here every row is
        // then a detection, the last row of the sweep.
        let row = row_at_threshold(&rows, threshold).unwrap_or(rows[rows.len() - 1]);
        raw.push(row.score);
    }
    Ok(raw)
}

/// NAB's optimiser over this corpus (standard profile): (normalised score, threshold).
fn tuned_score(corpus: &[LabelledSeries], scores: &[Vec<f64>], null: f64) -> Result<(f64, f64), EvalError> {
    let sweeper = Sweeper::new(CostMatrix::STANDARD);
    let mut points = Vec::new();
    for (i, (series, scores)) in corpus.iter().zip(scores).enumerate() {
        points.extend(sweeper.calc_sweep_score(&series.timestamps(), scores, &series.windows, (i, &series.name))?);
    }
    let best = sweeper.optimize_threshold(&points);
    let perfect = corpus.iter().map(|s| s.windows.len()).sum::<usize>() as f64 * CostMatrix::STANDARD.tp_weight;
    Ok((normalized_score(best.score, null, perfect), best.threshold))
}

fn file_report(series: &LabelledSeries, scores: &[f64], threshold: f64, raw_score: f64) -> FileReport {
    let rows = &series.rows;
    let probation = probation_length(PROBATION_PERCENT, rows.len());
    let index = |t| rows.iter().position(|r| r.timestamp == t).expect("window edges were checked by the scorer");
    let spans: Vec<(usize, usize)> = series.windows.iter().map(|&(a, b)| (index(a), index(b))).collect();
    let in_window = |i: usize| spans.iter().any(|&(a, b)| (a..=b).contains(&i));
    let detection = |i: usize| scores[i] >= threshold;
    let false_alarms = (probation..rows.len()).filter(|&i| detection(i) && !in_window(i)).count();
    let mut delays = Vec::new();
    for (&(a, b), &(start, end)) in spans.iter().zip(&series.windows) {
        if let Some(first) = (a.max(probation)..=b).find(|&i| detection(i)) {
            let at = rows[first].timestamp;
            let label = series.labels.iter().find(|&&l| l >= start && l <= end);
            delays.push(Delay {
                rows_from_window_start: first - a,
                minutes_from_window_start: (at - start).num_seconds() as f64 / 60.0,
                minutes_from_label: label.map(|&l| (at - l).num_seconds() as f64 / 60.0),
            });
        }
    }
    FileReport {
        name: series.name.clone(),
        scored_rows: rows.len().saturating_sub(probation),
        windows: series.windows.len(),
        detected: delays.len(),
        false_alarms,
        raw_score,
        delays,
    }
}
