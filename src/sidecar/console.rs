//! `GET /`: the console — the recent decisions and escalation steps, newest first, as people
//! read them: when, the alert and whom it is about, the decision with its score and first
//! reasons (or what the escalation step did), and who acknowledged it. Server-rendered HTML, no build step; behind the same credentials as the API.
//!
//! It reads what the sidecar already keeps: the end of the audit log (one line per decision)
//! and the acknowledgements. `?ward=`, `?severity=` and `?decision=` narrow the list.

use super::acknowledge::Ack;
use super::Sidecar;
use crate::alert::view::{html_escape, Moment, Place};
use crate::rescore::audit::AuditEntry;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

/// Bytes read from the end of the audit log: a few thousand decisions.
const TAIL_BYTES: u64 = 4 << 20;
/// Rows shown at most.
const MAX_ROWS: usize = 200;

/// The filters of the list.
#[derive(Debug, Default, Deserialize)]
pub struct Filter {
    /// Only this ward.
    #[serde(default)]
    ward: String,
    /// Only this severity.
    #[serde(default)]
    severity: String,
    /// Only this decision (`escalate`, `keep`, `downgrade`, `unscored`).
    #[serde(default)]
    decision: String,
}

impl Filter {
    fn keeps(&self, e: &AuditEntry) -> bool {
        let label = |k: &str| e.labels.get(k).map_or("", String::as_str);
        let decision = e.decision.map_or("unscored", |d| d.as_str());
        (self.ward.is_empty() || label("ward") == self.ward)
            && (self.severity.is_empty() || label("severity") == self.severity)
            && (self.decision.is_empty() || decision == self.decision)
    }
}

/// `GET /`.
pub async fn page(State(s): State<Arc<Sidecar>>, Query(filter): Query<Filter>) -> Response {
    let path = s.rescoring.audit.as_ref().map(|a| a.path().to_owned());
    let entries = match path {
        Some(p) => tokio::task::spawn_blocking(move || tail(&p)).await.unwrap_or_default(),
        None => Vec::new(),
    };
    let acks = s.acknowledge.get();
    let tz = s.settings.site.time_zone;
    let page = Page { audited: s.rescoring.audit.is_some(), tz, grafana: s.settings.site.grafana_url.as_deref() };
    let html = render(&entries, &filter, |id| acks.and_then(|a| a.log.get(id)), &page);
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], html).into_response()
}

/// The Grafana dashboards of the site, as one line of links.
fn grafana_links(grafana: &str) -> String {
    let base = grafana.trim_end_matches('/');
    let links: Vec<String> = GRAFANA_DASHBOARDS
        .iter()
        .map(|(uid, title)| format!("<a href=\"{}/d/{uid}\">{title}</a>", html_escape(base)))
        .collect();
    format!("<p>Grafana: {}</p>", links.join(" · "))
}

/// The provisioned dashboards (`grafana/dashboards/`) the console links: uid and title.
const GRAFANA_DASHBOARDS: [(&str, &str); 5] = [
    ("wardwatch-hospital", "hospital overview"),
    ("wardwatch-ward", "wards"),
    ("wardwatch-network", "network"),
    ("wardwatch-cluster", "cluster"),
    ("wardwatch-sidecar", "sidecar"),
];

/// The decisions at the end of the audit log, oldest first; a torn or foreign line is skipped.
pub(super) fn tail(path: &Path) -> Vec<AuditEntry> {
    let Ok(mut f) = std::fs::File::open(path) else { return Vec::new() };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let from = len.saturating_sub(TAIL_BYTES);
    if f.seek(SeekFrom::Start(from)).is_err() {
        return Vec::new();
    }
    let mut text = String::new();
    if f.read_to_string(&mut text).is_err() {
        return Vec::new();
    }
    let mut lines = text.lines();
    if from > 0 {
        lines.next(); // begun before the tail
    }
    lines.filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// What the page says of the site: whether decisions are recorded, its time zone, its Grafana.
struct Page<'a> {
    audited: bool,
    tz: chrono_tz::Tz,
    grafana: Option<&'a str>,
}

