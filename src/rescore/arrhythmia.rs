//! Rescoring a bedside monitor's arrhythmia alarm on the monitor's own numerics.
//!
//! An alarm is believed when the channels that can be trusted agree with it, and doubted when a
//! clean channel contradicts it — as the best entries of the PhysioNet/CinC Challenge 2015 did
//! (Clifford et al., "The PhysioNet/Computing in Cardiology Challenge 2015: reducing false
//! arrhythmia alarms in the ICU", Computing in Cardiology 2015;42:273–276). The window is the
//! monitor's numerics per channel ([`crate::monitor::NUMERICS`], signals `<numeric>:<channel>`)
//! up to the alarm's onset: nothing after it.
//!
//! [`summarise`] reduces the window to named features — per class of channel (ECG leads, then
//! pulsatile channels: arterial pressure and pleth), the two best by signal quality over the
//! last [`RECENT_SECONDS`]: their quality then and before, the longest pause, the lowest and
//! highest rates, the longest run of abnormal beats, the ECG spectrum's concentration.
//! [`judge`] applies the alarm's definition to them with thresholds ([`Params`]):
//!
//! - **asystole** (no QRS for ≥ 4 s): doubted when a clean channel keeps beating through the
//!   last seconds — a pulsatile one, or an ECG lead when no pulsatile channel that was clean
//!   before shows the pause;
//! - **extreme bradycardia** (< 40/min for 5 beats): doubted when the cleanest ECG lead's
//!   lowest 5-beat rate stays above a floor and no clean pulsatile channel is slower;
//! - **extreme tachycardia** (> 140/min for 17 beats): doubted when the cleanest ECG lead's and
//!   pulsatile channel's 17-beat rates stay below a ceiling;
//! - **ventricular tachycardia** (≥ 5 ventricular beats above 100/min): doubted when a nearly
//!   clean pulsatile channel keeps a steady rate and no lead shows the alarm's 5 alike abnormal
//!   beats; else believed when a lead shows a long enough run of alike abnormal beats, or a
//!   shorter one the other lead does not contradict with normal beats; else doubted when an ECG
//!   lead is clean, or when the ECG is noisy but a pulsatile channel keeps a regular pulse;
//! - **ventricular flutter/fibrillation** (an oscillation ≥ 4 s): doubted when a clean channel
//!   keeps organised beats — an ECG lead with a spread spectrum, or a pulsatile channel's pulses.
//!
//! A doubted alarm carries artifact evidence, so the policy downgrades it as a likely artifact
//! (it is still delivered); a believed one is kept.

use super::score::{Assessment, Features, Reason};
use super::window::Window;
use serde::{Deserialize, Serialize};

/// The last seconds before the onset that the alarm's event lies in.
pub const RECENT_SECONDS: f64 = 14.0;
/// The earlier stretch a channel's usual quality is judged over.
pub const BEFORE_SECONDS: f64 = 60.0;
/// The ventricular beats in a row a ventricular tachycardia alarm is defined by.
pub const ALARM_RUN: f64 = 5.0;
/// The quality a pulsatile channel needs for its steadiness to contradict a ventricular
/// tachycardia: nine-tenths, a channel nearly free of noise.
pub const STEADY_PULSE_QUALITY: f64 = 0.9;

