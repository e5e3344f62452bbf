//! Every alerting rule's `dashboard` annotation opens a provisioned dashboard, and sets only
//! variables that dashboard has: a link from a notification must land on the right panel.

mod common;

use std::collections::{BTreeMap, BTreeSet};

/// Dashboard uid → its template variables, from `grafana/dashboards/*.json`.
fn dashboards() -> BTreeMap<String, BTreeSet<String>> {
    let dir = common::repo_root().join("grafana/dashboards");
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let d: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let vars = d["templating"]["list"].as_array().into_iter().flatten();
            let names = vars.filter_map(|v| v["name"].as_str().map(str::to_owned)).collect();
            out.insert(d["uid"].as_str().unwrap().to_owned(), names);
        }
    }
    out
}

/// `(alert, dashboard annotation)` of every alerting rule in `prometheus/rules/*.yml`.
fn dashboard_annotations() -> Vec<(String, Option<String>)> {
    let dir = common::repo_root().join("prometheus/rules");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yml") {
            continue;
        }
        let doc: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for group in doc["groups"].as_sequence().into_iter().flatten() {
            for rule in group["rules"].as_sequence().into_iter().flatten() {
                if let Some(alert) = rule["alert"].as_str() {
                    let link = rule["annotations"]["dashboard"].as_str().map(str::to_owned);
                    out.push((alert.to_owned(), link));
                }
            }
        }
    }
    out
}

#[test]
fn every_alert_links_an_existing_dashboard_with_its_variables() {
    let dashboards = dashboards();
    let annotations = dashboard_annotations();
    assert!(annotations.len() >= 40, "the repository's rules were read: {}", annotations.len());
    for (alert, link) in annotations {
        let link = link.unwrap_or_else(|| panic!("{alert} has no dashboard annotation"));
        let path = link.strip_prefix("/d/").unwrap_or_else(|| panic!("{alert}: {link} is not a /d/<uid> path"));
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let uid = path.split('/').next().unwrap();
        let vars = dashboards.get(uid).unwrap_or_else(|| panic!("{alert}: no dashboard with uid {uid}"));
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let name = pair.split('=').next().unwrap();
            let var = name.strip_prefix("var-").unwrap_or_else(|| panic!("{alert}: {name} is not a variable"));
            assert!(vars.contains(var), "{alert}: dashboard {uid} has no variable `{var}` (it has {vars:?})");
        }
    }
}
