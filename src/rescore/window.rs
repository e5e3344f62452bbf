//! The history of one entity over one window: named signals, each a series of samples.

use std::collections::BTreeMap;

/// Signal names shared by the history sources, the features and the targets configuration.
pub mod signal {
    /// ECG-derived heart rate, beats per minute.
    pub const HEART_RATE: &str = "heart_rate";
    /// Pulse rate from the pulse oximeter, beats per minute.
    pub const PULSE_RATE: &str = "pulse_rate";
    /// SpO2, ratio 0–1.
    pub const SPO2: &str = "spo2";
    /// Pleth (pulse-oximeter) signal quality, ratio 0–1.
    pub const PLETH_QUALITY: &str = "pleth_quality";
    /// ECG signal quality, ratio 0–1 (0 when a lead is off).
    pub const ECG_QUALITY: &str = "ecg_quality";
    /// ST-segment deviation, volts.
    pub const ST_DEVIATION: &str = "st_deviation";
    /// Systolic blood pressure, mmHg.
    pub const SYSTOLIC: &str = "systolic";
    /// Diastolic blood pressure, mmHg.
    pub const DIASTOLIC: &str = "diastolic";
    /// Mean arterial pressure, mmHg.
    pub const MEAN_PRESSURE: &str = "mean_pressure";
    /// Respiration rate, breaths per minute.
    pub const RESPIRATION_RATE: &str = "respiration_rate";
    /// Temperature, °C.
    pub const TEMPERATURE: &str = "temperature";
    /// Inspired oxygen fraction, ratio.
    pub const FIO2: &str = "fio2";
    /// End-tidal CO2, mmHg.
    pub const ETCO2: &str = "etco2";
    /// White cell count, cells per litre.
    pub const WBC: &str = "wbc";
    /// Blood glucose, mmol/L.
    pub const GLUCOSE: &str = "glucose";
    /// Lactate, mmol/L.
    pub const LACTATE: &str = "lactate";
    /// NEWS2 aggregate score.
    pub const NEWS2: &str = "news2";
    /// NEWS2's consciousness score: 0 alert, 3 new confusion or responsive only to voice, pain or
    /// nothing (ACVPU). A nurse's observation, which no sensor artifact can fake.
    pub const CONSCIOUSNESS: &str = "consciousness";
    /// Bytes per second sent (device or link).
    pub const TRANSMIT_RATE: &str = "transmit_rate";
    /// Bytes per second received (device or link).
    pub const RECEIVE_RATE: &str = "receive_rate";
    /// Link errors per second.
    pub const ERROR_RATE: &str = "error_rate";
    /// Link latency, seconds.
    pub const LATENCY: &str = "latency";
    /// Link packet loss, ratio.
    pub const PACKET_LOSS: &str = "packet_loss";
    /// Link up (1) or down (0).
    pub const LINK_UP: &str = "link_up";
    /// Node or cluster CPU (utilisation or request ratio).
    pub const CPU: &str = "cpu";
    /// Node or cluster memory (utilisation or request ratio).
    pub const MEMORY: &str = "memory";
    /// Node disk utilisation, ratio.
    pub const DISK: &str = "disk";
    /// Cluster pods over capacity, ratio.
    pub const PODS: &str = "pods";
    /// Container restarts per second.
    pub const RESTART_RATE: &str = "restart_rate";
}

/// One signal's samples, oldest first; `times_ms` and `values` have the same length.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// Sample times, Unix milliseconds, strictly increasing.
    pub times_ms: Vec<i64>,
    /// Sample values.
    pub values: Vec<f64>,
}

impl Series {
    /// A series from `(time_ms, value)` pairs.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (i64, f64)>) -> Self {
        let (times_ms, values) = pairs.into_iter().unzip();
        Self { times_ms, values }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The last sample, if any.
    pub fn last(&self) -> Option<(i64, f64)> {
        Some((*self.times_ms.last()?, *self.values.last()?))
    }
}

/// The signals of one entity over `[start_ms, end_ms]`, by signal name (see [`signal`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Window {
    /// Window start, Unix milliseconds.
    pub start_ms: i64,
    /// Window end (the alert's `startsAt`), Unix milliseconds.
    pub end_ms: i64,
    /// Resolution the history was fetched at, milliseconds.
    pub step_ms: i64,
    /// The signals.
    pub signals: BTreeMap<String, Series>,
}

impl Window {
    /// A signal's series, if the history had it.
    pub fn signal(&self, name: &str) -> Option<&Series> {
        self.signals.get(name).filter(|s| !s.is_empty())
    }
}
