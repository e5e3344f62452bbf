//! The bedside monitor: what staff and Prometheus see of a patient, which is not always the truth.
//!
//! The monitor counts heartbeats from the ECG's R-R intervals (streamed from the ECGSYN RR
//! process one beat at a time), reads SpO2 and pulse from the pleth, measures blood pressure by
//! cuff at the ward's cadence (or continuously by arterial line in intensive care), and reports lab
//! results when the lab returns them. Artifacts act here, on the readings, and never on the body:
//! a probe-off dip looks like hypoxia to a threshold rule while the ECG heart rate stays calm.

use crate::clinical::news2::{self, Observations, Score};
use crate::sim::config::DepartmentKind;
use crate::sim::ecg::RrProcess;
use crate::sim::physiology::{Baseline, Vitals};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

/// Beats kept for the waveform endpoint and the heart-rate average.
pub const RR_HISTORY: usize = 32;
/// Beats a monitor averages for its displayed heart rate.
const HR_AVERAGE_BEATS: usize = 8;
/// Beats drawn one by one at the end of a step (about 10 s of signal for the waveform).
const KEEP_BEATS: usize = 10;
/// Ambient temperature a dislodged temperature probe drifts to, °C.
const AMBIENT_CELSIUS: f64 = 33.0;

/// How an ECG lead-off shows on the monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LeadOff {
    /// Leads attached.
    #[default]
    No,
    /// A flat line, counted as 0 /min (looks like asystole).
    Flat,
    /// Noise counted as an extreme tachycardia.
    Noise,
}

/// Artifacts currently acting on the monitor, set each step by the active events.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Artifacts {
    /// Depth (ratio) of a motion dip in the SpO2 reading; 0 when none.
    pub spo2_motion_depth: f64,
    /// The SpO2 probe is off the finger.
    pub spo2_probe_off: bool,
    /// ECG leads off.
    pub lead_off: LeadOff,
    /// The blood-pressure measurement is wrong (mis-sized cuff, or a flushed arterial line);
    /// the factor multiplies systolic and diastolic.
    pub bp_error_factor: Option<f64>,
    /// The temperature probe is dislodged and reads ambient.
    pub temperature_stuck: bool,
}

/// The values a monitor displays; column order of [`Readings::values`] follows [`Column`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Readings {
    /// One value per column, in the column's unit.
    pub values: [f64; Column::COUNT],
    /// NEWS2 of these readings.
    pub news2: Score,
}

/// A published per-patient reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Column {
    /// Heart rate counted from ECG R-R intervals, /min.
    HeartRate,
    /// Pulse rate from the pleth, /min.
    PulseRate,
    /// SpO2, ratio.
    Spo2,
    /// Pleth signal quality, ratio.
    PlethQuality,
    /// ECG signal quality, ratio.
    EcgQuality,
    /// ST deviation, volts.
    StDeviation,
    /// Systolic pressure, mmHg.
    Systolic,
    /// Diastolic pressure, mmHg.
    Diastolic,
    /// Mean arterial pressure, mmHg.
    MeanArterial,
    /// Respiration rate, /min.
    Respiration,
    /// Temperature, °C.
    Temperature,
    /// Inspired oxygen fraction.
    Fio2,
    /// End-tidal CO2, mmHg.
    Etco2,
    /// White cells per litre.
    Wbc,
    /// Glucose, mmol/L.
    Glucose,
    /// Lactate, mmol/L.
    Lactate,
}

impl Column {
    /// Number of columns.
    pub const COUNT: usize = 16;
}

/// Blood-pressure cuff interval by department, seconds; 0 is a continuous arterial line.
fn nibp_interval(kind: DepartmentKind) -> f64 {
    match kind {
        DepartmentKind::Icu => 0.0,
        DepartmentKind::Cardiology => 900.0,
        DepartmentKind::Surgery => 1800.0,
        DepartmentKind::GeneralMedicine => 3600.0,
    }
}

/// Lab cadence (WBC, glucose, lactate) by department, seconds.
fn lab_intervals(kind: DepartmentKind, diabetic: bool) -> [f64; 3] {
    let glucose_ward = if diabetic { 4.0 * 3600.0 } else { 6.0 * 3600.0 };
    match kind {
        DepartmentKind::Icu => [12.0 * 3600.0, 3600.0, 2.0 * 3600.0],
        _ => [24.0 * 3600.0, glucose_ward, 24.0 * 3600.0],
    }
}

/// One bedside monitor's state.
#[derive(Debug, Clone)]
pub struct Monitor {
    rr: RrProcess,
    next_beat_in: f64,
    recent_rr: [f32; RR_HISTORY],
    beats: u64,
    nibp_interval: f64,
    nibp_due_in: f64,
    nibp: (f64, f64),
    lab_interval: [f64; 3],
    lab_due_in: [f64; 3],
    labs: [f64; 3],
    temperature_reading: f64,
    spo2_scale: news2::Spo2Scale,
    bp_error_was_on: bool,
    /// Current artifacts.
    pub artifacts: Artifacts,
}

