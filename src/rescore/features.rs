//! Features: pure functions of a window — levels, changes, slopes, variability, baselines.
//!
//! Every signal an entity kind has ([`signals`]) gets the same eight statistics, named
//! `<signal>.<stat>` (see [`STATS`]); the alert's focus signal gets them again as `focus.<stat>`,
//! and [`super::artifact`] adds the cross-signal evidence (`artifact.*`, `evidence.*`). The
//! baseline is the entity's own: the robust median and MAD of the window before its last
//! [`RECENT_MS`], so a COPD patient's 89% is compared with their usual 90%, not with a textbook 97%.

use super::artifact;
use super::score::{EntityKind, Features, Subject};
use super::window::{signal, Series, Window};

/// The statistics computed for each signal, in feature-name order.
pub const STATS: [&str; 8] =
    ["level", "change_1m", "change_10m", "slope_10m", "sd_10m", "baseline", "baseline_mad", "z"];

/// The most recent stretch, excluded from the baseline so that the episode being alerted on does
/// not become its own reference.
pub const RECENT_MS: i64 = 15 * 60_000;
/// Points kept from the baseline stretch for its median and MAD; every k-th sample is taken so the
/// cost stays flat however long the window (64 points at 100 s spacing for a 2 h window: the
/// median's standard error is then about 16% of the spread, well under the alerting distances).
const BASELINE_POINTS: usize = 64;
/// Fewest baseline points for a baseline at all; fewer and the robust z is 0 (neutral).
const MIN_BASELINE_POINTS: usize = 8;
/// Consistency constant that makes the MAD estimate the standard deviation of normal data.
const MAD_TO_SD: f64 = 1.4826;
/// Robust z beyond this is clipped: further out it carries no extra information.
const Z_LIMIT: f64 = 50.0;

/// A signal an entity kind has, with the smallest spread its baseline may have.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SignalSpec {
    /// The signal name (see [`signal`]).
    pub name: &'static str,
    /// Floor of the baseline's standard deviation, in the signal's unit: about the measurement's
    /// own resolution or noise, so a value held constant (a cuff reading, a lab result) does not
    /// make every later change look like an infinite z.
    pub floor: f64,
}

const fn spec(name: &'static str, floor: f64) -> SignalSpec {
    SignalSpec { name, floor }
}

/// Floors follow each reading's noise in a bedside monitor: HR ±2 /min, SpO2 ±0.5 point, RR ±1,
/// cuff pressure ±3–5 mmHg, temperature ±0.1 °C, lab assays a few percent.
const PATIENT: [SignalSpec; 15] = [
    spec(signal::HEART_RATE, 2.0),
    spec(signal::PULSE_RATE, 2.0),
    spec(signal::SPO2, 0.005),
    spec(signal::PLETH_QUALITY, 0.03),
    spec(signal::ECG_QUALITY, 0.02),
    spec(signal::SYSTOLIC, 5.0),
    spec(signal::MEAN_PRESSURE, 4.0),
    spec(signal::RESPIRATION_RATE, 1.0),
    spec(signal::TEMPERATURE, 0.1),
    spec(signal::FIO2, 0.02),
    spec(signal::ETCO2, 1.0),
    spec(signal::GLUCOSE, 0.3),
    spec(signal::LACTATE, 0.2),
    spec(signal::NEWS2, 1.0),
    spec(signal::CONSCIOUSNESS, 1.0),
];
const DEVICE: [SignalSpec; 2] = [spec(signal::TRANSMIT_RATE, 1_000.0), spec(signal::RECEIVE_RATE, 1_000.0)];
const LINK: [SignalSpec; 6] = [
    spec(signal::TRANSMIT_RATE, 10_000.0),
    spec(signal::RECEIVE_RATE, 10_000.0),
    spec(signal::ERROR_RATE, 0.1),
    spec(signal::LATENCY, 0.0005),
    spec(signal::PACKET_LOSS, 0.001),
    spec(signal::LINK_UP, 0.1),
];
const NODE: [SignalSpec; 5] = [
    spec(signal::CPU, 0.02),
    spec(signal::MEMORY, 0.01),
    spec(signal::DISK, 0.005),
    spec(signal::PODS, 1.0),
    spec(signal::RESTART_RATE, 0.002),
];
const CLUSTER: [SignalSpec; 3] = [spec(signal::CPU, 0.01), spec(signal::MEMORY, 0.01), spec(signal::PODS, 0.01)];

