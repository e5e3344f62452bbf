//! The sidecar's configuration: where it listens, its queue, its channels and its routes.
//!
//! Loading happens in three steps, so that only the last touches secrets:
//!
//! 1. [`Overrides::load`] reads the YAML file (or [`DEFAULT_SIDECAR_YAML`]) into a
//!    [`SidecarConfig`] (serde, unknown fields rejected) and applies command-line flags and
//!    environment variables, which beat the file. A value that cannot be right on its own — a
//!    duration ([`Span`]), a URL ([`HttpUrl`]), an email address ([`EmailAddress`]), the listen
//!    address — is a type that cannot hold a bad one, refused as it is read with its place:
//!    ``sidecar.yaml: field `retry.base`: `10 parsecs`: unit must be ms, s, m, h or d at line 3
//!    column 9``.
//! 2. [`SidecarConfig::validate`] checks what is left purely — ranges and how fields go together,
//!    no disk, network or environment — and returns a [`Validated`] configuration. Its errors
//!    name the file, the dotted field and the reason:
//!    ``sidecar.yaml: field `channels.email.port`: 0 is not a port``.
//! 3. [`Validated::resolve_secrets`] reads secret files and environment variables. Its errors
//!    name the field and the file or variable, never the secret.
//!
//! Secrets ([`Secret`]) are written inline (discouraged), as `{file: PATH}` or as `{env: NAME}`;
//! when the configuration names none, [`ENV_SMTP_PASSWORD`], [`ENV_SLACK_WEBHOOK_URL`] and
//! [`ENV_INBOUND_TOKEN`] are used if set. `Debug` and `Serialize` never show a secret's value.
//!
//! Layout: this file holds the sections as written; `overrides` the flags and environment,
//! `validate` step 2 and the per-component configuration, `secrets` step 3.

use crate::address::{EmailAddress, HttpUrl};
use crate::alert::view::Site;
use crate::duration::Span;
use crate::notify::email::{EmailConfig, TlsMode};
use crate::notify::slack::SlackConfig;
use crate::sidecar::queue::QueueConfig;
use chrono_tz::Tz;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The embedded default configuration, used when no `--config` is given: no accounts needed,
/// every notification goes to the file channel.
pub const DEFAULT_SIDECAR_YAML: &str = include_str!("default_sidecar.yaml");
/// Default listen address: port 10465 (next to the exporter's 10464; outside 9100–9999).
pub const DEFAULT_LISTEN_ADDRESS: &str = "0.0.0.0:10465";
/// Origin named in errors about the embedded default.
pub const EMBEDDED_ORIGIN: &str = "<embedded default>";
/// Environment variable holding the SMTP password when the configuration names none.
pub const ENV_SMTP_PASSWORD: &str = "WARDWATCH_SMTP_PASSWORD";
/// Environment variable holding the Slack webhook URL when the configuration names none.
pub const ENV_SLACK_WEBHOOK_URL: &str = "WARDWATCH_SLACK_WEBHOOK_URL";
/// Environment variable holding the inbound bearer token when the configuration names none.
pub const ENV_INBOUND_TOKEN: &str = "WARDWATCH_INBOUND_TOKEN";
pub use crate::alert::notification::CHANNEL_KINDS;
/// What `Debug` and `Serialize` show instead of an inline secret.
const REDACTED: &str = "<redacted>";

