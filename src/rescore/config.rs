//! The `rescoring` section of the sidecar's configuration.

use super::policy::Policy;
use super::targets::{Targets, TargetsConfig};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// How alerts are rescored, as written in YAML. Every field has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RescoringSection {
    /// Rescore alerts (default true); when off, every alert goes out unscored and says so.
    pub enabled: bool,
    /// The Prometheus to read history from (default: `links.prometheus_url`). Without one, alerts
    /// go out unscored.
    pub prometheus_url: Option<String>,
    /// Length of the history window ending at the alert's `startsAt` (default 2h).
    pub lookback: String,
    /// Resolution of the window (default 5s, the exporter's scrape interval).
    pub step: String,
    /// Bound on one request to Prometheus (default 2s).
    pub request_timeout: String,
    /// Bound on rescoring one alert, all requests included (default 3s); past it, unscored.
    pub budget: String,
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
}

impl Default for RescoringSection {
    fn default() -> Self {
        Self {
            enabled: true,
            prometheus_url: None,
            lookback: "2h".into(),
            step: "5s".into(),
            request_timeout: "2s".into(),
            budget: "3s".into(),
            audit_log: None,
            downgraded_channels: vec!["slack".into(), "file".into()],
            policy: Policy::default(),
            targets: None,
            model: None,
        }
    }
}

/// The validated section.
#[derive(Debug, Clone, PartialEq)]
pub struct RescoringSettings {
    /// Rescoring on.
    pub enabled: bool,
    /// Where history comes from, if anywhere.
    pub prometheus_url: Option<String>,
    /// Window length.
    pub lookback: Duration,
    /// Window step.
    pub step: Duration,
    /// Bound on one request.
    pub request_timeout: Duration,
    /// Bound on one alert.
    pub budget: Duration,
    /// Audit log path.
    pub audit_log: PathBuf,
    /// Channels a downgraded alert goes to at once.
    pub downgraded_channels: Vec<String>,
    /// Decision policy.
    pub policy: Policy,
    /// Targets.
    pub targets: TargetsConfig,
    /// The model file (`None`: the shipped one).
    pub model: Option<PathBuf>,
}

/// Where the audit log goes when the configuration names no file: inside the queue directory.
pub fn default_audit_log(queue_dir: &std::path::Path) -> PathBuf {
    queue_dir.join("audit").join("decisions.jsonl")
}

/// A checked value, or the field at fault and why (the configuration's error shape).
type Check<T> = Result<T, (String, String)>;

/// A positive duration of this section, errors naming `rescoring.<field>`.
fn duration(field: &str, text: &str) -> Check<Duration> {
    crate::duration::parse(text, true).map_err(|e| (format!("rescoring.{field}"), e))
}

impl RescoringSection {
    /// Validate without I/O; `fallback_url` is `links.prometheus_url`, `queue_dir` the queue's
    /// directory (the audit log's default home).
    pub fn check(&self, fallback_url: Option<&str>, queue_dir: &std::path::Path) -> Check<RescoringSettings> {
        let lookback = duration("lookback", &self.lookback)?;
        let step = duration("step", &self.step)?;
        if lookback / 11_000 > step {
            // Prometheus refuses range queries of more than 11,000 points per series.
            let reason = format!("{} over {} exceeds Prometheus's 11,000 points per series", self.lookback, self.step);
            return Err(("rescoring.step".into(), reason));
        }
        let request_timeout = duration("request_timeout", &self.request_timeout)?;
        let budget = duration("budget", &self.budget)?;
        let prometheus_url = self.prometheus_url.as_deref().or(fallback_url).filter(|u| !u.trim().is_empty());
        if let Some(url) = prometheus_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(("rescoring.prometheus_url".into(), format!("`{url}` is not an http:// or https:// URL")));
            }
        }
        for (i, c) in self.downgraded_channels.iter().enumerate() {
            if !crate::alert::notification::CHANNEL_NAMES.contains(&c.as_str()) {
                let reason = format!("unknown channel `{c}` (known: email, file, slack)");
                return Err((format!("rescoring.downgraded_channels[{i}]"), reason));
            }
        }
        self.policy.validate().map_err(|e| (format!("rescoring.policy.{}", e.field), e.reason))?;
        let targets = self.targets.clone().unwrap_or_default();
        Targets::new(&targets).map_err(|e| ("rescoring.targets".to_string(), e.to_string()))?;
        Ok(RescoringSettings {
            enabled: self.enabled,
            prometheus_url: prometheus_url.map(str::to_owned),
            lookback,
            step,
            request_timeout,
            budget,
            audit_log: self.audit_log.clone().unwrap_or_else(|| default_audit_log(queue_dir)),
            downgraded_channels: self.downgraded_channels.clone(),
            policy: self.policy.clone(),
            targets,
            model: self.model.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_fall_back_to_the_links_url() {
        let s = RescoringSection::default().check(Some("http://p:9090"), std::path::Path::new("q")).unwrap();
        assert_eq!(s.audit_log, std::path::Path::new("q/audit/decisions.jsonl"), "beside the queue by default");
        assert_eq!(s.prometheus_url.as_deref(), Some("http://p:9090"));
        assert_eq!(s.lookback, Duration::from_secs(7200));
        assert_eq!(s.step, Duration::from_secs(5));
    }

    #[test]
    fn bad_values_name_their_field() {
        let check = |section: RescoringSection| section.check(None, std::path::Path::new("q")).unwrap_err().0;
        let mut s = RescoringSection { downgraded_channels: vec!["email".into()], ..Default::default() };
        s.step = "0s".into();
        assert_eq!(check(s.clone()), "rescoring.step");
        s.step = "1ms".into();
        assert_eq!(check(s.clone()), "rescoring.step", "too many points per series");
        s.step = "5s".into();
        s.prometheus_url = Some("prometheus:9090".into());
        assert_eq!(check(s.clone()), "rescoring.prometheus_url");
        s.prometheus_url = None;
        s.downgraded_channels = vec!["pager".into()];
        assert_eq!(check(s.clone()), "rescoring.downgraded_channels[0]");
    }
}
