//! `GET /alerts/<id>`: one notification in the console — the message as its channels show it
//! (who, what, the verdict and its evidence, the action), the chart of its recent history, each
//! channel's delivery and escalation step, who acknowledged it (or the button to), the audit
//! trail of its decisions, and two buttons: "real alarm" and "false alarm".
//!
//! Feedback is a person's answer to "was this alarm real?", the ground truth a site's model is
//! calibrated with: one JSON line each in `<queue.dir>/feedback.jsonl` (the notification, its
//! alerts, the decision wardwatch made, the answer, who, when), fsynced before the page says so,
//! and counted in `wardwatch_sidecar_feedback_total{feedback}`. A later answer for the same
//! notification is stored too (people correct themselves); the latest counts. How right the
//! downgrades were is published from the file, at start-up and after each answer:
//! `wardwatch_sidecar_feedback_downgrades{answer}` counts the downgraded notifications people
//! judged, by their latest answer, so the precision of the downgrades is
//! `wardwatch_sidecar_feedback_downgrades{answer="false_alarm"} / ignoring(answer) sum(wardwatch_sidecar_feedback_downgrades)`.

use super::acknowledge::Ack;
use super::Sidecar;
use crate::alert::notification::{Notification, Scoring};
use crate::alert::view::{html_escape, Moment, View};
use crate::notify::channel::history_chart;
use crate::notify::email::ChartPart;
use crate::rescore::audit::AuditEntry;
use crate::sidecar::queue::{DeliveryState, Item};
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

/// Where the console's detail pages are.
pub const PATH: &str = "/alerts";
/// Longest name a person may give.
const MAX_BY_CHARS: usize = 100;

/// A person's answer: was it real?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// A real alarm: the patient (or the machine) needed someone.
    Real,
    /// A false alarm: an artifact, or nothing that needed anyone.
    FalseAlarm,
}

impl Answer {
    /// The metric label and the stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            Answer::Real => "real",
            Answer::FalseAlarm => "false_alarm",
        }
    }
}

/// One stored answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feedback {
    /// The notification.
    pub id: String,
    /// The answer.
    pub feedback: Answer,
    /// The name they gave (empty when none).
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The decision wardwatch made (`escalate`, `keep`, `downgrade`; `unscored`).
    pub decision: String,
    /// The alerts' names and labels.
    pub alerts: Vec<std::collections::BTreeMap<String, String>>,
}

/// The feedback form.
#[derive(Debug, Deserialize)]
pub struct FeedbackForm {
    feedback: Answer,
    #[serde(default)]
    by: String,
}

/// The file answers go to.
fn feedback_path(s: &Sidecar) -> PathBuf {
    s.queue.dir().join("feedback.jsonl")
}

/// Answers stored for notification `id`, oldest first (a torn last line is skipped).
fn answers(path: &std::path::Path, id: &str) -> Vec<Feedback> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().filter_map(|l| serde_json::from_str::<Feedback>(l).ok()).filter(|f| f.id == id).collect()
}

/// Downgraded notifications people judged, by their latest answer: (false alarm, real).
pub fn judged_downgrades(answers: &[Feedback]) -> (usize, usize) {
    let mut latest: std::collections::HashMap<&str, &Feedback> = std::collections::HashMap::new();
    for f in answers {
        match latest.get(f.id.as_str()) {
            Some(seen) if seen.at > f.at => {}
            _ => {
                latest.insert(&f.id, f);
            }
        }
    }
    let downgraded: Vec<&Feedback> = latest.values().copied().filter(|f| f.decision == "downgrade").collect();
    let false_alarm = downgraded.iter().filter(|f| f.feedback == Answer::FalseAlarm).count();
    (false_alarm, downgraded.len() - false_alarm)
}

/// Bring `wardwatch_sidecar_feedback_downgrades` up to the feedback file.
pub fn publish_judged_downgrades(s: &Sidecar) {
    let text = std::fs::read_to_string(feedback_path(s)).unwrap_or_default();
    let all: Vec<Feedback> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let (false_alarm, real) = judged_downgrades(&all);
    let g = &s.telemetry.judged_downgrades;
    g.with_label_values(&["false_alarm"]).set(false_alarm as i64);
    g.with_label_values(&["real"]).set(real as i64);
}