/// The signals an entity kind has, in feature order.
pub fn signals(kind: EntityKind) -> &'static [SignalSpec] {
    match kind {
        EntityKind::Patient => &PATIENT,
        EntityKind::Device => &DEVICE,
        EntityKind::Link => &LINK,
        EntityKind::Node => &NODE,
        EntityKind::Cluster => &CLUSTER,
    }
}

/// The floor of a signal's baseline spread (see [`SignalSpec::floor`]); 1e-9 for unknown names.
pub fn floor_of(name: &str) -> f64 {
    [&PATIENT[..], &DEVICE, &LINK, &NODE, &CLUSTER]
        .iter()
        .flat_map(|s| s.iter())
        .find(|s| s.name == name)
        .map_or(1e-9, |s| s.floor)
}

/// The eight statistics of one signal at the window's end (see [`STATS`]).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SignalStats {
    /// Last value at or before the end.
    pub level: f64,
    /// Level minus the value 1 minute earlier.
    pub change_1m: f64,
    /// Level minus the value 10 minutes earlier.
    pub change_10m: f64,
    /// Least-squares slope over the last 10 minutes, per minute.
    pub slope_10m: f64,
    /// Standard deviation over the last 10 minutes.
    pub sd_10m: f64,
    /// The entity's own baseline: median before the recent stretch (the level when there is none).
    pub baseline: f64,
    /// Median absolute deviation of the baseline stretch (0 when there is none).
    pub baseline_mad: f64,
    /// Robust z of the level against the baseline, clipped to ±50 (0 without a baseline).
    pub z: f64,
}

impl SignalStats {
    /// The statistics in [`STATS`] order.
    pub fn values(&self) -> [f64; 8] {
        [
            self.level,
            self.change_1m,
            self.change_10m,
            self.slope_10m,
            self.sd_10m,
            self.baseline,
            self.baseline_mad,
            self.z,
        ]
    }

    /// Statistics back from named features `<prefix>.<stat>`; `None` when the level is missing.
    pub fn from_features(features: &Features, prefix: &str) -> Option<Self> {
        let mut key = String::with_capacity(prefix.len() + 16);
        let mut get = |stat: &str| {
            key.clear();
            key.push_str(prefix);
            key.push('.');
            key.push_str(stat);
            features.get(key.as_str()).copied().filter(|v| v.is_finite())
        };
        let level = get("level")?;
        let baseline = get("baseline").unwrap_or(level);
        Some(Self {
            level,
            change_1m: get("change_1m").unwrap_or(0.0),
            change_10m: get("change_10m").unwrap_or(0.0),
            slope_10m: get("slope_10m").unwrap_or(0.0),
            sd_10m: get("sd_10m").unwrap_or(0.0),
            baseline,
            baseline_mad: get("baseline_mad").unwrap_or(0.0),
            z: get("z").unwrap_or(0.0),
        })
    }
}

/// How many of the sorted times `ts` are at or before `t_ms`: `ts.partition_point(|&t| t <= t_ms)`.
///
/// Scraped series are almost always at a regular step, so the answer is first guessed by
/// interpolating between the first and last times and then checked against its neighbours; only
/// an irregular series falls back to a binary search. A window's series are too large to stay in
/// cache from one alert to the next, and a binary search costs a cache miss per halving.
pub fn count_at_or_before(ts: &[i64], t_ms: i64) -> usize {
    let n = ts.len();
    if n == 0 || t_ms < ts[0] {
        return 0;
    }
    if t_ms >= ts[n - 1] {
        return n;
    }
    // ts[0] <= t_ms < ts[n - 1], so the span is positive and the guess is in 0..n - 1.
    let span = (ts[n - 1] - ts[0]) as i128;
    let guess = ((t_ms - ts[0]) as i128 * (n - 1) as i128 / span) as usize;
    // The answer is the first index whose time is after t_ms.
    const WALK: usize = 4;
    if ts[guess] <= t_ms {
        let end = (guess + 1 + WALK).min(n);
        match ts[guess + 1..end].iter().position(|&t| t > t_ms) {
            Some(k) => guess + 1 + k,
            None => end + ts[end..].partition_point(|&t| t <= t_ms),
        }
    } else {
        let start = guess.saturating_sub(WALK);
        match ts[start..guess].iter().rposition(|&t| t <= t_ms) {
            Some(k) => start + k + 1,
            None => ts[..start].partition_point(|&t| t <= t_ms),
        }
    }
}

