//! `wardwatch-sidecar eval-alarms DIR`: real ICU alarms through the sidecar's rescoring.
//!
//! Each record of `DIR/RECORDS` (WFDB, the PhysioNet/CinC Challenge 2015) goes through the
//! software monitor ([`crate::monitor`]) up to its alarm's onset at 300 s, the real-time event
//! of the challenge: nothing after the onset is read. Its numerics fill an in-memory history
//! sampled as Prometheus's `query_range` samples, and its alarm — `ArrhythmiaAlarm` with the
//! type from the header's first comment — is rescored by the same [`Rescorer`] the sidecar runs:
//! targets, window, features, assessment, policy. Kept (or escalated) prints `record,1`,
//! downgraded `record,0`, one line per record on stdout, as the challenge's answers.
//!
//! Labels are read only from `DIR/ALARMS` (`record,type,label`) and only to print the figures
//! on stderr, never to decide: per type TP/FP/FN/TN, TPR, TNR, the challenge score
//! 100·(TP+TN)/(TP+TN+FP+5·FN), the misses with their reasons, and — with `--folds K` — the
//! score cross-validated by record, thresholds tuned on the other folds ([`tune`]).

use crate::monitor::{self, Numerics};
use crate::rescore::arrhythmia::{self, Alarm, Channels, Params};
use crate::rescore::engine::{Model, Rescorer};
use crate::rescore::history::InMemorySource;
use crate::rescore::policy::{Decision, Policy};
use crate::rescore::score::Features;
use crate::rescore::targets::{Targets, TargetsConfig};
use crate::wfdb;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The alarm's onset in each record, seconds from its start (the challenge's real-time event).
pub const ONSET_SECONDS: f64 = 300.0;
/// What a missed true alarm costs in false alarms downgraded, when tuning (see [`tune`]).
pub const MISS_COST: f64 = 4.2;
/// Where records are placed in time: 2026-01-05 00:00 UTC.
const BASE_MS: i64 = 1_767_571_200_000;

/// What to evaluate.
#[derive(Debug, Clone)]
pub struct AlarmOptions {
    /// The records' directory.
    pub dir: PathBuf,
    /// Folds of the cross-validation (0: none).
    pub folds: usize,
    /// Thresholds to decide with (default: the shipped ones).
    pub params: Params,
    /// Print the thresholds tuned on every labelled record.
    pub tune: bool,
    /// Write every record's features, decision and label here (CSV).
    pub features: Option<PathBuf>,
    /// Draw pictures of a few alarms into this directory (PNG): per type a true one kept and a
    /// false one downgraded, and every true alarm downgraded.
    pub plots: Option<PathBuf>,
}

/// One record through the monitor.
#[derive(Debug, Clone)]
pub struct Analysed {
    /// Record name.
    pub name: String,
    /// The alarm's type.
    pub alarm: Alarm,
    /// Channel names and their numerics, one per second up to the onset.
    pub channels: Vec<(String, Vec<Numerics>)>,
}

/// Read a record, run the monitor over it up to the onset. Labels are not read.
pub fn analyse(dir: &Path, name: &str) -> anyhow::Result<Analysed> {
    let record = wfdb::read_record(dir, name)?;
    let comment = record.comments().next().unwrap_or("");
    let alarm = monitor::alarm_type(comment)
        .and_then(Alarm::parse)
        .ok_or_else(|| anyhow::anyhow!("{name}: the header names no known alarm type ({comment:?})"))?;
    let descriptions: Vec<String> = record.specs.iter().map(|s| s.description.clone()).collect();
    let (infos, series) = monitor::analyse(&descriptions, &record.signals, record.frequency, ONSET_SECONDS);
    let channels = infos.into_iter().zip(series).map(|(c, s)| (c.name, s)).collect();
    Ok(Analysed { name: name.to_owned(), alarm, channels })
}

impl Analysed {
    /// The record's numerics as the sidecar's history holds them (one sample per second).
    pub fn source(&self, source: &mut InMemorySource) {
        let entity = format!("patient={}", self.name);
        for (channel, seconds) in &self.channels {
            let ecg = channel.starts_with("ecg");
            for spec in monitor::NUMERICS.iter().filter(|n| n.every_channel || ecg) {
                let signal = format!("{}:{channel}", spec.signal);
                for (s, n) in seconds.iter().enumerate() {
                    let v = (spec.read)(n);
                    if v.is_finite() {
                        source.push(&entity, &signal, BASE_MS + (s as i64 + 1) * 1000, v as f64);
                    }
                }
            }
        }
    }