fn gauss<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    StandardNormal.sample(rng)
}

impl Monitor {
    /// A monitor freshly attached to a patient with this baseline.
    pub fn new<R: Rng + ?Sized>(kind: DepartmentKind, baseline: &Baseline, v: &Vitals, rng: &mut R) -> Self {
        let nibp_interval = nibp_interval(kind);
        let lab_interval = lab_intervals(kind, baseline.condition == crate::sim::physiology::Condition::Diabetes);
        let rr0 = 60.0 / v.heart_rate;
        Self {
            rr: RrProcess::new(rng, baseline.hrv_sd_seconds),
            next_beat_in: rng.random::<f64>() * rr0,
            recent_rr: [rr0 as f32; RR_HISTORY],
            beats: 0,
            nibp_interval,
            nibp_due_in: rng.random::<f64>() * nibp_interval,
            nibp: (v.systolic, v.diastolic),
            lab_interval,
            lab_due_in: lab_interval.map(|i| rng.random::<f64>() * i),
            labs: [v.wbc, v.glucose, v.lactate],
            temperature_reading: v.temperature,
            spo2_scale: baseline.spo2_scale(),
            bp_error_was_on: false,
            artifacts: Artifacts::default(),
        }
    }

    /// The last [`RR_HISTORY`] R-R intervals in seconds, oldest first.
    pub fn recent_rr_intervals(&self) -> Vec<f64> {
        let start = (self.beats as usize) % RR_HISTORY;
        (0..RR_HISTORY).map(|i| f64::from(self.recent_rr[(start + i) % RR_HISTORY])).collect()
    }

    /// True when blood pressure comes from an arterial line rather than a cuff.
    pub fn has_arterial_line(&self) -> bool {
        self.nibp_interval == 0.0
    }

    /// Stream heartbeats over `dt` seconds at the body's heart rate; irregular in atrial fibrillation.
    fn beat<R: Rng + ?Sized>(&mut self, v: &Vitals, irregular: bool, dt: f64, rng: &mut R) {
        self.next_beat_in -= dt;
        // Only the last KEEP_BEATS beats are displayed or kept for the waveform: skip the RR
        // process over older ones instead of drawing each (a 15 s step holds ~20 beats).
        let mean_rr = 60.0 / v.heart_rate.max(1.0);
        let backlog = -self.next_beat_in - KEEP_BEATS as f64 * mean_rr;
        if backlog > 0.0 {
            let skipped = (backlog / mean_rr).ceil() * mean_rr;
            self.rr.skip(skipped, rng);
            self.next_beat_in += skipped;
        }
        while self.next_beat_in <= 0.0 {
            let mut rr = self.rr.next_rr(v.heart_rate, rng);
            if irregular {
                // Atrial fibrillation: "irregularly irregular" intervals, sd ~15% of the mean.
                rr *= (1.0 + 0.15 * gauss(rng)).clamp(0.6, 1.5);
            }
            let rr = rr.clamp(0.25, 2.5);
            self.recent_rr[(self.beats as usize) % RR_HISTORY] = rr as f32;
            self.beats += 1;
            self.next_beat_in += rr;
        }
    }

    /// Heart rate a monitor displays: 60 over the mean of the last few R-R intervals.
    fn counted_heart_rate(&self) -> f64 {
        let n = HR_AVERAGE_BEATS;
        let sum: f32 = (1..=n).map(|k| self.recent_rr[(self.beats as usize + RR_HISTORY - k) % RR_HISTORY]).sum();
        60.0 * n as f64 / f64::from(sum)
    }

