//! Validation: pure checks of ranges and of how fields go together, and the per-component
//! configuration built from a validated file.

use super::*;

/// A failed check: (dotted field, reason); [`SidecarConfig::validate`] adds the file.
pub(crate) type Check<T = ()> = Result<T, (String, String)>;

pub(super) fn fail<T>(field: impl Into<String>, reason: impl Into<String>) -> Check<T> {
    Err((field.into(), reason.into()))
}

pub(super) fn check_secret(field: &str, secret: &Secret) -> Check {
    secret.check().or_else(|r| fail(field, r))
}

impl QueueSection {
    /// The queue's own configuration (everything but `stale_after`).
    pub fn queue_config(&self) -> QueueConfig {
        QueueConfig {
            dir: self.dir.clone(),
            max_items: self.max_items,
            max_bytes: self.max_bytes,
            seen_retention: self.seen_retention.get(),
            fsync: self.fsync,
        }
    }
}

/// A configuration that passed [`SidecarConfig::validate`]: addresses and durations parsed,
/// the file channel filled in when no channel was configured. Secrets are still unread.
#[derive(Debug, Clone, PartialEq)]
pub struct Validated {
    /// Address to listen on.
    pub listen_address: SocketAddr,
    /// The durable outbox.
    pub queue: QueueSection,
    /// Largest webhook body accepted, bytes.
    pub max_body_bytes: usize,
    /// Most webhook requests handled at once.
    pub max_in_flight: usize,
    /// Credentials Alertmanager must present.
    pub inbound_auth: Option<InboundAuth>,
    /// Credentials the REST API asks for.
    pub api_auth: Option<InboundAuth>,
    /// Credentials `/metrics` asks for.
    pub metrics_auth: Option<InboundAuth>,
    /// Base URLs for links.
    pub links: LinksSection,
    /// The site's time zone.
    pub time_zone: Tz,
    /// The channels; at least one.
    pub channels: ChannelsSection,
    /// Routes, first match wins; every channel they name is configured.
    pub routes: Vec<Route>,
    /// Backoff of failed deliveries.
    pub retry: RetrySection,
    /// Rescoring.
    pub rescoring: crate::rescore::config::RescoringSection,
    /// Acknowledge links.
    pub acknowledge: AcknowledgeSection,
}

impl SidecarConfig {
    /// Parse a configuration from YAML text; `origin` names the file in errors.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        Ok(crate::yaml::parse(text, origin)?)
    }

    /// Read and parse a configuration file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        Ok(crate::yaml::read(path)?)
    }

    /// The embedded default ([`DEFAULT_SIDECAR_YAML`]).
    pub fn embedded_default() -> Self {
        Self::from_yaml(DEFAULT_SIDECAR_YAML, EMBEDDED_ORIGIN).expect("the embedded default sidecar config parses")
    }

    /// Check every field without any I/O; `origin` names the file in the error.
    pub fn validate(&self, origin: &str) -> Result<Validated, ConfigError> {
        self.check()
            .map_err(|(field, reason)| ConfigError::Invalid(crate::yaml::FieldError::new(origin, field, reason)))
    }

    fn check(&self) -> Check<Validated> {
        self.queue.check()?;
        let queue = self.queue.clone();
        if self.max_body_bytes == 0 || self.max_body_bytes > queue.max_bytes / 2 {
            let reason =
                format!("{} is outside 1..={} (half of queue.max_bytes)", self.max_body_bytes, queue.max_bytes / 2);
            return fail("max_body_bytes", reason);
        }
        let max_body_bytes = usize::try_from(self.max_body_bytes).or_else(|_| fail("max_body_bytes", "too large"))?;
        if self.max_in_flight == 0 {
            return fail("max_in_flight", "must be at least 1");
        }
        if let Some(auth) = &self.inbound_auth {
            auth.check("inbound_auth")?;
        }
        for (field, choice) in [("api_auth", &self.api_auth), ("metrics_auth", &self.metrics_auth)] {
            if let AuthChoice::Own(auth) = choice {
                auth.check(field)?;
            }
        }
        let mut channels = self.channels.clone();
        if channels.0.is_empty() {
            channels.0.insert("file".into(), ChannelSection::File(FileSection::default()));
        }
        channels.check()?;
        check_routes(&self.routes, &channels, &queue.stale_after)?;
        if let Some(r) = self.routes.iter().position(|r| !r.escalation.is_empty()) {
            if !self.acknowledge.enabled {
                let reason = "needs acknowledge.enabled: without acknowledge links nobody could stop an escalation";
                return fail(format!("routes[{r}].escalation"), reason);
            }
        }
        let rescoring = self.rescoring.check(self.links.prometheus_url.as_ref(), &queue.dir)?;
        if rescoring.policy.reescalate_after >= queue.stale_after.get() {
            let reason = format!(
                "{:?} must be shorter than queue.stale_after ({}): held channels wait in the queue",
                rescoring.policy.reescalate_after, queue.stale_after
            );
            return fail("rescoring.policy.reescalate_after", reason);
        }
        Ok(Validated {
            listen_address: self.listen_address,
            queue,
            max_body_bytes,
            max_in_flight: self.max_in_flight,
            inbound_auth: self.inbound_auth.clone(),
            api_auth: self.api_auth.resolve(self.inbound_auth.as_ref()).cloned(),
            metrics_auth: self.metrics_auth.resolve(self.inbound_auth.as_ref()).cloned(),
            links: self.links.clone(),
            time_zone: self.time_zone,
            channels,
            routes: self.routes.clone(),
            retry: self.retry.check()?,
            rescoring,
            acknowledge: self.acknowledge.clone(),
        })
    }
}