/// The page: the newest decisions first, those `filter` keeps.
fn render(entries: &[AuditEntry], filter: &Filter, ack: impl Fn(&str) -> Option<Ack>, page: &Page) -> String {
    let (audited, tz) = (page.audited, page.tz);
    let clock = |at| Moment::new(at, tz);
    let mut rows = String::new();
    let shown: Vec<&AuditEntry> = entries.iter().rev().filter(|e| filter.keeps(e)).take(MAX_ROWS).collect();
    for e in &shown {
        let label = |k: &str| e.labels.get(k).map_or("", String::as_str);
        let who = Place::of(|k| e.labels.get(k).filter(|v| !v.is_empty()).cloned()).who();
        let decision = e.what_was_decided();
        let colour = match decision.as_str() {
            "escalate" => "#b00020",
            "keep" => "#a15c00",
            "downgrade" => "#555",
            "unscored" => "#1a4f9c",
            _ => "#6a1b9a",
        };
        let score = e.score.map_or(String::new(), |s| format!("{s:.2}"));
        let reasons: Vec<&str> = e.reasons.iter().take(2).map(String::as_str).collect();
        let acked = match ack(&e.notification) {
            Some(a) if a.by.is_empty() => format!("✋ {}", html_escape(&clock(a.at).both())),
            Some(a) => format!("✋ {} {}", html_escape(&a.by), html_escape(&clock(a.at).both())),
            None => String::new(),
        };
        let alert = format!(
            "<a href=\"{}/{}\">{}</a>",
            super::detail::PATH,
            html_escape(&e.notification),
            html_escape(&e.alertname)
        );
        rows.push_str(&format!(
            "<tr><td data-l=\"decided\">{}</td><td><b>{alert}</b> <small>{}</small></td><td>{}</td>\
             <td data-l=\"decision\" style=\"color:{colour};font-weight:bold\">{decision}</td>\
             <td data-l=\"score\">{score}</td><td data-l=\"why\">{}</td><td data-l=\"acknowledged\">{acked}</td></tr>",
            html_escape(&clock(e.decided_at).both()),
            html_escape(label("severity")),
            html_escape(&who),
            html_escape(&reasons.join("; ")),
        ));
    }
    let empty = match (shown.is_empty(), audited) {
        (false, _) => String::new(),
        (true, true) => "<p>No decision recorded yet (or none that the filter keeps).</p>".to_owned(),
        (true, false) => "<p>Rescoring is off here, so no decision is recorded.</p>".to_owned(),
    };
    let input = |name: &str, value: &str, hint: &str| {
        format!(
            "<label>{name} <input name=\"{name}\" value=\"{}\" placeholder=\"{hint}\" size=\"12\"></label> ",
            html_escape(value)
        )
    };
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>wardwatch console</title>\
         <style>body{{font-family:sans-serif;margin:1em}} table{{border-collapse:collapse;width:100%}}\
         td,th{{text-align:left;padding:4px 8px;border-bottom:1px solid #ddd;vertical-align:top}}\
         th{{background:#f4f4f4}}\
         @media (max-width:700px){{table,tbody,tr,td{{display:block}} tr:first-child{{display:none}}\
         tr{{border-bottom:1px solid #ccc;padding:6px 0}} td{{border:none;padding:2px 4px}}\
         td[data-l]:not(:empty)::before{{content:attr(data-l) \": \";color:#777}}}}</style></head><body><h1 style=\"font-size:1.4em\">wardwatch — recent decisions</h1>\
         <form method=\"get\">{}{}{}<button type=\"submit\">Filter</button> <a href=\"/\">all</a> · \
         <a href=\"/runbooks\">runbooks</a></form>{}<p style=\"color:#555\">{} shown, newest first.</p>{empty}\
         <table><tr><th>decided</th><th>alert</th><th>who</th><th>decision</th><th>score</th><th>why</th>\
         <th>acknowledged</th></tr>{rows}</table></body></html>",
        input("ward", &filter.ward, "icu-1"),
        input("severity", &filter.severity, "critical"),
        input("decision", &filter.decision, "downgrade"),
        page.grafana.map(grafana_links).unwrap_or_default(),
        shown.len(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rescore::policy::Decision;
    use chrono::DateTime;

    fn entry(n: &str, ward: &str, decision: Option<Decision>) -> AuditEntry {
        let labels = [("alertname", "HypoxiaDetected"), ("severity", "critical"), ("ward", ward), ("patient", "p<3>")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let at = DateTime::from_timestamp(1_796_126_607, 0).unwrap();
        AuditEntry {
            decision,
            score: Some(0.23),
            reasons: vec!["SpO2 86%".into()],
            ..AuditEntry::new(n, "f", &labels, at, at)
        }
    }

    fn utc(audited: bool) -> Page<'static> {
        Page { audited, tz: chrono_tz::Tz::UTC, grafana: None }
    }

    #[test]
    fn the_newest_decisions_come_first_filtered_escaped_and_acknowledged() {
        let entries = [entry("n1", "icu-1", Some(Decision::Keep)), entry("n2", "ward-7", Some(Decision::Downgrade))];
        let at = DateTime::from_timestamp(1_796_126_700, 0).unwrap();
        let acked = |id: &str| (id == "n1").then(|| Ack { id: id.into(), by: "Sam".into(), at, client: String::new() });
        let all = render(&entries, &Filter::default(), acked, &utc(true));
        let (first, second) = (all.find("downgrade</td>").unwrap(), all.find("keep</td>").unwrap());
        assert!(first < second, "newest first");
        assert!(all.contains("patient p&lt;3&gt;") && !all.contains("p<3>"), "labels are escaped");
        assert!(all.contains("✋ Sam"), "{all}");
        let icu = render(&entries, &Filter { ward: "icu-1".into(), ..Filter::default() }, acked, &utc(true));
        assert!(icu.contains("keep</td>") && !icu.contains("downgrade</td>"));
        let step = AuditEntry { escalation_step: Some(2), ..entry("n3", "icu-1", Some(Decision::Keep)) };
        let with_step = render(&[step], &Filter::default(), acked, &utc(true));
        assert!(with_step.contains(">escalation step 2</td>"), "{with_step}");
        let none = render(&[], &Filter::default(), acked, &utc(false));
        assert!(none.contains("Rescoring is off"));
    }

    #[test]
    fn the_grafana_dashboards_linked_are_those_provisioned() {
        let page = Page { grafana: Some("https://grafana.example.org/"), ..utc(true) };
        let line = render(&[], &Filter::default(), |_| None, &page);
        assert!(line.contains("href=\"https://grafana.example.org/d/wardwatch-hospital\""), "{line}");
        assert!(!render(&[], &Filter::default(), |_| None, &utc(true)).contains("Grafana"), "none without grafana_url");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("grafana/dashboards");
        for (uid, _) in GRAFANA_DASHBOARDS {
            let found = std::fs::read_dir(&dir).unwrap().any(|f| {
                let text = std::fs::read_to_string(f.unwrap().path()).unwrap_or_default();
                text.contains(&format!("\"uid\": \"{uid}\""))
            });
            assert!(found, "{uid} is a provisioned dashboard");
        }
    }

    #[test]
    fn the_tail_of_a_long_log_starts_at_a_whole_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("decisions.jsonl");
        let line = serde_json::to_string(&entry("n1", "icu-1", Some(Decision::Keep))).unwrap();
        let lines = (TAIL_BYTES as usize / line.len()) + 50;
        std::fs::write(&path, format!("{line}\n").repeat(lines) + "{\"torn").unwrap();
        let got = tail(&path);
        assert!(!got.is_empty() && got.len() < lines, "{} of {lines}", got.len());
        assert!(got.iter().all(|e| e.notification == "n1"));
    }
}