    /// The alert the monitor's alarm becomes, as Alertmanager sends it.
    pub fn alert(&self) -> crate::alert::payload::Alert {
        let labels = [
            ("alertname", "ArrhythmiaAlarm"),
            ("severity", "critical"),
            ("class", "clinical"),
            ("patient", &self.name),
            ("type", self.alarm.as_str()),
        ];
        crate::alert::payload::Alert {
            status: crate::alert::payload::Status::Firing,
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            annotations: Default::default(),
            starts_at: onset(),
            ends_at: None,
            generator_url: String::new(),
            fingerprint: self.name.clone(),
        }
    }
}

/// The alarm's onset as a time.
fn onset() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(BASE_MS + (ONSET_SECONDS * 1000.0) as i64).unwrap_or_default()
}

/// One record's decision.
#[derive(Debug, Clone)]
pub struct Decided {
    /// Record name.
    pub name: String,
    /// Alarm type.
    pub alarm: Alarm,
    /// Kept at full priority.
    pub kept: bool,
    /// The features the decision was taken on.
    pub features: Features,
    /// Why, as the notification would say.
    pub reasons: Vec<String>,
    /// Rate and quality per channel (`rate5:<channel>`, `quality:<channel>`), as (seconds, value),
    /// for pictures.
    pub trends: Vec<(String, Vec<(f64, f64)>)>,
}

/// Rescore every record's alarm with the sidecar's engine; `model` judges them.
pub async fn decide(records: &[Analysed], model: Arc<dyn Model>) -> anyhow::Result<Vec<Decided>> {
    let mut source = InMemorySource::new();
    for r in records {
        r.source(&mut source);
    }
    let rescorer = Rescorer {
        history: Arc::new(source.clone()),
        targets: Targets::new(&TargetsConfig::default())?,
        model,
        policy: Policy::default(),
        lookback: Duration::from_secs(7200),
        step: Duration::from_secs(5),
        budget: Duration::from_secs(10),
        shadow: None,
    };
    let mut out = Vec::with_capacity(records.len());
    for r in records {
        let outcome = rescorer.rescore_alert(&r.alert(), Duration::ZERO).await;
        let scored = outcome.result.map_err(|(_, why)| anyhow::anyhow!("{}: unscored: {why}", r.name))?;
        let window = source.window(&crate::rescore::history::HistoryRequest {
            entity: format!("patient={}", r.name),
            groups: Vec::new(),
            end_ms: onset().timestamp_millis(),
            lookback: Duration::from_secs(300),
            step: Duration::from_secs(1),
        });
        let trends = ["rate5", "quality"]
            .iter()
            .flat_map(|s| {
                let beating = r.channels.iter().filter(|(c, _)| c.starts_with("ecg") || c == "abp" || c == "pleth");
                beating.map(move |(c, _)| format!("{s}:{c}"))
            })
            .filter_map(|name| {
                let series = window.signal(&name)?;
                let points = series
                    .times_ms
                    .iter()
                    .zip(&series.values)
                    .map(|(t, v)| ((t - BASE_MS) as f64 / 1000.0, *v))
                    .collect();
                Some((name, points))
            })
            .collect();
        out.push(Decided {
            name: r.name.clone(),
            alarm: r.alarm,
            kept: scored.verdict.decision != Decision::Downgrade,
            features: arrhythmia::summarise(&window),
            reasons: scored.assessment.reasons.iter().map(|x| x.text.clone()).collect(),
            trends,
        });
    }
    Ok(out)
}

/// Labels from `DIR/ALARMS` (`record,type,label`), if the file exists.
pub fn labels(dir: &Path) -> anyhow::Result<Option<BTreeMap<String, bool>>> {
    let path = dir.join("ALARMS");
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(None) };
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.trim().split(',').collect();
        let label = match fields.get(2).map(|f| f.trim()) {
            Some("1") => true,
            Some("0") => false,
            _ => anyhow::bail!("{}: line {}: expected record,type,label with label 0 or 1", path.display(), i + 1),
        };
        out.insert(fields[0].trim().to_owned(), label);
    }
    Ok(Some(out))
}