/// How many of the sorted times `ts` are strictly before `t_ms`: `ts.partition_point(|&t| t < t_ms)`.
pub fn count_before(ts: &[i64], t_ms: i64) -> usize {
    if t_ms == i64::MIN {
        0
    } else {
        count_at_or_before(ts, t_ms - 1)
    }
}

/// Index of the last sample at or before `t_ms`, if any.
pub fn index_at(series: &Series, t_ms: i64) -> Option<usize> {
    count_at_or_before(&series.times_ms, t_ms).checked_sub(1)
}

/// Value at `t_ms`: the last sample at or before it, else the first sample.
pub fn value_at(series: &Series, t_ms: i64) -> f64 {
    series.values[index_at(series, t_ms).unwrap_or(0)]
}

/// Median of `xs` (reordered in place); NaN when empty.
fn median(xs: &mut [f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mid = xs.len() / 2;
    let (_, m, _) = xs.select_nth_unstable_by(mid, f64::total_cmp);
    *m
}

/// Median and MAD of every k-th sample of `values`, at most [`BASELINE_POINTS`] of them.
fn robust_baseline(values: &[f64]) -> Option<(f64, f64)> {
    if values.len() < MIN_BASELINE_POINTS {
        return None;
    }
    let stride = values.len().div_ceil(BASELINE_POINTS);
    let mut buf = [0.0f64; BASELINE_POINTS];
    let mut n = 0;
    for &v in values.iter().step_by(stride).filter(|v| v.is_finite()) {
        buf[n] = v;
        n += 1;
    }
    if n < MIN_BASELINE_POINTS {
        return None;
    }
    let med = median(&mut buf[..n]);
    for v in &mut buf[..n] {
        *v = (*v - med).abs();
    }
    Some((med, median(&mut buf[..n])))
}

/// Least-squares slope (per minute) and standard deviation of the samples `(ts, vs)`.
fn slope_and_sd(ts: &[i64], vs: &[f64]) -> (f64, f64) {
    if vs.len() < 2 {
        return (0.0, 0.0);
    }
    let n = vs.len() as f64;
    let minutes = |t: i64| (t - ts[0]) as f64 / 60_000.0;
    let mt = ts.iter().map(|&t| minutes(t)).sum::<f64>() / n;
    let mv = vs.iter().sum::<f64>() / n;
    let (mut stt, mut stv, mut svv) = (0.0, 0.0, 0.0);
    for (&t, &v) in ts.iter().zip(vs) {
        let (dt, dv) = (minutes(t) - mt, v - mv);
        stt += dt * dt;
        stv += dt * dv;
        svv += dv * dv;
    }
    let slope = if stt > 0.0 { stv / stt } else { 0.0 };
    (slope, (svv / n).sqrt())
}

/// The statistics of one series at `end_ms`; `None` when it has no sample at or before the end.
pub fn signal_stats(series: &Series, end_ms: i64, floor: f64) -> Option<SignalStats> {
    let last = index_at(series, end_ms)?;
    let level = series.values[last];
    let from_10m = count_before(&series.times_ms[..=last], end_ms - 10 * 60_000);
    let (slope_10m, sd_10m) = slope_and_sd(&series.times_ms[from_10m..=last], &series.values[from_10m..=last]);
    let baseline_end = count_before(&series.times_ms, end_ms - RECENT_MS);
    let (baseline, baseline_mad, z) = match robust_baseline(&series.values[..baseline_end]) {
        Some((med, mad)) => {
            let scale = (MAD_TO_SD * mad).max(floor);
            (med, mad, ((level - med) / scale).clamp(-Z_LIMIT, Z_LIMIT))
        }
        None => (level, 0.0, 0.0),
    };
    Some(SignalStats {
        level,
        change_1m: level - value_at(series, end_ms - 60_000),
        change_10m: level - value_at(series, end_ms - 10 * 60_000),
        slope_10m,
        sd_10m,
        baseline,
        baseline_mad,
        z,
    })
}

/// The statistics of every signal of an entity kind, in [`signals`] order (`None` where the
/// window lacks the signal).
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// The entity kind.
    pub kind: EntityKind,
    /// One entry per [`signals`] entry.
    pub stats: Vec<Option<SignalStats>>,
}

impl Profile {
    /// Compute every signal's statistics from a window.
    pub fn of(kind: EntityKind, window: &Window) -> Self {
        let stats = signals(kind)
            .iter()
            .map(|s| window.signal(s.name).and_then(|series| signal_stats(series, window.end_ms, s.floor)))
            .collect();
        Self { kind, stats }
    }