impl QueueSection {
    fn check(&self) -> Check {
        if self.dir.as_os_str().is_empty() {
            return fail("queue.dir", "must not be empty");
        }
        if self.max_items == 0 {
            return fail("queue.max_items", "must be at least 1");
        }
        if self.max_bytes == 0 {
            return fail("queue.max_bytes", "must be at least 1");
        }
        Ok(())
    }
}

impl InboundAuth {
    /// Check the credentials of section `field` (`inbound_auth`, `api_auth`, `metrics_auth`).
    fn check(&self, field: &str) -> Check {
        if self.bearer_token.is_none() && self.basic.is_none() {
            return fail(field, format!("give `bearer_token`, `basic` or both (or leave `{field}` out)"));
        }
        if let Some(token) = &self.bearer_token {
            check_secret(&format!("{field}.bearer_token"), token)?;
        }
        if let Some(basic) = &self.basic {
            if basic.username.is_empty() || basic.username.contains(':') {
                return fail(format!("{field}.basic.username"), "must be non-empty and contain no `:`");
            }
            check_secret(&format!("{field}.basic.password"), &basic.password)?;
        }
        Ok(())
    }

    /// Read its secrets; errors name `field`.
    fn resolve(&self, field: &str) -> Result<crate::sidecar::receiver::InboundAuth, ConfigError> {
        let bearer_token =
            self.bearer_token.as_ref().map(|t| t.resolve(&format!("{field}.bearer_token"))).transpose()?;
        let basic = match &self.basic {
            Some(b) => Some((b.username.clone(), b.password.resolve(&format!("{field}.basic.password"))?)),
            None => None,
        };
        Ok(crate::sidecar::receiver::InboundAuth { bearer_token, basic })
    }
}

/// A URL's text, for the channels' links.
fn text(url: &Option<HttpUrl>) -> Option<String> {
    url.as_ref().map(|u| u.as_str().to_owned())
}

fn check_routes(routes: &[Route], channels: &ChannelsSection, stale_after: &Span) -> Check {
    let configured = channels.names();
    for (r, route) in routes.iter().enumerate() {
        for name in route.matchers.keys() {
            let mut chars = name.chars();
            let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                return fail(format!("routes[{r}].matchers"), format!("`{name}` is not a label name"));
            }
        }
        if route.channels.is_empty() {
            return fail(format!("routes[{r}].channels"), "at least one channel is required");
        }
        let known = |field: String, channel: &String| match configured.contains(channel) {
            true => Ok(()),
            false => {
                let reason = format!("`{channel}` is not a configured channel (configured: {})", configured.join(", "));
                fail(field, reason)
            }
        };
        for (c, channel) in route.channels.iter().enumerate() {
            known(format!("routes[{r}].channels[{c}]"), channel)?;
        }
        let mut used: Vec<&String> = route.channels.iter().collect();
        let mut previous: Option<&Span> = None;
        for (e, step) in route.escalation.iter().enumerate() {
            let field = format!("routes[{r}].escalation[{e}]");
            if step.channels.is_empty() {
                return fail(format!("{field}.channels"), "at least one channel is required");
            }
            for (c, channel) in step.channels.iter().enumerate() {
                known(format!("{field}.channels[{c}]"), channel)?;
                if used.contains(&channel) {
                    let reason = format!("`{channel}` already has this alert (the route or an earlier step)");
                    return fail(format!("{field}.channels[{c}]"), reason);
                }
                used.push(channel);
            }
            if let Some(p) = previous.filter(|p| p.get() >= step.after.get()) {
                return fail(
                    format!("{field}.after"),
                    format!("`{}` is not later than the step before (`{p}`)", step.after),
                );
            }
            if step.after.get() >= stale_after.get() {
                let reason = format!(
                    "`{}` must be shorter than queue.stale_after (`{stale_after}`): the alert waits in the queue",
                    step.after
                );
                return fail(format!("{field}.after"), reason);
            }
            previous = Some(&step.after);
        }
    }
    Ok(())
}

