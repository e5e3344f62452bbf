//! The channel abstraction the dispatcher delivers through, and its adapters.
//!
//! A channel makes one attempt per call and says what happened as an [`Outcome`]; retries,
//! backoff and durability belong to the dispatcher and the queue.

use crate::alert::notification::Notification;
use crate::alert::payload::LabelSet;
use crate::notify::chart;
use crate::notify::email::{self, ChartPart, Delivery, EmailConfig, EmailLinks, EmailSender};
use crate::notify::retry::Outcome;
use crate::notify::slack::{self, SlackSender};
use crate::prometheus::{self as history, PrometheusHistory, Series};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// The history charted in an email: the last hour, one point every 30 s.
const CHART_WINDOW: Duration = Duration::from_secs(3600);
const CHART_STEP: Duration = Duration::from_secs(30);
/// The chart's width in pixels (its height follows from its panels).
const CHART_WIDTH: u32 = 640;

/// A boxed future, so channels can sit behind `dyn`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A place notifications go.
pub trait Channel: Send + Sync {
    /// Name used in routes, queue state and metrics: its kind (`email`, `slack`, `file`), or
    /// the name the configuration gives it ([`Named`]).
    fn name(&self) -> &str;
    /// One delivery attempt.
    fn deliver<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Outcome>;
    /// How many attempts could start now without waiting (a rate limit's free tokens); the
    /// dispatcher starts no more, so an urgent notification is not queued behind attempts
    /// that would only wait. Unlimited unless the channel has a rate limit.
    fn ready(&self) -> usize {
        usize::MAX
    }
}

/// A channel under the name the configuration gives it (`email-charge-nurse`).
pub struct Named {
    /// The configured name.
    pub name: String,
    /// The channel.
    pub channel: std::sync::Arc<dyn Channel>,
}

impl Channel for Named {
    fn name(&self) -> &str {
        &self.name
    }
    fn deliver<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Outcome> {
        self.channel.deliver(n)
    }
    fn ready(&self) -> usize {
        self.channel.ready()
    }
}

/// Slack incoming webhook.
pub struct SlackChannel {
    /// The sender (rate limiter included).
    pub sender: SlackSender,
    /// Links put into messages.
    pub links: slack::Links,
}

impl Channel for SlackChannel {
    fn name(&self) -> &'static str {
        "slack"
    }
    fn deliver<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Outcome> {
        Box::pin(async move { self.sender.send(&slack::render(n, &self.links)).await })
    }
    fn ready(&self) -> usize {
        self.sender.ready()
    }
}

/// Email over SMTP.
pub struct EmailChannel {
    /// The sender.
    pub sender: EmailSender,
    /// Addresses and server, for building messages.
    pub config: EmailConfig,
    /// Links put into messages.
    pub links: EmailLinks,
    /// Where the chart of the recent history comes from; `None` sends emails without a chart.
    pub history: Option<PrometheusHistory>,
}

impl EmailChannel {
    /// The chart for `n` ([`history_chart`]); none without a history client.
    async fn chart(&self, n: &Notification) -> ChartPart {
        match &self.history {
            Some(history) => history_chart(history, n, self.links.time_zone).await,
            None => ChartPart::None,
        }
    }
}