    /// Rebuild from named features (the REST API's input); signals without a level are `None`.
    pub fn from_features(kind: EntityKind, features: &Features) -> Self {
        let stats = signals(kind).iter().map(|s| SignalStats::from_features(features, s.name)).collect();
        Self { kind, stats }
    }

    /// One signal's statistics, if present.
    pub fn get(&self, name: &str) -> Option<&SignalStats> {
        signals(self.kind).iter().position(|s| s.name == name).and_then(|i| self.stats[i].as_ref())
    }
}

/// Where a named feature's value comes from.
#[derive(Debug, Clone, Copy)]
enum Source {
    /// Statistic `stat` of signal `signal` (indices into [`signals`] and [`STATS`]).
    Stat(usize, usize),
    /// Statistic `stat` of the focus signal.
    Focus(usize),
    /// Entry `i` of [`artifact::Evidence::named`].
    Evidence(usize),
}

/// Every feature name of an entity kind with its source, sorted by name, built once: the map is
/// then built from sorted pairs in one pass, without sorting or inserting one by one.
fn name_table(kind: EntityKind) -> &'static [(String, Source)] {
    static TABLES: std::sync::OnceLock<[Vec<(String, Source)>; 5]> = std::sync::OnceLock::new();
    let all = TABLES.get_or_init(|| {
        let of = |k: EntityKind| {
            let mut t: Vec<(String, Source)> = Vec::new();
            for (i, s) in signals(k).iter().enumerate() {
                t.extend(STATS.iter().enumerate().map(|(j, stat)| (format!("{}.{stat}", s.name), Source::Stat(i, j))));
            }
            t.extend(STATS.iter().enumerate().map(|(j, stat)| (format!("focus.{stat}"), Source::Focus(j))));
            let names = artifact::Evidence::default().named();
            t.extend(names.iter().enumerate().map(|(i, (n, _))| (n.to_string(), Source::Evidence(i))));
            t.sort_by(|a, b| a.0.cmp(&b.0));
            t
        };
        EntityKind::ALL.map(of)
    });
    &all[kind as usize]
}

