//! What an exporter serves: anything that can be advanced to the moment of a scrape and written
//! as an exposition. The simulated hospital is one source; the replay of recorded patients
//! ([`crate::replay`]) is another. Both share the server, its negotiation, gzip and telemetry.

use super::{handlers, Exporter};
use crate::exposition::Writer;
use crate::replay::Replay;
use crate::sim::events::GroundTruth;
use crate::sim::Simulation;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

/// A link on the landing page: where it goes and what it shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The path, with its query.
    pub href: String,
    /// What is there.
    pub text: &'static str,
}

/// The source of an exporter's metrics.
pub trait Source: Send + Sized + 'static {
    /// Advance to `now` (seconds since the Unix epoch), appending the ground truth of any
    /// simulated event that started on the way.
    fn advance_to(&mut self, now: f64, truth: &mut Vec<GroundTruth>);

    /// Write every metric of the present state (without `# EOF`).
    fn write(&self, w: &mut Writer<'_>);

    /// One line for the landing page: what is served.
    fn summary(&self) -> String;

    /// The source's own endpoints, on the landing page.
    fn links(&self) -> Vec<Link> {
        Vec::new()
    }

    /// Add the source's own routes to the exporter's.
    fn routes(router: Router<Arc<Exporter<Self>>>) -> Router<Arc<Exporter<Self>>> {
        router
    }
}

impl Source for Simulation {
    fn advance_to(&mut self, now: f64, truth: &mut Vec<GroundTruth>) {
        Simulation::advance_to(self, now, truth);
    }

    fn write(&self, w: &mut Writer<'_>) {
        crate::sim::metrics::write_simulation(self, w);
    }

    fn summary(&self) -> String {
        format!("{}: {} wards, {} patients, simulated.", self.name, self.wards.len(), self.patients.len())
    }

    fn links(&self) -> Vec<Link> {
        let first = self.patients.first().map(|p| p.id.as_str()).unwrap_or_default();
        vec![
            Link {
                href: format!("/ecg?patient={first}&format=svg"),
                text: "the last seconds of a patient's synthetic ECG (format json, csv or svg; seconds up to 20)",
            },
            Link { href: "/events".into(), text: "ground truth of simulated events (JSON lines)" },
        ]
    }

    fn routes(router: Router<Arc<Exporter<Self>>>) -> Router<Arc<Exporter<Self>>> {
        router.route("/ecg", get(handlers::ecg)).route("/events", get(handlers::events))
    }
}

impl Source for Replay {
    fn advance_to(&mut self, now: f64, _truth: &mut Vec<GroundTruth>) {
        Replay::advance_to(self, now);
    }

    fn write(&self, w: &mut Writer<'_>) {
        crate::replay::metrics::write_replay(self, w);
    }

    fn summary(&self) -> String {
        let ward = self.ward();
        format!(
            "{} ({}): {} recorded patients, replayed through the bedside monitor.",
            ward.name(),
            ward.department(),
            self.beds().len()
        )
    }
}
