//! A patient's true physiology: an individual baseline, autocorrelated deviations, a day/night
//! rhythm and the couplings between vitals. What the monitor *shows* is in [`super::monitor`].
//!
//! Every vital is `baseline + circadian + Ornstein–Uhlenbeck deviation + effects of drivers`, where
//! the drivers are the severities (0..1) of whatever is happening to the patient (sepsis, hypoxia,
//! arrhythmia, hypotension, hypoglycaemia). Couplings follow the physiology of
//! deterioration: fever raises heart
//! rate (about 10 /min per °C), hypoxia raises respiration and heart rate, sepsis raises HR, RR,
//! temperature, lactate and WBC while systolic pressure falls.

use crate::clinical::news2::{Consciousness, Spo2Scale};
use crate::sim::config::DepartmentKind;
use rand::Rng;
use rand_distr::{Distribution, Normal, StandardNormal};

/// A chronic condition that shapes the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// No chronic condition that changes the vitals.
    Stable,
    /// COPD with CO2 retention: lower SpO2 target (NEWS2 scale 2), higher EtCO2.
    Copd,
    /// Heart failure: higher resting heart rate, lower pressure.
    HeartFailure,
    /// Diabetes: higher and more variable glucose, more hypoglycaemia.
    Diabetes,
    /// After surgery: a little tachycardic and warm.
    PostOperative,
}

/// The patient's individual resting values.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    /// Age in years.
    pub age_years: f64,
    /// Chronic condition.
    pub condition: Condition,
    /// Resting heart rate, /min.
    pub heart_rate: f64,
    /// Resting systolic pressure, mmHg.
    pub systolic: f64,
    /// Resting diastolic pressure, mmHg.
    pub diastolic: f64,
    /// Resting respiration rate, /min.
    pub respiration: f64,
    /// Core temperature, °C.
    pub temperature: f64,
    /// SpO2 on room air, ratio.
    pub spo2: f64,
    /// End-tidal CO2, mmHg.
    pub etco2: f64,
    /// Glucose, mmol/L.
    pub glucose: f64,
    /// White cells, 10⁹/L.
    pub wbc: f64,
    /// Lactate, mmol/L.
    pub lactate: f64,
    /// Inspired oxygen at rest (0.21 = air).
    pub fio2: f64,
    /// Heart-rate variability, sd of RR intervals in seconds.
    pub hrv_sd_seconds: f64,
}

/// Severities (0..1) of what is happening to the patient, set each step by the active events.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Drivers {
    /// Sepsis, rising over hours.
    pub sepsis: f64,
    /// Acute hypoxia (respiratory failure).
    pub hypoxia: f64,
    /// Tachyarrhythmia; the rate it drives to is `arrhythmia_rate`.
    pub arrhythmia: f64,
    /// Ventricular rate of the tachyarrhythmia, /min.
    pub arrhythmia_rate: f64,
    /// Hypotension (bleeding, vasodilation).
    pub hypotension: f64,
    /// Hypoglycaemia.
    pub hypoglycaemia: f64,
}

/// Slow and fast random deviations around the baseline (Ornstein–Uhlenbeck states).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Deviations {
    heart_rate: f64,
    systolic: f64,
    diastolic: f64,
    respiration: f64,
    temperature: f64,
    spo2: f64,
    etco2: f64,
    glucose: f64,
    wbc: f64,
    lactate: f64,
}

/// Time constant (s) and stationary sd of each deviation.
const OU: [(f64, f64); 10] = [
    (60.0, 3.0),     // heart rate /min
    (300.0, 5.0),    // systolic mmHg
    (300.0, 3.0),    // diastolic mmHg (plus half the systolic deviation)
    (120.0, 0.8),    // respiration /min
    (3600.0, 0.15),  // temperature °C
    (120.0, 0.006),  // SpO2 ratio
    (300.0, 1.5),    // EtCO2 mmHg
    (10800.0, 0.6),  // glucose mmol/L
    (43200.0, 0.8),  // WBC 10⁹/L
    (10800.0, 0.15), // lactate mmol/L
];