/// Thresholds of [`judge`], per alarm type.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Asystole: quality a channel needs to contradict the alarm.
    pub asystole_quality: f64,
    /// Asystole: the longest pause, seconds, of a channel that keeps beating.
    pub asystole_gap: f64,
    /// Bradycardia: quality of the channel judged.
    pub bradycardia_quality: f64,
    /// Bradycardia: the lowest 5-beat rate, per minute, above which the alarm is doubted.
    pub bradycardia_rate: f64,
    /// Tachycardia: quality of the channel judged.
    pub tachycardia_quality: f64,
    /// Tachycardia: the highest 17-beat rate, per minute, below which the alarm is doubted.
    pub tachycardia_rate: f64,
    /// Ventricular tachycardia: quality of a lead that can contradict the alarm.
    pub vt_quality: f64,
    /// Ventricular tachycardia: abnormal beats in a row that support it.
    pub vt_run: f64,
    /// Ventricular tachycardia: quality of a pulsatile channel that contradicts the alarm when
    /// the ECG is too noisy to judge.
    pub vt_pulse_quality: f64,
    /// Ventricular tachycardia: a run at least this long supports the alarm on one lead alone;
    /// a shorter one only if the other lead, when it is at least [`Params::vt_other_quality`]
    /// clean, shows 2 alike abnormal beats in a row too (0: one lead always suffices).
    pub vt_alone_run: f64,
    /// Ventricular tachycardia: quality at which the other lead witnesses a short run.
    pub vt_other_quality: f64,
    /// Ventricular tachycardia: spread, per minute, of a clean pulsatile channel's 5-beat rate
    /// under which its pulse is steady and contradicts an alarm no lead shows
    /// [`ALARM_RUN`] alike abnormal beats for (0: never).
    pub vt_steady_pulse: f64,
    /// Flutter/fibrillation: quality of a channel that can contradict the alarm.
    pub vf_quality: f64,
    /// Flutter/fibrillation: spectral concentration under which a lead is organised.
    pub vf_concentration: f64,
}

/// The shipped thresholds: tuned on the 251 labelled records of the challenge's training set
/// that the project holds (`wardwatch-sidecar eval-alarms --tune`; `tests/physionet.rs` checks
/// that tuning still gives these). Their cross-validated figure is in `docs/real-alarms.md`.
impl Default for Params {
    fn default() -> Self {
        Self {
            asystole_quality: 0.3,
            asystole_gap: 3.25,
            bradycardia_quality: 0.3,
            bradycardia_rate: 52.0,
            tachycardia_quality: 0.3,
            tachycardia_rate: 100.0,
            vt_quality: 0.3,
            vt_run: 3.0,
            vt_pulse_quality: 0.3,
            vt_alone_run: 4.0,
            vt_other_quality: 0.3,
            vt_steady_pulse: 5.0,
            vf_quality: 0.3,
            vf_concentration: 0.8,
        }
    }
}

/// The alarm types, as the `type` label names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Alarm {
    /// No QRS for at least 4 s.
    Asystole,
    /// Heart rate below 40/min for 5 consecutive beats.
    ExtremeBradycardia,
    /// Heart rate above 140/min for 17 consecutive beats.
    ExtremeTachycardia,
    /// 5 or more ventricular beats with heart rate above 100/min.
    VentricularTachycardia,
    /// Fibrillatory, flutter or oscillatory waveform for at least 4 s.
    VentricularFlutterFibrillation,
}

impl Alarm {
    /// Every type, in the challenge's order.
    pub const ALL: [Alarm; 5] = [
        Alarm::Asystole,
        Alarm::ExtremeBradycardia,
        Alarm::ExtremeTachycardia,
        Alarm::VentricularTachycardia,
        Alarm::VentricularFlutterFibrillation,
    ];

    /// The `type` label value.
    pub fn as_str(self) -> &'static str {
        crate::monitor::ALARM_TYPES[self as usize]
    }

    /// From a `type` label value.
    pub fn parse(label: &str) -> Option<Self> {
        Alarm::ALL.into_iter().find(|a| a.as_str() == label)
    }

    /// From a rescoring focus `arrhythmia:<type>`.
    pub fn from_focus(focus: &str) -> Option<Self> {
        Self::parse(focus.strip_prefix("arrhythmia:")?)
    }

    /// In words.
    pub fn words(self) -> &'static str {
        match self {
            Alarm::Asystole => "asystole",
            Alarm::ExtremeBradycardia => "extreme bradycardia",
            Alarm::ExtremeTachycardia => "extreme tachycardia",
            Alarm::VentricularTachycardia => "ventricular tachycardia",
            Alarm::VentricularFlutterFibrillation => "ventricular flutter/fibrillation",
        }
    }
}

