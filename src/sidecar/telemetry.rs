//! The sidecar's own metrics (`/metrics`), with the `prometheus` crate and bounded labels.

use crate::rescore::shared::SharingStats;
use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// Every metric the sidecar publishes about itself.
pub struct Telemetry {
    /// Registry holding them, process metrics included.
    pub registry: Registry,
    /// Webhook requests by result: stored, duplicate, not_routed, bad_request, unauthorized, too_large, overloaded, unavailable.
    pub received: IntCounterVec,
    /// Notifications delivered, by channel.
    pub delivered: IntCounterVec,
    /// Failed attempts by channel and reason (retry, permanent, gave_up).
    pub failed: IntCounterVec,
    /// Notifications people acknowledged.
    pub acknowledged: IntCounter,
    /// Time from receipt to a person's acknowledgement, seconds.
    pub time_to_acknowledge: Histogram,
    /// People's answers to "was it real?", by answer.
    pub feedback: IntCounterVec,
    /// Escalation steps that fell due, by outcome (sent, acknowledged, resolved, downgraded).
    pub escalations: IntCounterVec,
    /// Notifications pending in the queue.
    pub queue_depth: IntGauge,
    /// Age of the oldest pending notification, seconds.
    pub oldest_pending_age: prometheus::Gauge,
    /// Time from request to acknowledgement (payload on disk).
    pub ack_duration: Histogram,
    /// Time from acknowledgement to confirmed delivery, by channel.
    pub delivery_duration: HistogramVec,
    /// Rescoring decisions: escalate, keep, downgrade, unscored.
    pub decisions: IntCounterVec,
    /// Alerts that went out unscored, by reason: no_target, history, timeout, model.
    pub scoring_failures: IntCounterVec,
    /// Scores of the alerts scored, in [0, 1].
    pub alert_score: Histogram,
    /// Time to score one alert, the history fetch included.
    pub scoring_duration: Histogram,
    /// Panics caught on the delivery path, by stage: channel, rescoring, dispatch.
    pub panics: IntCounterVec,
    /// Delivery outcomes the queue could not write yet (kept in memory and written again).
    pub unrecorded: IntGauge,
    /// Pending notifications no configured channel takes (they wait for a configuration change).
    pub unroutable: IntGauge,
    /// Notifications routed again because their channel was removed from the configuration.
    pub rerouted: IntCounter,
    /// Alerts left out of notifications because their group was larger than `max_body_bytes`.
    pub alerts_left_out: IntCounter,
    /// The rescoring's history windows and the queries they cost Prometheus.
    pub history: HistoryCounts,
    /// Alerts the shadow model also scored, by whether it would have decided the same.
    pub shadow: IntCounterVec,
    /// Downgraded notifications people judged in the console, by their latest answer.
    pub judged_downgrades: prometheus::IntGaugeVec,
}

/// The counts of the rescoring's shared history source ([`crate::rescore::shared`]), brought
/// up to date when the metrics are read.
pub struct HistoryCounts {
    /// Windows the rescoring asked for.
    pub windows: IntCounter,
    /// Windows served by a fetch made for another alert.
    pub shared: IntCounter,
    /// Range queries sent to Prometheus.
    pub queries: IntCounter,
    sync: std::sync::Mutex<()>,
}

impl HistoryCounts {
    fn new() -> Self {
        let c = |name: &str, help: &str| IntCounter::new(name, help).expect("counter");
        Self {
            windows: c("wardwatch_sidecar_history_windows_total", "History windows the rescoring asked for."),
            shared: c(
                "wardwatch_sidecar_history_windows_shared_total",
                "History windows served by a fetch made for another alert of the same entity.",
            ),
            queries: c("wardwatch_sidecar_history_queries_total", "Range queries sent to Prometheus for history."),
            sync: std::sync::Mutex::new(()),
        }
    }