    /// Advance the monitor by `dt` seconds and return what it displays.
    pub fn observe<R: Rng + ?Sized>(&mut self, v: &Vitals, irregular: bool, dt: f64, rng: &mut R) -> Readings {
        self.beat(v, irregular, dt, rng);
        let a = self.artifacts;
        let mut out = [0.0; Column::COUNT];

        let (hr, ecg_q, st_mv) = match a.lead_off {
            LeadOff::No => (
                self.counted_heart_rate(),
                (0.95 + 0.02 * gauss(rng)).clamp(0.0, 1.0),
                v.st_deviation_mv + 0.01 * gauss(rng),
            ),
            LeadOff::Flat => (0.0, 0.02, 0.0),
            LeadOff::Noise => (200.0 + 30.0 * gauss(rng).abs(), 0.1, 0.3 * gauss(rng)),
        };
        out[Column::HeartRate as usize] = hr;
        out[Column::EcgQuality as usize] = ecg_q;
        out[Column::StDeviation as usize] = st_mv / 1000.0;

        let pleth_q = (0.9 * v.perfusion + 0.03 * gauss(rng)).clamp(0.05, 1.0);
        let (spo2, pulse, pleth_q) = if a.spo2_probe_off {
            (0.62 + 0.15 * rng.random::<f64>(), 0.0, 0.02)
        } else if a.spo2_motion_depth > 0.0 {
            let depth = a.spo2_motion_depth;
            (v.spo2 - depth, v.heart_rate + 25.0 * gauss(rng), pleth_q * (1.0 - 3.0 * depth).max(0.1))
        } else {
            (v.spo2 + 0.003 * gauss(rng), v.heart_rate + 1.5 * gauss(rng), pleth_q)
        };
        out[Column::Spo2 as usize] = spo2.clamp(0.0, 1.0);
        out[Column::PulseRate as usize] = pulse.max(0.0);
        out[Column::PlethQuality as usize] = pleth_q;

        self.measure_pressure(v, dt, rng);
        out[Column::Systolic as usize] = self.nibp.0;
        out[Column::Diastolic as usize] = self.nibp.1;
        out[Column::MeanArterial as usize] = self.nibp.1 + (self.nibp.0 - self.nibp.1) / 3.0;

        out[Column::Respiration as usize] = (v.respiration + 0.7 * gauss(rng)).max(0.0);
        self.temperature_reading = if a.temperature_stuck {
            // A dislodged probe cools toward ambient and then reads flat.
            let k = (-dt / 120.0).exp();
            AMBIENT_CELSIUS + (self.temperature_reading - AMBIENT_CELSIUS) * k
        } else {
            v.temperature + 0.04 * gauss(rng)
        };
        out[Column::Temperature as usize] = self.temperature_reading;
        out[Column::Fio2 as usize] = v.fio2;
        out[Column::Etco2 as usize] = (v.etco2 + 0.8 * gauss(rng)).max(0.0);

        self.run_labs(v, dt, rng);
        out[Column::Wbc as usize] = self.labs[0] * 1e9;
        out[Column::Glucose as usize] = self.labs[1];
        out[Column::Lactate as usize] = self.labs[2];

        let news2 = news2::score(&Observations {
            respiration_rate_per_minute: out[Column::Respiration as usize],
            spo2_ratio: out[Column::Spo2 as usize],
            on_oxygen: v.fio2 > 0.21 + 1e-9,
            systolic_mmhg: out[Column::Systolic as usize],
            pulse_per_minute: hr,
            consciousness: v.consciousness,
            temperature_celsius: self.temperature_reading,
            spo2_scale: self.spo2_scale,
        });
        Readings { values: out, news2 }
    }

    /// Cuff readings at the ward's cadence (held in between), or the arterial line continuously.
    fn measure_pressure<R: Rng + ?Sized>(&mut self, v: &Vitals, dt: f64, rng: &mut R) {
        let error = self.artifacts.bp_error_factor;
        // A nurse repeats a cuff reading right after a suspicious one, and one is taken at onset.
        let error_edge = error.is_some() != self.bp_error_was_on;
        self.bp_error_was_on = error.is_some();
        self.nibp_due_in -= dt;
        let due = self.nibp_interval == 0.0 || self.nibp_due_in <= 0.0 || error_edge;
        if !due {
            return;
        }
        if self.nibp_interval > 0.0 {
            self.nibp_due_in = self.nibp_interval;
        }
        let factor = error.unwrap_or(1.0);
        let noise = if self.nibp_interval == 0.0 { 1.0 } else { 3.0 };
        self.nibp = (
            (v.systolic * factor + noise * gauss(rng)).max(20.0),
            (v.diastolic * factor + noise * 0.6 * gauss(rng)).max(10.0),
        );
    }

