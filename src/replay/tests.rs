use super::*;
use crate::exposition::{Format, Writer};
use crate::monitor::{analyse, qrs::tests::synthetic_ecg, BedMonitor, Numerics};

const FS: f64 = 250.0;
const T0: f64 = 1_767_225_600.0;

/// A clean lead II at 80/min, a pressure wave at the same rate and a respiration sine.
fn recording(name: &str, seconds: f64) -> Recording {
    let (ecg, _) = synthetic_ecg(FS, seconds, 0.75);
    let abp = (0..ecg.len())
        .map(|i| {
            let since = (i as f64 / FS - 0.3).rem_euclid(0.75);
            let wave = if since < 0.12 { 50.0 * since / 0.12 } else { 50.0 * (-(since - 0.12) / 0.35).exp() };
            (70.0 + wave) as f32
        })
        .collect();
    let resp = (0..ecg.len()).map(|i| (i as f64 / FS * 0.25 * std::f64::consts::TAU).sin() as f32).collect();
    Recording {
        name: name.into(),
        frequency: FS,
        descriptions: vec!["II".into(), "ABP".into(), "RESP".into()],
        signals: vec![ecg, abp, resp],
        alarm: Some("asystole"),
    }
}

/// The monitor's numerics of `r` at whole second `s`, as a whole-record analysis gives them.
fn analysed(r: &Recording, s: usize) -> Vec<Numerics> {
    if s == 0 {
        return BedMonitor::new(&r.descriptions, r.frequency).numerics();
    }
    let (_, series) = analyse(&r.descriptions, &r.signals, r.frequency, s as f64);
    series.iter().map(|c| c[s - 1]).collect()
}

/// Numerics compared as printed, so that NaN equals NaN.
fn same(a: &[Numerics], b: &[Numerics]) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

fn replay(recordings: Vec<Recording>, offset: f64, looping: bool) -> Replay {
    let playback = Playback::new(Speed::REAL_TIME, offset, looping).unwrap();
    let mut r = Replay::new(recordings, Ward::default(), playback).unwrap();
    r.start(T0);
    r
}

fn exposition(r: &Replay) -> String {
    let mut buf = Vec::new();
    metrics::write_replay(r, &mut Writer::new(&mut buf, Format::Text));
    String::from_utf8(buf).unwrap()
}

#[test]
fn a_bed_shows_the_monitors_numerics_at_the_last_whole_second_of_playback() {
    let rec = recording("r1", 40.0);
    let mut r = replay(vec![rec.clone()], 0.0, false);
    for (now, second) in [(0.5, 0), (7.9, 7), (25.0, 25)] {
        r.advance_to(T0 + now);
        assert_eq!(r.beds()[0].position(), second);
        assert!(same(r.beds()[0].numerics(), &analysed(&rec, second as usize)), "at {second} s");
    }
    r.advance_to(T0 + 3.0);
    assert_eq!(r.beds()[0].position(), 25, "time does not go back");
    r.advance_to(T0 + 100.0);
    assert_eq!(r.beds()[0].position(), 40, "held at the record's end");
    assert!(same(r.beds()[0].numerics(), &analysed(&rec, 40)));
    assert!((r.beds()[0].numerics()[0].rate5 - 80.0).abs() < 1.0);
}

#[test]
fn a_start_offset_gives_what_a_playback_from_zero_gives_at_that_moment() {
    let rec = recording("r1", 30.0);
    let mut offset = replay(vec![rec.clone()], 12.5, false);
    let mut from_zero = replay(vec![rec.clone()], 0.0, false);
    assert_eq!(offset.beds()[0].position(), 12, "fed before the clock runs");
    from_zero.advance_to(T0 + 12.5);
    assert!(same(offset.beds()[0].numerics(), from_zero.beds()[0].numerics()));
    offset.advance_to(T0 + 5.0);
    from_zero.advance_to(T0 + 17.5);
    assert_eq!(offset.beds()[0].position(), 17);
    assert!(same(offset.beds()[0].numerics(), from_zero.beds()[0].numerics()));
    assert!(same(offset.beds()[0].numerics(), &analysed(&rec, 17)));
}

#[test]
fn the_alarm_is_raised_at_the_onset_and_stays_after_the_record_ends() {
    let rec = recording("r1", 30.0);
    let mut r = replay(vec![rec.clone()], 298.0, false);
    assert_eq!(r.beds()[0].alarm(), Some(("type=\"asystole\"", false)));
    r.advance_to(T0 + 1.9);
    assert!(!r.beds()[0].alarm().unwrap().1, "299 s");
    r.advance_to(T0 + 2.0);
    assert!(r.beds()[0].alarm().unwrap().1, "300 s");
    r.advance_to(T0 + 500.0);
    assert!(r.beds()[0].alarm().unwrap().1);
    assert_eq!(r.beds()[0].position(), 30);
    assert!(same(r.beds()[0].numerics(), &analysed(&rec, 30)));
}

#[test]
fn looping_starts_each_record_over_with_a_new_monitor() {
    let rec = recording("r1", 20.0);
    let mut r = replay(vec![rec.clone()], 0.0, true);
    r.advance_to(T0 + 329.0);
    assert_eq!((r.beds()[0].position(), r.beds()[0].alarm().unwrap().1), (20, true));
    r.advance_to(T0 + 330.0 + 5.0);
    assert_eq!((r.beds()[0].position(), r.beds()[0].alarm().unwrap().1), (5, false));
    assert!(same(r.beds()[0].numerics(), &analysed(&rec, 5)));
}

