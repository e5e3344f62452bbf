//! Reading WFDB records (a `.hea` header and its signals), as PhysioNet publishes the 2015 ICU
//! false-alarm challenge: format 16 inside a MATLAB v4 container (`16+24`), CRLF line ends,
//! `-32768` for an invalid sample.
//!
//! The `wfdb` crate parses the header and decodes the samples; this adapter gives what the
//! monitor needs — each signal in physical units, `(digital − baseline) / gain`, as `f32`, NaN for
//! an invalid sample — and checks every signal against its header's first value and 16-bit
//! checksum, so a misread record is an error rather than wrong numbers. It also keeps the
//! challenge's label comment (`True alarm` / `False alarm`) apart from what a decision may read.

use std::path::{Path, PathBuf};

/// The digital value WFDB uses for "no sample" in 16-bit formats.
const INVALID_16: i32 = -32768;

/// Why a record could not be read; each message names the record.
#[derive(Debug, thiserror::Error)]
pub enum WfdbError {
    /// The header or signal file could not be read or decoded.
    #[error("{path}: {reason}")]
    Read {
        /// The record (its path without extension).
        path: PathBuf,
        /// What failed.
        reason: String,
    },
}

/// One signal as its header describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalSpec {
    /// What it is: `II`, `V`, `PLETH`, `ABP`, `RESP`, ...
    pub description: String,
    /// Physical units, e.g. `mV`, `mmHg`, `NU`.
    pub units: String,
    /// ADC units per physical unit.
    pub gain: f64,
    /// The digital value of physical zero.
    pub baseline: i32,
}

/// A record: its signals in physical units, and what its header says.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The record's name.
    pub name: String,
    /// Samples per second per signal.
    pub frequency: f64,
    /// The signals' descriptions, in frame order.
    pub specs: Vec<SignalSpec>,
    /// One vector per signal, all of the same length; NaN where a sample is invalid.
    pub signals: Vec<Vec<f32>>,
    /// The header's comment lines, the challenge's label among them.
    comments: Vec<String>,
}

impl Record {
    /// The comment lines other than the challenge's label (`True alarm` / `False alarm`): all a
    /// decision may read (the first is the alarm type, e.g. `Asystole`).
    pub fn comments(&self) -> impl Iterator<Item = &str> {
        self.comments.iter().map(String::as_str).filter(|c| !is_label(c))
    }

    /// The challenge's label, if the header carries one: for evaluation only.
    pub fn label(&self) -> Option<bool> {
        self.comments.iter().find(|c| is_label(c)).map(|c| c.eq_ignore_ascii_case("true alarm"))
    }

    /// Seconds of signal.
    pub fn duration_seconds(&self) -> f64 {
        self.signals.first().map_or(0.0, |s| s.len() as f64 / self.frequency)
    }
}

fn is_label(comment: &str) -> bool {
    comment.eq_ignore_ascii_case("true alarm") || comment.eq_ignore_ascii_case("false alarm")
}

/// Read record `name` in `dir`.
pub fn read_record(dir: &Path, name: &str) -> Result<Record, WfdbError> {
    let path = dir.join(name);
    let fail = |reason: String| WfdbError::Read { path: path.clone(), reason };
    let record = wfdb::Record::open(&path).map_err(|e| fail(format!("cannot open the record: {e}")))?;
    let infos = record.signal_info().ok_or_else(|| fail("multi-segment records are not supported".into()))?.to_vec();
    let frequency = record.metadata().sampling_frequency();
    let expected = record.metadata().num_samples.and_then(|n| usize::try_from(n).ok());
    let mut reader = record.multi_signal_reader().map_err(|e| fail(format!("cannot read the signals: {e}")))?;
    let frames = reader
        .read_frames(expected.unwrap_or(usize::MAX / 2))
        .map_err(|e| fail(format!("cannot decode the signals: {e}")))?;
    if let Some(n) = expected.filter(|n| *n != frames.len()) {
        return Err(fail(format!("{} frames read, the header says {n}", frames.len())));
    }
    let mut specs = Vec::with_capacity(infos.len());
    let mut signals = Vec::with_capacity(infos.len());
    for (s, info) in infos.iter().enumerate() {
        let description = info.description().unwrap_or("").to_owned();
        let digital: Vec<i32> = frames
            .iter()
            .map(|f| f.get(s).copied().map_or(INVALID_16, |v| if v == i32::MIN { INVALID_16 } else { v }))
            .collect();
        check(&description, info, &digital).map_err(&fail)?;
        let (gain, baseline) = (info.adc_gain(), info.baseline());
        signals.push(
            digital
                .iter()
                .map(|&d| if d == INVALID_16 { f32::NAN } else { ((f64::from(d) - f64::from(baseline)) / gain) as f32 })
                .collect(),
        );
        specs.push(SignalSpec { description, units: info.units().to_owned(), gain, baseline });
    }
    let comments = record.info_strings().iter().map(|c| c.trim().to_owned()).collect();
    Ok(Record { name: name.to_owned(), frequency, specs, signals, comments })
}