/// Per-step decay and noise factors of the exact OU discretisation, shared by all patients.
#[derive(Debug, Clone, Copy)]
pub struct StepCoefficients {
    decay: [f64; 10],
    noise: [f64; 10],
    /// Step length in seconds.
    pub dt: f64,
    /// Day/night phase: +1 mid-afternoon, −1 in the early morning.
    pub circadian: f64,
}

impl StepCoefficients {
    /// Factors for a step of `dt` seconds ending at `unix_seconds` (for the time of day).
    pub fn new(dt: f64, unix_seconds: f64) -> Self {
        let mut decay = [0.0; 10];
        let mut noise = [0.0; 10];
        for (i, (tau, sd)) in OU.iter().enumerate() {
            // Exact OU update: x' = x e^{-dt/τ} + sd √(1 − e^{-2dt/τ}) N(0,1), valid for any dt.
            decay[i] = (-dt / tau).exp();
            noise[i] = sd * (1.0 - decay[i] * decay[i]).sqrt();
        }
        let hour = (unix_seconds / 3600.0).rem_euclid(24.0);
        // Heart rate, pressure and temperature peak in the late afternoon, trough around 04:00.
        let circadian = (2.0 * std::f64::consts::PI * (hour - 10.0) / 24.0).sin();
        Self { decay, noise, dt, circadian }
    }
}

/// The true state of one patient's body.
#[derive(Debug, Clone, PartialEq)]
pub struct Physiology {
    /// Individual resting values.
    pub baseline: Baseline,
    /// Current drivers.
    pub drivers: Drivers,
    dev: Deviations,
    /// Current inspired oxygen fraction.
    pub fio2: f64,
    /// Seconds SpO2 has been below target (the nurse starts or raises oxygen after a while).
    low_spo2_seconds: f64,
    /// Seconds SpO2 has been comfortably above target (the nurse weans oxygen).
    high_spo2_seconds: f64,
}

/// The true vitals at one instant, in clinical units (SpO2 and FiO2 as ratios).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Vitals {
    /// Heart rate, /min.
    pub heart_rate: f64,
    /// Systolic pressure, mmHg.
    pub systolic: f64,
    /// Diastolic pressure, mmHg.
    pub diastolic: f64,
    /// Respiration rate, /min.
    pub respiration: f64,
    /// Core temperature, °C.
    pub temperature: f64,
    /// Arterial oxygen saturation, ratio.
    pub spo2: f64,
    /// End-tidal CO2, mmHg.
    pub etco2: f64,
    /// Inspired oxygen fraction.
    pub fio2: f64,
    /// Blood glucose, mmol/L.
    pub glucose: f64,
    /// White cells, 10⁹/L.
    pub wbc: f64,
    /// Lactate, mmol/L.
    pub lactate: f64,
    /// Level of consciousness.
    pub consciousness: Consciousness,
    /// ST deviation from ischaemia, mV.
    pub st_deviation_mv: f64,
    /// Peripheral perfusion (0..1): poor perfusion weakens the pleth signal.
    pub perfusion: f64,
}

impl Vitals {
    /// Mean arterial pressure, mmHg: diastolic plus a third of the pulse pressure.
    pub fn mean_arterial(&self) -> f64 {
        self.diastolic + (self.systolic - self.diastolic) / 3.0
    }
}

fn normal<R: Rng + ?Sized>(rng: &mut R, mean: f64, sd: f64) -> f64 {
    Normal::new(mean, sd).map(|n| n.sample(rng)).unwrap_or(mean)
}

