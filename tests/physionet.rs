//! The PhysioNet/CinC Challenge 2015 records: read as their headers describe them, and judged by
//! `wardwatch-sidecar eval-alarms` without ever reading a label outside `ALARMS`.
//!
//! The records' directory is `WARDWATCH_PHYSIONET2015` or `<repo>/../shared/data/physionet2015`;
//! without it these tests skip loudly, and fail under CI.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use wardwatch::rescore::arrhythmia::Params;

/// `eval-alarms` on `dir` with `args`: stdout's `record → kept` and stderr.
fn eval_alarms(dir: &Path, args: &[&str]) -> (BTreeMap<String, bool>, String) {
    let out =
        Command::new(env!("CARGO_BIN_EXE_wardwatch-sidecar")).arg("eval-alarms").arg(dir).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "eval-alarms failed:\n{stderr}");
    let answers = String::from_utf8(out.stdout).unwrap();
    let decided = answers
        .lines()
        .map(|l| {
            let (name, kept) = l.split_once(',').unwrap_or_else(|| panic!("not record,decision: {l}"));
            assert!(kept == "0" || kept == "1", "the decision is 0 or 1: {l}");
            (name.to_owned(), kept == "1")
        })
        .collect();
    (decided, stderr)
}

#[test]
fn every_record_reads_as_its_header_describes_it() {
    let Some(dir) = common::replay::physionet2015() else { return };
    let names = wardwatch::wfdb::record_names(&dir).unwrap();
    assert_eq!(names.len(), 251);
    for name in &names {
        // Each signal is checked against the header's first value and checksum as it is read.
        let r = wardwatch::wfdb::read_record(&dir, name).unwrap_or_else(|e| panic!("{e}"));
        let seconds = if name.ends_with('l') { 330.0 } else { 300.0 };
        assert_eq!((r.frequency, r.duration_seconds()), (250.0, seconds), "{name}");
        assert!(r.label().is_some() && r.comments().all(|c| !c.contains("alarm")), "{name}: the label is kept apart");
    }
    let a103l = wardwatch::wfdb::read_record(&dir, "a103l").unwrap();
    let specs: Vec<(&str, f64, i32, &str)> =
        a103l.specs.iter().map(|s| (s.description.as_str(), s.gain, s.baseline, s.units.as_str())).collect();
    assert_eq!(specs, [("II", 7247.0, 0, "mV"), ("V", 10520.0, 0, "mV"), ("PLETH", 12530.0, 0, "NU")]);
    assert!((a103l.signals[0][0] - (-171.0 / 7247.0)).abs() < 1e-6, "the first sample in millivolts");
}

#[test]
fn eval_alarms_decides_every_record_without_reading_a_label_from_the_headers() {
    let Some(data) = common::replay::physionet2015() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (plain, swapped) = (tmp.path().join("plain"), tmp.path().join("swapped"));
    let alarms = std::fs::read_to_string(data.join("ALARMS")).unwrap();
    // Three records of each type, some true, some false.
    let mut chosen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in alarms.lines() {
        let fields: Vec<&str> = line.split(',').collect();
        let of_type = chosen.entry(fields[1].to_owned()).or_default();
        if of_type.len() < 3 {
            of_type.push(fields[0].to_owned());
        }
    }
    let names: Vec<String> = chosen.into_values().flatten().collect();
    for dir in [&plain, &swapped] {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("RECORDS"), names.join("\n")).unwrap();
        for name in &names {
            std::os::unix::fs::symlink(data.join(format!("{name}.mat")), dir.join(format!("{name}.mat"))).unwrap();
            let header = std::fs::read_to_string(data.join(format!("{name}.hea"))).unwrap();
            let header = if dir == &swapped {
                // Every label turned round: a decision that read it would change.
                header
                    .replace("#True alarm", "#tmp")
                    .replace("#False alarm", "#True alarm")
                    .replace("#tmp", "#False alarm")
            } else {
                header
            };
            std::fs::write(dir.join(format!("{name}.hea")), header).unwrap();
        }
    }
    let (decided, stderr) = eval_alarms(&plain, &[]);
    assert_eq!(
        decided.keys().cloned().collect::<Vec<_>>(),
        {
            let mut n = names.clone();
            n.sort();
            n
        },
        "one answer per record"
    );
    assert!(stderr.contains("no figures"), "without ALARMS there is nothing to score against: {stderr}");
    let (with_swapped_labels, _) = eval_alarms(&swapped, &[]);
    assert_eq!(with_swapped_labels, decided, "the headers' labels play no part in the decisions");
}

#[test]
fn the_shipped_thresholds_are_the_ones_tuned_on_every_record() {
    let Some(dir) = common::replay::physionet2015() else { return };
    let (decided, stderr) = eval_alarms(&dir, &["--folds", "5", "--tune"]);
    assert_eq!(decided.len(), 251);
    for section in
        ["decisions (shipped thresholds)", "5-fold cross-validation by record", "thresholds tuned on every record"]
    {
        assert!(stderr.contains(section), "{section}:\n{stderr}");
    }
    let yaml = &stderr[stderr.find("asystole_quality").expect("the tuned thresholds are printed")..];
    let tuned: Params = serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("{e}:\n{yaml}"));
    assert_eq!(tuned, Params::default(), "retune and ship: the defaults are what tuning on the records gives");
    eprintln!("{stderr}");
}
