//! One patient in one bed: identity and labels, true physiology, and the bedside monitor.

use crate::clinical::limits::{AlarmLimits, Resting};
use crate::clinical::news2;
use crate::exposition::render_labels;
use crate::sim::config::DepartmentKind;
use crate::sim::monitor::{Monitor, Readings};
use crate::sim::physiology::{Baseline, Physiology, StepCoefficients, Vitals};
use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;

/// A patient: where they lie, how their body behaves, and what their monitor shows.
#[derive(Debug, Clone)]
pub struct Patient {
    /// Label value `patient`, e.g. `p00042`.
    pub id: String,
    /// Label value `department`.
    pub department: String,
    /// Label value `ward`.
    pub ward: String,
    /// Label value `bed`, unique within the ward.
    pub bed: String,
    /// Index of the ward in [`super::Simulation::wards`].
    pub ward_index: usize,
    /// Kind of the department, which sets acuity and monitoring.
    pub kind: DepartmentKind,
    /// Pre-rendered `{department=…,ward=…,bed=…,patient=…}`.
    pub labels: String,
    /// The body.
    pub physiology: Physiology,
    /// The bedside monitor.
    pub monitor: Monitor,
    /// Last readings, published at the next scrape.
    pub readings: Readings,
    /// The alarm limits set for this patient at admission, from their resting readings.
    pub limits: AlarmLimits,
    /// The true vitals of the last step, before the monitor (ground truth, never exported).
    pub vitals: Vitals,
    rng: Pcg64Mcg,
}

impl Patient {
    /// Admit a patient; `seed` gives the patient their own random stream, so one patient's
    /// trajectory does not depend on how many others share the hospital.
    pub fn admit(
        id: String,
        (department, ward, bed): (&str, &str, String),
        ward_index: usize,
        kind: DepartmentKind,
        seed: u64,
    ) -> Self {
        let mut rng = Pcg64Mcg::seed_from_u64(seed);
        let physiology = Physiology::new(Baseline::draw(kind, &mut rng));
        let vitals = physiology.vitals(0.0);
        let mut monitor = Monitor::new(kind, &physiology.baseline, &vitals, &mut rng);
        let readings = monitor.observe(&vitals, false, 0.0, &mut rng);
        let labels = render_labels(&[("department", department), ("ward", ward), ("bed", &bed), ("patient", &id)]);
        let b = &physiology.baseline;
        let limits = AlarmLimits::for_patient(&Resting {
            spo2_scale: b.spo2_scale(),
            heart_rate: b.heart_rate,
            systolic: b.systolic,
            respiration: b.respiration,
        });
        Self {
            id,
            department: department.to_string(),
            ward: ward.to_string(),
            bed,
            ward_index,
            kind,
            labels,
            physiology,
            monitor,
            readings,
            limits,
            vitals,
            rng,
        }
    }

    /// Advance body and monitor by one step.
    pub fn step(&mut self, c: &StepCoefficients) {
        self.physiology.step(c, &mut self.rng);
        self.vitals = self.physiology.vitals(c.circadian);
        // Fast arrhythmias here are mostly atrial fibrillation: irregular R-R intervals.
        let irregular = self.physiology.drivers.arrhythmia > 0.5;
        self.readings = self.monitor.observe(&self.vitals, irregular, c.dt, &mut self.rng);
    }

    /// NEWS2 of the true vitals, as a careful manual observation would score them: the ground
    /// truth of how ill the patient is, free of the monitor's artifacts.
    pub fn true_news2(&self) -> news2::Score {
        let v = &self.vitals;
        news2::score(&news2::Observations {
            respiration_rate_per_minute: v.respiration,
            spo2_ratio: v.spo2,
            on_oxygen: v.fio2 > 0.21 + 1e-9,
            systolic_mmhg: v.systolic,
            pulse_per_minute: v.heart_rate,
            consciousness: v.consciousness,
            temperature_celsius: v.temperature,
            spo2_scale: self.physiology.baseline.spo2_scale(),
        })
    }

    /// A random stream derived from this patient's, for on-demand work such as the waveform.
    pub fn derived_rng(&self, salt: u64) -> Pcg64Mcg {
        let mut r = self.rng.clone();
        let extra = rand::Rng::random::<u64>(&mut r);
        Pcg64Mcg::seed_from_u64(extra ^ salt)
    }
}