/// The per-channel features, in feature-name order.
const FIELDS: [&str; 10] = ["q", "qpre", "gap", "r5min", "r5max", "r17max", "arun", "afrac", "conc", "dom"];
/// The channel slots: the two best ECG leads and pulsatile channels by recent quality.
const SLOTS: [&str; 4] = ["ecg1", "ecg2", "pulse1", "pulse2"];

/// One channel's features over the window.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ChannelFeatures {
    /// Mean quality over the last [`RECENT_SECONDS`].
    pub q: f64,
    /// Mean quality over the [`BEFORE_SECONDS`] before that.
    pub qpre: f64,
    /// Longest time without a beat in the last seconds.
    pub gap: f64,
    /// Lowest 5-beat rate in the last seconds.
    pub r5min: f64,
    /// Highest 5-beat rate in the last seconds.
    pub r5max: f64,
    /// Highest 17-beat rate in the last seconds.
    pub r17max: f64,
    /// Longest run of abnormal beats in the last seconds (ECG).
    pub arun: f64,
    /// Highest share of abnormal beats (ECG).
    pub afrac: f64,
    /// Highest spectral concentration (ECG).
    pub conc: f64,
    /// Median dominant frequency (ECG), hertz.
    pub dom: f64,
}

impl ChannelFeatures {
    fn get(&self, field: &str) -> f64 {
        match field {
            "q" => self.q,
            "qpre" => self.qpre,
            "gap" => self.gap,
            "r5min" => self.r5min,
            "r5max" => self.r5max,
            "r17max" => self.r17max,
            "arun" => self.arun,
            "afrac" => self.afrac,
            "conc" => self.conc,
            _ => self.dom,
        }
    }

    fn from_features(features: &Features, slot: &str) -> Option<Self> {
        let get = |f: &str| features.get(&format!("{slot}.{f}")).copied().unwrap_or(f64::NAN);
        features.contains_key(&format!("{slot}.q")).then(|| Self {
            q: get("q"),
            qpre: get("qpre"),
            gap: get("gap"),
            r5min: get("r5min"),
            r5max: get("r5max"),
            r17max: get("r17max"),
            arun: get("arun"),
            afrac: get("afrac"),
            conc: get("conc"),
            dom: get("dom"),
        })
    }
}

/// Every feature name [`summarise`] can produce, sorted.
pub fn feature_names() -> Vec<String> {
    let mut names: Vec<String> =
        SLOTS.iter().flat_map(|s| FIELDS.iter().map(move |f| format!("arrhythmia.{s}.{f}"))).collect();
    names.sort();
    names
}