impl RetrySection {
    fn check(&self) -> Check<Self> {
        if self.cap.get() < self.base.get() {
            return fail("retry.cap", format!("`{}` is shorter than retry.base `{}`", self.cap, self.base));
        }
        Ok(self.clone())
    }
}

impl Validated {
    /// Channels for an alert with `labels`: the first matching route's, else every configured
    /// channel; for a resolved alert without those whose `send_resolved` is off. Sorted, unique.
    pub fn route(&self, labels: &BTreeMap<String, String>, resolved: bool) -> Vec<String> {
        let mut out = match self.routes.iter().find(|r| r.matches(labels)) {
            Some(route) => route.channels.clone(),
            None => self.channel_names(),
        };
        if resolved {
            out.retain(|c| self.channels.sends_resolved(c));
        }
        out.sort();
        out.dedup();
        out
    }

    /// The escalation steps for a firing alert with `labels`: the first matching route's, as
    /// `(after, channels)`; none when no route matches.
    pub fn escalation(&self, labels: &BTreeMap<String, String>) -> Vec<(std::time::Duration, Vec<String>)> {
        match self.routes.iter().find(|r| r.matches(labels)) {
            Some(route) => route.escalation.iter().map(|s| (s.after.get(), s.channels.clone())).collect(),
            None => Vec::new(),
        }
    }

    /// Names of the configured channels, sorted.
    pub fn channel_names(&self) -> Vec<String> {
        self.channels.names()
    }

    /// What every channel's messages need to know of the site: its addresses and time zone.
    pub fn site(&self) -> Site {
        Site {
            prometheus_url: text(&self.links.prometheus_url),
            alertmanager_url: text(&self.links.alertmanager_url),
            grafana_url: text(&self.links.grafana_url),
            runbooks_url: Some(format!("{}{}", self.sidecar_url(), crate::sidecar::runbooks::PATH)),
            alerts_url: Some(format!("{}{}", self.sidecar_url(), crate::sidecar::detail::PATH)),
            time_zone: self.time_zone,
        }
    }

    /// The sidecar as readers reach it: `links.sidecar_url`, else its listen address over
    /// http (`localhost` when it listens on every address); no trailing slash.
    pub fn sidecar_url(&self) -> String {
        if let Some(url) = &self.links.sidecar_url {
            return url.as_str().trim_end_matches('/').to_owned();
        }
        let a = self.listen_address;
        match a.ip() {
            ip if ip.is_unspecified() => format!("http://localhost:{}", a.port()),
            std::net::IpAddr::V6(ip) => format!("http://[{ip}]:{}", a.port()),
            std::net::IpAddr::V4(ip) => format!("http://{ip}:{}", a.port()),
        }
    }

    /// Read every secret the configuration references (files and environment variables): the
    /// only I/O of configuration. Errors name the field and the file or variable.
    pub fn resolve_secrets(&self) -> Result<ResolvedSecrets, ConfigError> {
        let mut channels = BTreeMap::new();
        for (name, email) in self.channels.email() {
            if let Some(p) = &email.password {
                channels.insert(name.clone(), p.resolve(&format!("channels.{name}.password"))?);
            }
        }
        for (name, slack) in self.channels.slack() {
            if let Some(url) = &slack.webhook_url {
                channels.insert(name.clone(), url.resolve(&format!("channels.{name}.webhook_url"))?);
            }
        }
        let auth = |a: Option<&InboundAuth>, field: &str| a.map(|a| a.resolve(field)).transpose();
        Ok(ResolvedSecrets {
            channels,
            inbound_auth: auth(self.inbound_auth.as_ref(), "inbound_auth")?.unwrap_or_default(),
            api_auth: auth(self.api_auth.as_ref(), "api_auth")?.unwrap_or_default(),
            metrics_auth: auth(self.metrics_auth.as_ref(), "metrics_auth")?.unwrap_or_default(),
        })
    }
}
