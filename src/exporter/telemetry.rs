//! The exporter's own instrumentation, with the `prometheus` crate.

use crate::exposition::Format;
use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts, Registry};

/// The exporter's own metrics.
pub struct Telemetry {
    /// Registry holding them, process metrics included.
    pub registry: Registry,
    /// Time to produce a scrape body, simulation step included.
    pub scrape_duration: Histogram,
    /// Time to advance the simulation to the present.
    pub step_duration: Histogram,
    /// Scrapes served, by format.
    pub scrapes: IntCounterVec,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl Telemetry {
    /// Create and register the metrics.
    pub fn new() -> Self {
        let registry = Registry::new();
        let buckets = vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];
        let scrape_duration = Histogram::with_opts(
            HistogramOpts::new(
                "wardwatch_exporter_scrape_duration_seconds",
                "Time to produce a scrape body, simulation step included, before compression.",
            )
            .buckets(buckets.clone()),
        )
        .expect("valid histogram");
        let step_duration = Histogram::with_opts(
            HistogramOpts::new(
                "wardwatch_exporter_simulation_step_duration_seconds",
                "Time to advance the simulation, or the replayed records, to the time of a scrape.",
            )
            .buckets(buckets),
        )
        .expect("valid histogram");
        let scrapes = IntCounterVec::new(
            Opts::new("wardwatch_exporter_scrapes_total", "Scrapes served, by exposition format."),
            &["format"],
        )
        .expect("valid counter");
        let build = IntGauge::with_opts(
            Opts::new("wardwatch_exporter_build_info", "Build of the running exporter; value is 1.")
                .const_label("version", env!("CARGO_PKG_VERSION")),
        )
        .expect("valid gauge");
        build.set(1);
        for c in [
            Box::new(scrape_duration.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(step_duration.clone()),
            Box::new(scrapes.clone()),
            Box::new(build),
            Box::new(prometheus::process_collector::ProcessCollector::for_self()),
        ] {
            registry.register(c).expect("unique metric names");
        }
        Self { registry, scrape_duration, step_duration, scrapes }
    }

    /// Count a scrape and its duration.
    pub fn observe_scrape(&self, format: Format, seconds: f64) {
        self.scrape_duration.observe(seconds);
        let label = match format {
            Format::Text => "text",
            Format::OpenMetrics => "openmetrics",
        };
        self.scrapes.with_label_values(&[label]).inc();
    }
}
