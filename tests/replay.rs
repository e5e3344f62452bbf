//! Recorded patients served by the real exporter binary: the PhysioNet/CinC Challenge 2015 records
//! played through the bedside monitor in real time, checked against the monitor's analysis of
//! the same records, with the alarm raised at its onset and the challenge's label never shown;
//! a real Prometheus scraping it every second fires `ArrhythmiaAlarm`; the backfill of the same
//! records imported by promtool.

mod common;

use common::replay::{label_names, physionet2015, Analysed, ReplayBinary};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use wardwatch::monitor::{ALARM_METRIC, NUMERICS};

/// A false asystole alarm, a true one (same channels), and a true bradycardia in a 300 s record
/// with arterial pressure and respiration.
const RECORDS: [&str; 3] = ["a103l", "a161l", "b268s"];
const POSITION: &str = "wardwatch_replay_position_seconds";
/// Six seconds before the alarm onset.
const OFFSET: f64 = 294.0;

fn analysed(dir: &Path) -> BTreeMap<String, Analysed> {
    RECORDS.iter().map(|r| (r.to_string(), Analysed::of(dir, r))).collect()
}

fn labels<'a>(pairs: impl IntoIterator<Item = &'a str>) -> BTreeSet<Vec<String>> {
    BTreeSet::from([pairs.into_iter().map(str::to_owned).collect()])
}