/// Errors from loading, validating or resolving the sidecar's configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or parsed.
    #[error(transparent)]
    File(#[from] crate::yaml::YamlError),
    /// A field holds a value the sidecar cannot use.
    #[error(transparent)]
    Invalid(#[from] crate::yaml::FieldError),
    /// A secret could not be resolved; the message never contains the secret.
    #[error("secret `{field}`: {reason}")]
    Secret {
        /// Dotted path of the field, e.g. `channels.email.password`.
        field: String,
        /// What failed, naming the file or environment variable.
        reason: String,
    },
}

// Raw configuration (serde)

/// The whole sidecar configuration, as written in YAML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SidecarConfig {
    /// Address (IP:port) to listen on for Alertmanager's webhook; default `0.0.0.0:10465`.
    #[serde(default = "default_listen_address", deserialize_with = "socket_address")]
    pub listen_address: SocketAddr,
    /// The durable outbox.
    #[serde(default)]
    pub queue: QueueSection,
    /// Most bytes of alerts (their JSON as sent) kept from one webhook body (default 32 MiB, about
    /// twice a 10,000-alert group with long labels and annotations). A larger group is never
    /// refused — Alertmanager does not retry a 4xx, so that would lose it: its least urgent alerts
    /// are left out of the notification, which says how many. At most half of `queue.max_bytes`.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: u64,
    /// Most webhook requests handled at once (default 256); beyond this, 503.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// Credentials Alertmanager must present (its receiver's `http_config`); none by default.
    #[serde(default)]
    pub inbound_auth: Option<InboundAuth>,
    /// Credentials for the REST API (`/model_info`, `/predict`, `/batch_predict`): `same`
    /// (default: those of `inbound_auth`), `none` (open: only on a trusted network), or their
    /// own `{bearer_token, basic}`.
    #[serde(default)]
    pub api_auth: AuthChoice,
    /// Credentials for `/metrics`: `none` (default, as Prometheus expects of a target), `same`
    /// (those of `inbound_auth`) or their own; the health checks are always open.
    #[serde(default = "AuthChoice::none")]
    pub metrics_auth: AuthChoice,
    /// Base URLs for the links in notifications.
    #[serde(default)]
    pub links: LinksSection,
    /// The site's time zone (IANA, e.g. `Europe/London`; default `UTC`): every time a message
    /// shows is in it, with UTC beside it.
    #[serde(default = "default_time_zone", deserialize_with = "time_zone", serialize_with = "time_zone_name")]
    pub time_zone: Tz,
    /// The notification channels; with none configured, the file channel with its defaults.
    #[serde(default)]
    pub channels: ChannelsSection,
    /// Which channels an alert goes to: the first matching route wins; none matches → every channel.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// Backoff of failed deliveries.
    #[serde(default)]
    pub retry: RetrySection,
    /// How alerts are rescored before delivery.
    #[serde(default)]
    pub rescoring: crate::rescore::config::RescoringSection,
    /// The acknowledge link in every firing notification.
    #[serde(default)]
    pub acknowledge: AcknowledgeSection,
}

/// The acknowledge link in every firing notification ("I'm on it", no login needed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AcknowledgeSection {
    /// Put the link in every firing notification (default true).
    pub enabled: bool,
    /// How long a link acknowledges (default `24h`).
    pub valid_for: Span,
    /// The key links are signed with (hex, at least 16 bytes; replicas share it). Default
    /// `<queue.dir>/acknowledge.key`, made on first start.
    pub key_file: Option<PathBuf>,
}

impl Default for AcknowledgeSection {
    fn default() -> Self {
        Self { enabled: true, valid_for: span("24h"), key_file: None }
    }
}

/// An IP:port address, refused where it stands when it does not read as one.
fn socket_address<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    crate::yaml::parsed_text(d, |text| {
        text.trim().parse().map_err(|_| format!("`{text}` is not an IP:port address like 0.0.0.0:10465"))
    })
}

/// A time zone of the IANA database, refused where it stands when it is not one.
fn time_zone<'de, D: Deserializer<'de>>(d: D) -> Result<Tz, D::Error> {
    crate::yaml::parsed_text(d, |text| {
        let not = || format!("`{text}` is not a time zone of the IANA database, like Europe/London or UTC");
        text.trim().parse().map_err(|_| not())
    })
}

fn time_zone_name<S: Serializer>(tz: &Tz, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(tz.name())
}

fn default_time_zone() -> Tz {
    Tz::UTC
}

fn default_listen_address() -> SocketAddr {
    DEFAULT_LISTEN_ADDRESS.parse().expect("the default listen address parses")
}
fn default_max_body_bytes() -> u64 {
    DEFAULT_MAX_BODY_BYTES
}

/// The default of `max_body_bytes`: 32 MiB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 32 * 1024 * 1024;

/// Which credentials an endpoint asks for, as written in YAML: `same`, `none`, or credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AuthChoice {
    /// `same` or `none`.
    Keyword(AuthKeyword),
    /// Its own credentials.
    Own(InboundAuth),
}

/// The keywords of [`AuthChoice`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthKeyword {
    /// The credentials of `inbound_auth` (open when it has none).
    Same,
    /// No credentials: open.
    None,
}

impl Default for AuthChoice {
    fn default() -> Self {
        AuthChoice::Keyword(AuthKeyword::Same)
    }
}

impl AuthChoice {
    /// `none`.
    pub fn none() -> Self {
        AuthChoice::Keyword(AuthKeyword::None)
    }