/// Reduce a monitor window to the named features of its best channels.
pub fn summarise(window: &Window) -> Features {
    let mut channels: Vec<(String, bool)> = Vec::new();
    for name in window.signals.keys() {
        if let Some(channel) = name.strip_prefix("quality:") {
            channels.push((channel.to_owned(), channel.starts_with("ecg")));
        }
    }
    let end = window.end_ms as f64 / 1000.0;
    let recent = end - RECENT_SECONDS;
    let before = recent - BEFORE_SECONDS;
    let values = |signal: &str, channel: &str, from: f64, to: f64| -> Vec<f64> {
        let Some(series) = window.signal(&format!("{signal}:{channel}")) else { return Vec::new() };
        series
            .times_ms
            .iter()
            .zip(&series.values)
            .filter(|(t, v)| {
                let t = **t as f64 / 1000.0;
                t > from && t <= to && v.is_finite()
            })
            .map(|(_, v)| *v)
            .collect()
    };
    let mean = |v: &[f64]| if v.is_empty() { 0.0 } else { v.iter().sum::<f64>() / v.len() as f64 };
    let max = |v: Vec<f64>| v.into_iter().fold(f64::NAN, f64::max);
    let min = |v: Vec<f64>| v.into_iter().fold(f64::NAN, f64::min);
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let mut per: Vec<(bool, ChannelFeatures)> = channels
        .iter()
        .filter(|(c, ecg)| *ecg || c.starts_with("abp") || c.starts_with("pleth"))
        .map(|(c, ecg)| {
            let f = ChannelFeatures {
                q: mean(&values("quality", c, recent, end)),
                qpre: mean(&values("quality", c, before, recent)),
                gap: max(values("last_beat_age", c, recent, end)),
                r5min: min(values("rate5", c, recent, end)),
                r5max: max(values("rate5", c, recent, end)),
                r17max: max(values("rate17", c, recent, end)),
                arun: max(values("abnormal_run", c, recent, end)),
                afrac: max(values("abnormal_fraction", c, recent, end)),
                conc: max(values("concentration", c, recent, end)),
                dom: median(values("dominant_hz", c, recent, end)),
            };
            (*ecg, f)
        })
        .collect();
    per.sort_by(|a, b| b.1.q.total_cmp(&a.1.q));
    let mut out = Features::new();
    for (slots, ecg) in [(&SLOTS[..2], true), (&SLOTS[2..], false)] {
        for (slot, (_, f)) in slots.iter().zip(per.iter().filter(|(e, _)| *e == ecg)) {
            for field in FIELDS {
                out.insert(format!("arrhythmia.{slot}.{field}"), f.get(field));
            }
        }
    }
    out
}

/// The channels a feature set describes, by slot: what [`judge_channels`] reads.
#[derive(Debug, Clone)]
pub struct Channels {
    ecg: Vec<(&'static str, ChannelFeatures)>,
    pulse: Vec<(&'static str, ChannelFeatures)>,
}

impl Channels {
    /// The channels of a feature set from [`summarise`].
    pub fn of(features: &Features) -> Self {
        let prefixed: Features =
            features.iter().filter_map(|(k, v)| Some((k.strip_prefix("arrhythmia.")?.to_owned(), *v))).collect();
        let slot = |s: &'static str| ChannelFeatures::from_features(&prefixed, s).map(|f| (s, f));
        Self {
            ecg: ["ecg1", "ecg2"].into_iter().filter_map(slot).collect(),
            pulse: ["pulse1", "pulse2"].into_iter().filter_map(slot).collect(),
        }
    }
}

fn name(slot: &str) -> &'static str {
    match slot {
        "ecg1" => "the cleanest ECG lead",
        "ecg2" => "the other ECG lead",
        "pulse1" => "the cleanest pulsatile channel",
        _ => "the other pulsatile channel",
    }
}

/// Whether the alarm is doubted, and why, in words and numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// A clean channel contradicts the alarm.
    pub doubted: bool,
    /// The reasons, most important first.
    pub reasons: Vec<String>,
}

/// Judge an alarm of type `alarm` on its features with thresholds `p`.
pub fn judge(alarm: Alarm, features: &Features, p: &Params) -> Judgement {
    judge_channels(alarm, &Channels::of(features), p, true)
}