/// Append one answer and flush it to the disk; the file is opened for each, as the
/// acknowledgements' is, so nothing holds it open.
fn store(path: &std::path::Path, f: &Feedback) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(f).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(&line)?;
    file.sync_data()
}

/// The notification `id` with the verdict and notes it was delivered with, while the queue
/// remembers it.
async fn notification(s: &Sidecar, id: &str) -> Option<(Item, Notification)> {
    let (item, mut n) = crate::sidecar::rescoring::remembered(s, id).await?;
    n.notes.extend(item.notes.iter().cloned());
    Some((item, n))
}

/// `GET /alerts/<id>`.
pub async fn page(State(s): State<Arc<Sidecar>>, Path(id): Path<String>) -> Response {
    let trail = match s.rescoring.audit.as_ref().map(|a| a.path().to_owned()) {
        Some(p) => {
            let id = id.clone();
            let entries = tokio::task::spawn_blocking(move || super::console::tail(&p)).await.unwrap_or_default();
            entries.into_iter().filter(|e| e.notification == id).collect()
        }
        None => Vec::new(),
    };
    let path = feedback_path(&s);
    let wanted = id.clone();
    let given = tokio::task::spawn_blocking(move || answers(&path, &wanted)).await.unwrap_or_default();
    let found = notification(&s, &id).await;
    if found.is_none() && trail.is_empty() {
        return crate::sidecar::receiver::error(
            StatusCode::NOT_FOUND,
            "no such notification in the queue's memory or the audit log",
        );
    }
    let ack = s.acknowledge.get().and_then(|a| a.log.get(&id));
    let ack_link = match (&found, &ack, s.acknowledge.get()) {
        (Some((_, n)), None, Some(a)) if n.status == crate::alert::payload::Status::Firing => {
            Some(a.link(&id, Utc::now()))
        }
        _ => None,
    };
    let html = render(&s, &id, found.as_ref(), &trail, ack.as_ref(), ack_link.as_deref(), &given);
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], html).into_response()
}

/// `GET /alerts/<id>/chart.png`: the chart the email carries, drawn now.
pub async fn chart(State(s): State<Arc<Sidecar>>, Path(id): Path<String>) -> Response {
    let Some(history) = s.history.get() else {
        return crate::sidecar::receiver::error(StatusCode::NOT_FOUND, "no Prometheus to chart from");
    };
    let Some((_, n)) = notification(&s, &id).await else {
        return crate::sidecar::receiver::error(StatusCode::NOT_FOUND, "no such notification in the queue's memory");
    };
    match history_chart(history, &n, s.settings.site.time_zone).await {
        ChartPart::Image(png) => {
            ([(header::CONTENT_TYPE, "image/png"), (header::CACHE_CONTROL, "no-store")], png).into_response()
        }
        ChartPart::Unavailable(why) => crate::sidecar::receiver::error(StatusCode::NOT_FOUND, &why),
        ChartPart::None => crate::sidecar::receiver::error(StatusCode::NOT_FOUND, "its rule names no series to chart"),
    }
}

/// `POST /alerts/<id>/feedback`: store the answer, then show the page again.
pub async fn feedback(
    State(s): State<Arc<Sidecar>>,
    Path(id): Path<String>,
    form: Result<Form<FeedbackForm>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(form)) => form,
        Err(e) => {
            let why = format!("not an answer: `feedback` is `real` or `false_alarm` ({})", e.body_text());
            return crate::sidecar::receiver::error(StatusCode::UNPROCESSABLE_ENTITY, &why);
        }
    };
    let Some((_, n)) = notification(&s, &id).await else {
        return crate::sidecar::receiver::error(StatusCode::NOT_FOUND, "no such notification in the queue's memory");
    };
    let by: String = form.by.trim().chars().filter(|c| !c.is_control()).take(MAX_BY_CHARS).collect();
    let decision = n.scoring.decision().map_or("unscored", |d| d.as_str()).to_owned();
    let alerts = n.alerts.iter().map(|a| a.labels.clone()).collect();
    let answer = Feedback { id: id.clone(), feedback: form.feedback, by, at: Utc::now(), decision, alerts };
    let path = feedback_path(&s);
    let stored = {
        let answer = answer.clone();
        tokio::task::spawn_blocking(move || store(&path, &answer)).await.map_err(std::io::Error::other).and_then(|r| r)
    };
    match stored {
        Ok(()) => {
            s.telemetry.feedback.with_label_values(&[answer.feedback.as_str()]).inc();
            let published = s.clone();
            let _ = tokio::task::spawn_blocking(move || publish_judged_downgrades(&published)).await;
            tracing::info!(id, feedback = answer.feedback.as_str(), by = %answer.by, decision = %answer.decision, "feedback stored");
            Redirect::to(&format!("{PATH}/{id}")).into_response() // 303 See Other
        }
        Err(e) => {
            tracing::error!(id, error = %e, "cannot store feedback");
            let why = format!("the answer could not be saved ({e}); try again");
            crate::sidecar::receiver::error(StatusCode::SERVICE_UNAVAILABLE, &why)
        }
    }
}