/// Every replay series of one scrape against the analysis: each bed's numerics are the monitor's
/// at the second its position says, its alarm is 1 from 300 s; returns `(patient → position,
/// alarm)`.
fn check_scrape(body: &str, analysed: &BTreeMap<String, Analysed>) -> BTreeMap<String, (usize, f64)> {
    let samples = common::parse_text(body);
    let mut published: BTreeMap<String, BTreeMap<(String, String), f64>> = BTreeMap::new();
    let mut beds = BTreeMap::new();
    for ((name, l), v) in &samples {
        let Some(patient) = l.get("patient") else { continue };
        if name == POSITION {
            beds.entry(patient.clone()).or_insert((0, f64::NAN)).0 = *v as usize;
        } else if name == ALARM_METRIC {
            beds.entry(patient.clone()).or_insert((0, f64::NAN)).1 = *v;
        } else {
            published.entry(patient.clone()).or_default().insert((name.clone(), l["channel"].clone()), *v);
        }
    }
    assert_eq!(beds.len(), RECORDS.len(), "every bed has a position and an alarm:\n{body}");
    for (patient, &(position, alarm)) in &beds {
        let a = &analysed[patient];
        assert!(position <= a.seconds, "{patient} at {position} s of {}", a.seconds);
        assert_eq!(alarm, if position >= 300 { 1.0 } else { 0.0 }, "{patient}'s alarm at {position} s");
        let expected = a.expected(position);
        let got = published.remove(patient).unwrap_or_default();
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "{patient} at {position} s: the finite numerics of the analysed channels, ECG ones on ECG only"
        );
        for (key, want) in &expected {
            assert!((got[key] - want).abs() <= 1e-4, "{patient} {key:?} at {position} s: {} != {want}", got[key]);
        }
    }
    beds
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_shows_the_monitors_numerics_as_the_records_play_and_raises_each_alarm_at_its_onset() {
    let Some(dir) = physionet2015() else { return };
    let logs = tempfile::tempdir().unwrap();
    let spawned = Instant::now();
    let offset = OFFSET.to_string();
    let exporter = ReplayBinary::start(&dir, &RECORDS, &["--start-offset", &offset], logs.path()).await;
    let ready = Instant::now();
    let analysed = tokio::task::spawn_blocking(move || analysed(&dir)).await.unwrap();
    let (a103l, a161l) = (&analysed["a103l"], &analysed["a161l"]);
    assert_eq!((a103l.true_alarm, a161l.true_alarm), (Some(false), Some(true)), "one false, one true asystole");

    let mut seen: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    let mut first = None;
    loop {
        let asked = Instant::now();
        let body = exporter.scrape().await;
        let answered = Instant::now();
        let beds = check_scrape(&body, &analysed);
        for (patient, (position, alarm)) in &beds {
            seen.entry(patient.clone()).or_default().insert(*alarm as u64);
            if *position < analysed[patient].seconds {
                // The clock started after the binary was spawned and before it answered.
                let earliest = OFFSET + (asked - ready).as_secs_f64();
                let latest = OFFSET + (answered - spawned).as_secs_f64();
                let p = *position as f64;
                assert!(
                    p >= earliest.floor() - 1.0 && p <= latest + 1.0,
                    "{patient} at {p} s, not in {earliest}..{latest}"
                );
            }
        }
        first.get_or_insert(body);
        if beds["a103l"].0 >= 303 {
            break;
        }
        assert!(
            spawned.elapsed() < Duration::from_secs(60),
            "the replay did not reach 303 s\n{}",
            exporter.process.report(20)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for (patient, alarms) in &seen {
        assert_eq!(alarms, &BTreeSet::from([0, 1]), "{patient}'s alarm went from 0 to 1");
    }
    let body = first.unwrap();
    common::promtool_check_metrics(&body).unwrap_or_else(|e| panic!("promtool check metrics: {e}"));
    nothing_reveals_the_label(&body);
    served_like_the_simulated_hospital(&exporter).await;
}

/// The label names are exactly the bed's, `channel` and `type`; no value says true or false; a
/// true and a false alarm on the same channels look the same.
fn nothing_reveals_the_label(body: &str) {
    let samples = common::parse_text(body);
    let bed = ["bed", "department", "patient", "ward"];
    let numeric = labels(["bed", "channel", "department", "patient", "ward"]);
    for spec in &NUMERICS {
        assert_eq!(label_names(&samples, spec.metric), numeric, "{}", spec.metric);
    }
    assert_eq!(label_names(&samples, ALARM_METRIC), labels(["bed", "department", "patient", "type", "ward"]));
    assert_eq!(label_names(&samples, POSITION), labels(bed));
    let families: BTreeSet<&str> = samples.keys().map(|(n, _)| n.as_str()).collect();
    for family in families {
        let ours = NUMERICS.iter().any(|s| s.metric == family) || [ALARM_METRIC, POSITION].contains(&family);
        let own = family.starts_with("wardwatch_exporter_") || family.starts_with("process_");
        assert!(ours || own, "unexpected family {family}");
    }
    for (name, l) in samples.keys() {
        for v in l.values().chain([name]) {
            let v = v.to_ascii_lowercase();
            assert!(!v.contains("true") && !v.contains("false"), "{name}{l:?}");
        }
    }
    // A false (a103l) and a true (a161l) asystole on the same channels: the same channels, and
    // the same alarm series but for the bed and patient.
    let of = |patient: &str, label: &str| -> BTreeSet<(String, String)> {
        let mine = samples.keys().filter(|(_, l)| l.get("patient").is_some_and(|p| p == patient));
        mine.filter_map(|(n, l)| l.get(label).map(|v| (n.clone(), v.clone()))).collect()
    };
    let channels = |p: &str| of(p, "channel").into_iter().map(|(_, c)| c).collect::<BTreeSet<_>>();
    assert_eq!(channels("a103l"), channels("a161l"));
    assert_eq!(of("a103l", "type"), of("a161l", "type"));
    assert_eq!(of("a103l", "type"), BTreeSet::from([(ALARM_METRIC.to_string(), "asystole".to_string())]));
}

/// The server machinery is the simulated hospital's: OpenMetrics and gzip negotiated, the landing
/// page and health check, no simulated-hospital endpoints.
async fn served_like_the_simulated_hospital(exporter: &ReplayBinary) {
    let accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let (status, headers, gz) = exporter.get("/metrics", &[("Accept", accept), ("Accept-Encoding", "gzip")]).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/openmetrics-text; version=1.0.0; charset=utf-8");
    assert_eq!(headers["content-encoding"], "gzip");
    let mut body = String::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_string(&mut body).unwrap();
    assert!(body.ends_with("# EOF\n") && body.contains("# TYPE wardwatch_patient_monitor_alarm gauge\n"));
    let (status, _, landing) = exporter.get("/", &[]).await;
    assert_eq!(status, 200);
    let landing = String::from_utf8(landing).unwrap();
    assert!(landing.contains("3 recorded patients") && landing.contains("href=\"/metrics\""), "{landing}");
    assert!(!landing.contains("/ecg") && !landing.contains("/events"), "{landing}");
    assert_eq!(exporter.get("/-/healthy", &[]).await.0, 200);
    assert_eq!(exporter.get("/ecg?patient=a103l", &[]).await.0, 404);
    assert_eq!(exporter.get("/events", &[]).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scraping_a_replay_every_second_fires_arrhythmia_alarm_at_the_onset() {
    let Some(dir) = physionet2015() else { return };
    let logs = tempfile::tempdir().unwrap();
    let offset = OFFSET.to_string();
    let exporter = ReplayBinary::start(&dir, &RECORDS, &["--start-offset", &offset], logs.path()).await;
    let rules = common::repo_root().join("prometheus/rules/clinical.yml");
    let extra = format!("rule_files:\n  - {}\n", rules.display());
    let Some(prom) = common::Prometheus::start(&[exporter.addr], "1s", Some(&extra)) else { return };
    let alerts = "ALERTS{alertname=\"ArrhythmiaAlarm\",alertstate=\"firing\"}";
    prom.wait_for("up{job=\"wardwatch\"}", |r| r[0]["value"][1] == "1", Duration::from_secs(20)).await;
    let position = common::parse_text(&exporter.scrape().await)
        .iter()
        .find(|((n, l), _)| n == POSITION && l["patient"] == "a103l")
        .map(|(_, v)| *v)
        .unwrap();
    if position < 299.0 {
        assert_eq!(prom.query(alerts).await, serde_json::json!([]), "nothing fires before the onset");
    }
    let firing = prom.wait_for(alerts, |r| r.as_array().is_some_and(|a| a.len() == 3), Duration::from_secs(30)).await;
    let mut fired: Vec<(String, String)> = Vec::new();
    for alert in firing.as_array().unwrap() {
        let m = &alert["metric"];
        assert_eq!((m["severity"].as_str(), m["class"].as_str()), (Some("critical"), Some("clinical")), "{m}");
        assert_eq!((m["department"].as_str(), m["ward"].as_str()), (Some("icu"), Some("icu-replay")), "{m}");
        fired.push((m["patient"].as_str().unwrap().into(), m["type"].as_str().unwrap().into()));
    }
    fired.sort();
    let expected = [("a103l", "asystole"), ("a161l", "asystole"), ("b268s", "extreme_bradycardia")];
    assert_eq!(fired, expected.map(|(p, t)| (p.to_string(), t.to_string())));
}

#[test]
fn backfill_of_records_imports_with_promtool_with_every_alarm_onset_at_the_chosen_time() {
    let Some(dir) = physionet2015() else { return };
    let Some(promtool) = common::require_tool("promtool") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let om = tmp.path().join("history.om");
    let onset = 1_796_040_000i64; // 2026-11-30T12:00:00Z
    let out = Command::new(env!("CARGO_BIN_EXE_wardwatch-exporter"))
        .args(["backfill", "--wfdb"])
        .arg(&dir)
        .args(["--records", &RECORDS.join(","), "--onset", "2026-11-30T12:00:00Z", "--output"])
        .arg(&om)
        .output()
        .unwrap();
    assert!(out.status.success(), "backfill failed: {}", String::from_utf8_lossy(&out.stderr));
    let data = tmp.path().join("data");
    let run = |args: &[&str]| {
        let out = Command::new(&promtool).args(args).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "promtool {args:?}: {text}{}", String::from_utf8_lossy(&out.stderr));
        text
    };
    run(&["tsdb", "create-blocks-from", "openmetrics", om.to_str().unwrap(), data.to_str().unwrap()]);
    // `tsdb dump` opens the directory as a database, which has a write-ahead log.
    std::fs::create_dir_all(data.join("wal")).unwrap();
    let dump = run(&["tsdb", "dump", data.to_str().unwrap()]);
    let analysed = analysed(&dir);
    let start = onset - 300;
    // (patient, metric, channel) → second → value, as the TSDB holds them.
    let mut series: BTreeMap<(String, String, String), BTreeMap<i64, f64>> = BTreeMap::new();
    for line in dump.lines().filter(|l| !l.is_empty()) {
        let (labels, rest) = line.rsplit_once("} ").unwrap_or_else(|| panic!("dump line {line}"));
        let l: BTreeMap<&str, &str> = labels
            .trim_start_matches('{')
            .split(", ")
            .map(|kv| kv.split_once('=').map(|(k, v)| (k, v.trim_matches('"'))).unwrap())
            .collect();
        let (value, ts) = rest.split_once(' ').unwrap();
        let ts: i64 = ts.parse().unwrap();
        assert_eq!(ts % 1000, 0, "one sample a second, on the second: {line}");
        let key = (l["patient"].to_string(), l["__name__"].to_string(), l.get("channel").copied().unwrap_or("").into());
        series.entry(key).or_default().insert(ts / 1000 - start, value.parse().unwrap());
    }
    for (patient, a) in &analysed {
        let alarm = &series[&(patient.clone(), ALARM_METRIC.to_string(), String::new())];
        assert_eq!(alarm.keys().copied().collect::<Vec<_>>(), (1..=330).collect::<Vec<_>>(), "{patient}");
        assert!(alarm.iter().all(|(s, v)| *v == if *s >= 300 { 1.0 } else { 0.0 }), "{patient}: 1 from {onset}");
        let position = &series[&(patient.clone(), POSITION.to_string(), String::new())];
        assert_eq!(position[&330], a.seconds as f64, "{patient} holds its end");
        for second in 1..=330 {
            for ((metric, channel), want) in a.expected(second) {
                let got = series
                    .get(&(patient.clone(), metric.clone(), channel.clone()))
                    .and_then(|s| s.get(&(second as i64)));
                let got = got.unwrap_or_else(|| panic!("{patient} {metric} {channel} missing at {second} s"));
                assert!((got - want).abs() <= 1e-4, "{patient} {metric} {channel} at {second} s: {got} != {want}");
            }
        }
    }
    let numerics: usize =
        series.iter().filter(|((_, m, _), _)| m != ALARM_METRIC && m != POSITION).map(|(_, s)| s.len()).sum();
    let expected: usize = analysed.values().map(|a| (1..=330).map(|s| a.expected(s).len()).sum::<usize>()).sum();
    assert_eq!(numerics, expected, "no sample where the monitor had no finite value");
}