    /// Lab results arrive at the lab's cadence with assay noise; held in between.
    fn run_labs<R: Rng + ?Sized>(&mut self, v: &Vitals, dt: f64, rng: &mut R) {
        let truth = [v.wbc, v.glucose, v.lactate];
        let assay_cv = [0.03, 0.04, 0.05];
        for i in 0..3 {
            self.lab_due_in[i] -= dt;
            if self.lab_due_in[i] <= 0.0 {
                self.lab_due_in[i] += self.lab_interval[i].max(dt);
                // Reported to one decimal, as the lab does (WBC in 10⁹/L).
                self.labs[i] = (truth[i] * (1.0 + assay_cv[i] * gauss(rng)) * 10.0).round() / 10.0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::physiology::Physiology;
    use rand::SeedableRng;
    use rand_pcg::Pcg64Mcg;

    fn setup(kind: DepartmentKind, seed: u64) -> (Physiology, Monitor, Pcg64Mcg) {
        let mut rng = Pcg64Mcg::seed_from_u64(seed);
        let p = Physiology::new(Baseline::draw(kind, &mut rng));
        let m = Monitor::new(kind, &p.baseline, &p.vitals(0.0), &mut rng);
        (p, m, rng)
    }

    fn observe_for(p: &Physiology, m: &mut Monitor, rng: &mut Pcg64Mcg, seconds: f64) -> Readings {
        let mut r = None;
        for _ in 0..(seconds as usize) {
            r = Some(m.observe(&p.vitals(0.0), false, 1.0, rng));
        }
        r.expect("at least one step")
    }

    #[test]
    fn counted_heart_rate_follows_the_body_within_a_few_beats() {
        let (mut p, mut m, mut rng) = setup(DepartmentKind::Icu, 1);
        p.drivers.arrhythmia = 1.0;
        p.drivers.arrhythmia_rate = 160.0;
        let r = observe_for(&p, &mut m, &mut rng, 20.0);
        let hr = r.values[Column::HeartRate as usize];
        assert!((hr - 160.0).abs() < 12.0, "counted {hr}");
    }

    #[test]
    fn probe_off_fakes_hypoxia_while_ecg_heart_rate_stays_true() {
        let (p, mut m, mut rng) = setup(DepartmentKind::GeneralMedicine, 2);
        let calm = observe_for(&p, &mut m, &mut rng, 30.0);
        m.artifacts.spo2_probe_off = true;
        let r = observe_for(&p, &mut m, &mut rng, 5.0);
        assert!(r.values[Column::Spo2 as usize] < 0.90);
        assert!(r.values[Column::PlethQuality as usize] < 0.1);
        let (hr0, hr1) = (calm.values[Column::HeartRate as usize], r.values[Column::HeartRate as usize]);
        assert!((hr0 - hr1).abs() < 10.0, "ecg hr moved {hr0} → {hr1}");
        assert!(r.news2.get(news2::Parameter::Spo2) == 3);
    }

    #[test]
    fn lead_off_fakes_asystole_while_pleth_pulse_stays_true() {
        let (p, mut m, mut rng) = setup(DepartmentKind::Cardiology, 3);
        m.artifacts.lead_off = LeadOff::Flat;
        let r = observe_for(&p, &mut m, &mut rng, 5.0);
        assert_eq!(r.values[Column::HeartRate as usize], 0.0);
        assert!(r.values[Column::EcgQuality as usize] < 0.1);
        let pulse = r.values[Column::PulseRate as usize];
        assert!((pulse - p.vitals(0.0).heart_rate).abs() < 8.0);
    }

    #[test]
    fn cuff_pressure_is_held_between_measurements_and_remeasured_after_an_error() {
        let (p, mut m, mut rng) = setup(DepartmentKind::GeneralMedicine, 4);
        let first = observe_for(&p, &mut m, &mut rng, 1.0).values[Column::Systolic as usize];
        let later = observe_for(&p, &mut m, &mut rng, 60.0).values[Column::Systolic as usize];
        assert!(first == later || m.nibp_due_in > 3500.0, "held value changed within a minute");
        m.artifacts.bp_error_factor = Some(0.55);
        let bad = observe_for(&p, &mut m, &mut rng, 1.0).values[Column::Systolic as usize];
        assert!(bad < 0.7 * p.vitals(0.0).systolic, "bad reading {bad}");
        m.artifacts.bp_error_factor = None;
        let redo = observe_for(&p, &mut m, &mut rng, 1.0).values[Column::Systolic as usize];
        assert!((redo - p.vitals(0.0).systolic).abs() < 15.0, "repeat reading {redo}");
    }

    #[test]
    fn dislodged_temperature_probe_drifts_to_ambient_and_reads_flat() {
        let (p, mut m, mut rng) = setup(DepartmentKind::Surgery, 5);
        m.artifacts.temperature_stuck = true;
        let r = observe_for(&p, &mut m, &mut rng, 1200.0);
        let t = r.values[Column::Temperature as usize];
        assert!((t - AMBIENT_CELSIUS).abs() < 0.1, "{t}");
        assert_eq!(r.news2.get(news2::Parameter::Temperature), 3);
    }

    #[test]
    fn labs_change_only_at_the_lab_cadence() {
        let (p, mut m, mut rng) = setup(DepartmentKind::GeneralMedicine, 6);
        m.lab_due_in = [10_000.0; 3];
        let a = observe_for(&p, &mut m, &mut rng, 100.0);
        let b = observe_for(&p, &mut m, &mut rng, 100.0);
        assert_eq!(a.values[Column::Lactate as usize], b.values[Column::Lactate as usize]);
        m.lab_due_in = [0.5; 3];
        let c = observe_for(&p, &mut m, &mut rng, 1.0);
        assert_ne!(b.values[Column::Lactate as usize], c.values[Column::Lactate as usize]);
    }
}