/// The chart of `n`'s recent history from `history`, as an email (and the console) shows it:
/// the last hour of the first alert's expression (from its `generatorURL`; a `<series> <op>
/// <number>` rule charts the series and marks the number, a `<series> <op> <series>` one charts
/// both: the reading and the patient's own limit) for the alerting entity alone
/// ([`own_series`]), in its unit, with the alert's start marked and, for a patient, the heart
/// rate and the pleth signal's quality below it; clock times in `tz`. Fetched within the history
/// client's timeout. Nothing without an expression; a failure is the reason, never an obstacle
/// to sending the message.
pub async fn history_chart(history: &PrometheusHistory, n: &Notification, tz: chrono_tz::Tz) -> ChartPart {
    let Some(alert) = n.alerts.first() else { return ChartPart::None };
    let Some(expr) = history::expression_from_generator_url(&alert.generator_url) else { return ChartPart::None };
    let (query, limit) = crate::promql::split_comparison(&expr);
    let end = chrono::Utc::now();
    let (threshold, limit_query) = match limit {
        Some(crate::promql::Limit::Number(n)) => (Some(n), None),
        Some(crate::promql::Limit::Series(q)) => (None, Some(q)),
        None => (None, None),
    };
    // Asked of Prometheus for this entity alone: a rule's expression selects every patient,
    // and a fetch keeps only the first series it returns.
    let identity: Vec<(&str, &str)> =
        IDENTITY.iter().filter_map(|k| alert.labels.get(*k).map(|v| (*k, v.as_str()))).collect();
    let own = crate::promql::restricted(&query, &identity);
    let limit_query = limit_query.map(|q| crate::promql::restricted(&q, &identity));
    let metric = crate::promql::metric_names(&query).into_iter().next().unwrap_or_default();
    let patient = alert.labels.get("patient").filter(|p| !p.is_empty());
    let companions: Vec<&str> = match patient {
        Some(_) => COMPANIONS.iter().map(|(m, _)| *m).filter(|m| *m != metric).collect(),
        None => Vec::new(),
    };
    let fetch = async {
        let mut series = own_series(history.fetch(&own, end, CHART_WINDOW, CHART_STEP).await?, &alert.labels);
        if series.is_empty() {
            // The series carry fewer labels than the alert (an aggregate): ask for them all.
            series = own_series(history.fetch(&query, end, CHART_WINDOW, CHART_STEP).await?, &alert.labels);
        }
        let mut limits = Vec::new();
        if let Some(q) = &limit_query {
            // The patient's own limit, drawn beside the reading; the chart stands without it.
            if let Ok(got) = history.fetch(q, end, CHART_WINDOW, CHART_STEP).await {
                limits = own_series(got, &alert.labels);
            }
        }
        let mut others = Vec::new();
        for m in &companions {
            let p = patient.map_or("", String::as_str);
            let q = format!("{m}{{patient=\"{}\"}}", crate::rescore::targets::promql_string(p));
            if let Ok(got) = history.fetch(&q, end, CHART_WINDOW, CHART_STEP).await {
                others.push((*m, got));
            }
        }
        Ok::<_, history::HistoryError>((series, limits, others))
    };
    let reason = match tokio::time::timeout(history.timeout(), fetch).await {
        Ok(Ok((series, limits, others))) if series.iter().any(|s| !s.points.is_empty()) => {
            let alertname = alert.labels.get("alertname").map_or("alert", String::as_str);
            let who = crate::alert::view::Place::of(|k| alert.labels.get(k).filter(|v| !v.is_empty()).cloned()).who();
            let title = if who.is_empty() { alertname.to_owned() } else { format!("{alertname} — {who}") };
            let (unit, factor) = chart::unit_of(&metric);
            let scaled = |points: &[(f64, f64)]| points.iter().map(|&(t, v)| (t, v * factor)).collect::<Vec<_>>();
            let mut lines: Vec<chart::Line> = series
                .iter()
                .map(|s| chart::Line { label: series_label(s, &metric), points: scaled(&s.points), limit: false })
                .collect();
            lines.extend(limits.iter().map(|s| chart::Line {
                label: "own alarm limit".into(),
                points: scaled(&s.points),
                limit: true,
            }));
            let mut panels = vec![chart::Panel {
                title: quantity(&metric),
                unit: unit.to_owned(),
                lines,
                threshold: threshold.map(|t| t * factor),
            }];
            for (m, got) in &others {
                let (unit, factor) = chart::unit_of(m);
                let lines: Vec<chart::Line> = got
                    .iter()
                    .filter(|s| !s.points.is_empty())
                    .map(|s| chart::Line {
                        label: quantity(m),
                        points: s.points.iter().map(|&(t, v)| (t, v * factor)).collect(),
                        limit: false,
                    })
                    .take(1)
                    .collect();
                if !lines.is_empty() {
                    panels.push(chart::Panel { title: quantity(m), unit: unit.to_owned(), lines, threshold: None });
                }
            }
            let spec = chart::Chart {
                title,
                panels,
                alert_start: Some(alert.starts_at.timestamp() as f64),
                time_zone: tz,
                width: CHART_WIDTH,
            };
            match chart::render_png(&spec) {
                Ok(png) => return ChartPart::Image(png),
                Err(e) => e,
            }
        }
        Ok(Ok(_)) => format!("no samples of {query} in the last hour"),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("Prometheus did not answer within {:?}", history.timeout()),
    };
    tracing::warn!(notification = %n.id, %reason, "chart of recent history unavailable; the message goes without it");
    ChartPart::Unavailable(reason)
}