fn render(
    s: &Sidecar,
    id: &str,
    found: Option<&(Item, Notification)>,
    trail: &[AuditEntry],
    ack: Option<&Ack>,
    ack_link: Option<&str>,
    given: &[Feedback],
) -> String {
    let site = &s.settings.site;
    let clock = |at| Moment::new(at, site.time_zone).both();
    let mut body = String::new();
    match found {
        Some((item, n)) => {
            let v = View::of(n, site);
            body.push_str(&format!("<h1>{}</h1><table class=\"kv\">", html_escape(&v.title())));
            let mut row = |k: &str, html: String| body.push_str(&format!("<tr><th>{k}</th><td>{html}</td></tr>"));
            row("Who", html_escape(&v.place.who()));
            if let Some(what) = &v.what {
                row("What", html_escape(what));
            }
            let evidence: String = v.verdict.evidence.iter().map(|e| format!("<li>{}</li>", html_escape(e))).collect();
            row("Verdict", format!("<b>{}</b><ul>{evidence}</ul>", html_escape(&v.verdict.headline)));
            if let Some(a) = &v.action {
                row("Action", format!("<a href=\"{}\">{}</a>", html_escape(&a.url), html_escape(a.title)));
            }
            if let Some(first) = v.alerts.first().filter(|a| !a.links.is_empty()) {
                let links: Vec<String> = first
                    .links
                    .iter()
                    .map(|l| format!("<a href=\"{}\">{}</a>", html_escape(&l.url), html_escape(l.title)))
                    .collect();
                row("Links", links.join(" · "));
            }
            row("Received", html_escape(&v.received.both()));
            let acked = match (ack, ack_link) {
                (Some(a), _) => {
                    let by = if a.by.is_empty() { "someone who gave no name" } else { &a.by };
                    format!("{} at {}", html_escape(by), html_escape(&clock(a.at)))
                }
                (None, Some(link)) => {
                    format!("<a class=\"button\" href=\"{}\">I'm on it — acknowledge</a>", html_escape(link))
                }
                (None, None) => "—".to_owned(),
            };
            row("Acknowledged", acked);
            body.push_str("</table>");
            if s.history.get().is_some() {
                body.push_str(&format!(
                    "<p><img src=\"{PATH}/{}/chart.png\" alt=\"the last hour of the alert's series\" \
                     style=\"max-width:100%\"></p>",
                    html_escape(id)
                ));
            }
            body.push_str("<h2>Delivery</h2><div class=\"wide\"><table><tr><th>channel</th><th>state</th><th>attempts</th><th>note</th></tr>");
            for (channel, st) in &item.channels {
                let step = item.escalation_of(channel).map_or(String::new(), |e| {
                    format!(" <small>(escalation step {}, due {})</small>", e.step, html_escape(&clock(e.due_at)))
                });
                let state = match st.state {
                    DeliveryState::Pending => "pending",
                    DeliveryState::Delivered => "delivered",
                    DeliveryState::Dead => "dead letter",
                    DeliveryState::Skipped => "not needed",
                    DeliveryState::Rerouted => "re-routed",
                };
                body.push_str(&format!(
                    "<tr><td>{}{step}</td><td>{state}</td><td>{}</td><td>{}</td></tr>",
                    html_escape(channel),
                    st.attempts,
                    html_escape(st.last_error.as_deref().unwrap_or(""))
                ));
            }
            body.push_str("</table></div>");
            let scoring = match &n.scoring {
                Scoring::Scored(g) => {
                    format!("score {:.2}, artifact {:.2}, model {}", g.score, g.artifact, g.model_version)
                }
                Scoring::Unscored { reason } => format!("unscored: {reason}"),
            };
            body.push_str(&format!("<p class=\"muted\">{}</p>", html_escape(&scoring)));
        }
        None => body.push_str(&format!(
            "<h1>Notification {}</h1><p>No longer in the queue's memory; its audit trail follows.</p>",
            html_escape(id)
        )),
    }
    body.push_str("<h2>Audit trail</h2><div class=\"wide\"><table><tr><th>when</th><th>alert</th><th>decision</th><th>why</th></tr>");
    for e in trail {
        let decision = e.what_was_decided();
        body.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            html_escape(&clock(e.decided_at)),
            html_escape(&e.alertname),
            html_escape(&decision),
            html_escape(&e.reasons.join("; "))
        ));
    }
    if trail.is_empty() {
        body.push_str("<tr><td colspan=\"4\">nothing recorded (rescoring is off, or the log has moved on)</td></tr>");
    }
    body.push_str("</table></div>");
    if found.is_some() {
        let last = given.last().map_or(String::new(), |f| {
            let answer = if f.feedback == Answer::Real { "real alarm" } else { "false alarm" };
            let by = if f.by.is_empty() { String::new() } else { format!(" by {}", html_escape(&f.by)) };
            format!("<p>Answered <b>{answer}</b>{by} at {}.</p>", html_escape(&clock(f.at)))
        });
        body.push_str(&format!(
            "<h2>Was it real?</h2>{last}<form method=\"post\" action=\"{PATH}/{id}/feedback\">\
             <label>Your name (optional) <input name=\"by\" maxlength=\"{MAX_BY_CHARS}\" autocomplete=\"name\"></label> \
             <button name=\"feedback\" value=\"real\">Real alarm</button> \
             <button name=\"feedback\" value=\"false_alarm\">False alarm</button></form>",
            id = html_escape(id)
        ));
    }
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{} — wardwatch</title>\
         <style>body{{font-family:sans-serif;max-width:60em;margin:1em auto;padding:0 1em}} h1{{font-size:1.3em}}\
         h2{{font-size:1.1em;margin-top:1.4em}} table{{border-collapse:collapse}} td,th{{text-align:left;padding:3px 8px;\
         border-bottom:1px solid #ddd;vertical-align:top}} table.kv th{{color:#555;font-weight:normal}}\
         .wide{{overflow-x:auto}} .muted{{color:#555}} ul{{margin:2px 0;padding-left:18px}} .button,button{{display:inline-block;font-size:1.05em;\
         padding:.35em 1em;margin:.2em 0}} a.button{{background:#1b5e20;color:#fff;border-radius:4px;\
         text-decoration:none;font-weight:bold}}</style></head><body><p><a href=\"/\">← recent decisions</a></p>{body}\
         </body></html>",
        html_escape(id)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(id: &str, decision: &str, feedback: Answer, minute: i64) -> Feedback {
        Feedback {
            id: id.into(),
            feedback,
            by: String::new(),
            at: DateTime::from_timestamp(1_796_169_600 + minute * 60, 0).unwrap(),
            decision: decision.into(),
            alerts: Vec::new(),
        }
    }

    #[test]
    fn the_downgrades_people_judged_count_by_their_latest_answer() {
        let answers = [
            answer("a", "downgrade", Answer::Real, 1),
            answer("a", "downgrade", Answer::FalseAlarm, 2), // corrected: the downgrade was right
            answer("b", "downgrade", Answer::Real, 3),
            answer("c", "downgrade", Answer::FalseAlarm, 5),
            answer("c", "downgrade", Answer::Real, 4), // an older answer stored later
            answer("d", "keep", Answer::FalseAlarm, 6),
        ];
        assert_eq!(judged_downgrades(&answers), (2, 1));
        assert_eq!(judged_downgrades(&[]), (0, 0));
    }
}