impl Baseline {
    /// Draw an individual baseline for a patient of a department.
    pub fn draw<R: Rng + ?Sized>(kind: DepartmentKind, rng: &mut R) -> Self {
        let (age_mean, age_sd) = match kind {
            DepartmentKind::Icu => (62.0, 15.0),
            DepartmentKind::Cardiology => (68.0, 12.0),
            DepartmentKind::GeneralMedicine => (74.0, 12.0),
            DepartmentKind::Surgery => (58.0, 17.0),
        };
        let age = normal(rng, age_mean, age_sd).clamp(18.0, 100.0);
        let condition = match (kind, rng.random::<f64>()) {
            (DepartmentKind::Surgery, u) if u < 0.6 => Condition::PostOperative,
            (DepartmentKind::Cardiology, u) if u < 0.35 => Condition::HeartFailure,
            (_, u) if u < 0.12 => Condition::Copd,
            (_, u) if u < 0.30 => Condition::Diabetes,
            (_, u) if u < 0.36 => Condition::HeartFailure,
            _ => Condition::Stable,
        };
        let older = (age - 60.0) / 10.0;
        let mut b = Baseline {
            age_years: age,
            condition,
            heart_rate: normal(rng, 76.0, 8.0),
            systolic: normal(rng, 126.0 + 3.0 * older, 10.0),
            diastolic: 0.0,
            respiration: normal(rng, 15.5, 1.6),
            temperature: normal(rng, 36.8, 0.2),
            spo2: normal(rng, 0.972 - 0.003 * older.max(0.0), 0.008).min(0.995),
            etco2: normal(rng, 38.0, 2.0),
            glucose: normal(rng, 5.4, 0.5),
            wbc: normal(rng, 7.5, 1.4).max(4.2),
            lactate: normal(rng, 1.1, 0.25).max(0.5),
            fio2: 0.21,
            hrv_sd_seconds: (0.045 - 0.0025 * older).clamp(0.012, 0.06),
        };
        match condition {
            Condition::Copd => {
                b.spo2 = normal(rng, 0.905, 0.01);
                b.etco2 += 8.0;
                b.respiration += 3.0;
            }
            Condition::HeartFailure => {
                b.heart_rate += 10.0;
                b.systolic -= 12.0;
                b.hrv_sd_seconds *= 0.6;
            }
            Condition::Diabetes => b.glucose = normal(rng, 8.5, 1.5).max(5.5),
            Condition::PostOperative => {
                b.heart_rate += 8.0;
                b.temperature += 0.3;
            }
            Condition::Stable => {}
        }
        b.heart_rate = b.heart_rate.clamp(55.0, 105.0);
        b.respiration = b.respiration.clamp(12.0, 22.0);
        b.systolic = b.systolic.clamp(105.0, 170.0);
        b.diastolic = (b.systolic * normal(rng, 0.60, 0.04)).clamp(55.0, 100.0);
        if kind == DepartmentKind::Icu && rng.random::<f64>() < 0.4 {
            b.fio2 = [0.28, 0.35, 0.40][rng.random_range(0..3)];
        }
        b
    }

    /// Which NEWS2 SpO2 scale applies (scale 2 for hypercapnic respiratory failure).
    pub fn spo2_scale(&self) -> Spo2Scale {
        if self.condition == Condition::Copd {
            Spo2Scale::Scale2
        } else {
            Spo2Scale::Scale1
        }
    }

    /// The SpO2 the team aims for (BTS: 94–98%, or 88–92% with CO2 retention).
    pub fn spo2_target(&self) -> f64 {
        if self.condition == Condition::Copd {
            0.88
        } else {
            0.94
        }
    }
}

impl Physiology {
    /// A patient at rest on their baseline.
    pub fn new(baseline: Baseline) -> Self {
        Self {
            fio2: baseline.fio2,
            baseline,
            drivers: Drivers::default(),
            dev: Deviations::default(),
            low_spo2_seconds: 0.0,
            high_spo2_seconds: 0.0,
        }
    }