/// The signals that tell a patient's real deterioration from an artifact, charted below the
/// reading: the heart rate (it rises with real hypoxia) and the pleth signal's quality (it falls
/// when the probe slips).
const COMPANIONS: [(&str, &str); 2] = [
    ("wardwatch_patient_heart_rate_beats_per_minute", "heart rate"),
    ("wardwatch_patient_pleth_signal_quality_ratio", "pleth signal quality"),
];

/// What a metric measures, for people: `wardwatch_patient_spo2_ratio` is "SpO2".
fn quantity(metric: &str) -> String {
    if let Some((_, name)) = COMPANIONS.iter().find(|(m, _)| *m == metric) {
        return (*name).to_owned();
    }
    let (unit, _) = chart::unit_of(metric);
    let mut name = metric.strip_prefix("wardwatch_").unwrap_or(metric);
    for entity in ["patient_", "device_", "network_", "node_", "cluster_"] {
        name = name.strip_prefix(entity).unwrap_or(name);
    }
    if !unit.is_empty() {
        for suffix in [
            "_ratio",
            "_beats_per_minute",
            "_breaths_per_minute",
            "_mmhg",
            "_celsius",
            "_mmol_per_liter",
            "_volts",
            "_seconds",
            "_cells_per_liter",
            "_bytes",
        ] {
            name = name.strip_suffix(suffix).unwrap_or(name);
        }
    }
    match name {
        "spo2" => "SpO2".to_owned(),
        "" => "value".to_owned(),
        other => other.replace('_', " "),
    }
}

/// A reading's legend: the entity it belongs to, else its metric.
fn series_label(s: &Series, metric: &str) -> String {
    let who = IDENTITY.iter().find_map(|k| s.labels.get(*k).map(|v| format!("{} {v}", quantity(metric))));
    who.unwrap_or_else(|| quantity(metric))
}

/// Labels that say whose a series is.
const IDENTITY: [&str; 7] = ["patient", "bed", "ward", "device", "link", "node", "instance"];

/// Of the series a rule's expression returns (every patient below the threshold, say), those of
/// the alert's own entity: every identity label both carry agrees.
pub fn own_series(series: Vec<Series>, alert: &LabelSet) -> Vec<Series> {
    series
        .into_iter()
        .filter(|s| {
            IDENTITY.iter().all(|k| match (s.labels.get(*k), alert.get(*k)) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            })
        })
        .collect()
}

impl Channel for EmailChannel {
    fn name(&self) -> &'static str {
        "email"
    }
    fn deliver<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let chart = self.chart(n).await;
            let message = match email::build_message_with_chart(n, &self.config, &self.links, chart) {
                Ok(m) => m,
                Err(e) => return Outcome::Permanent { reason: format!("cannot build the message: {e}") },
            };
            match self.sender.send(message).await {
                Delivery::Sent => Outcome::Success,
                Delivery::Transient(reason) => Outcome::Retry { after: None, reason },
                Delivery::Permanent(reason) => Outcome::Permanent { reason },
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> LabelSet {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn a_chart_shows_the_alerting_patient_not_the_whole_ward() {
        let series = |patient: &str| Series {
            labels: labels(&[("__name__", "wardwatch_patient_spo2_ratio"), ("ward", "icu-1"), ("patient", patient)]),
            points: vec![(0.0, 0.86)],
        };
        let alert = labels(&[("alertname", "HypoxiaDetected"), ("ward", "icu-1"), ("patient", "p00003")]);
        let kept = own_series(vec![series("p00001"), series("p00003"), series("p00007")], &alert);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].labels["patient"], "p00003");
        let ward_alert = labels(&[("alertname", "News2Urgent"), ("ward", "icu-1")]);
        assert_eq!(
            own_series(vec![series("p00001"), series("p00003")], &ward_alert).len(),
            2,
            "a ward's alert: its ward"
        );
    }
}
