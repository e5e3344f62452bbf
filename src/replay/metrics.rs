//! The replayed beds as Prometheus metrics: every numeric of [`NUMERICS`] per analysed channel,
//! the monitor's alarm, and how far each record has played.
//!
//! Every series carries the bed's `department`, `ward`, `bed` and `patient`; the numerics add
//! `channel`, the alarm `type`. ECG-only numerics appear on ECG channels only, a numeric the
//! monitor cannot give yet (NaN: too few beats) is left out, and respiration or unrecognised
//! channels, which the monitor does not analyse, have none.

use super::Replay;
use crate::exposition::{Family, Kind, Writer};
use crate::monitor::{ChannelKind, ALARM_METRIC, NUMERICS};

/// Decimals written for every numeric: below the resolution of each at 250 Hz.
const DECIMALS: u8 = 4;

/// The monitor's alarm.
pub const ALARM: Family = Family {
    name: ALARM_METRIC,
    help: "The bedside monitor's arrhythmia alarm, by type: 1 from its onset.",
    kind: Kind::Gauge,
    decimals: 0,
};

/// How far each bed's record has played.
pub const POSITION: Family = Family {
    name: "wardwatch_replay_position_seconds",
    help: "Seconds of the bed's record the monitor has taken in; its numerics are computed up to here.",
    kind: Kind::Gauge,
    decimals: 0,
};

/// Write every bed's numerics, alarm and position (without `# EOF`).
pub fn write_replay(replay: &Replay, w: &mut Writer<'_>) {
    for spec in &NUMERICS {
        w.family(Family { name: spec.metric, help: spec.help, kind: Kind::Gauge, decimals: DECIMALS });
        for bed in replay.beds() {
            for channel in bed.published() {
                if !spec.every_channel && channel.info.kind != ChannelKind::Ecg {
                    continue;
                }
                let value = (spec.read)(&bed.numerics()[channel.index]);
                if value.is_finite() {
                    w.sample(bed.labels(), &channel.label, f64::from(value));
                }
            }
        }
    }
    w.family(ALARM);
    for bed in replay.beds() {
        if let Some((label, on)) = bed.alarm() {
            w.sample(bed.labels(), label, if on { 1.0 } else { 0.0 });
        }
    }
    w.family(POSITION);
    for bed in replay.beds() {
        w.sample(bed.labels(), "", f64::from(bed.position()));
    }
}