    /// The credentials this choice stands for, given `inbound_auth`'s.
    fn resolve<'a>(&'a self, inbound: Option<&'a InboundAuth>) -> Option<&'a InboundAuth> {
        match self {
            AuthChoice::Keyword(AuthKeyword::Same) => inbound,
            AuthChoice::Keyword(AuthKeyword::None) => None,
            AuthChoice::Own(auth) => Some(auth),
        }
    }
}
fn default_max_in_flight() -> usize {
    256
}
fn default_true() -> bool {
    true
}

/// The durable outbox (see [`crate::sidecar::queue`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueSection {
    /// Queue directory, created if missing; one sidecar per directory. Default `wardwatch-queue`.
    pub dir: PathBuf,
    /// Most pending items (default 10000); beyond this webhooks get 503.
    pub max_items: usize,
    /// Most bytes of pending item files (default 256 MiB); beyond this webhooks get 503.
    pub max_bytes: u64,
    /// `fsync` every write (default true); turn off only for tests and benchmarks.
    pub fsync: bool,
    /// How long a delivered alert's id is remembered so a re-send is dropped (default `24h`).
    pub seen_retention: Span,
    /// `/-/ready` fails while the oldest pending item is older than this (default `10m`).
    pub stale_after: Span,
}

impl Default for QueueSection {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("wardwatch-queue"),
            max_items: 10_000,
            max_bytes: 256 * 1024 * 1024,
            fsync: true,
            seen_retention: span("24h"),
            stale_after: span("10m"),
        }
    }
}

/// Credentials Alertmanager must send, as its receiver `http_config` sends them; either or both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundAuth {
    /// Expected `Authorization: Bearer <token>` (Alertmanager's `authorization.credentials`).
    #[serde(default)]
    pub bearer_token: Option<Secret>,
    /// Expected `Authorization: Basic ...` (Alertmanager's `basic_auth`).
    #[serde(default)]
    pub basic: Option<BasicAuth>,
}

/// HTTP basic authentication credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// User name; required, without `:`.
    pub username: String,
    /// Password; required.
    pub password: Secret,
}

/// A secret given inline (discouraged: the file then holds it), from a file, or from an
/// environment variable. In YAML: a plain string, `{file: /run/secrets/x}` or `{env: NAME}`.
/// A file's trailing line break is dropped. Never logged: `Debug` and `Serialize` redact an
/// inline value (a dumped configuration shows `<redacted>`, which is refused when read back).
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// The secret itself.
    Inline(String),
    /// A file holding the secret.
    File(PathBuf),
    /// An environment variable holding the secret.
    Env(String),
}

/// Base URLs for the links in notifications; leave one out to leave its links out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinksSection {
    /// Prometheus as readers reach it; replaces the origin of each alert's `generatorURL`.
    pub prometheus_url: Option<HttpUrl>,
    /// Alertmanager as readers reach it, for silence links; default: the payload's `externalURL`.
    pub alertmanager_url: Option<HttpUrl>,
    /// Grafana, for the `wardwatch-patient` / `wardwatch-ward` dashboards.
    pub grafana_url: Option<HttpUrl>,
    /// This sidecar as readers reach it, for the runbooks page it serves (and acknowledge links);
    /// default: `http://` and the listen address (`localhost` for an unspecified address).
    pub sidecar_url: Option<HttpUrl>,
}

/// The email channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSection {
    /// SMTP server (default `smtp.gmail.com`); also the name its certificate must carry.
    #[serde(default = "default_smtp_host")]
    pub host: String,
    /// SMTP port (default 587): 587 with `tls: starttls`, 465 with `tls: implicit`.
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// `starttls` (default), `implicit`, or `none` (loopback test servers only).
    #[serde(default = "default_tls")]
    pub tls: TlsMode,
    /// Login (for Gmail the full address); empty (default) to send without logging in.
    #[serde(default)]
    pub username: String,
    /// Password (for Gmail an app password); required with a username. Default:
    /// `WARDWATCH_SMTP_PASSWORD` if set, or the file given by `--smtp.password-file`.
    #[serde(default)]
    pub password: Option<Secret>,
    /// Sender, `alerts@example.org` or `Wardwatch <alerts@example.org>`; default: the username.
    #[serde(default)]
    pub from: Option<EmailAddress>,
    /// Recipients; required, at least one.
    pub to: Vec<EmailAddress>,
    /// Bound on one whole delivery attempt (default `30s`).
    #[serde(default = "default_email_timeout")]
    pub timeout: Span,
    /// Extra root CA (PEM) to trust, for a private or test SMTP server.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Also notify when alerts resolve (default true).
    #[serde(default = "default_true")]
    pub send_resolved: bool,
}

