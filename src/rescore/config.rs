//! The `rescoring` section of the sidecar's configuration.

use super::policy::Policy;
use super::targets::{Targets, TargetsConfig};
use crate::address::HttpUrl;
use crate::duration::Span;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// How alerts are rescored, as written in YAML. Every field has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RescoringSection {
    /// Rescore alerts (default true); when off, every alert goes out unscored and says so.
    pub enabled: bool,
    /// The Prometheus to read history from (default: `links.prometheus_url`). Without one, alerts
    /// go out unscored.
    pub prometheus_url: Option<HttpUrl>,
    /// Length of the history window ending at the alert's `startsAt` (default 2h).
    pub lookback: Span,
    /// Resolution of the window (default 5s, the exporter's scrape interval).
    pub step: Span,
    /// Bound on one request to Prometheus (default 2s).
    pub request_timeout: Span,
    /// Bound on rescoring one alert, all requests included (default 3s); past it, unscored.
    pub budget: Span,
    /// History fetches sent to Prometheus at once, at most (default 4); the alerts of one
    /// entity share a fetch ([`crate::rescore::shared`]).
    pub fetch_concurrency: usize,
    /// How far apart the `startsAt` of one entity's alerts may be to share a fetch (default
    /// 10m): a fetch reaches this far before and after the windows it was made for, and is kept
    /// for a minute to serve them.
    pub share_within: Span,
    /// The audit log: one JSON line per decision (default `<queue.dir>/audit/decisions.jsonl`,
    /// beside the queue it records the decisions of).
    pub audit_log: Option<PathBuf>,
    /// Where a downgraded alert still goes at once, marked "likely artifact" (default
    /// `[slack, file]`); its other channels are held until the policy's `reescalate_after` and
    /// get it then only if it is still firing. When the alert's route has none of these, it goes
    /// to its routed channels at once, marked.
    pub downgraded_channels: Vec<String>,
    /// The decision policy.
    pub policy: Policy,
    /// Which series belong to an alert; default: the repository's exporter and rules.
    pub targets: Option<TargetsConfig>,
    /// The model file to score with (default: the shipped one, fitted on the simulated
    /// hospital); a bad or incompatible file stops start-up naming it and the reason.
    pub model: Option<PathBuf>,
    /// A candidate model file scoring every alert beside `model`, for comparison only: its
    /// verdicts go into the audit log and the metrics, never into a decision.
    pub shadow_model: Option<PathBuf>,
}

impl Default for RescoringSection {
    fn default() -> Self {
        Self {
            enabled: true,
            prometheus_url: None,
            lookback: span("2h"),
            step: span("5s"),
            request_timeout: span("2s"),
            budget: span("3s"),
            fetch_concurrency: 4,
            share_within: span("10m"),
            audit_log: None,
            downgraded_channels: vec!["slack".into(), "file".into()],
            policy: Policy::default(),
            targets: None,
            model: None,
            shadow_model: None,
        }
    }
}

/// Where the audit log goes when the configuration names no file: inside the queue directory.
pub fn default_audit_log(queue_dir: &std::path::Path) -> PathBuf {
    queue_dir.join("audit").join("decisions.jsonl")
}

/// A checked value, or the field at fault and why (the configuration's error shape).
type Check<T> = Result<T, (String, String)>;

/// A default duration (the literal is known to parse).
fn span(text: &str) -> Span {
    text.parse().expect("a default duration parses")
}

impl RescoringSection {
    /// Validate without I/O and fill the defaults that depend on other sections: the Prometheus
    /// URL falls back to `fallback_url` (`links.prometheus_url`), the audit log to its place in
    /// `queue_dir`, the targets to the repository's.
    pub fn check(&self, fallback_url: Option<&HttpUrl>, queue_dir: &std::path::Path) -> Check<RescoringSection> {
        let (lookback, step) = (self.lookback.get(), self.step.get());
        if lookback / 11_000 > step {
            // Prometheus refuses range queries of more than 11,000 points per series.
            let reason = format!("{} over {} exceeds Prometheus's 11,000 points per series", self.lookback, self.step);
            return Err(("rescoring.step".into(), reason));
        }
        if self.fetch_concurrency == 0 {
            return Err(("rescoring.fetch_concurrency".into(), "must be at least 1".into()));
        }
        let prometheus_url = self.prometheus_url.as_ref().or(fallback_url);
        for (i, c) in self.downgraded_channels.iter().enumerate() {
            if crate::alert::notification::channel_kind(c).is_none() {
                let reason =
                    format!("`{c}` is not a channel name (email, slack, file, or one of them, `-` and a name)");
                return Err((format!("rescoring.downgraded_channels[{i}]"), reason));
            }
        }
        self.policy.validate().map_err(|e| (format!("rescoring.policy.{}", e.field), e.reason))?;
        let targets = self.targets.clone().unwrap_or_default();
        Targets::new(&targets).map_err(|e| ("rescoring.targets".to_string(), e.to_string()))?;
        Ok(RescoringSection {
            prometheus_url: prometheus_url.cloned(),
            audit_log: Some(self.audit_log.clone().unwrap_or_else(|| default_audit_log(queue_dir))),
            targets: Some(targets),
            ..self.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_fall_back_to_the_links_url() {
        let links: HttpUrl = "http://p:9090".parse().unwrap();
        let s = RescoringSection::default().check(Some(&links), std::path::Path::new("q")).unwrap();
        assert_eq!(s.audit_log.as_deref(), Some(std::path::Path::new("q/audit/decisions.jsonl")), "beside the queue");
        assert_eq!(s.prometheus_url.as_ref().map(HttpUrl::as_str), Some("http://p:9090"));
        assert_eq!(s.targets, Some(TargetsConfig::default()));
        assert_eq!(s.lookback.get(), std::time::Duration::from_secs(7200));
        assert_eq!(s.step.get(), std::time::Duration::from_secs(5));
    }

    #[test]
    fn bad_values_name_their_field() {
        let unreadable = |yaml: &str| serde_yaml::from_str::<RescoringSection>(yaml).unwrap_err().to_string();
        assert!(
            unreadable("step: 0s").starts_with("step: `0s` must be longer than zero"),
            "{}",
            unreadable("step: 0s")
        );
        let e = unreadable("prometheus_url: prometheus:9090");
        assert!(e.starts_with("prometheus_url: `prometheus:9090` is not an http:// or https:// URL"), "{e}");
        let check = |section: RescoringSection| section.check(None, std::path::Path::new("q")).unwrap_err().0;
        let mut s = RescoringSection { downgraded_channels: vec!["email".into()], ..Default::default() };
        s.step = span("1ms");
        assert_eq!(check(s.clone()), "rescoring.step", "too many points per series");
        s.step = span("5s");
        s.downgraded_channels = vec!["pager".into()];
        assert_eq!(check(s.clone()), "rescoring.downgraded_channels[0]");
        s.downgraded_channels = vec!["email".into()];
        s.fetch_concurrency = 0;
        assert_eq!(check(s.clone()), "rescoring.fetch_concurrency");
    }
}
