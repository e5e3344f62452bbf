//! The message a person reads, built once from a notification, for every channel to render:
//! email and Slack format it and keep their own limits, the file channel records it.
//!
//! It leads with the answer — who (patient, bed and ward; or device, link, node), what (the
//! reading, from the rule's summary), the verdict in plain words with its evidence, what to do
//! (the runbook) — then the details: each alert with its times in the site's time zone and in
//! UTC, its labels and its links. Every link is absolute, built from the site's addresses.

use crate::alert::decision::Decision;
use crate::alert::links;
use crate::alert::notification::{Notification, Scoring};
use crate::alert::payload::{Alert, LabelSet, Status};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

/// What a message needs to know of the site it is read at: where its readers reach Prometheus,
/// Alertmanager and Grafana, and the time zone they read clocks in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// Prometheus as readers reach it; replaces the origin of each alert's `generatorURL`.
    pub prometheus_url: Option<String>,
    /// Alertmanager as readers reach it, for silence links; default: the payload's `externalURL`.
    pub alertmanager_url: Option<String>,
    /// Grafana, for the patient and ward dashboards.
    pub grafana_url: Option<String>,
    /// The runbooks page as readers reach it (the sidecar serves it); a rule's runbook given as
    /// a path into `runbooks.md` links there, keeping its `#section`.
    pub runbooks_url: Option<String>,
    /// The console's alert pages as readers reach them (the sidecar serves them:
    /// `<this>/<notification id>`), where the chart and the history of each notification are.
    pub alerts_url: Option<String>,
    /// The site's time zone; times are shown in it and in UTC.
    pub time_zone: Tz,
}

impl Default for Site {
    fn default() -> Self {
        Self {
            prometheus_url: None,
            alertmanager_url: None,
            grafana_url: None,
            runbooks_url: None,
            alerts_url: None,
            time_zone: Tz::UTC,
        }
    }
}

/// A moment, as the site's clocks show it and in UTC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Moment {
    /// The instant.
    pub utc: DateTime<Utc>,
    /// `2026-12-01 14:03:27 CET`, in the site's time zone.
    pub local: String,
    /// Whether the site's clocks show UTC's time then.
    #[serde(skip)]
    offset_zero: bool,
}

impl Moment {
    /// `at` as the clocks in `tz` show it.
    pub fn new(at: DateTime<Utc>, tz: Tz) -> Self {
        let local = at.with_timezone(&tz);
        let offset_zero = local.naive_local() == at.naive_utc();
        Self { utc: at, local: local.format("%Y-%m-%d %H:%M:%S %Z").to_string(), offset_zero }
    }

    /// `2026-12-01 14:03:27 CET (13:03:27 UTC)`; the site's time alone when it is UTC's
    /// (`… UTC`, or `… GMT` in London's winter).
    pub fn both(&self) -> String {
        match self.local.ends_with(" UTC") || self.offset_zero {
            true => self.local.clone(),
            false => format!("{} ({})", self.local, self.utc.format("%H:%M:%S UTC")),
        }
    }
}

/// A link: what it opens, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    /// How it reads, e.g. `Grafana patient dashboard`.
    pub title: &'static str,
    /// The absolute URL.
    pub url: String,
}

/// The verdict in plain words.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// What the reader should take from it, e.g. `Likely a sensor artifact: downgraded, still
    /// delivered`.
    pub headline: String,
    /// The evidence behind it, most important first (at most [`MAX_EVIDENCE`]).
    pub evidence: Vec<String>,
    /// The decision, score and model, for whoever checks the rescoring.
    pub detail: String,
    /// Whether it calls for full priority (not downgraded).
    pub full_priority: bool,
}

/// Evidence lines a verdict shows.
pub const MAX_EVIDENCE: usize = 3;

/// Where an alert is: the patient's bed and ward, or the device, link or node it names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Place {
    /// Ward.
    pub ward: Option<String>,
    /// Bed.
    pub bed: Option<String>,
    /// Patient.
    pub patient: Option<String>,
    /// Anything else that names it (`device`, `link`, `node`, `instance`), as (label, value).
    pub other: Option<(String, String)>,
}