/// [`judge`] on channels read once, its reasons in words only if `explain` (tuning judges each
/// record many times and reads only the decision).
pub fn judge_channels(alarm: Alarm, ch: &Channels, p: &Params, explain: bool) -> Judgement {
    let clean = |f: &ChannelFeatures, q: f64| f.q.is_finite() && f.q >= q;
    let verdict = |doubted: bool, why: &dyn Fn() -> String| Judgement {
        doubted,
        reasons: if explain { vec![why()] } else { Vec::new() },
    };
    let doubt = |why: &dyn Fn() -> String| verdict(true, why);
    let keep = |why: &dyn Fn() -> String| verdict(false, why);
    match alarm {
        Alarm::Asystole => {
            let q = p.asystole_quality;
            let beating = |f: &ChannelFeatures| clean(f, q) && f.gap.is_finite() && f.gap < p.asystole_gap;
            if let Some((slot, f)) = ch.pulse.iter().find(|(_, f)| beating(f)) {
                return doubt(&|| {
                    format!("{} keeps beating: longest pause {:.1} s, quality {:.2}", name(slot), f.gap, f.q)
                });
            }
            let paused_pulse =
                ch.pulse.iter().find(|(_, f)| f.qpre >= q && f.gap.is_finite() && f.gap >= p.asystole_gap);
            if let (Some((slot, f)), None) = (ch.ecg.iter().find(|(_, f)| beating(f)), paused_pulse) {
                return doubt(&|| {
                    format!(
                        "{} keeps beating: longest pause {:.1} s, quality {:.2}, and no pulse channel shows the pause",
                        name(slot),
                        f.gap,
                        f.q
                    )
                });
            }
            let longest = ch.ecg.iter().chain(&ch.pulse).map(|(_, f)| f.gap).fold(f64::NAN, f64::min);
            keep(&|| format!("no clean channel keeps beating (shortest longest-pause {longest:.1} s)"))
        }
        Alarm::ExtremeBradycardia => {
            let q = p.bradycardia_quality;
            let slow_pulse = ch.pulse.iter().find(|(_, f)| clean(f, q) && f.r5min < 40.0);
            match (ch.ecg.first().filter(|(_, f)| clean(f, q)), slow_pulse) {
                (Some((slot, f)), None) if f.r5min >= p.bradycardia_rate => doubt(&|| {
                    format!("{} never slower than {:.0}/min over 5 beats (quality {:.2})", name(slot), f.r5min, f.q)
                }),
                _ => keep(&|| "no clean channel contradicts the slow rate".into()),
            }
        }
        Alarm::ExtremeTachycardia => {
            let q = p.tachycardia_quality;
            let fast_pulse = ch.pulse.iter().find(|(_, f)| clean(f, q) && f.r17max >= p.tachycardia_rate);
            match (ch.ecg.first().filter(|(_, f)| clean(f, q)), fast_pulse) {
                (Some((slot, f)), None) if f.r17max < p.tachycardia_rate => doubt(&|| {
                    format!("{} never faster than {:.0}/min over 17 beats (quality {:.2})", name(slot), f.r17max, f.q)
                }),
                _ => keep(&|| "no clean channel contradicts the fast rate".into()),
            }
        }
        Alarm::VentricularTachycardia => {
            let longest = ch.ecg.iter().map(|(_, f)| f.arun).fold(0.0, f64::max);
            // A real ventricular tachycardia disturbs the pulse it makes: a clean pulse that keeps
            // its rate, under a rhythm no lead shows the alarm's own run of, belies the alarm.
            let steady = |f: &ChannelFeatures| {
                clean(f, STEADY_PULSE_QUALITY) && f.gap < 2.0 && f.r5max - f.r5min < p.vt_steady_pulse
            };
            if let Some((slot, f)) = ch.pulse.iter().find(|(_, f)| longest < ALARM_RUN && steady(f)) {
                return doubt(&|| {
                    format!(
                    "{} keeps a steady pulse ({:.0}–{:.0}/min over 5 beats, quality {:.2}) and no ECG lead shows {ALARM_RUN:.0} alike abnormal beats in a row (longest {longest:.0})",
                    name(slot),
                    f.r5min,
                    f.r5max,
                    f.q
                )
                });
            }
            // A ventricular beat is abnormal in every lead: a short run on one lead needs the
            // other, if it can be read, to show abnormal beats in a row too. Past that, any
            // lead's run supports the alarm however noisy the lead: missing a real run costs
            // more than keeping a false one.
            let witness = |slot: &str| {
                ch.ecg.iter().find(|(other, g)| *other != slot && clean(g, p.vt_other_quality) && g.arun <= 1.0)
            };
            let supports = |(slot, f): &&(&'static str, ChannelFeatures)| {
                f.arun >= p.vt_run && (f.arun >= p.vt_alone_run || witness(slot).is_none())
            };
            if let Some((slot, f)) = ch.ecg.iter().find(supports) {
                return keep(&|| {
                    format!("{} shows {:.0} alike abnormal beats in a row (quality {:.2})", name(slot), f.arun, f.q)
                });
            }
            let unseen = ch
                .ecg
                .iter()
                .find(|(_, f)| f.arun >= p.vt_run)
                .and_then(|(slot, f)| witness(slot).map(|(other, g)| (slot, f, other, g)));
            if let Some((slot, f)) = ch.ecg.iter().find(|(_, f)| clean(f, p.vt_quality)) {
                return doubt(&|| match unseen {
                    Some((run_slot, run, other, g)) => format!(
                        "the run of {:.0} abnormal beats on {} is not on {} (longest {:.0}, quality {:.2})",
                        run.arun,
                        name(run_slot),
                        name(other),
                        g.arun,
                        g.q
                    ),
                    None => format!(
                        "{} shows no run of ventricular-looking beats (longest {longest:.0}, quality {:.2})",
                        name(slot),
                        f.q
                    ),
                });
            }
            if let Some((slot, f)) = ch.pulse.iter().find(|(_, f)| clean(f, p.vt_pulse_quality) && f.gap < 2.0) {
                return doubt(&|| {
                    format!(
                    "the ECG is noisy with no run of ventricular-looking beats (longest {longest:.0}), and {} keeps a regular pulse (quality {:.2})",
                    name(slot),
                    f.q
                )
                });
            }
            keep(&|| "no clean channel to judge the rhythm on".into())
        }
        Alarm::VentricularFlutterFibrillation => {
            let q = p.vf_quality;
            let organised = ch.ecg.iter().find(|(_, f)| clean(f, q) && f.conc < p.vf_concentration && f.gap < 2.0);
            let pulsing = ch.pulse.iter().find(|(_, f)| clean(f, q) && f.gap < 2.0);
            match (organised, pulsing) {
                (_, Some((slot, f))) => doubt(&|| {
                    format!("{} keeps its pulses (longest pause {:.1} s, quality {:.2})", name(slot), f.gap, f.q)
                }),
                (Some((slot, f)), None) => doubt(&|| {
                    format!(
                        "{} shows organised beats (spectral concentration {:.2}, quality {:.2})",
                        name(slot),
                        f.conc,
                        f.q
                    )
                }),
                _ => keep(&|| "no clean channel shows an organised rhythm".into()),
            }
        }
    }
}