fn default_smtp_host() -> String {
    "smtp.gmail.com".into()
}
fn default_smtp_port() -> u16 {
    587
}
fn default_tls() -> TlsMode {
    TlsMode::StartTls
}
fn default_email_timeout() -> Span {
    span("30s")
}

/// A default duration (the literal is known to parse).
fn span(text: &str) -> Span {
    text.parse().expect("a default duration parses")
}

/// The Slack channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackSection {
    /// The incoming webhook URL (a secret: it grants posting); required. Default:
    /// `WARDWATCH_SLACK_WEBHOOK_URL` if set, or the file given by `--slack.webhook-url-file`.
    #[serde(default)]
    pub webhook_url: Option<Secret>,
    /// Whole-request timeout (default `10s`).
    #[serde(default = "default_slack_timeout")]
    pub timeout: Span,
    /// Sustained messages per second (default 1.0, Slack's documented webhook rate; at least 0.001).
    #[serde(default = "default_rate")]
    pub rate_per_second: f64,
    /// Messages sent back to back before pacing starts (default 3; at least 1).
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// Also notify when alerts resolve (default true).
    #[serde(default = "default_true")]
    pub send_resolved: bool,
}

fn default_slack_timeout() -> Span {
    span("10s")
}
fn default_rate() -> f64 {
    crate::notify::slack::DEFAULT_RATE_PER_SECOND
}
fn default_burst() -> u32 {
    crate::notify::slack::DEFAULT_BURST
}

/// The file channel: one JSON line per notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileSection {
    /// File appended to (default `wardwatch-notifications.jsonl`), created if missing.
    pub path: PathBuf,
    /// Also record resolved notifications (default true).
    pub send_resolved: bool,
}

impl Default for FileSection {
    fn default() -> Self {
        Self { path: PathBuf::from("wardwatch-notifications.jsonl"), send_resolved: true }
    }
}

/// One route: alerts whose labels match all `matchers` go to `channels`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Label name → value. A value matches a label equal to it or to one of its `|`-separated
    /// alternatives (`severity: "critical|warning"`); a missing label counts as empty, as in
    /// Alertmanager. No matchers (the default) matches every alert.
    #[serde(default)]
    pub matchers: BTreeMap<String, String>,
    /// Configured channels to use, by name (`email`, `slack-rapid-response`, ...); at least one.
    pub channels: Vec<String>,
    /// Who else hears of a firing alert that nobody acknowledges (default: nobody). Each step
    /// goes out `after` the notification arrived unless it was acknowledged, has resolved, or was
    /// downgraded as a likely artifact by then; steps in increasing `after`, each shorter than
    /// `queue.stale_after`, none naming a channel the route or an earlier step already has.
    #[serde(default)]
    pub escalation: Vec<EscalationStep>,
}

/// One escalation step of a route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationStep {
    /// How long after the notification arrived (e.g. `2m`).
    pub after: Span,
    /// Configured channels it goes to; at least one.
    pub channels: Vec<String>,
}

impl Route {
    /// Whether every matcher matches `labels`.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matchers.iter().all(|(name, want)| {
            let have = labels.get(name).map_or("", String::as_str);
            want.split('|').any(|alt| alt == have)
        })
    }
}

/// Backoff of failed deliveries: exponential from `base`, capped at `cap`, with jitter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetrySection {
    /// First delay (default `1s`).
    pub base: Span,
    /// Longest delay (default `5m`); at least `base`.
    pub cap: Span,
    /// After failing this long (default `24h`) a channel gives up and the item is dead-lettered.
    pub give_up_after: Span,
}

impl Default for RetrySection {
    fn default() -> Self {
        Self { base: span("1s"), cap: span("5m"), give_up_after: span("24h") }
    }
}

mod channels;
mod overrides;
mod secrets;
#[cfg(test)]
mod tests;
mod validate;

pub use channels::{ChannelSection, ChannelsSection};
pub use overrides::Overrides;
pub use secrets::ResolvedSecrets;
pub use validate::Validated;