#[test]
fn playback_runs_at_its_speed_on_one_clock() {
    let playback = Playback::new(Speed::try_from(10.0).unwrap(), 100.0, false).unwrap();
    let mut r = Replay::new(vec![recording("a", 5.0), recording("b", 5.0)], Ward::default(), playback).unwrap();
    assert_eq!(r.position(T0), 100.0, "the clock does not run before it is started");
    r.start(T0);
    assert_eq!(r.position(T0 + 2.5), 125.0);
    assert_eq!(r.position(T0 - 1.0), 100.0);
    r.advance_to(T0 + 20.0);
    assert!(r.beds().iter().all(|b| b.alarm().unwrap().1), "both at 300 s");
    assert_eq!([r.beds()[0].number(), r.beds()[1].number()], ["01", "02"]);
}

#[test]
fn only_finite_numerics_are_published_and_ecg_ones_only_on_ecg_channels() {
    let mut r = replay(vec![recording("r1", 20.0)], 0.0, false);
    let at_zero = exposition(&r);
    assert!(!at_zero.contains("wardwatch_patient_monitor_rate_5_beats_per_minute{"), "no rate without beats");
    r.advance_to(T0 + 20.0);
    let text = exposition(&r);
    let labels = "department=\"icu\",ward=\"icu-replay\",bed=\"01\",patient=\"r1\"";
    for line in [
        format!("wardwatch_patient_monitor_abnormal_beat_run{{{labels},channel=\"ecg_ii\"}} 0.0000"),
        format!("wardwatch_patient_monitor_alarm{{{labels},type=\"asystole\"}} 0"),
        format!("wardwatch_replay_position_seconds{{{labels}}} 20"),
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
    assert!(text.contains(&format!("wardwatch_patient_monitor_rate_5_beats_per_minute{{{labels},channel=\"abp\"}}")));
    assert!(!text.contains(
        "abnormal_beat_run{department=\"icu\",ward=\"icu-replay\",bed=\"01\",patient=\"r1\",channel=\"abp\""
    ));
    assert!(!text.contains("channel=\"resp\""), "respiration is not analysed");
    assert!(!text.contains("NaN"));
}

#[test]
fn records_are_read_with_their_alarm_type_and_never_their_label() {
    let dir = tempfile::tempdir().unwrap();
    let samples: Vec<i16> = (0..500).map(|i| ((i % 50) * 10) as i16).collect();
    let mut bytes = vec![0u8; 8];
    bytes.extend(samples.iter().flat_map(|s| s.to_le_bytes()));
    std::fs::write(dir.path().join("x1.mat"), bytes).unwrap();
    let sum = samples.iter().fold(0i16, |a, s| a.wrapping_add(*s));
    let header = format!("x1 1 250 500\r\nx1.mat 16+8 1000/mV 16 0 0 {sum} 0 II\r\n#Bradycardia\r\n#True alarm\r\n");
    std::fs::write(dir.path().join("x1.hea"), header).unwrap();
    std::fs::write(dir.path().join("RECORDS"), "x1\n").unwrap();
    let recordings = read_recordings(dir.path(), &[]).unwrap();
    assert_eq!(recordings.len(), 1);
    assert_eq!((recordings[0].name.as_str(), recordings[0].alarm), ("x1", Some("extreme_bradycardia")));
    assert_eq!(recordings[0].descriptions, ["II"]);
    let r = replay(recordings, 0.0, false);
    assert!(!exposition(&r).to_ascii_lowercase().contains("true"));
    let missing = read_recordings(dir.path(), &["nope".into()]).unwrap_err().to_string();
    assert!(missing.contains("nope"), "{missing}");
}

#[test]
fn what_cannot_be_played_is_refused_naming_it() {
    let err = |r: Result<Replay, ReplayError>| r.unwrap_err().to_string();
    let pb = Playback::default();
    let two = vec![recording("a", 2.0), recording("a", 2.0)];
    assert_eq!(err(Replay::new(two, Ward::default(), pb)), "record a is listed twice");
    assert!(err(Replay::new(vec![], Ward::default(), pb)).contains("no records"));
    let mut short = recording("s", 2.0);
    short.signals.iter_mut().for_each(|s| s.truncate(100));
    assert_eq!(err(Replay::new(vec![short], Ward::default(), pb)), "record s: shorter than a second");
    assert!(Speed::try_from(0.0).is_err() && Speed::try_from(f64::NAN).is_err());
    assert!(Playback::new(Speed::REAL_TIME, -1.0, false).is_err());
    assert_eq!(Ward::new("icu", " ").unwrap_err().to_string(), "ward: must not be empty");
}

#[test]
fn a_backfill_puts_every_alarm_onset_at_the_chosen_instant() {
    let mut out = Vec::new();
    let onset = T0 + 300.0;
    let summary = backfill::backfill(vec![recording("r1", 10.0)], Ward::default(), onset, &mut out).unwrap();
    assert_eq!((summary.start, summary.seconds), (T0, 300), "{summary:?}");
    let text = String::from_utf8(out).unwrap();
    let alarm: Vec<(f64, f64)> = text
        .lines()
        .filter(|l| l.starts_with("wardwatch_patient_monitor_alarm{"))
        .map(|l| {
            let mut it = l.rsplit(' ');
            let ts = it.next().unwrap().parse().unwrap();
            (ts, it.next().unwrap().parse().unwrap())
        })
        .collect();
    assert_eq!(alarm.len(), 300);
    assert_eq!(alarm[0], (T0 + 1.0, 0.0));
    assert_eq!(alarm[298], (onset - 1.0, 0.0));
    assert_eq!(alarm[299], (onset, 1.0));
    assert!(text.ends_with("# EOF\n"));
    assert_eq!(backfill::parse_instant("2026-01-01T00:05:00Z").unwrap(), onset);
    assert_eq!(backfill::parse_instant("1767225900").unwrap(), onset);
    assert!(backfill::parse_instant("tomorrow").is_err());
}