/// Counts of one group of alarms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// True alarms kept.
    pub tp: usize,
    /// False alarms kept.
    pub fp: usize,
    /// True alarms downgraded.
    pub fn_: usize,
    /// False alarms downgraded.
    pub tn: usize,
}

impl Counts {
    fn add(&mut self, kept: bool, truth: bool) {
        match (kept, truth) {
            (true, true) => self.tp += 1,
            (true, false) => self.fp += 1,
            (false, true) => self.fn_ += 1,
            (false, false) => self.tn += 1,
        }
    }

    /// The challenge's score: 100·(TP+TN)/(TP+TN+FP+5·FN).
    pub fn score(&self) -> f64 {
        let good = (self.tp + self.tn) as f64;
        let denominator = good + self.fp as f64 + 5.0 * self.fn_ as f64;
        if denominator == 0.0 {
            100.0
        } else {
            100.0 * good / denominator
        }
    }

    /// True alarms kept, of all true alarms.
    pub fn tpr(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    /// False alarms downgraded, of all false alarms.
    pub fn tnr(&self) -> f64 {
        ratio(self.tn, self.tn + self.fp)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}

/// Counts per alarm type and in all, of `(alarm, kept, truth)`.
pub fn count(decisions: impl IntoIterator<Item = (Alarm, bool, bool)>) -> (BTreeMap<&'static str, Counts>, Counts) {
    let mut per: BTreeMap<&'static str, Counts> = BTreeMap::new();
    let mut all = Counts::default();
    for (alarm, kept, truth) in decisions {
        per.entry(alarm.as_str()).or_default().add(kept, truth);
        all.add(kept, truth);
    }
    (per, all)
}

/// The thresholds that score best on `records` (features, type, truth), type by type, over a
/// grid; ties go to the more cautious (fewer alarms downgraded).
///
/// The challenge's score of all records is S = G / (N + 4·FN) with G = TP + TN, so one type's
/// thresholds move it by about ΔTN − (1 + 4S)·ΔFN: with S near 0.8, each missed true alarm
/// must buy 4.2 false ones downgraded. That is the utility maximised per type ([`MISS_COST`]).
pub fn tune(records: &[(&Features, Alarm, bool)], start: Params) -> Params {
    let mut best = start;
    for alarm in Alarm::ALL {
        let mine: Vec<(Channels, bool)> =
            records.iter().filter(|r| r.1 == alarm).map(|(f, _, truth)| (Channels::of(f), *truth)).collect();
        if mine.is_empty() {
            continue;
        }
        let mut top: Option<(f64, usize, Params)> = None;
        for candidate in grid(alarm, &best) {
            let mut c = Counts::default();
            for (channels, truth) in &mine {
                c.add(!arrhythmia::judge_channels(alarm, channels, &candidate, false).doubted, *truth);
            }
            let utility = c.tn as f64 - MISS_COST * c.fn_ as f64;
            let downgraded = c.tn + c.fn_;
            let better = top
                .as_ref()
                .is_none_or(|(u, d, _)| utility > *u + 1e-9 || ((utility - *u).abs() <= 1e-9 && downgraded < *d));
            if better {
                top = Some((utility, downgraded, candidate));
            }
        }
        if let Some((_, _, p)) = top {
            best = p;
        }
    }
    best
}

/// Candidate thresholds for one alarm type, the others as in `base`.
///
/// The ranges are the clinically sensible ones, so that tuning cannot learn a threshold no
/// clinician would accept: a channel must be at least a third clean; an asystole's contradicting
/// pause is 2–4 s; a bradycardia is doubted only above 44–56/min and a tachycardia only below
/// 100–115/min (the alarms are < 40 and > 140); a ventricular run is 2–6 beats, one that a
/// single lead shows alone 4 or 5 (or any), and a steady pulse varies by under 5–15/min (or the
/// steadiness is not used).
fn grid(alarm: Alarm, base: &Params) -> Vec<Params> {
    let qualities = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
    let values: Vec<f64> = match alarm {
        Alarm::Asystole => (0..=8).map(|i| 2.0 + 0.25 * i as f64).collect(),
        Alarm::ExtremeBradycardia => (0..=6).map(|i| 44.0 + 2.0 * i as f64).collect(),
        Alarm::ExtremeTachycardia => (0..=3).map(|i| 100.0 + 5.0 * i as f64).collect(),
        Alarm::VentricularTachycardia => (2..=6).map(f64::from).collect(),
        Alarm::VentricularFlutterFibrillation => (0..=6).map(|i| 0.3 + 0.1 * i as f64).collect(),
    };
    let mut out = Vec::new();
    for &q in &qualities {
        for &v in &values {
            let mut p = *base;
            match alarm {
                Alarm::Asystole => (p.asystole_quality, p.asystole_gap) = (q, v),
                Alarm::ExtremeBradycardia => (p.bradycardia_quality, p.bradycardia_rate) = (q, v),
                Alarm::ExtremeTachycardia => (p.tachycardia_quality, p.tachycardia_rate) = (q, v),
                Alarm::VentricularTachycardia => {
                    (p.vt_quality, p.vt_run) = (q, v);
                    for &pulse in &qualities {
                        for alone in [0.0, 4.0, 5.0] {
                            for &other in &qualities {
                                for steady in [0.0, 5.0, 10.0, 15.0] {
                                    out.push(Params {
                                        vt_pulse_quality: pulse,
                                        vt_alone_run: alone,
                                        vt_other_quality: other,
                                        vt_steady_pulse: steady,
                                        ..p
                                    });
                                }
                            }
                        }
                    }
                    continue;
                }
                Alarm::VentricularFlutterFibrillation => (p.vf_quality, p.vf_concentration) = (q, v),
            }
            out.push(p);
        }
    }
    out
}

/// Cross-validated decisions: records split into `folds` by type and label (every `folds`-th of
/// each stratum, in name order), thresholds tuned on the other folds.
pub fn cross_validate(records: &[(&Features, Alarm, bool)], folds: usize, start: Params) -> Vec<bool> {
    let mut fold_of = vec![0usize; records.len()];
    let mut seen: BTreeMap<(Alarm, bool), usize> = BTreeMap::new();
    for (i, (_, alarm, truth)) in records.iter().enumerate() {
        let n = seen.entry((*alarm, *truth)).or_default();
        fold_of[i] = *n % folds;
        *n += 1;
    }
    let mut kept = vec![true; records.len()];
    for fold in 0..folds {
        let train: Vec<(&Features, Alarm, bool)> =
            records.iter().zip(&fold_of).filter(|(_, f)| **f != fold).map(|(r, _)| *r).collect();
        let params = tune(&train, start);
        for (i, (f, alarm, _)) in records.iter().enumerate().filter(|(i, _)| fold_of[*i] == fold) {
            kept[i] = !arrhythmia::judge(*alarm, f, &params).doubted;
        }
    }
    kept
}

/// The whole command: decisions on stdout, figures on stderr.
pub async fn run(options: &AlarmOptions, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<()> {
    let started = Instant::now();
    let names = wfdb::record_names(&options.dir)?;
    let records: Vec<Analysed> = names.iter().map(|n| analyse(&options.dir, n)).collect::<anyhow::Result<_>>()?;
    let analysed = started.elapsed();
    let model: Arc<dyn Model> = {
        let scorer = crate::rescore::model_file::shipped();
        Arc::new(scorer.with_arrhythmia(options.params))
    };
    let decided = decide(&records, model).await?;
    for d in &decided {
        // The engine and the judgement it runs must agree: the tuning below relies on it.
        let doubted = arrhythmia::judge(d.alarm, &d.features, &options.params).doubted;
        anyhow::ensure!(doubted != d.kept, "{}: the engine's decision differs from the judgement", d.name);
        writeln!(out, "{},{}", d.name, u8::from(d.kept))?;
    }
    writeln!(
        err,
        "{} records: monitor {:.1} s, rescoring {:.1} s",
        records.len(),
        analysed.as_secs_f64(),
        (started.elapsed() - analysed).as_secs_f64()
    )?;
    let Some(truth) = labels(&options.dir)? else {
        writeln!(err, "no {}: no figures (labels are only read from there)", options.dir.join("ALARMS").display())?;
        return Ok(());
    };
    let labelled: Vec<(&Decided, bool)> = decided.iter().filter_map(|d| Some((d, *truth.get(&d.name)?))).collect();
    let (per, all) = count(labelled.iter().map(|(d, t)| (d.alarm, d.kept, *t)));
    report(err, "decisions (shipped thresholds)", &per, &all)?;
    writeln!(err, "\nmisses (true alarms downgraded):")?;
    for (d, _) in labelled.iter().filter(|(d, t)| *t && !d.kept) {
        writeln!(err, "  {} {}: {}", d.name, d.alarm.as_str(), d.reasons.join("; "))?;
    }
    if let Some(path) = &options.features {
        write_features(path, &labelled)?;
    }
    if let Some(dir) = &options.plots {
        let drawn = plot_examples(&options.dir, dir, &labelled)?;
        writeln!(err, "\npictures of {} alarms in {}", drawn, dir.display())?;
    }
    let inputs: Vec<(&Features, Alarm, bool)> = labelled.iter().map(|(d, t)| (&d.features, d.alarm, *t)).collect();
    if options.folds > 1 {
        let cv = cross_validate(&inputs, options.folds, options.params);
        let (per, all) = count(inputs.iter().zip(cv).map(|((_, a, t), k)| (*a, k, *t)));
        report(
            err,
            &format!("{}-fold cross-validation by record (thresholds tuned on the other folds)", options.folds),
            &per,
            &all,
        )?;
    }
    if options.tune {
        let tuned = tune(&inputs, options.params);
        let (per, all) = count(inputs.iter().map(|(f, a, t)| (*a, !arrhythmia::judge(*a, f, &tuned).doubted, *t)));
        report(err, "thresholds tuned on every record", &per, &all)?;
        writeln!(err, "{}", serde_yaml::to_string(&tuned)?)?;
    }
    Ok(())
}

/// Pictures of per type the first true alarm kept and false alarm downgraded, and every miss.
fn plot_examples(records: &Path, dir: &Path, labelled: &[(&Decided, bool)]) -> anyhow::Result<usize> {
    std::fs::create_dir_all(dir)?;
    let mut chosen: Vec<&(&Decided, bool)> = Vec::new();
    for alarm in Alarm::ALL {
        for want in [true, false] {
            let example = labelled.iter().find(|(d, t)| d.alarm == alarm && *t == want && d.kept == want);
            chosen.extend(example);
        }
    }
    chosen.extend(labelled.iter().filter(|(d, t)| *t && !d.kept));
    for (d, truth) in &chosen {
        let record = wfdb::read_record(records, &d.name)?;
        let path = dir.join(format!("{}.png", d.name));
        super::alarm_plot::draw(&path, &record, d, Some(*truth)).map_err(|e| anyhow::anyhow!("{}: {e}", d.name))?;
    }
    Ok(chosen.len())
}

/// One CSV line per record: name, type, label, decision, then every feature (empty if absent).
fn write_features(path: &Path, labelled: &[(&Decided, bool)]) -> anyhow::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let names = arrhythmia::feature_names();
    writeln!(f, "record,type,label,kept,{}", names.join(","))?;
    for (d, truth) in labelled {
        let values: Vec<String> =
            names.iter().map(|n| d.features.get(n).map_or(String::new(), |v| format!("{v:.4}"))).collect();
        writeln!(f, "{},{},{},{},{}", d.name, d.alarm.as_str(), u8::from(*truth), u8::from(d.kept), values.join(","))?;
    }
    Ok(())
}

fn report(err: &mut dyn Write, title: &str, per: &BTreeMap<&'static str, Counts>, all: &Counts) -> std::io::Result<()> {
    writeln!(err, "\n{title}")?;
    writeln!(
        err,
        "{:<34} {:>4} {:>4} {:>4} {:>4} {:>6} {:>6} {:>6}",
        "type", "TP", "FP", "FN", "TN", "TPR", "TNR", "score"
    )?;
    let line = |err: &mut dyn Write, name: &str, c: &Counts| {
        writeln!(
            err,
            "{:<34} {:>4} {:>4} {:>4} {:>4} {:>6.3} {:>6.3} {:>6.2}",
            name,
            c.tp,
            c.fp,
            c.fn_,
            c.tn,
            c.tpr(),
            c.tnr(),
            c.score()
        )
    };
    for (name, c) in per {
        line(err, name, c)?;
    }
    line(err, "all", all)
}