/// The assessment of an alarm: a doubted one is a likely artifact.
pub fn assess(alarm: Alarm, features: &Features, p: &Params) -> Assessment {
    let j = judge(alarm, features, p);
    let (score, artifact, weight) = if j.doubted { (0.2, 0.9, -1.0) } else { (0.9, 0.0, 1.0) };
    let reasons =
        j.reasons.into_iter().map(|text| Reason { text: format!("{}: {text}", alarm.words()), weight }).collect();
    Assessment { score, artifact, reasons }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rescore::window::Series;

    /// A monitor window of 300 s at 1 s with each channel's numerics constant but for `recent`
    /// values in the last seconds.
    /// A channel: name, its numerics' usual values, their values in the last seconds.
    type Channel<'a> = (&'a str, &'a [(&'a str, f64)], &'a [(&'a str, f64)]);

    fn window(channels: &[Channel]) -> Window {
        let end_ms = 1_000_000_000;
        let mut w = Window { start_ms: end_ms - 300_000, end_ms, step_ms: 1000, ..Window::default() };
        for (channel, before, recent) in channels {
            for (signal, value) in *before {
                let recent_value = recent.iter().find(|(s, _)| s == signal).map(|(_, v)| *v);
                let series = Series::from_pairs((0..=300).map(|k| {
                    let t = w.start_ms + k * 1000;
                    let late = (end_ms - t) as f64 / 1000.0 < RECENT_SECONDS;
                    (t, if late { recent_value.unwrap_or(*value) } else { *value })
                }));
                w.signals.insert(format!("{signal}:{channel}"), series);
            }
        }
        w
    }

    const BEATING: &[(&str, f64)] = &[("quality", 0.95), ("last_beat_age", 0.8), ("rate5", 75.0), ("rate17", 75.0)];

    #[test]
    fn an_asystole_with_a_clean_pulse_beating_through_it_is_doubted_and_a_real_one_kept() {
        let p = Params::default();
        let false_alarm =
            window(&[("ecg_ii", BEATING, &[("quality", 0.1), ("last_beat_age", 6.0)]), ("abp", BEATING, &[])]);
        let j = judge(Alarm::Asystole, &summarise(&false_alarm), &p);
        assert!(j.doubted, "{j:?}");
        assert!(j.reasons[0].contains("pulsatile channel keeps beating"), "{j:?}");
        let real = window(&[
            ("ecg_ii", BEATING, &[("last_beat_age", 6.0)]),
            ("abp", BEATING, &[("quality", 0.0), ("last_beat_age", 6.0)]),
        ]);
        assert!(!judge(Alarm::Asystole, &summarise(&real), &p).doubted);
        let a = assess(Alarm::Asystole, &summarise(&false_alarm), &p);
        assert!(a.artifact >= 0.5 && a.score < 0.5 && a.reasons[0].text.starts_with("asystole: "), "{a:?}");
    }

    #[test]
    fn an_ecg_that_beats_does_not_doubt_an_asystole_a_clean_pulse_channel_confirms() {
        let p = Params::default();
        let w = window(&[("ecg_ii", BEATING, &[]), ("pleth", BEATING, &[("quality", 0.0), ("last_beat_age", 5.0)])]);
        assert!(!judge(Alarm::Asystole, &summarise(&w), &p).doubted, "the pleth that was clean shows the pause");
    }

    #[test]
    fn rhythm_alarms_follow_the_cleanest_channels() {
        let p = Params::default();
        let slow = window(&[("ecg_ii", BEATING, &[("rate5", 36.0)])]);
        assert!(!judge(Alarm::ExtremeBradycardia, &summarise(&slow), &p).doubted);
        let normal = window(&[("ecg_ii", BEATING, &[])]);
        assert!(judge(Alarm::ExtremeBradycardia, &summarise(&normal), &p).doubted);
        assert!(judge(Alarm::ExtremeTachycardia, &summarise(&normal), &p).doubted);
        let run = [("abnormal_run", 0.0), ("quality", 0.95), ("last_beat_age", 0.5), ("concentration", 0.3)];
        let vt = window(&[("ecg_ii", &run, &[("abnormal_run", 8.0)]), ("ecg_v", &run, &[])]);
        let j = judge(Alarm::VentricularTachycardia, &summarise(&vt), &p);
        assert!(!j.doubted && j.reasons[0].contains("8 alike abnormal beats in a row"), "{j:?}");
        let clean = window(&[("ecg_ii", &run, &[])]);
        assert!(judge(Alarm::VentricularTachycardia, &summarise(&clean), &p).doubted);
        let noisy = window(&[("ecg_ii", &run, &[("quality", 0.2), ("abnormal_run", 8.0)])]);
        assert!(!judge(Alarm::VentricularTachycardia, &summarise(&noisy), &p).doubted, "a run on any lead: kept");
        let noise = window(&[("ecg_ii", &run, &[("quality", 0.2)])]);
        assert!(!judge(Alarm::VentricularTachycardia, &summarise(&noise), &p).doubted, "nothing clean: kept");
        let pulsing = window(&[("ecg_ii", &run, &[("quality", 0.2)]), ("abp", BEATING, &[("quality", 0.8)])]);
        let j = judge(Alarm::VentricularTachycardia, &summarise(&pulsing), &p);
        assert!(j.doubted && j.reasons[0].contains("keeps a regular pulse"), "a noisy ECG and a clean pulse: {j:?}");
        let vf = window(&[("ecg_ii", &run, &[("concentration", 0.9)])]);
        assert!(!judge(Alarm::VentricularFlutterFibrillation, &summarise(&vf), &p).doubted);
        assert!(judge(Alarm::VentricularFlutterFibrillation, &summarise(&clean), &p).doubted);
    }

    #[test]
    fn a_short_ventricular_run_needs_the_other_lead_and_a_steady_pulse_belies_one_shorter_than_the_alarms() {
        let p = Params::default();
        let lead = [("abnormal_run", 0.0), ("quality", 0.95), ("last_beat_age", 0.5), ("rate5", 80.0)];
        let vt = |ii: f64, v: f64, v_quality: f64| {
            judge(
                Alarm::VentricularTachycardia,
                &summarise(&window(&[
                    ("ecg_ii", &lead, &[("abnormal_run", ii)]),
                    ("ecg_v", &lead, &[("abnormal_run", v), ("quality", v_quality)]),
                ])),
                &p,
            )
        };
        let alone = vt(3.0, 0.0, 0.95);
        assert!(alone.doubted, "a triplet on one lead, the other clean and normal: {alone:?}");
        assert!(alone.reasons[0].contains("the run of 3 abnormal beats on") && alone.reasons[0].contains("is not on"));
        assert!(!vt(3.0, 2.0, 0.95).doubted, "the other lead shows abnormal beats too");
        assert!(!vt(3.0, 0.0, 0.1).doubted, "the other lead cannot be read: the run stands");
        assert!(!vt(4.0, 0.0, 0.95).doubted, "a run of 4 stands on one lead");

        // A clean pulse keeping its rate within the spread, and no lead with the alarm's 5 beats.
        let pulse = |spread: f64, quality: f64, run: f64| {
            let mut w = window(&[
                ("ecg_ii", &lead, &[("abnormal_run", run)]),
                ("ecg_v", &lead, &[("abnormal_run", run)]),
                ("abp", BEATING, &[("quality", quality)]),
            ]);
            let rate = w.signals.get_mut("rate5:abp").expect("the pulse's rate");
            let last = rate.values.len() - 1;
            rate.values[last] += spread;
            judge(Alarm::VentricularTachycardia, &summarise(&w), &p)
        };
        let steady = pulse(2.0, 0.95, 3.0);
        assert!(steady.doubted && steady.reasons[0].contains("keeps a steady pulse (75–77/min"), "{steady:?}");
        assert!(!pulse(p.vt_steady_pulse + 1.0, 0.95, 3.0).doubted, "a pulse disturbed by the run");
        assert!(!pulse(2.0, 0.8, 3.0).doubted, "a pulse not clean enough to tell");
        assert!(!pulse(2.0, 0.95, ALARM_RUN).doubted, "the alarm's own run on the ECG stands");
        let off = Params { vt_steady_pulse: 0.0, ..p };
        let w = window(&[
            ("ecg_ii", &lead, &[("abnormal_run", 3.0)]),
            ("ecg_v", &lead, &[("abnormal_run", 3.0)]),
            ("abp", BEATING, &[]),
        ]);
        assert!(!judge(Alarm::VentricularTachycardia, &summarise(&w), &off).doubted, "steadiness unused");
    }

    #[test]
    fn feature_names_cover_what_summarise_gives() {
        let w = window(&[
            ("ecg_ii", BEATING, &[]),
            ("ecg_v", BEATING, &[]),
            ("abp", BEATING, &[]),
            ("pleth", BEATING, &[]),
        ]);
        let got: Vec<String> = summarise(&w).into_keys().collect();
        assert_eq!(got, feature_names());
        assert_eq!(Alarm::from_focus("arrhythmia:ventricular_tachycardia"), Some(Alarm::VentricularTachycardia));
        assert_eq!(Alarm::parse("asystole").map(Alarm::as_str), Some("asystole"));
    }
}