/// Labels that name an entity other than a patient, in the order one is taken.
const OTHER_ENTITIES: [&str; 5] = ["device", "link", "node", "namespace", "instance"];

impl Place {
    /// Where the labels `get` returns place it.
    pub fn of(get: impl Fn(&str) -> Option<String>) -> Self {
        let other = OTHER_ENTITIES.iter().find_map(|k| get(k).map(|v| (k.to_string(), v)));
        Self { ward: get("ward"), bed: get("bed"), patient: get("patient"), other }
    }

    /// `patient p00003, bed 04, ward icu-1`; `node worker-2`; empty when nothing names it.
    pub fn who(&self) -> String {
        let mut parts = Vec::new();
        if let Some(p) = &self.patient {
            parts.push(format!("patient {p}"));
        }
        if let Some(b) = &self.bed {
            parts.push(format!("bed {b}"));
        }
        if let Some(w) = &self.ward {
            parts.push(format!("ward {w}"));
        }
        if parts.is_empty() {
            if let Some((k, v)) = &self.other {
                parts.push(format!("{k} {v}"));
            }
        }
        parts.join(", ")
    }

    /// `icu-1 / bed 04 / p00003`: the short form for headers.
    pub fn short(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        parts.extend(self.ward.clone());
        parts.extend(self.bed.as_ref().map(|b| format!("bed {b}")));
        parts.extend(self.patient.clone());
        if parts.is_empty() {
            parts.extend(self.other.as_ref().map(|(_, v)| v.clone()));
        }
        parts.join(" / ")
    }
}

/// One alert of the message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertView {
    /// The rule, e.g. `HypoxiaDetected`.
    pub name: String,
    /// Firing or resolved.
    pub status: Status,
    /// Its `severity` label.
    pub severity: Option<String>,
    /// Where it is.
    pub place: Place,
    /// The rule's summary: the reading in its unit.
    pub summary: Option<String>,
    /// The rule's description.
    pub description: Option<String>,
    /// Its other annotations, by name (not the runbook or dashboard, which are links).
    pub annotations: Vec<(String, String)>,
    /// When it started firing.
    pub since: Moment,
    /// When it resolved, if it has.
    pub resolved_at: Option<Moment>,
    /// Its labels, but `alertname`.
    pub labels: Vec<(String, String)>,
    /// The runbook: what to do.
    pub runbook: Option<Link>,
    /// Its graph in Prometheus, its dashboard in Grafana, a silence in Alertmanager.
    pub links: Vec<Link>,
    /// Its whole label set (for channels that build their own silence link within a limit).
    #[serde(skip)]
    pub label_set: LabelSet,
}

impl AlertView {
    /// `firing since …` or `resolved at … (firing since …)`, each time as [`Moment::both`].
    pub fn when(&self) -> String {
        match &self.resolved_at {
            Some(end) => format!("resolved at {} (firing since {})", end.both(), self.since.both()),
            None if self.status == Status::Resolved => "resolved".to_owned(),
            None => format!("firing since {}", self.since.both()),
        }
    }
}

/// News about a notification that leads its message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Banner {
    /// `Acknowledged` or `Escalated`.
    pub kind: &'static str,
    /// The line, e.g. "Acknowledged by Sam at 10:02:07 CET (09:02:07 UTC)."
    pub text: String,
}

/// The reading and its trend from the rescoring ("SpO2 86%, falling from 95% over 3 min"), for a
/// firing notification of one alert (in a group, the deciding alert may not be the one shown).
fn trend_of(n: &Notification) -> Option<String> {
    let firing = n.alerts.iter().filter(|a| a.status == Status::Firing).count();
    match (&n.scoring, n.status, firing) {
        (Scoring::Scored(g), Status::Firing, 1) => g.trend.clone(),
        _ => None,
    }
}