    /// Advance the random deviations and the oxygen therapy by one step.
    pub fn step<R: Rng + ?Sized>(&mut self, c: &StepCoefficients, rng: &mut R) {
        let d = &mut self.dev;
        let fields: [&mut f64; 10] = [
            &mut d.heart_rate,
            &mut d.systolic,
            &mut d.diastolic,
            &mut d.respiration,
            &mut d.temperature,
            &mut d.spo2,
            &mut d.etco2,
            &mut d.glucose,
            &mut d.wbc,
            &mut d.lactate,
        ];
        for (i, x) in fields.into_iter().enumerate() {
            let z: f64 = StandardNormal.sample(rng);
            *x = *x * c.decay[i] + c.noise[i] * z;
        }
        self.titrate_oxygen(c.dt);
    }

    /// Nurse-driven oxygen: start or raise it when SpO2 stays below target, wean it when above.
    fn titrate_oxygen(&mut self, dt: f64) {
        let spo2 = self.spo2_on(self.fio2);
        let target = self.baseline.spo2_target();
        if spo2 < target - 0.01 {
            self.low_spo2_seconds += dt;
            self.high_spo2_seconds = 0.0;
            // Reviewed every ~5 minutes: first 28% by mask, then +0.1 up to 0.6.
            if self.low_spo2_seconds >= 300.0 {
                self.fio2 = if self.fio2 < 0.28 { 0.28 } else { (self.fio2 + 0.1).min(0.6) };
                self.low_spo2_seconds = 0.0;
            }
        } else if spo2 > target + 0.02 && self.fio2 > self.baseline.fio2 {
            self.high_spo2_seconds += dt;
            self.low_spo2_seconds = 0.0;
            if self.high_spo2_seconds >= 1800.0 {
                self.fio2 = (self.fio2 - 0.1).max(self.baseline.fio2);
                if self.fio2 < 0.28 {
                    self.fio2 = self.baseline.fio2;
                }
                self.high_spo2_seconds = 0.0;
            }
        } else {
            self.low_spo2_seconds = 0.0;
            self.high_spo2_seconds = 0.0;
        }
    }

    /// True SpO2 at a given FiO2.
    fn spo2_on(&self, fio2: f64) -> f64 {
        let b = &self.baseline;
        let dr = &self.drivers;
        let raw = b.spo2 + self.dev.spo2 - 0.16 * dr.hypoxia - 0.05 * dr.sepsis;
        // Extra oxygen closes part of the gap to 99% with diminishing returns; in acute
        // respiratory failure (shunt) it helps much less, so true hypoxia persists on oxygen.
        let response = 1.0 - (-(fio2 - 0.21).max(0.0) / 0.12).exp();
        let shunt = 1.0 - 0.6 * dr.hypoxia;
        (raw + (0.99 - raw).max(0.0) * response * shunt).clamp(0.55, 1.0)
    }