    /// Bring the counters up to `stats` (they only ever rise).
    pub fn sync(&self, stats: SharingStats) {
        let _one_at_a_time = self.sync.lock().unwrap_or_else(|p| p.into_inner());
        for (counter, value) in
            [(&self.windows, stats.requests), (&self.shared, stats.shared), (&self.queries, stats.queries)]
        {
            counter.inc_by(value.saturating_sub(counter.get()));
        }
    }
}

/// Every value of the panics' `stage` label.
pub const PANIC_STAGES: [&str; 3] = ["channel", "rescoring", "dispatch"];

/// Every value of the `decision` label.
pub const DECISIONS: [&str; 4] = ["escalate", "keep", "downgrade", "unscored"];
/// Every value of the scoring failures' `reason` label (see `rescore::engine::Failure`).
pub const SCORING_FAILURES: [&str; 4] = ["no_target", "history", "timeout", "model"];

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

fn counter(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter")
}

impl Telemetry {
    /// Create and register the metrics.
    pub fn new() -> Self {
        let registry = Registry::new();
        let received =
            counter("wardwatch_sidecar_webhooks_received_total", "Webhook requests received, by result.", &["result"]);
        let delivered = counter(
            "wardwatch_sidecar_notifications_delivered_total",
            "Notifications a channel confirmed.",
            &["channel"],
        );
        let failed = counter(
            "wardwatch_sidecar_delivery_failures_total",
            "Failed delivery attempts, by channel and reason (retry, permanent, gave_up).",
            &["channel", "reason"],
        );
        let queue_depth = IntGauge::new("wardwatch_sidecar_queue_depth", "Notifications waiting in the durable queue.")
            .expect("gauge");
        let oldest_pending_age = prometheus::Gauge::new(
            "wardwatch_sidecar_queue_oldest_pending_age_seconds",
            "Age of the oldest notification still waiting for a channel.",
        )
        .expect("gauge");
        let ack_duration = Histogram::with_opts(
            HistogramOpts::new(
                "wardwatch_sidecar_ack_duration_seconds",
                "Time from request to acknowledgement, the payload durably on disk.",
            )
            .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0]),
        )
        .expect("histogram");
        let delivery_duration = HistogramVec::new(
            HistogramOpts::new(
                "wardwatch_sidecar_delivery_duration_seconds",
                "Time from acknowledgement to confirmed delivery, retries included.",
            )
            .buckets(vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0]),
            &["channel"],
        )
        .expect("histogram");
        let decisions =
            counter("wardwatch_sidecar_decisions_total", "Rescoring decisions, by decision.", &["decision"]);
        for d in DECISIONS {
            decisions.with_label_values(&[d]);
        }
        let scoring_failures = counter(
            "wardwatch_sidecar_scoring_failures_total",
            "Alerts sent unscored, by reason (no_target, history, timeout, model).",
            &["reason"],
        );
        for r in SCORING_FAILURES {
            scoring_failures.with_label_values(&[r]);
        }
        let alert_score = Histogram::with_opts(
            HistogramOpts::new("wardwatch_sidecar_alert_score", "Rescored alerts' scores (0 = noise, 1 = genuine).")
                .buckets(vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]),
        )
        .expect("histogram");
        let scoring_duration = Histogram::with_opts(
            HistogramOpts::new(
                "wardwatch_sidecar_scoring_duration_seconds",
                "Time to rescore one alert, the history fetch included.",
            )
            .buckets(vec![0.0001, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]),
        )
        .expect("histogram");
        let panics = counter(
            "wardwatch_sidecar_panics_total",
            "Panics caught on the delivery path, by stage; the notification was kept and tried again.",
            &["stage"],
        );
        for stage in PANIC_STAGES {
            panics.with_label_values(&[stage]);
        }
        let unrecorded = IntGauge::new(
            "wardwatch_sidecar_unrecorded_outcomes",
            "Delivery outcomes the queue could not write yet (disk full or failing); kept and written again.",
        )
        .expect("gauge");
        let unroutable = IntGauge::new(
            "wardwatch_sidecar_notifications_unroutable",
            "Pending notifications that no configured channel takes; they wait for a configuration change.",
        )
        .expect("gauge");
        let rerouted = IntCounter::new(
            "wardwatch_sidecar_notifications_rerouted_total",
            "Notifications routed again because their channel was removed from the configuration.",
        )
        .expect("counter");
        let acknowledged = IntCounter::new(
            "wardwatch_sidecar_notifications_acknowledged_total",
            "Notifications a person acknowledged from their link.",
        )
        .expect("counter");
        let time_to_acknowledge = Histogram::with_opts(
            HistogramOpts::new(
                "wardwatch_sidecar_time_to_acknowledge_seconds",
                "Time from a notification's receipt to a person's acknowledgement.",
            )
            .buckets(vec![30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0]),
        )
        .expect("histogram");
        let escalations = IntCounterVec::new(
            Opts::new(
                "wardwatch_sidecar_escalation_steps_total",
                "Escalation steps that fell due, by outcome: sent, or not needed because the alert was acknowledged, resolved or downgraded.",
            ),
            &["outcome"],
        )
        .expect("counter");
        let feedback = IntCounterVec::new(
            Opts::new(
                "wardwatch_sidecar_feedback_total",
                "People's answers to \"was this alarm real?\" in the console.",
            ),
            &["feedback"],
        )
        .expect("counter");
        for answer in ["real", "false_alarm"] {
            feedback.with_label_values(&[answer]);
        }
        for outcome in ["sent", "acknowledged", "resolved", "downgraded"] {
            escalations.with_label_values(&[outcome]);
        }
        let alerts_left_out = IntCounter::new(
            "wardwatch_sidecar_alerts_left_out_total",
            "Alerts left out of a notification because their group was larger than max_body_bytes.",
        )
        .expect("counter");
        let history = HistoryCounts::new();
        let judged_downgrades = prometheus::IntGaugeVec::new(
            Opts::new(
                "wardwatch_sidecar_feedback_downgrades",
                "Downgraded notifications people judged in the console, by their latest answer (false_alarm: the downgrade was right).",
            ),
            &["answer"],
        )
        .expect("gauge");
        for answer in ["false_alarm", "real"] {
            judged_downgrades.with_label_values(&[answer]);
        }
        let shadow = counter(
            "wardwatch_sidecar_shadow_decisions_total",
            "Alerts the shadow model (rescoring.shadow_model) also scored, by whether it would have decided the same (agreed, differed).",
            &["outcome"],
        );
        for outcome in ["agreed", "differed"] {
            shadow.with_label_values(&[outcome]);
        }
        for c in [
            Box::new(received.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(history.windows.clone()),
            Box::new(history.shared.clone()),
            Box::new(history.queries.clone()),
            Box::new(shadow.clone()),
            Box::new(judged_downgrades.clone()),
            Box::new(panics.clone()),
            Box::new(unrecorded.clone()),
            Box::new(unroutable.clone()),
            Box::new(rerouted.clone()),
            Box::new(alerts_left_out.clone()),
            Box::new(acknowledged.clone()),
            Box::new(time_to_acknowledge.clone()),
            Box::new(escalations.clone()),
            Box::new(feedback.clone()),
            Box::new(delivered.clone()),
            Box::new(failed.clone()),
            Box::new(queue_depth.clone()),
            Box::new(oldest_pending_age.clone()),
            Box::new(ack_duration.clone()),
            Box::new(delivery_duration.clone()),
            Box::new(decisions.clone()),
            Box::new(scoring_failures.clone()),
            Box::new(alert_score.clone()),
            Box::new(scoring_duration.clone()),
            Box::new(prometheus::process_collector::ProcessCollector::for_self()),
        ] {
            registry.register(c).expect("unique metric names");
        }
        Self {
            registry,
            received,
            delivered,
            failed,
            queue_depth,
            oldest_pending_age,
            ack_duration,
            delivery_duration,
            decisions,
            scoring_failures,
            alert_score,
            scoring_duration,
            panics,
            unrecorded,
            unroutable,
            rerouted,
            alerts_left_out,
            acknowledged,
            time_to_acknowledge,
            escalations,
            feedback,
            history,
            shadow,
            judged_downgrades,
        }
    }
}