fn banner(n: &Notification, site: &Site) -> Option<Banner> {
    if let Some(a) = &n.acknowledged {
        let by = if a.by.is_empty() { String::new() } else { format!(" by {}", a.by) };
        let text = format!("Acknowledged{by} at {}.", Moment::new(a.at, site.time_zone).both());
        return Some(Banner { kind: "Acknowledged", text });
    }
    n.escalation.clone().map(|text| Banner { kind: "Escalated", text })
}

/// The message: the answer first, then the details.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct View {
    /// The notification's id (its idempotency key).
    pub id: String,
    /// Firing or resolved.
    pub status: Status,
    /// The group's severity, when its alerts share one.
    pub severity: Option<String>,
    /// The verdict's short tag for titles (`likely artifact`, `ESCALATED`, …).
    pub tag: Option<&'static str>,
    /// The rule of the alert the message is about (the first in the group's status).
    pub name: String,
    /// Who: where that alert is.
    pub place: Place,
    /// What: the reading and its trend when the rescoring read it, else that alert's summary.
    pub what: Option<String>,
    /// The verdict in plain words.
    pub verdict: Verdict,
    /// What to do: that alert's runbook.
    pub action: Option<Link>,
    /// Where to say "I'm on it", for a firing notification not yet acknowledged.
    pub acknowledge: Option<Link>,
    /// The notification's page in the console: its chart, delivery and audit trail.
    pub page: Option<Link>,
    /// The line that leads the message when there is news about it: someone acknowledged it,
    /// or nobody did and it was escalated.
    pub banner: Option<Banner>,
    /// Every alert in the group.
    pub alerts: Vec<AlertView>,
    /// Alerts of the group not in `alerts` (left out by Alertmanager or by wardwatch).
    pub hidden: u64,
    /// Lines for the reader after the alerts: alerts left out, why it was re-routed.
    pub notices: Vec<String>,
    /// When wardwatch received it.
    pub received: Moment,
    /// The group's labels as matchers, `{alertname="HypoxiaDetected",ward="icu-1"}`.
    pub group: String,
    /// The Alertmanager receiver.
    pub receiver: String,
    /// Alertmanager's alerts page, for the alerts not shown.
    pub alertmanager: Option<String>,
}

impl View {
    /// The message for `n` at `site`.
    pub fn of(n: &Notification, site: &Site) -> Self {
        let first = n.alerts.iter().position(|a| a.status == n.status).or((!n.alerts.is_empty()).then_some(0));
        let primary = first.map(|i| &n.alerts[i]);
        let label = |key: &str| -> Option<String> {
            primary
                .and_then(|a| a.labels.get(key))
                .or_else(|| n.common_labels.get(key))
                .filter(|v| !v.is_empty())
                .cloned()
        };
        let alertmanager = links::base_url(site.alertmanager_url.as_deref())
            .or_else(|| links::base_url(Some(&n.external_url)))
            .map(str::to_owned);
        let alerts: Vec<AlertView> = n.alerts.iter().map(|a| alert_view(a, n, site, alertmanager.as_deref())).collect();
        let first = first.and_then(|i| alerts.get(i));
        Self {
            id: n.id.clone(),
            status: n.status,
            severity: group_label(n, "severity"),
            tag: if n.status == Status::Firing { n.scoring.tag() } else { None },
            name: label("alertname").unwrap_or_else(|| "alert".to_owned()),
            place: Place::of(|k| group_label(n, k)),
            what: trend_of(n).or_else(|| first.and_then(|a| a.summary.clone())),
            verdict: verdict(&n.scoring),
            action: first.and_then(|a| a.runbook.clone()),
            acknowledge: match (n.status, &n.acknowledged) {
                (Status::Firing, None) => {
                    n.acknowledge_url.as_deref().and_then(absolute).map(|url| Link { title: "Acknowledge", url })
                }
                _ => None,
            },
            banner: banner(n, site),
            page: links::base_url(site.alerts_url.as_deref())
                .map(|base| Link { title: "Chart and history", url: format!("{base}/{}", n.id) }),
            hidden: n.truncated_alerts.saturating_add(n.left_out),
            notices: n.notices(),
            received: Moment::new(n.received_at, site.time_zone),
            group: links::matchers(&n.group_labels),
            receiver: n.receiver.clone(),
            alerts,
            alertmanager,
        }
    }