/// All features of an alert's window: every signal's statistics, the focus signal's again as
/// `focus.*`, and the cross-signal artifact evidence (`artifact.*`, `evidence.*`).
pub fn extract(subject: &Subject, window: &Window) -> Features {
    let profile = Profile::of(subject.entity, window);
    let focus = subject.focus.as_deref().and_then(|f| profile.get(f)).map(SignalStats::values);
    let evidence = artifact::evidence(subject, window, &profile).named();
    let stats: Vec<Option<[f64; 8]>> = profile.stats.iter().map(|s| s.as_ref().map(SignalStats::values)).collect();
    name_table(subject.entity)
        .iter()
        .filter_map(|(name, source)| {
            let value = match *source {
                Source::Stat(i, j) => stats[i].map(|v| v[j]),
                Source::Focus(j) => focus.map(|v| v[j]),
                Source::Evidence(i) => Some(evidence[i].1),
            };
            value.map(|v| (name.clone(), v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rescore::fixtures::{noise, window, END};

    #[test]
    fn counting_times_agrees_with_a_binary_search_on_regular_gapped_and_irregular_series() {
        let regular: Vec<i64> = (0..200).map(|i| 1_000 + 5_000 * i).collect();
        let gapped: Vec<i64> = regular.iter().copied().filter(|t| !(200_000..600_000).contains(t)).collect();
        let irregular: Vec<i64> = (0..200i64).map(|i| i * i * 37 + (i % 7) * 11).collect();
        let dense: Vec<i64> = (0..200).map(|i| if i < 190 { i } else { 1_000_000 + i }).collect();
        for ts in [&regular[..], &gapped, &irregular, &dense, &[42], &[]] {
            let (lo, hi) = (ts.first().map_or(0, |&t| t - 10_000), ts.last().map_or(0, |&t| t + 10_000));
            for t in (lo..=hi).step_by(997).chain(ts.iter().flat_map(|&t| [t - 1, t, t + 1])) {
                assert_eq!(count_at_or_before(ts, t), ts.partition_point(|&x| x <= t), "at or before {t}");
                assert_eq!(count_before(ts, t), ts.partition_point(|&x| x < t), "before {t}");
            }
        }
    }

    #[test]
    fn level_changes_and_slope_follow_a_steady_decline() {
        // SpO2 falling 0.5 point per minute for the last 20 minutes from 96%.
        let w = window(&[("spo2", &|m: f64, _| if m < 20.0 { 0.96 - 0.005 * (20.0 - m) } else { 0.96 })]);
        let s = signal_stats(w.signal("spo2").unwrap(), END, 0.005).unwrap();
        assert!((s.level - 0.86).abs() < 1e-9);
        assert!((s.change_1m + 0.005).abs() < 1e-9);
        assert!((s.change_10m + 0.05).abs() < 1e-9);
        assert!((s.slope_10m + 0.005).abs() < 1e-6, "{}", s.slope_10m);
        assert!((s.baseline - 0.96).abs() < 1e-9);
        assert!(s.z < -15.0, "floor-scaled z {}", s.z);
    }

    #[test]
    fn the_baseline_is_the_entitys_own_and_ignores_the_recent_episode() {
        // A COPD patient at 90% ± 0.5 whose last 10 minutes sit at 89%.
        let w = window(&[("spo2", &|m: f64, i| if m < 10.0 { 0.89 } else { 0.90 + 0.005 * noise(i) })]);
        let s = signal_stats(w.signal("spo2").unwrap(), END, 0.005).unwrap();
        assert!((s.baseline - 0.90).abs() < 0.002, "{}", s.baseline);
        assert!(s.baseline_mad > 0.001 && s.baseline_mad < 0.004, "{}", s.baseline_mad);
        assert!(s.z < -1.0 && s.z > -3.0, "a 1-point dip is ordinary for this patient: z {}", s.z);
    }

    #[test]
    fn a_short_window_has_no_baseline_and_a_neutral_z() {
        let mut w = window(&[("heart_rate", &|_, i| 80.0 + noise(i))]);
        let s = w.signals.get_mut("heart_rate").unwrap();
        let keep = s.len() - 20;
        s.times_ms.drain(..keep);
        s.values.drain(..keep);
        let st = signal_stats(w.signal("heart_rate").unwrap(), END, 2.0).unwrap();
        assert_eq!(st.z, 0.0);
        assert_eq!(st.baseline, st.level);
    }

    #[test]
    fn extract_names_every_statistic_of_every_signal_and_the_focus() {
        let w = window(&[("spo2", &|_, i| 0.96 + 0.003 * noise(i)), ("heart_rate", &|_, i| 80.0 + noise(i))]);
        let subject = Subject {
            alertname: "HypoxiaDetected".into(),
            severity: "critical".into(),
            entity: EntityKind::Patient,
            focus: Some("spo2".into()),
        };
        let f = extract(&subject, &w);
        for stat in STATS {
            assert!(f.contains_key(&format!("spo2.{stat}")) && f.contains_key(&format!("focus.{stat}")), "{stat}");
        }
        assert_eq!(f["focus.level"], f["spo2.level"]);
        assert!(f.contains_key("artifact.probe_off") && !f.contains_key("respiration_rate.level"));
        let known = crate::rescore::score::feature_names(EntityKind::Patient);
        assert!(f.keys().all(|k| known.contains(k)), "every extracted name is a documented feature name");
    }

    #[test]
    fn infrastructure_gets_the_same_statistics_a_leak_shows_as_slope_and_an_upload_as_z() {
        // Node memory climbing 1 point per minute for the last 40 minutes from a steady 60%.
        let w = window(&[("memory", &|m: f64, i| 0.6 + 0.01 * (40.0 - m).max(0.0) + 0.002 * noise(i))]);
        let node = Subject {
            alertname: "NodeMemoryHigh".into(),
            severity: "warning".into(),
            entity: EntityKind::Node,
            focus: Some("memory".into()),
        };
        let f = extract(&node, &w);
        assert!((f["memory.slope_10m"] - 0.01).abs() < 0.001, "{}", f["memory.slope_10m"]);
        assert!(f["focus.z"] > 20.0, "{}", f["focus.z"]);
        // A bedside monitor uploading 2 MB/s against its usual 4 kB/s.
        let w = window(&[("transmit_rate", &|m: f64, i| if m < 5.0 { 2e6 } else { 4_000.0 + 300.0 * noise(i) })]);
        let device = Subject {
            alertname: "DeviceUploadUnusual".into(),
            severity: "critical".into(),
            entity: EntityKind::Device,
            focus: Some("transmit_rate".into()),
        };
        let f = extract(&device, &w);
        assert_eq!(f["focus.z"], Z_LIMIT);
        assert!((f["transmit_rate.baseline"] - 4_000.0).abs() < 300.0);
    }
}