/// A signal's samples against its header: the first value and the 16-bit checksum.
fn check(description: &str, info: &wfdb::SignalInfo, digital: &[i32]) -> Result<(), String> {
    if let (Some(want), Some(&got)) = (info.initial_value, digital.first()) {
        if want != got {
            return Err(format!("signal {description}: first sample {got}, the header says {want}"));
        }
    }
    if let Some(want) = info.checksum() {
        let got = digital.iter().fold(0i16, |sum, &s| sum.wrapping_add(s as i16));
        if want != i32::from(got) {
            return Err(format!("signal {description}: checksum {got}, the header says {want}"));
        }
    }
    Ok(())
}

/// The record names listed in `<dir>/RECORDS`, one per line.
pub fn record_names(dir: &Path) -> Result<Vec<String>, WfdbError> {
    let path = dir.join("RECORDS");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| WfdbError::Read { path: path.clone(), reason: format!("cannot read the record list: {e}") })?;
    Ok(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_owned).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Write a two-signal record in format 16 at byte offset 8, as the challenge's `.mat` files are.
    fn write_record(dir: &Path, header_edit: impl Fn(String) -> String) -> Vec<[i16; 2]> {
        let frames: Vec<[i16; 2]> = vec![[100, -5], [200, -32768], [-300, 7], [0, 1000]];
        let mut bytes = vec![0u8; 8];
        for f in &frames {
            for s in f {
                bytes.extend_from_slice(&s.to_le_bytes());
            }
        }
        std::fs::write(dir.join("r.mat"), &bytes).unwrap();
        let sum = |i: usize| frames.iter().fold(0i16, |a, f| a.wrapping_add(f[i]));
        let header = format!(
            "r 2 125 4\r\nr.mat 16+8 100(50)/mV 16 0 100 {} 0 II\r\nr.mat 16+8 2/mmHg 16 0 -5 {} 0 ABP\r\n#Asystole\r\n#True alarm\r\n",
            sum(0),
            sum(1)
        );
        std::fs::write(dir.join("r.hea"), header_edit(header)).unwrap();
        frames
    }

    #[test]
    fn format_16_at_a_byte_offset_reads_in_physical_units_with_the_header_values() {
        let dir = tempfile::tempdir().unwrap();
        write_record(dir.path(), |h| h);
        let r = read_record(dir.path(), "r").unwrap();
        assert_eq!((r.frequency, r.signals.len(), r.duration_seconds()), (125.0, 2, 4.0 / 125.0));
        assert_eq!(r.specs[0], SignalSpec { description: "II".into(), units: "mV".into(), gain: 100.0, baseline: 50 });
        assert_eq!((r.specs[1].units.as_str(), r.specs[1].gain, r.specs[1].baseline), ("mmHg", 2.0, 0));
        assert_eq!(r.signals[0], [0.5, 1.5, -3.5, -0.5], "(digital - baseline) / gain");
        assert_eq!((r.signals[1][0], r.signals[1][2], r.signals[1][3]), (-2.5, 3.5, 500.0));
        assert!(r.signals[1][1].is_nan(), "-32768 is an invalid sample");
        assert_eq!(r.comments().collect::<Vec<_>>(), ["Asystole"], "the label is kept apart");
        assert_eq!(r.label(), Some(true));
    }

    #[test]
    fn a_record_that_disagrees_with_its_header_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        write_record(dir.path(), |h| h.replace("16 0 100 ", "16 0 101 "));
        let err = read_record(dir.path(), "r").unwrap_err().to_string();
        assert!(err.contains("first sample 100, the header says 101"), "{err}");
        let frames = write_record(dir.path(), |h| h);
        let sum = frames.iter().fold(0i16, |a, f| a.wrapping_add(f[0]));
        write_record(dir.path(), |h| h.replace(&format!(" {sum} 0 II"), " 1 0 II"));
        let err = read_record(dir.path(), "r").unwrap_err().to_string();
        assert!(err.contains("checksum") && err.contains(&dir.path().join("r").display().to_string()), "{err}");
        assert!(read_record(dir.path(), "absent").is_err());
    }
}