    /// Alerts in the group, shown or not.
    pub fn total(&self) -> u64 {
        (self.alerts.len() as u64).saturating_add(self.hidden)
    }

    /// One line: `[ACKNOWLEDGED] [FIRING critical] [likely artifact] HypoxiaDetected — ward icu-1, patient
    /// p00003 (+2 more)`; `[RESOLVED] …`. Email's subject; the file's title.
    pub fn title(&self) -> String {
        let mut s = match &self.banner {
            Some(b) if b.kind == "Acknowledged" => "[ACKNOWLEDGED] ".to_owned(),
            Some(b) if b.kind == "Escalated" => "[ESCALATION] ".to_owned(),
            _ => String::new(),
        };
        s.push_str(&match (self.status, &self.severity) {
            (Status::Firing, Some(sev)) => format!("[FIRING {sev}] "),
            (Status::Firing, None) => "[FIRING] ".to_owned(),
            (Status::Resolved, _) => "[RESOLVED] ".to_owned(),
        });
        if let Some(tag) = self.tag {
            s.push_str(&format!("[{tag}] "));
        }
        s.push_str(&self.name);
        let place: Vec<String> = [("ward", &self.place.ward), ("patient", &self.place.patient)]
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} {v}")))
            .collect();
        match (place.is_empty(), &self.place.other) {
            (false, _) => s.push_str(&format!(" — {}", place.join(", "))),
            (true, Some((k, v))) => s.push_str(&format!(" — {k} {v}")),
            (true, None) => {}
        }
        let more = self.total().saturating_sub(1);
        if more > 0 {
            s.push_str(&format!(" (+{more} more)"));
        }
        s
    }
}

/// A label the whole group shares: common or group label, or the same value on every alert.
fn group_label(n: &Notification, key: &str) -> Option<String> {
    let shared = n.common_labels.get(key).or_else(|| n.group_labels.get(key)).or_else(|| {
        let mut values = n.alerts.iter().map(|a| a.labels.get(key));
        let first = values.next()??;
        values.all(|v| v == Some(first)).then_some(first)
    });
    shared.filter(|v| !v.is_empty()).cloned()
}

/// A non-empty annotation.
fn annotation(a: &Alert, key: &str) -> Option<String> {
    a.annotations.get(key).map(|s| s.trim()).filter(|s| !s.is_empty()).map(str::to_owned)
}

