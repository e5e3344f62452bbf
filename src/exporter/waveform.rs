//! The ECG waveform itself, on demand: ECGSYN run over the patient's last R-R intervals.
//!
//! A 256 Hz waveform through a 15 s scrape would be aliased nonsense, so metrics carry what a
//! monitor derives (heart rate, ST deviation, signal quality) and this endpoint shows the signal.

use crate::sim::ecg::{synthesize, Morphology, SAMPLE_RATE_HZ};
use crate::sim::monitor::LeadOff;
use crate::sim::Simulation;
use axum::http::StatusCode;
use rand::Rng;
use serde::Deserialize;
use std::fmt::Write;

/// Longest waveform served, seconds (the monitor keeps 32 beats).
pub const MAX_SECONDS: f64 = 20.0;

/// Query of `/ecg`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EcgQuery {
    /// Patient id, e.g. `p00001`.
    pub patient: String,
    /// Seconds of signal, 1..=20 (default 10).
    pub seconds: Option<f64>,
    /// `json` (default), `csv` or `svg`.
    pub format: Option<String>,
}

/// A request `/ecg` cannot answer.
#[derive(Debug, thiserror::Error)]
pub enum WaveformError {
    /// No such patient.
    #[error("no patient `{0}` in this hospital")]
    UnknownPatient(String),
    /// A bad parameter.
    #[error("{0}")]
    BadRequest(String),
}

impl WaveformError {
    /// HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            WaveformError::UnknownPatient(_) => StatusCode::NOT_FOUND,
            WaveformError::BadRequest(_) => StatusCode::BAD_REQUEST,
        }
    }
}

/// The samples, in millivolts at [`SAMPLE_RATE_HZ`], of the patient's last `seconds`.
pub fn samples(sim: &Simulation, patient: &str, seconds: f64) -> Result<Vec<f32>, WaveformError> {
    let i = sim.patient_index(patient).ok_or_else(|| WaveformError::UnknownPatient(patient.into()))?;
    let p = &sim.patients[i];
    let mut rng = p.derived_rng(sim.steps());
    let n = (seconds * SAMPLE_RATE_HZ).round() as usize;
    match p.monitor.artifacts.lead_off {
        LeadOff::Flat => return Ok(vec![0.0; n]),
        LeadOff::Noise => return Ok((0..n).map(|_| rng.random_range(-1.5f32..1.5)).collect()),
        LeadOff::No => {}
    }
    let rr = p.monitor.recent_rr_intervals();
    let mut total = 0.0;
    let mut first = rr.len();
    while first > 0 && total < seconds {
        first -= 1;
        total += rr[first];
    }
    let vitals = p.physiology.vitals(0.0);
    let morphology = Morphology { st_deviation_mv: vitals.st_deviation_mv, ..Morphology::default() };
    let wave = synthesize(&rr[first..], &morphology, &mut rng);
    Ok(wave[wave.len().saturating_sub(n)..].to_vec())
}

/// Render the query's waveform: content type and body.
pub fn render(sim: &Simulation, q: &EcgQuery) -> Result<(&'static str, Vec<u8>), WaveformError> {
    let seconds = q.seconds.unwrap_or(10.0);
    if !(1.0..=MAX_SECONDS).contains(&seconds) {
        return Err(WaveformError::BadRequest(format!("seconds={seconds}: must be between 1 and {MAX_SECONDS}")));
    }
    let format = q.format.as_deref().unwrap_or("json");
    if !["json", "csv", "svg"].contains(&format) {
        return Err(WaveformError::BadRequest(format!("format={format}: must be json, csv or svg")));
    }
    let wave = samples(sim, &q.patient, seconds)?;
    Ok(match format {
        "csv" => {
            let mut s = String::from("time_seconds,millivolts\n");
            for (i, v) in wave.iter().enumerate() {
                let _ = writeln!(s, "{:.4},{v:.4}", i as f64 / SAMPLE_RATE_HZ);
            }
            ("text/csv", s.into_bytes())
        }
        "svg" => ("image/svg+xml", svg(&q.patient, &wave).into_bytes()),
        _ => {
            let body = serde_json::json!({
                "patient": q.patient,
                "sample_rate_hz": SAMPLE_RATE_HZ,
                "unit": "millivolts",
                "samples": wave,
            });
            ("application/json", body.to_string().into_bytes())
        }
    })
}

/// A plot on ECG paper proportions: 25 mm/s, 10 mm/mV, 4 px per mm.
fn svg(patient: &str, wave: &[f32]) -> String {
    let px_per_s = 100.0;
    let px_per_mv = 40.0;
    let width = wave.len() as f64 / SAMPLE_RATE_HZ * px_per_s;
    let height = 2.4 * px_per_mv;
    let baseline = 1.6 * px_per_mv;
    let mut points = String::with_capacity(wave.len() * 14);
    for (i, v) in wave.iter().enumerate() {
        let x = i as f64 / SAMPLE_RATE_HZ * px_per_s;
        let y = baseline - f64::from(*v) * px_per_mv;
        let _ = write!(points, "{x:.1},{y:.1} ");
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\"><title>ECG {patient}</title>\
         <rect width=\"100%\" height=\"100%\" fill=\"#fff5f5\"/>\
         <polyline fill=\"none\" stroke=\"#111\" stroke-width=\"1.2\" points=\"{points}\"/></svg>\n",
        patient = patient.replace(['<', '>', '&', '"'], "")
    )
}