    /// The true vitals now, including circadian rhythm and the couplings between vitals.
    pub fn vitals(&self, circadian: f64) -> Vitals {
        let b = &self.baseline;
        let d = &self.dev;
        let dr = &self.drivers;
        let s = dr.sepsis;
        let spo2 = self.spo2_on(self.fio2);
        let hypoxaemia = (b.spo2_target() + 0.01 - spo2).max(0.0);

        let temperature = b.temperature + d.temperature + 0.25 * circadian + 2.2 * s;
        let fever = (temperature - 37.2).max(0.0);
        let mut heart_rate = b.heart_rate + d.heart_rate + 4.0 * circadian
            + 10.0 * fever            // fever: ~10 /min per °C
            + 120.0 * hypoxaemia      // hypoxia: sympathetic drive
            + 30.0 * s
            + 28.0 * dr.hypotension   // baroreflex
            + 18.0 * dr.hypoglycaemia; // adrenergic response
        heart_rate = heart_rate * (1.0 - dr.arrhythmia) + dr.arrhythmia * dr.arrhythmia_rate;

        let systolic =
            b.systolic + d.systolic + 5.0 * circadian - 45.0 * s * s - 58.0 * dr.hypotension - 15.0 * dr.arrhythmia;
        let diastolic = b.diastolic + d.diastolic + 0.5 * d.systolic + 3.0 * circadian
            - 25.0 * s * s
            - 32.0 * dr.hypotension
            - 8.0 * dr.arrhythmia;
        let respiration = b.respiration + d.respiration + 0.5 * circadian
            + 90.0 * hypoxaemia   // hypoxia: ~+1 /min per 1% under target
            + 11.0 * s
            + 4.0 * dr.hypoxia;
        let etco2 = b.etco2 + d.etco2 + 12.0 * dr.hypoxia - 9.0 * s;
        let glucose = {
            let g = b.glucose + d.glucose + 2.0 * s;
            g * (1.0 - dr.hypoglycaemia) + 2.3 * dr.hypoglycaemia
        };
        let wbc = b.wbc + d.wbc + 11.0 * s;
        let lactate = b.lactate + d.lactate + 4.5 * s * s + 2.0 * dr.hypotension;
        let confused = s > 0.75 || glucose < 2.8 || spo2 < 0.80;
        let st_deviation_mv = -0.18 * dr.arrhythmia - 0.08 * dr.hypotension;
        let perfusion = (1.0 - 0.5 * dr.hypotension - 0.4 * s * s).clamp(0.1, 1.0);
        Vitals {
            heart_rate: heart_rate.clamp(25.0, 220.0),
            systolic: systolic.clamp(50.0, 240.0),
            diastolic: diastolic.clamp(25.0, 140.0),
            respiration: respiration.clamp(4.0, 50.0),
            temperature: temperature.clamp(33.0, 42.0),
            spo2,
            etco2: etco2.clamp(10.0, 90.0),
            fio2: self.fio2,
            glucose: glucose.clamp(1.5, 30.0),
            wbc: wbc.clamp(0.5, 40.0),
            lactate: lactate.clamp(0.3, 15.0),
            consciousness: if confused { Consciousness::NewConfusion } else { Consciousness::Alert },
            st_deviation_mv,
            perfusion,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_pcg::Pcg64Mcg;

    fn patient(seed: u64, kind: DepartmentKind) -> (Physiology, Pcg64Mcg) {
        let mut rng = Pcg64Mcg::seed_from_u64(seed);
        let b = Baseline::draw(kind, &mut rng);
        (Physiology::new(b), rng)
    }

    /// Run a resting patient for `hours` at 5 s steps, collecting the vitals.
    fn run(p: &mut Physiology, rng: &mut Pcg64Mcg, hours: f64) -> Vec<Vitals> {
        let steps = (hours * 720.0) as usize;
        (0..steps)
            .map(|i| {
                let c = StepCoefficients::new(5.0, i as f64 * 5.0);
                p.step(&c, rng);
                p.vitals(c.circadian)
            })
            .collect()
    }

    fn mean(xs: impl Iterator<Item = f64>) -> f64 {
        let v: Vec<f64> = xs.collect();
        v.iter().sum::<f64>() / v.len() as f64
    }

    #[test]
    fn resting_patients_stay_in_plausible_adult_ranges() {
        for seed in 0..40 {
            let (mut p, mut rng) = patient(seed, DepartmentKind::GeneralMedicine);
            for v in run(&mut p, &mut rng, 6.0) {
                assert!((40.0..=140.0).contains(&v.heart_rate), "hr {}", v.heart_rate);
                assert!((80.0..=200.0).contains(&v.systolic), "sbp {}", v.systolic);
                assert!(v.diastolic < v.systolic - 15.0);
                assert!((0.80..=1.0).contains(&v.spo2), "spo2 {}", v.spo2);
                assert!((8.0..=28.0).contains(&v.respiration), "rr {}", v.respiration);
                assert!((35.5..=38.3).contains(&v.temperature), "temp {}", v.temperature);
                assert!((2.5..=16.0).contains(&v.glucose));
            }
        }
    }

    #[test]
    fn vitals_are_autocorrelated_not_white_noise() {
        let (mut p, mut rng) = patient(7, DepartmentKind::Icu);
        let hr: Vec<f64> = run(&mut p, &mut rng, 4.0).iter().map(|v| v.heart_rate).collect();
        let m = mean(hr.iter().copied());
        let var: f64 = hr.iter().map(|x| (x - m).powi(2)).sum();
        let lag1: f64 = hr.windows(2).map(|w| (w[0] - m) * (w[1] - m)).sum();
        let r1 = lag1 / var;
        // τ = 60 s, step 5 s: e^{-5/60} ≈ 0.92 before the slower circadian component.
        assert!(r1 > 0.85, "lag-1 autocorrelation {r1}");
    }

    #[test]
    fn fever_raises_heart_rate_about_ten_per_degree() {
        let (p, _) = patient(3, DepartmentKind::GeneralMedicine);
        let mut hot = p.clone();
        hot.baseline.temperature += 2.0;
        let (v0, v1) = (p.vitals(0.0), hot.vitals(0.0));
        let rise = v1.heart_rate - v0.heart_rate;
        let warmer = v1.temperature - 37.2 - (v0.temperature - 37.2).max(0.0);
        assert!((rise / warmer - 10.0).abs() < 0.5, "rise {rise} for {warmer} °C");
    }

    #[test]
    fn hypoxia_raises_respiration_and_heart_rate() {
        let (p, _) = patient(5, DepartmentKind::GeneralMedicine);
        let mut hypoxic = p.clone();
        hypoxic.drivers.hypoxia = 0.8;
        let (v0, v1) = (p.vitals(0.0), hypoxic.vitals(0.0));
        assert!(v1.spo2 < 0.88, "spo2 {}", v1.spo2);
        assert!(v1.respiration > v0.respiration + 5.0);
        assert!(v1.heart_rate > v0.heart_rate + 5.0);
        assert!(v1.etco2 > v0.etco2 + 5.0);
    }

    #[test]
    fn sepsis_moves_every_vital_the_documented_way() {
        let (p, _) = patient(11, DepartmentKind::GeneralMedicine);
        let mut septic = p.clone();
        septic.drivers.sepsis = 1.0;
        let (v0, v1) = (p.vitals(0.0), septic.vitals(0.0));
        assert!(v1.heart_rate > v0.heart_rate + 20.0);
        assert!(v1.respiration >= 22.0, "qSOFA respiration {}", v1.respiration);
        assert!(v1.temperature > 38.5);
        assert!(v1.systolic < v0.systolic - 30.0);
        assert!(v1.lactate > 4.0, "lactate {}", v1.lactate);
        assert!(v1.wbc > 12.0, "wbc {}", v1.wbc);
        assert_eq!(v1.consciousness, Consciousness::NewConfusion);
    }

    #[test]
    fn hypotension_lowers_pressure_and_raises_heart_rate() {
        let (p, _) = patient(13, DepartmentKind::Surgery);
        let mut bleeding = p.clone();
        bleeding.drivers.hypotension = 1.0;
        let (v0, v1) = (p.vitals(0.0), bleeding.vitals(0.0));
        assert!(v1.mean_arterial() < 65.0, "MAP {}", v1.mean_arterial());
        assert!(v1.heart_rate > v0.heart_rate + 20.0);
    }

    #[test]
    fn heart_rate_has_a_day_night_rhythm() {
        let (p, _) = patient(17, DepartmentKind::Cardiology);
        assert!(p.vitals(1.0).heart_rate > p.vitals(-1.0).heart_rate + 6.0);
        assert!(p.vitals(1.0).temperature > p.vitals(-1.0).temperature + 0.4);
    }

    #[test]
    fn nurse_starts_oxygen_when_saturation_stays_low_and_weans_it_after() {
        let (mut p, mut rng) = patient(19, DepartmentKind::GeneralMedicine);
        p.drivers.hypoxia = 0.7;
        run(&mut p, &mut rng, 0.5);
        assert!(p.fio2 >= 0.28, "fio2 {}", p.fio2);
        p.drivers.hypoxia = 0.0;
        run(&mut p, &mut rng, 4.0);
        assert!((p.fio2 - p.baseline.fio2).abs() < 1e-9, "fio2 {}", p.fio2);
    }
}