fn alert_view(a: &Alert, n: &Notification, site: &Site, alertmanager: Option<&str>) -> AlertView {
    let label = |k: &str| a.labels.get(k).or_else(|| n.common_labels.get(k)).filter(|v| !v.is_empty()).cloned();
    let tz = site.time_zone;
    let resolved_at = match (a.status, a.ends_at) {
        (Status::Resolved, Some(end)) if end > a.starts_at => Some(Moment::new(end, tz)),
        _ => None,
    };
    let mut links = Vec::new();
    links.extend(prometheus_link(a, site).map(|url| Link { title: "Prometheus graph", url }));
    if a.status == Status::Firing {
        if let Some(am) = alertmanager {
            links.push(Link { title: "Silence in Alertmanager", url: links::silence_url(am, &a.labels) });
        }
    }
    links.extend(grafana_link(a, n, site));
    let annotations = a
        .annotations
        .iter()
        .filter(|(k, v)| {
            !matches!(k.as_str(), "summary" | "description" | "runbook_url" | "dashboard") && !v.is_empty()
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    AlertView {
        name: label("alertname").unwrap_or_else(|| "alert".to_owned()),
        status: a.status,
        severity: label("severity"),
        place: Place::of(label),
        summary: annotation(a, "summary"),
        description: annotation(a, "description"),
        annotations,
        since: Moment::new(a.starts_at, tz),
        resolved_at,
        labels: a.labels.iter().filter(|(k, _)| *k != "alertname").map(|(k, v)| (k.clone(), v.clone())).collect(),
        runbook: annotation(a, "runbook_url").and_then(|u| runbook(&u, site)).map(|url| Link { title: "Runbook", url }),
        links,
        label_set: a.labels.clone(),
    }
}

/// `url` if it is absolute (http or https): a relative link opens nothing in a mail or a chat.
fn absolute(url: &str) -> Option<String> {
    let lower = url.to_ascii_lowercase();
    (lower.starts_with("http://") || lower.starts_with("https://")).then(|| url.to_owned())
}

/// A runbook's link: absolute as given, or a path into `runbooks.md` on the served page.
fn runbook(url: &str, site: &Site) -> Option<String> {
    if let Some(url) = absolute(url) {
        return Some(url);
    }
    let (path, section) = url.split_once('#').map_or((url, None), |(p, s)| (p, Some(s)));
    let page = links::base_url(site.runbooks_url.as_deref()).filter(|_| path.ends_with("runbooks.md"))?;
    Some(section.map_or_else(|| page.to_owned(), |s| format!("{page}#{s}")))
}

/// `scheme://authority` of a URL.
fn origin(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let end = url.len() - rest.len() + rest.find('/').unwrap_or(rest.len());
    Some(&url[..end])
}

/// The alert's graph: its `generatorURL`, re-based on `prometheus_url` if set; from
/// `prometheus_url` alone, the alert's `ALERTS` series.
fn prometheus_link(a: &Alert, site: &Site) -> Option<String> {
    let base = links::base_url(site.prometheus_url.as_deref());
    let url = match (a.generator_url.trim(), base) {
        ("", None) => return None,
        ("", Some(base)) => {
            let mut sel = LabelSet::new();
            sel.extend(a.labels.get("alertname").map(|v| ("alertname".to_string(), v.clone())));
            let expr = format!("ALERTS{}", links::matchers(&sel));
            format!("{base}/graph?g0.expr={}&g0.tab=0", links::query_value(&expr))
        }
        (g, None) => g.to_owned(),
        (g, Some(base)) => match (origin(g), origin(base)) {
            (Some(from), Some(to)) => format!("{to}{}", &g[from.len()..]),
            (None, Some(to)) if g.starts_with('/') => format!("{to}{g}"),
            _ => g.to_owned(),
        },
    };
    absolute(&url)
}

/// The patient's dashboard, else the ward's, over the alert's time span.
fn grafana_link(a: &Alert, n: &Notification, site: &Site) -> Option<Link> {
    let base = links::base_url(site.grafana_url.as_deref())?;
    let from = (a.starts_at - chrono::Duration::hours(1)).timestamp_millis();
    let to = match a.ends_at {
        Some(end) if a.status == Status::Resolved => {
            (end + chrono::Duration::minutes(15)).timestamp_millis().to_string()
        }
        _ => "now".to_string(),
    };
    let labels: LabelSet = ["patient", "ward"]
        .iter()
        .filter_map(|k| {
            let v = a.labels.get(*k).or_else(|| n.common_labels.get(*k)).filter(|v| !v.is_empty())?;
            Some((k.to_string(), v.clone()))
        })
        .collect();
    let (dashboard, url) = links::dashboard_url(base, &labels, &format!("&from={from}&to={to}"))?;
    Some(Link { title: dashboard.title(), url })
}

/// The verdict in plain words: the headline by decision, the evidence the rescoring found.
fn verdict(scoring: &Scoring) -> Verdict {
    let v = match scoring {
        Scoring::Unscored { reason } => {
            return Verdict {
                headline: "Not rescored: treat it as the rule raised it".to_owned(),
                evidence: vec![reason.clone()],
                detail: scoring.line(),
                full_priority: true,
            }
        }
        Scoring::Scored(v) => v,
    };
    let headline = match (v.decision, v.technical, v.reescalated) {
        (_, true, _) => "Technical notice: still firing and still like a sensor fault — check the sensor",
        (Decision::Downgrade, _, _) if v.artifact >= 0.5 => "Likely a sensor artifact: downgraded, still delivered",
        (Decision::Downgrade, _, _) => "Likely not actionable: within its usual range and not dangerous in itself",
        (_, _, true) => "Re-escalated: still firing after it was downgraded",
        (Decision::Escalate, _, _) => "Likely real: escalated",
        (Decision::Keep, _, _) => "Kept at full priority: not explained away as an artifact",
    };
    // The first reason is the policy's rule (a re-escalation puts its own before it); the rest
    // is the evidence.
    let rules = 1 + usize::from(v.reescalated || v.technical);
    let mut evidence: Vec<String> = v.reasons.iter().skip(rules).take(MAX_EVIDENCE).cloned().collect();
    if evidence.is_empty() {
        evidence.extend(v.reasons.first().cloned());
    }
    Verdict {
        headline: headline.to_owned(),
        evidence,
        detail: scoring.line(),
        full_priority: v.decision != Decision::Downgrade || v.technical || v.reescalated,
    }
}

/// Escape text for HTML element content and quoted attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::notification::{Acknowledged, GroupVerdict};
    use crate::alert::payload::WebhookPayload;

    fn notification() -> Notification {
        let p = WebhookPayload::parse(crate::alert::payload::tests::SAMPLE.as_bytes()).unwrap();
        Notification::from_payload(p, "2026-07-01T12:00:00Z".parse().unwrap())
    }

    fn scored(decision: Decision, artifact: f64, reasons: &[&str]) -> Scoring {
        Scoring::Scored(Box::new(GroupVerdict {
            decision,
            score: 0.2,
            artifact,
            reasons: reasons.iter().map(|r| (*r).to_owned()).collect(),
            model_version: "m".into(),
            alert: "HypoxiaDetected p00003".into(),
            unscored: Vec::new(),
            reescalated: false,
            technical: false,
            trend: None,
        }))
    }

    #[test]
    fn what_is_the_reading_and_its_trend_when_the_rescoring_read_it() {
        let mut n = notification();
        let summary = View::of(&n, &Site::default()).what;
        let mut scoring = scored(Decision::Keep, 0.0, &["kept"]);
        if let Scoring::Scored(g) = &mut scoring {
            g.trend = Some("SpO2 86%, falling from 95% over 3 min".into());
        }
        n.scoring = scoring;
        assert_eq!(View::of(&n, &Site::default()).what.as_deref(), Some("SpO2 86%, falling from 95% over 3 min"));
        n.alerts.push(n.alerts[0].clone());
        assert_eq!(View::of(&n, &Site::default()).what, summary, "a group: the first alert's summary");
    }

    #[test]
    fn news_of_an_acknowledgement_or_an_escalation_leads_the_message() {
        let mut n = notification();
        n.acknowledge_url = Some("https://ww.example.org/acknowledge/t".into());
        let site = Site { time_zone: chrono_tz::Europe::Paris, ..Site::default() };
        assert!(View::of(&n, &site).banner.is_none());
        assert!(View::of(&n, &site).acknowledge.is_some());
        n.escalation = Some("Step 1 of 2: nobody acknowledged it within 2 min of 14:00:00 CEST.".into());
        let v = View::of(&n, &site);
        assert_eq!(v.banner.as_ref().map(|b| b.kind), Some("Escalated"));
        assert!(v.title().starts_with("[ESCALATION] [FIRING"), "{}", v.title());
        assert!(v.acknowledge.is_some(), "an escalation can be acknowledged");
        n.acknowledged = Some(Acknowledged { by: "Sam".into(), at: "2026-07-01T12:02:00Z".parse().unwrap() });
        let v = View::of(&n, &site);
        let banner = v.banner.clone().unwrap();
        assert_eq!(banner.kind, "Acknowledged");
        assert!(banner.text.starts_with("Acknowledged by Sam at 2026-07-01 14:02:00 CEST"), "{}", banner.text);
        assert!(v.title().starts_with("[ACKNOWLEDGED] [FIRING"), "{}", v.title());
        assert!(v.acknowledge.is_none(), "nothing left to acknowledge");
    }

    #[test]
    fn the_message_leads_with_who_what_and_the_verdict_in_plain_words() {
        let mut n = notification();
        n.scoring = scored(Decision::Downgrade, 0.9, &["likely artifact (0.90)", "heart rate unchanged", "pleth lost"]);
        let v = View::of(&n, &Site::default());
        assert!(v.title().starts_with("[FIRING"), "{}", v.title());
        assert!(v.title().contains("[likely artifact]"), "{}", v.title());
        assert!(!v.place.who().is_empty(), "{:?}", v.place);
        assert_eq!(v.verdict.headline, "Likely a sensor artifact: downgraded, still delivered");
        assert_eq!(v.verdict.evidence, ["heart rate unchanged", "pleth lost"], "the rule's own line is detail");
        assert!(v.verdict.detail.contains("score 0.20"), "{}", v.verdict.detail);
        assert!(!v.verdict.full_priority);
        n.scoring = Scoring::Unscored { reason: "Prometheus unreachable".into() };
        let v = View::of(&n, &Site::default());
        assert!(v.verdict.full_priority && v.verdict.evidence == ["Prometheus unreachable"]);
    }

    #[test]
    fn times_are_shown_in_the_sites_zone_beside_utc() {
        let at: DateTime<Utc> = "2026-12-01T13:03:27Z".parse().unwrap();
        assert_eq!(Moment::new(at, Tz::UTC).both(), "2026-12-01 13:03:27 UTC");
        assert_eq!(Moment::new(at, chrono_tz::Europe::Berlin).both(), "2026-12-01 14:03:27 CET (13:03:27 UTC)");
        let summer: DateTime<Utc> = "2026-07-01T13:03:27Z".parse().unwrap();
        assert_eq!(Moment::new(summer, chrono_tz::Europe::Berlin).local, "2026-07-01 15:03:27 CEST");
        assert_eq!(Moment::new(at, chrono_tz::Europe::London).both(), "2026-12-01 13:03:27 GMT", "no second clock");
        assert_eq!(Moment::new(summer, chrono_tz::Europe::London).both(), "2026-07-01 14:03:27 BST (13:03:27 UTC)");
    }

    #[test]
    fn links_are_absolute_or_left_out() {
        let mut n = notification();
        n.alerts[0].annotations.insert("runbook_url".into(), "docs/runbooks.md#hypoxia".into());
        n.alerts[0].generator_url = "/graph?g0.expr=up".into();
        n.external_url = String::new();
        let v = View::of(&n, &Site::default());
        assert!(v.action.is_none(), "a relative runbook opens nothing: {:?}", v.action);
        assert!(v.alerts[0].links.is_empty(), "{:?}", v.alerts[0].links);
        let site = Site {
            prometheus_url: Some("https://prom.example.org/".into()),
            grafana_url: Some("https://grafana.example.org".into()),
            alertmanager_url: Some("https://am.example.org".into()),
            ..Site::default()
        };
        let served = Site {
            runbooks_url: Some("http://ward-gw:10465/runbooks".into()),
            alerts_url: Some("http://ward-gw:10465/alerts/".into()),
            ..site.clone()
        };
        let v = View::of(&n, &served);
        assert_eq!(v.page.as_ref().map(|l| l.url.clone()), Some(format!("http://ward-gw:10465/alerts/{}", n.id)));
        assert_eq!(
            v.action.map(|l| l.url),
            Some("http://ward-gw:10465/runbooks#hypoxia".to_owned()),
            "on the page served"
        );
        n.alerts[0].annotations.insert("runbook_url".into(), "https://wiki.example.org/hypoxia".into());
        let v = View::of(&n, &served);
        assert_eq!(v.action.as_ref().map(|l| l.url.as_str()), Some("https://wiki.example.org/hypoxia"));
        let urls: Vec<&str> = v.alerts[0].links.iter().map(|l| l.url.as_str()).collect();
        assert!(urls.iter().all(|u| u.starts_with("https://")), "{urls:?}");
        assert!(urls[0].starts_with("https://prom.example.org/graph?g0.expr=up"), "{urls:?}");
    }
}
