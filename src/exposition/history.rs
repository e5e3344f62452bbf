//! Timestamped history of expositions, for backfill files.
//!
//! OpenMetrics forbids interleaving families, and each series' samples must ascend in time, so
//! untimestamped expositions taken one step at a time are collected in memory (about 12 bytes a
//! sample) and written family by family, series by series, each sample with its step's time.
//! `promtool tsdb create-blocks-from openmetrics` imports the result.

use std::collections::HashMap;
use std::io::{self, Write};

/// One series' history: the step index of each sample and its value.
#[derive(Default)]
struct Series {
    steps: Vec<u32>,
    values: Vec<f64>,
}

/// A family's header lines and its series, in order of first appearance.
struct FamilyHistory {
    header: String,
    series: Vec<u32>,
}

/// Collects expositions, one per step, into per-series histories.
#[derive(Default)]
pub struct History {
    families: Vec<FamilyHistory>,
    family_index: HashMap<String, usize>,
    series_index: HashMap<Box<str>, u32>,
    series_keys: Vec<Box<str>>,
    histories: Vec<Series>,
}

impl History {
    /// Take in one untimestamped OpenMetrics exposition as the samples of step `step`.
    pub fn ingest(&mut self, text: &str, step: u32) {
        let mut family = 0usize;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap_or_default().to_string();
                family = match self.family_index.get(&name) {
                    Some(&i) => i,
                    None => {
                        self.families.push(FamilyHistory { header: String::new(), series: Vec::new() });
                        self.family_index.insert(name, self.families.len() - 1);
                        self.families.len() - 1
                    }
                };
                if self.families[family].header.is_empty() || !self.families[family].header.contains("# TYPE") {
                    self.families[family].header.push_str(line);
                    self.families[family].header.push('\n');
                }
            } else if line.starts_with("# TYPE ") {
                let h = &mut self.families[family].header;
                if !h.contains("# TYPE") {
                    h.push_str(line);
                    h.push('\n');
                }
            } else if !line.starts_with('#') && !line.is_empty() {
                let Some((key, value)) = line.rsplit_once(' ') else { continue };
                let id = match self.series_index.get(key) {
                    Some(&id) => id,
                    None => {
                        let id = self.series_keys.len() as u32;
                        self.series_keys.push(key.into());
                        self.series_index.insert(key.into(), id);
                        self.histories.push(Series::default());
                        self.families[family].series.push(id);
                        id
                    }
                };
                let h = &mut self.histories[id as usize];
                h.steps.push(step);
                h.values.push(value.parse().unwrap_or(f64::NAN));
            }
        }
    }

    /// Distinct series seen so far.
    pub fn series(&self) -> usize {
        self.series_keys.len()
    }

    /// Write everything with timestamps `start + step × step_seconds`, then `# EOF`; the number
    /// of samples written.
    pub fn write(&self, out: &mut impl Write, start: f64, step_seconds: f64) -> io::Result<u64> {
        let mut samples = 0u64;
        let mut line = Vec::with_capacity(256);
        for f in &self.families {
            out.write_all(f.header.as_bytes())?;
            for &id in &f.series {
                let key = self.series_keys[id as usize].as_bytes();
                let h = &self.histories[id as usize];
                for (&step, &value) in h.steps.iter().zip(&h.values) {
                    line.clear();
                    line.extend_from_slice(key);
                    line.push(b' ');
                    line.extend_from_slice(ryu::Buffer::new().format(value).as_bytes());
                    line.push(b' ');
                    let ts_ms = ((start + f64::from(step) * step_seconds) * 1000.0).round() as i64;
                    line.extend_from_slice(itoa::Buffer::new().format(ts_ms / 1000).as_bytes());
                    line.push(b'.');
                    line.extend_from_slice(format!("{:03}", ts_ms.rem_euclid(1000)).as_bytes());
                    line.push(b'\n');
                    out.write_all(&line)?;
                    samples += 1;
                }
            }
        }
        out.write_all(b"# EOF\n")?;
        Ok(samples)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_not_interleaved_and_series_ascend_in_time() {
        let mut c = History::default();
        let a = "# HELP a A.\n# TYPE a gauge\na{x=\"1\"} 1\n# HELP b B.\n# TYPE b counter\nb_total 5\n";
        let b = "# HELP a A.\n# TYPE a gauge\na{x=\"1\"} 2\na{x=\"2\"} 7\n# HELP b B.\n# TYPE b counter\nb_total 6\n";
        c.ingest(a, 1);
        c.ingest(b, 2);
        let mut out = Vec::new();
        let n = c.write(&mut out, 1000.0, 15.0).unwrap();
        assert_eq!(n, 5);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "# HELP a A.\n# TYPE a gauge\na{x=\"1\"} 1.0 1015.000\na{x=\"1\"} 2.0 1030.000\na{x=\"2\"} 7.0 1030.000\n\
             # HELP b B.\n# TYPE b counter\nb_total 5.0 1015.000\nb_total 6.0 1030.000\n# EOF\n"
        );
    }
}
