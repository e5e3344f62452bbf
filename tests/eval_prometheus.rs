//! The evaluation's alerts as a real Prometheus fires them: a hand-made history imported with
//! promtool, rules evaluated through `query_range` and Prometheus' alerting semantics, checked
//! against firings worked out by hand and against `promtool test rules` (Prometheus' own rule
//! engine) at every evaluation; and a seed's backfilled history equal, sample for sample, to what
//! the in-memory recorder scrapes.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use wardwatch::eval::alerting::Firing;
use wardwatch::eval::firings::{self, Span};
use wardwatch::eval::prometheus::{Server, Tools};
use wardwatch::eval::stream::Recorder;
use wardwatch::eval::{rules, tsdb};

/// 2026-01-05 00:00 UTC: the history's start; its samples are at `T0 + k × 5 s`, `k ≥ 1`.
const T0: i64 = 1_767_571_200_000;

/// Each series' value at the scrapes `k = 1..=20`; the rules select values above 1. A value of
/// 0 is a sample the comparison drops, so a series is "absent" without going stale.
const SERIES: [(&str, [u8; 20]); 3] = [
    ("a", [2, 2, 2, 2, 0, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    ("b", [0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]),
    ("c", [2, 0, 2, 0, 2, 0, 2, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
];

const RULES: &str = "groups:
  - name: tiny
    interval: 5s
    rules:
      - alert: Held
        expr: m > 1
        for: 10s
        labels: {severity: warning}
      - alert: Kept
        expr: m > 1
        for: 5s
        keep_firing_for: 10s
        labels: {severity: critical}
      - alert: AtOnce
        expr: m > 1
        labels: {severity: info}
";

fn tools() -> Option<Tools> {
    common::require_tool("prometheus")?;
    common::require_tool("promtool")?;
    Some(Tools::locate().expect("found on PATH as the tests found them"))
}

fn openmetrics() -> String {
    let mut out = String::from("# HELP m A hand-made gauge.\n# TYPE m gauge\n");
    for (s, values) in SERIES {
        for (k, v) in values.iter().enumerate() {
            let t = T0 + (k as i64 + 1) * 5_000;
            out.push_str(&format!("m{{s=\"{s}\"}} {v} {}.{:03}\n", t / 1000, t % 1000));
        }
    }
    out + "# EOF\n"
}

/// (alertname, series or label `s`, active, fired, resolved) as evaluation indices (k − 1).
type Brief = (String, String, u32, u32, Option<u32>);

fn brief(f: &Firing) -> Brief {
    let at = |ms: i64| ((ms - T0) / 5_000 - 1) as u32;
    (f.alertname.clone(), f.labels["s"].clone(), at(f.active_at_ms), at(f.starts_at_ms), f.ends_at_ms.map(at))
}

/// A `promtool test rules` file asserting, at every evaluation, exactly the alerts `firings`
/// says are firing then.
fn promtool_test(firings: &[Firing]) -> String {
    let mut t =
        String::from("rule_files: [tiny.yml]\nevaluation_interval: 5s\ntests:\n  - interval: 5s\n    input_series:\n");
    for (s, values) in SERIES {
        let v: Vec<String> = values.iter().map(u8::to_string).collect();
        t.push_str(&format!("      - series: 'm{{s=\"{s}\"}}'\n        values: '_ {}'\n", v.join(" ")));
    }
    t.push_str("    alert_rule_test:\n");
    for name in ["Held", "Kept", "AtOnce"] {
        for k in 1..=20i64 {
            let now = T0 + k * 5_000;
            t.push_str(&format!("      - eval_time: {}s\n        alertname: {name}\n        exp_alerts:\n", k * 5));
            let firing = firings
                .iter()
                .filter(|f| f.alertname == name && f.starts_at_ms <= now && f.ends_at_ms.is_none_or(|e| now < e));
            let mut any = false;
            for f in firing {
                let labels: Vec<String> =
                    f.labels.iter().filter(|(k, _)| *k != "alertname").map(|(k, v)| format!("{k}: {v}")).collect();
                t.push_str(&format!("          - exp_labels: {{{}}}\n", labels.join(", ")));
                any = true;
            }
            if !any {
                t.truncate(t.len() - 1);
                t.push_str(" []\n");
            }
        }
    }
    t
}

fn promtool_test_rules(promtool: &Path, dir: &Path, test: &str) {
    std::fs::write(dir.join("tiny.yml"), RULES).unwrap();
    std::fs::write(dir.join("tiny_test.yml"), test).unwrap();
    let out = Command::new(promtool).args(["test", "rules", "tiny_test.yml"]).current_dir(dir).output().unwrap();
    assert!(
        out.status.success(),
        "Prometheus' rule engine disagrees:\n{}{}\n{test}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn alerts_pend_fire_after_for_reset_on_a_gap_and_resolve_as_prometheus_fires_them() {
    let Some(tools) = tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (om, data) = (dir.path().join("tiny.om"), dir.path().join("data"));
    std::fs::write(&om, openmetrics()).unwrap();
    tsdb::import(&tools.promtool, &om, &data).expect("promtool imports the history");
    let server = Server::start(&tools.prometheus, &data, dir.path()).await.expect("prometheus starts");
    let set = rules::parse(&[("tiny.yml".into(), RULES.into())], 60_000).unwrap();
    let (firings, queries) = firings::evaluate(&server, &set, T0, T0 + 20 * 5_000).await.unwrap();
    assert_eq!(queries, 3, "one range query per rule");
    let mut got: Vec<Brief> = firings.iter().map(brief).collect();
    let e =
        |name: &str, s: &str, active, fired, resolved| -> Brief { (name.into(), s.into(), active, fired, resolved) };
    let mut expected = vec![
        // `for: 10s` at 5 s: pending at 0, firing at 2, resolved when absent at 4; the gap at 4
        // resets it, and 5–6 is too short to fire again. c never lasts long enough.
        e("Held", "a", 0, 2, Some(4)),
        // Pending from 1, firing at 3, still firing at the last evaluation.
        e("Held", "b", 1, 3, None),
        // `keep_firing_for: 10s` bridges the gap at 4; absent from 7, resolved 10 s later at 9.
        e("Kept", "a", 0, 1, Some(9)),
        e("Kept", "b", 1, 2, None),
        // No `for`: firing at every appearance, resolved at the next absence.
        e("AtOnce", "a", 0, 0, Some(4)),
        e("AtOnce", "a", 5, 5, Some(7)),
        e("AtOnce", "b", 1, 1, None),
        e("AtOnce", "c", 0, 0, Some(1)),
        e("AtOnce", "c", 2, 2, Some(3)),
        e("AtOnce", "c", 4, 4, Some(5)),
        e("AtOnce", "c", 6, 6, Some(7)),
        e("AtOnce", "c", 8, 8, Some(9)),
    ];
    let order = |b: &Brief| (b.3, b.0.clone(), b.1.clone());
    expected.sort_by_key(order);
    got.sort_by_key(order);
    assert_eq!(got, expected);
    let f = &firings[0];
    assert_eq!(f.labels.keys().collect::<Vec<_>>(), ["alertname", "s", "severity"], "no __name__: {f:?}");
    promtool_test_rules(&tools.promtool, dir.path(), &promtool_test(&firings));
}

/// `metric{labels}` as a PromQL selector.
fn selector(metric: &str, labels: &[(String, String)]) -> String {
    let l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{metric}{{{}}}", l.join(","))
}

/// The raw samples of one series in the hour up to `end_ms` (a range selector asked at one
/// instant gives them with their own timestamps), Unix ms → value.
async fn samples(url: &str, selector: &str, end_ms: i64) -> BTreeMap<i64, f64> {
    let form = [("query", format!("{selector}[1h]")), ("time", (end_ms / 1000).to_string())];
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let v: serde_json::Value =
        client.post(format!("{url}/api/v1/query")).form(&form).send().await.unwrap().json().await.unwrap();
    let result = v["data"]["result"].as_array().unwrap_or_else(|| panic!("{selector}: {v}"));
    assert_eq!(result.len(), 1, "{selector} selects one series: {v}");
    let points = result[0]["values"].as_array().unwrap();
    points.iter().map(|p| ((p[0].as_f64().unwrap() * 1000.0) as i64, p[1].as_str().unwrap().parse().unwrap())).collect()
}

#[tokio::test]
async fn a_seeds_backfilled_history_is_what_the_recorder_scrapes() {
    let Some(tools) = tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let span = Span { start_ms: T0, step_ms: 5_000, steps: 720 };
    let imported = tsdb::write(5, span.start_ms, span.step_ms, span.steps, &tools.promtool, dir.path(), &data).unwrap();
    assert_eq!((imported.steps, imported.pieces), (720, 1));
    let server = Server::start(&tools.prometheus, &data, dir.path()).await.expect("prometheus starts");
    let mut rec = Recorder::new(5, span.start_ms, span.step_ms, 3_600_000);
    let mut seen: Vec<BTreeMap<i64, f64>> = Vec::new();
    let mut chosen: Vec<usize> = Vec::new();
    for _ in 0..span.steps {
        rec.advance();
        if chosen.is_empty() {
            for metric in [
                "wardwatch_patient_spo2_ratio",
                "wardwatch_patient_blood_pressure_systolic_mmhg",
                "wardwatch_network_link_transmit_bytes_total",
                "wardwatch_node_cpu_utilisation_ratio",
                "wardwatch_cluster_pod_ratio",
            ] {
                let ids: Vec<usize> = (0..rec.series.len()).filter(|&i| rec.series[i].metric == metric).collect();
                assert!(!ids.is_empty(), "{metric}");
                chosen.push(ids[ids.len() / 2]);
            }
            seen = vec![BTreeMap::new(); chosen.len()];
        }
        for (j, &id) in chosen.iter().enumerate() {
            if let Some(v) = rec.value(id, 0) {
                seen[j].insert(rec.now_ms(), v);
            }
        }
    }
    for (j, &id) in chosen.iter().enumerate() {
        let s = &rec.series[id];
        let query = selector(&s.metric, &s.labels);
        let stored = samples(server.url(), &query, span.end_ms()).await;
        assert_eq!(stored.len(), 720, "{query}: a sample at every scrape");
        assert_eq!(stored, seen[j], "{query}: Prometheus holds what the recorder scraped, at the same instants");
    }
}
