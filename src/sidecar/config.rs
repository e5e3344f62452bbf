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
pub use crate::alert::notification::CHANNEL_NAMES;
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

// ---------------------------------------------------------------------------------------------
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

/// The notification channels; each is on when present (`file: {}` turns the file channel on
/// with its defaults). With none present, the file channel is used with its defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChannelsSection {
    /// Email over SMTP (Gmail by default).
    pub email: Option<EmailSection>,
    /// A Slack incoming webhook.
    pub slack: Option<SlackSection>,
    /// A local JSON-lines file.
    pub file: Option<FileSection>,
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
    /// Configured channels to use: `email`, `slack`, `file`; at least one.
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

// ---------------------------------------------------------------------------------------------
// Secrets

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Inline(_) => f.debug_tuple("Inline").field(&format_args!("{REDACTED}")).finish(),
            Secret::File(path) => f.debug_tuple("File").field(path).finish(),
            Secret::Env(name) => f.debug_tuple("Env").field(name).finish(),
        }
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let (key, value) = match self {
            Secret::Inline(_) => return s.serialize_str(REDACTED),
            Secret::File(path) => ("file", path.display().to_string()),
            Secret::Env(name) => ("env", name.clone()),
        };
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry(key, &value)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SecretVisitor)
    }
}

/// Reads a [`Secret`]; errors on numbers and booleans do not echo the value.
struct SecretVisitor;

const SECRET_SHAPES: &str = "a secret: a quoted string, {file: PATH} or {env: NAME}";

impl<'de> Visitor<'de> for SecretVisitor {
    type Value = Secret;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(SECRET_SHAPES)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Secret, E> {
        Ok(Secret::Inline(v.to_owned()))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Secret, E> {
        Err(E::custom(format_args!("expected {SECRET_SHAPES}, found a boolean")))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Secret, E> {
        Err(E::custom(format_args!("expected {SECRET_SHAPES}, found a number (quote it)")))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Secret, E> {
        Err(E::custom(format_args!("expected {SECRET_SHAPES}, found a number (quote it)")))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Secret, E> {
        Err(E::custom(format_args!("expected {SECRET_SHAPES}, found a number (quote it)")))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Secret, A::Error> {
        let Some(key) = map.next_key::<String>()? else {
            return Err(de::Error::custom(format_args!("empty map: expected {SECRET_SHAPES}")));
        };
        let secret = match key.as_str() {
            "file" => Secret::File(map.next_value::<PathBuf>()?),
            "env" => Secret::Env(map.next_value::<String>()?),
            other => return Err(de::Error::unknown_field(other, &["file", "env"])),
        };
        if map.next_key::<String>()?.is_some() {
            return Err(de::Error::custom("a secret takes exactly one of `file` or `env`"));
        }
        Ok(secret)
    }
}

impl Secret {
    /// Check the reference without reading it (pure).
    fn check(&self) -> Result<(), String> {
        match self {
            Secret::Inline(v) if v.is_empty() => Err("the secret is empty".into()),
            Secret::Inline(v) if v == REDACTED => {
                Err(format!("`{REDACTED}` is the placeholder of a dumped configuration, not a secret"))
            }
            Secret::File(p) if p.as_os_str().is_empty() => Err("`file` is empty".into()),
            Secret::Env(n) if n.is_empty() || n.contains(['=', '\0']) => {
                Err(format!("`{n}` is not an environment variable name"))
            }
            _ => Ok(()),
        }
    }

    /// Read the secret (the only I/O of configuration): a file, without its trailing line
    /// break, or an environment variable. `field` names it in errors; the value never appears.
    pub fn resolve(&self, field: &str) -> Result<String, ConfigError> {
        let err = |reason: String| ConfigError::Secret { field: field.to_string(), reason };
        let value = match self {
            Secret::Inline(v) => v.clone(),
            Secret::File(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| err(format!("cannot read file {}: {e}", path.display())))?;
                let trimmed = text.strip_suffix('\n').unwrap_or(&text);
                let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
                if trimmed.is_empty() {
                    return Err(err(format!("file {} is empty", path.display())));
                }
                trimmed.to_string()
            }
            Secret::Env(name) => match std::env::var(name) {
                Ok(v) if !v.is_empty() => v,
                Ok(_) => return Err(err(format!("environment variable {name} is empty"))),
                Err(e) => return Err(err(format!("environment variable {name}: {e}"))),
            },
        };
        Ok(value)
    }
}

/// Secret values read by [`Validated::resolve_secrets`]; `Debug` redacts them.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ResolvedSecrets {
    /// SMTP password, when the email channel logs in.
    pub smtp_password: Option<String>,
    /// Slack webhook URL, when the Slack channel is on.
    pub slack_webhook_url: Option<String>,
    /// Credentials Alertmanager must present (open when empty).
    pub inbound_auth: crate::sidecar::receiver::InboundAuth,
    /// Credentials the REST API asks for (open when empty).
    pub api_auth: crate::sidecar::receiver::InboundAuth,
    /// Credentials `/metrics` asks for (open when empty).
    pub metrics_auth: crate::sidecar::receiver::InboundAuth,
}

impl fmt::Debug for ResolvedSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = |o: &Option<String>| o.as_ref().map(|_| REDACTED);
        f.debug_struct("ResolvedSecrets")
            .field("smtp_password", &r(&self.smtp_password))
            .field("slack_webhook_url", &r(&self.slack_webhook_url))
            .field("inbound_auth", &self.inbound_auth)
            .field("api_auth", &self.api_auth)
            .field("metrics_auth", &self.metrics_auth)
            .finish()
    }
}

// ---------------------------------------------------------------------------------------------
// Validation

/// A failed check: (dotted field, reason); [`SidecarConfig::validate`] adds the file.
pub(crate) type Check<T = ()> = Result<T, (String, String)>;

fn fail<T>(field: impl Into<String>, reason: impl Into<String>) -> Check<T> {
    Err((field.into(), reason.into()))
}

fn check_secret(field: &str, secret: &Secret) -> Check {
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
        if channels.email.is_none() && channels.slack.is_none() && channels.file.is_none() {
            channels.file = Some(FileSection::default());
        }
        channels.check()?;
        check_routes(&self.routes, &channels)?;
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

impl ChannelsSection {
    /// Check each configured channel.
    fn check(&self) -> Check {
        if let Some(email) = &self.email {
            email.check()?;
        }
        if let Some(slack) = &self.slack {
            slack.check()?;
        }
        if let Some(file) = &self.file {
            if file.path.as_os_str().is_empty() {
                return fail("channels.file.path", "must not be empty");
            }
        }
        Ok(())
    }

    /// Names of the configured channels, sorted.
    pub fn names(&self) -> Vec<String> {
        let on = [self.email.is_some(), self.file.is_some(), self.slack.is_some()];
        CHANNEL_NAMES.iter().zip(on).filter(|(_, on)| *on).map(|(name, _)| name.to_string()).collect()
    }

    /// Whether channel `name` is configured and wants resolved notifications.
    fn sends_resolved(&self, name: &str) -> bool {
        match name {
            "email" => self.email.as_ref().is_some_and(|c| c.send_resolved),
            "slack" => self.slack.as_ref().is_some_and(|c| c.send_resolved),
            "file" => self.file.as_ref().is_some_and(|c| c.send_resolved),
            _ => false,
        }
    }
}

impl EmailSection {
    fn check(&self) -> Check {
        if self.host.trim().is_empty() {
            return fail("channels.email.host", "must not be empty");
        }
        match (self.port, self.tls) {
            (0, _) => return fail("channels.email.port", "0 is not a port"),
            (465, TlsMode::StartTls) => return fail("channels.email.port", "465 expects `tls: implicit`"),
            (587, TlsMode::Implicit) => return fail("channels.email.port", "587 expects `tls: starttls`"),
            _ => {}
        }
        match (&self.password, self.username.is_empty()) {
            (Some(_), true) => return fail("channels.email.username", "required with a password"),
            (Some(p), false) => check_secret("channels.email.password", p)?,
            (None, false) => {
                let reason = format!(
                    "required with a username: give {{file: PATH}}, --smtp.password-file or set {ENV_SMTP_PASSWORD}"
                );
                return fail("channels.email.password", reason);
            }
            (None, true) => {}
        }
        if self.from.is_none() {
            match self.username.parse::<EmailAddress>() {
                Ok(_) => {}
                Err(_) if self.username.is_empty() => {
                    return fail("channels.email.from", "required without a username")
                }
                Err(_) => return fail("channels.email.from", "required: the username is not an address"),
            }
        }
        if self.to.is_empty() {
            return fail("channels.email.to", "at least one recipient is required");
        }
        Ok(())
    }

    /// The sender address: `from`, else the username.
    pub fn sender(&self) -> &str {
        self.from.as_ref().map_or(&self.username, |f| f.as_str())
    }
}

impl SlackSection {
    fn check(&self) -> Check {
        match &self.webhook_url {
            Some(url) => check_secret("channels.slack.webhook_url", url)?,
            None => {
                let reason =
                    format!("required: give {{file: PATH}}, --slack.webhook-url-file or set {ENV_SLACK_WEBHOOK_URL}");
                return fail("channels.slack.webhook_url", reason);
            }
        }
        if !(self.rate_per_second.is_finite() && self.rate_per_second >= 0.001) {
            return fail("channels.slack.rate_per_second", format!("{} must be at least 0.001", self.rate_per_second));
        }
        if self.burst == 0 {
            return fail("channels.slack.burst", "must be at least 1");
        }
        Ok(())
    }
}

fn check_routes(routes: &[Route], channels: &ChannelsSection) -> Check {
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
        for (c, channel) in route.channels.iter().enumerate() {
            if !configured.contains(channel) {
                let reason = format!("`{channel}` is not a configured channel (configured: {})", configured.join(", "));
                return fail(format!("routes[{r}].channels[{c}]"), reason);
            }
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
        let resolve = |secret: Option<&Secret>, field: &str| secret.map(|s| s.resolve(field)).transpose();
        let email = self.channels.email.as_ref();
        let auth = |a: Option<&InboundAuth>, field: &str| a.map(|a| a.resolve(field)).transpose();
        Ok(ResolvedSecrets {
            smtp_password: resolve(email.and_then(|e| e.password.as_ref()), "channels.email.password")?,
            slack_webhook_url: resolve(
                self.channels.slack.as_ref().and_then(|s| s.webhook_url.as_ref()),
                "channels.slack.webhook_url",
            )?,
            inbound_auth: auth(self.inbound_auth.as_ref(), "inbound_auth")?.unwrap_or_default(),
            api_auth: auth(self.api_auth.as_ref(), "api_auth")?.unwrap_or_default(),
            metrics_auth: auth(self.metrics_auth.as_ref(), "metrics_auth")?.unwrap_or_default(),
        })
    }

    /// The email sender's settings, when the email channel is on.
    pub fn email_config(&self, secrets: &ResolvedSecrets) -> Option<EmailConfig> {
        let e = self.channels.email.as_ref()?;
        Some(EmailConfig {
            host: e.host.clone(),
            port: e.port,
            tls: e.tls,
            username: e.username.clone(),
            password: secrets.smtp_password.clone().unwrap_or_default(),
            from: e.sender().to_string(),
            to: e.to.iter().map(|t| t.as_str().to_owned()).collect(),
            timeout: e.timeout.get(),
            ca_file: e.ca_file.clone(),
        })
    }

    /// The Slack sender's settings, when the Slack channel is on and its URL was resolved.
    pub fn slack_config(&self, secrets: &ResolvedSecrets) -> Option<SlackConfig> {
        let s = self.channels.slack.as_ref()?;
        Some(SlackConfig {
            webhook_url: secrets.slack_webhook_url.clone()?,
            timeout: s.timeout.get(),
            rate_per_second: s.rate_per_second,
            burst: s.burst,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Command line and environment

/// Command-line flags (each with an environment variable) that override the file; the binary
/// flattens this into its parser.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct Overrides {
    /// Sidecar configuration (YAML); the embedded default (file channel only) when absent.
    #[arg(long, env = "WARDWATCH_SIDECAR_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: the config's `listen_address`, else 0.0.0.0:10465].
    #[arg(long = "web.listen-address", env = "WARDWATCH_SIDECAR_LISTEN_ADDRESS")]
    pub listen_address: Option<SocketAddr>,
    /// Queue directory [default: the config's `queue.dir`, else wardwatch-queue].
    #[arg(long = "queue.dir", env = "WARDWATCH_QUEUE_DIR")]
    pub queue_dir: Option<PathBuf>,
    /// File holding the SMTP password; replaces `channels.email.password`.
    #[arg(long = "smtp.password-file", env = "WARDWATCH_SMTP_PASSWORD_FILE")]
    pub smtp_password_file: Option<PathBuf>,
    /// File holding the Slack webhook URL; replaces `channels.slack.webhook_url`.
    #[arg(long = "slack.webhook-url-file", env = "WARDWATCH_SLACK_WEBHOOK_URL_FILE")]
    pub slack_webhook_url_file: Option<PathBuf>,
    /// File holding the bearer token Alertmanager must send; replaces `inbound_auth.bearer_token`.
    #[arg(long = "inbound.token-file", env = "WARDWATCH_INBOUND_TOKEN_FILE")]
    pub inbound_token_file: Option<PathBuf>,
    /// Log level filter (e.g. info, debug, wardwatch=debug).
    #[arg(long = "log.level", env = "WARDWATCH_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// Log line format on stderr: logfmt or json (colour only on a terminal).
    #[arg(long = "log.format", env = "WARDWATCH_LOG_FORMAT", value_enum, default_value_t)]
    pub log_format: crate::logging::LogFormat,
}

impl Default for Overrides {
    fn default() -> Self {
        Self {
            config: None,
            listen_address: None,
            queue_dir: None,
            smtp_password_file: None,
            slack_webhook_url_file: None,
            inbound_token_file: None,
            log_level: "info".into(),
            log_format: crate::logging::LogFormat::default(),
        }
    }
}

impl Overrides {
    /// Read the configuration file (or the embedded default), apply the flags, then fall back to
    /// [`ENV_SMTP_PASSWORD`], [`ENV_SLACK_WEBHOOK_URL`] and [`ENV_INBOUND_TOKEN`] (only whether
    /// they are set is looked at here) for secrets still unnamed. Returns the origin for errors.
    pub fn load(&self) -> Result<(SidecarConfig, String), ConfigError> {
        let (mut cfg, origin) = match &self.config {
            Some(path) => (SidecarConfig::from_file(path)?, path.display().to_string()),
            None => (SidecarConfig::embedded_default(), EMBEDDED_ORIGIN.to_string()),
        };
        self.apply(&mut cfg, &origin)?;
        apply_env_fallbacks(&mut cfg, |name| std::env::var_os(name).is_some());
        Ok((cfg, origin))
    }

    /// Apply the flags to `cfg` (pure). A secret flag for a channel the configuration does not
    /// have is an error naming that channel.
    pub fn apply(&self, cfg: &mut SidecarConfig, origin: &str) -> Result<(), ConfigError> {
        let missing = |field: &str, flag: &str| {
            ConfigError::Invalid(crate::yaml::FieldError::new(
                origin,
                field,
                format!("{flag} is set but this channel is not configured"),
            ))
        };
        if let Some(addr) = self.listen_address {
            cfg.listen_address = addr;
        }
        if let Some(dir) = &self.queue_dir {
            cfg.queue.dir = dir.clone();
        }
        if let Some(path) = &self.smtp_password_file {
            let email = cfg.channels.email.as_mut().ok_or_else(|| missing("channels.email", "--smtp.password-file"))?;
            email.password = Some(Secret::File(path.clone()));
        }
        if let Some(path) = &self.slack_webhook_url_file {
            let slack =
                cfg.channels.slack.as_mut().ok_or_else(|| missing("channels.slack", "--slack.webhook-url-file"))?;
            slack.webhook_url = Some(Secret::File(path.clone()));
        }
        if let Some(path) = &self.inbound_token_file {
            cfg.inbound_auth.get_or_insert_with(InboundAuth::default).bearer_token = Some(Secret::File(path.clone()));
        }
        Ok(())
    }
}

/// Name the plain environment variables as secrets where the configuration names none.
fn apply_env_fallbacks(cfg: &mut SidecarConfig, is_set: impl Fn(&str) -> bool) {
    if let Some(email) = cfg.channels.email.as_mut() {
        if email.password.is_none() && is_set(ENV_SMTP_PASSWORD) {
            email.password = Some(Secret::Env(ENV_SMTP_PASSWORD.into()));
        }
    }
    if let Some(slack) = cfg.channels.slack.as_mut() {
        if slack.webhook_url.is_none() && is_set(ENV_SLACK_WEBHOOK_URL) {
            slack.webhook_url = Some(Secret::Env(ENV_SLACK_WEBHOOK_URL.into()));
        }
    }
    let unnamed = cfg.inbound_auth.as_ref().is_none_or(|a| a.bearer_token.is_none());
    if unnamed && is_set(ENV_INBOUND_TOKEN) {
        cfg.inbound_auth.get_or_insert_with(InboundAuth::default).bearer_token =
            Some(Secret::Env(ENV_INBOUND_TOKEN.into()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GMAIL: &str = "channels:
  email:
    username: alerts@example.org
    password: {file: /run/secrets/smtp}
    to: [oncall@example.org]
    send_resolved: false
  slack:
    webhook_url: {env: WW_TEST_SLACK_URL}
  file: {}
";

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// Why `yaml` is refused: when it is read (a value that cannot exist) or validated.
    fn invalid(yaml: &str) -> String {
        match SidecarConfig::from_yaml(yaml, "sidecar.yaml") {
            Ok(cfg) => cfg.validate("sidecar.yaml").unwrap_err().to_string(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn embedded_default_validates_and_routes_everything_to_the_file_channel() {
        let v = SidecarConfig::embedded_default().validate(EMBEDDED_ORIGIN).unwrap();
        assert_eq!(v.listen_address, DEFAULT_LISTEN_ADDRESS.parse().unwrap());
        assert_eq!(v.channel_names(), ["file"]);
        assert_eq!(v.route(&labels(&[("severity", "critical")]), false), ["file"]);
        assert_eq!(v.route(&labels(&[]), true), ["file"]);
        assert_eq!(v.queue.queue_config(), QueueConfig::new("wardwatch-queue"));
        assert_eq!(v.queue.stale_after.get(), std::time::Duration::from_secs(600));
        assert_eq!(v.max_body_bytes as u64, DEFAULT_MAX_BODY_BYTES);
        assert_eq!(v.max_in_flight, 256);
        assert_eq!(v.retry.cap.get(), std::time::Duration::from_secs(300));
        assert_eq!(v.resolve_secrets().unwrap(), ResolvedSecrets::default());
    }

    #[test]
    fn no_channels_at_all_means_the_file_channel_with_defaults() {
        let v = SidecarConfig::from_yaml("{}", "s.yaml").unwrap().validate("s.yaml").unwrap();
        assert_eq!(v.channels.file, Some(FileSection::default()));
        assert_eq!(v.channel_names(), ["file"]);
    }

    #[test]
    fn unknown_field_is_rejected_naming_it() {
        let err = SidecarConfig::from_yaml("channels:\n  email:\n    hots: x\n    to: [a@b]\n", "s.yaml").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("s.yaml: "), "{msg}");
        assert!(msg.contains("hots"), "{msg}");
    }

    #[test]
    fn invalid_port_names_file_and_dotted_field() {
        let msg = invalid("channels:\n  email: {port: 0, from: a@b.org, to: [c@d.org]}\n");
        assert_eq!(msg, "sidecar.yaml: field `channels.email.port`: 0 is not a port");
    }

    #[test]
    fn rescoring_errors_name_their_field() {
        let documented = SidecarConfig::embedded_default().rescoring;
        assert_eq!(
            documented,
            crate::rescore::config::RescoringSection::default(),
            "the default file shows the defaults"
        );
        let e = invalid("rescoring: {policy: {reescalate_after: 20m}}");
        assert!(e.contains("rescoring.policy.reescalate_after") && e.contains("stale_after"), "{e}");
        let e = invalid("rescoring: {policy: {escalate_at: 1.5}}");
        assert!(e.contains("rescoring.policy.escalate_at"), "{e}");
        let e = invalid("rescoring: {lookback: soon}");
        assert!(e.starts_with("sidecar.yaml") && e.contains("rescoring.lookback"), "{e}");
        let e = invalid("rescoring: {targets: {targets: [{entity: patient, match: {patient: '('}, key: [patient], queries: [{query: x, signal: y}]}]}}");
        assert!(e.contains("rescoring.targets") && e.contains("invalid regex"), "{e}");
    }

    #[test]
    fn invalid_duration_names_the_field() {
        let msg = invalid("retry: {base: 10 parsecs}\n");
        assert!(msg.starts_with("sidecar.yaml: field `retry.base`: "), "{msg}");
        let msg = invalid("queue: {stale_after: 0s}\n");
        assert!(msg.starts_with("sidecar.yaml: field `queue.stale_after`: `0s` must be longer than zero"), "{msg}");
        assert!(msg.ends_with("at line 1 column 22"), "the value's own place: {msg}");
        let msg = invalid("channels:\n  email:\n    to: [ward3@example.org, nobody]\n");
        assert!(
            msg.starts_with("sidecar.yaml: field `channels.email.to[1]`: `nobody` is not an email address"),
            "{msg}"
        );
    }

    #[test]
    fn route_naming_an_unconfigured_channel_names_its_index() {
        let yaml = "channels: {file: {}}\nroutes:\n  - channels: [file]\n  - matchers: {a: b}\n    channels: [slack]\n";
        let msg = invalid(yaml);
        assert!(msg.starts_with("sidecar.yaml: field `routes[1].channels[0]`: `slack` is not"), "{msg}");
    }

    #[test]
    fn other_invalid_values_are_refused() {
        let msg = invalid("listen_address: localhost\n");
        assert!(msg.contains("`listen_address`: `localhost` is not an IP:port address"), "{msg}");
        assert!(invalid("max_body_bytes: 0\n").contains("`max_body_bytes`"));
        assert!(invalid("channels: {email: {from: nobody, to: [a@b]}}\n").contains("`channels.email.from`"));
        assert!(invalid("channels: {email: {username: a@b.org, to: [a@b]}}\n").contains("`channels.email.password`"));
        assert!(invalid("channels: {slack: {}}\n").contains("`channels.slack.webhook_url`"));
        assert!(invalid("links: {grafana_url: grafana:3000}\n").contains("`links.grafana_url`"));
        assert!(invalid("inbound_auth: {}\n").contains("`inbound_auth`"));
        assert!(invalid("retry: {base: 10m, cap: 1m}\n").contains("`retry.cap`"));
    }

    #[test]
    fn routes_first_match_wins_else_every_channel() {
        let routes = r#"routes:
  - matchers: {severity: "critical|page"}
    channels: [slack, email, slack]
  - matchers: {severity: critical, ward: icu-1}
    channels: [file]
  - matchers: {ward: ""}
    channels: [file]
"#;
        let yaml = format!("{GMAIL}{routes}");
        let v = SidecarConfig::from_yaml(&yaml, "s").unwrap().validate("s").unwrap();
        assert_eq!(v.channel_names(), ["email", "file", "slack"]);
        let critical = labels(&[("severity", "critical"), ("ward", "icu-1")]);
        assert_eq!(v.route(&critical, false), ["email", "slack"]);
        assert_eq!(v.route(&labels(&[("severity", "page"), ("ward", "a")]), false), ["email", "slack"]);
        assert_eq!(v.route(&labels(&[("severity", "warning")]), false), ["file"], "missing label counts as empty");
        assert_eq!(v.route(&labels(&[("severity", "warning"), ("ward", "a")]), false), ["email", "file", "slack"]);
    }

    #[test]
    fn resolved_alerts_skip_channels_with_send_resolved_off() {
        let v = SidecarConfig::from_yaml(GMAIL, "s").unwrap().validate("s").unwrap();
        assert_eq!(v.route(&labels(&[]), true), ["file", "slack"]);
        assert_eq!(v.route(&labels(&[]), false), ["email", "file", "slack"]);
    }

    #[test]
    fn secrets_resolve_from_file_env_and_inline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("smtp");
        std::fs::write(&path, "app-password-1234\n").unwrap();
        std::env::set_var("WW_TEST_SECRETS_RESOLVE_URL", "https://hooks.slack.com/services/T/B/x");
        let yaml = format!(
            "inbound_auth:
  bearer_token: tok-inline
  basic: {{username: am, password: {{env: WW_TEST_SECRETS_RESOLVE_URL}}}}
channels:
  email: {{username: a@b.org, password: {{file: {}}}, to: [c@d.org]}}
  slack: {{webhook_url: {{env: WW_TEST_SECRETS_RESOLVE_URL}}}}
",
            path.display()
        );
        let v = SidecarConfig::from_yaml(&yaml, "s").unwrap().validate("s").unwrap();
        let s = v.resolve_secrets().unwrap();
        assert_eq!(s.smtp_password.as_deref(), Some("app-password-1234"));
        assert_eq!(s.slack_webhook_url.as_deref(), Some("https://hooks.slack.com/services/T/B/x"));
        assert_eq!(s.inbound_auth.bearer_token.as_deref(), Some("tok-inline"));
        assert_eq!(s.inbound_auth.basic, Some(("am".into(), "https://hooks.slack.com/services/T/B/x".into())));
        assert_eq!(s.api_auth.bearer_token.as_deref(), Some("tok-inline"), "the API asks for the same by default");
        assert_eq!(s.metrics_auth.bearer_token, None, "/metrics is open by default");
        let email = v.email_config(&s).unwrap();
        assert_eq!((email.password.as_str(), email.from.as_str()), ("app-password-1234", "a@b.org"));
        assert_eq!(v.slack_config(&s).unwrap().webhook_url, "https://hooks.slack.com/services/T/B/x");
    }

    #[test]
    fn missing_secret_file_names_field_and_path_not_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent");
        let yaml = format!("channels:\n  slack: {{webhook_url: {{file: {}}}}}\n", path.display());
        let v = SidecarConfig::from_yaml(&yaml, "s").unwrap().validate("s").unwrap();
        let msg = v.resolve_secrets().unwrap_err().to_string();
        assert!(msg.starts_with("secret `channels.slack.webhook_url`: cannot read file "), "{msg}");
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        let msg = Secret::Env("WW_TEST_SECRET_NEVER_SET_7f3a".into()).resolve("x.y").unwrap_err().to_string();
        assert!(msg.contains("WW_TEST_SECRET_NEVER_SET_7f3a"), "{msg}");
    }

    #[test]
    fn debug_and_serialize_never_show_secret_values() {
        let yaml = "inbound_auth: {bearer_token: hunter2-token}
channels: {slack: {webhook_url: https://hooks.example/SECRETPATH}}
";
        let cfg = SidecarConfig::from_yaml(yaml, "s").unwrap();
        let v = cfg.validate("s").unwrap();
        let secrets = v.resolve_secrets().unwrap();
        for text in [
            format!("{cfg:?}"),
            format!("{v:?}"),
            format!("{secrets:?}"),
            format!("{:?}", v.slack_config(&secrets)),
            serde_yaml::to_string(&cfg).unwrap(),
        ] {
            assert!(!text.contains("hunter2") && !text.contains("SECRETPATH"), "{text}");
        }
        let dumped = SidecarConfig::from_yaml(&serde_yaml::to_string(&cfg).unwrap(), "dump").unwrap();
        assert!(dumped.validate("dump").unwrap_err().to_string().contains("placeholder"));
        let err = SidecarConfig::from_yaml("inbound_auth: {bearer_token: 314159265}\n", "s").unwrap_err();
        assert!(!err.to_string().contains("314159265"), "{err}");
    }

    #[test]
    fn overrides_beat_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sidecar.yaml");
        std::fs::write(&path, format!("listen_address: 127.0.0.1:1\nqueue: {{dir: from-file}}\n{GMAIL}")).unwrap();
        let overrides = Overrides {
            config: Some(path.clone()),
            listen_address: Some("127.0.0.1:2".parse().unwrap()),
            queue_dir: Some("from-flag".into()),
            smtp_password_file: Some("/run/flag-smtp".into()),
            slack_webhook_url_file: Some("/run/flag-slack".into()),
            inbound_token_file: Some("/run/flag-token".into()),
            ..Overrides::default()
        };
        let (cfg, origin) = overrides.load().unwrap();
        assert_eq!(origin, path.display().to_string());
        let v = cfg.validate(&origin).unwrap();
        assert_eq!(v.listen_address, "127.0.0.1:2".parse().unwrap());
        assert_eq!(v.queue.dir, PathBuf::from("from-flag"));
        let email = v.channels.email.as_ref().unwrap();
        assert_eq!(email.password, Some(Secret::File("/run/flag-smtp".into())));
        assert_eq!(v.channels.slack.as_ref().unwrap().webhook_url, Some(Secret::File("/run/flag-slack".into())));
        assert_eq!(v.inbound_auth.unwrap().bearer_token, Some(Secret::File("/run/flag-token".into())));
    }

    #[test]
    fn secret_flag_for_an_absent_channel_is_an_error() {
        let overrides = Overrides { smtp_password_file: Some("/run/x".into()), ..Overrides::default() };
        let msg = overrides.load().unwrap_err().to_string();
        assert!(msg.starts_with("<embedded default>: field `channels.email`: --smtp.password-file"), "{msg}");
    }

    #[test]
    fn plain_env_vars_fill_only_unnamed_secrets() {
        let mut cfg = SidecarConfig::from_yaml(GMAIL, "s").unwrap();
        cfg.channels.slack.as_mut().unwrap().webhook_url = None;
        apply_env_fallbacks(&mut cfg, |_| true);
        let email = cfg.channels.email.as_ref().unwrap();
        assert_eq!(email.password, Some(Secret::File("/run/secrets/smtp".into())));
        let slack = cfg.channels.slack.as_ref().unwrap();
        assert_eq!(slack.webhook_url, Some(Secret::Env(ENV_SLACK_WEBHOOK_URL.into())));
        assert_eq!(cfg.inbound_auth.unwrap().bearer_token, Some(Secret::Env(ENV_INBOUND_TOKEN.into())));
        let mut cfg = SidecarConfig::embedded_default();
        apply_env_fallbacks(&mut cfg, |_| false);
        assert_eq!(cfg, SidecarConfig::embedded_default());
    }

    #[test]
    fn flags_parse_with_clap() {
        use clap::{CommandFactory, Parser};
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            overrides: Overrides,
        }
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(["x", "--web.listen-address", "[::1]:9", "--queue.dir", "q"]).unwrap();
        assert_eq!(cli.overrides.listen_address, Some("[::1]:9".parse().unwrap()));
        assert_eq!(cli.overrides.queue_dir, Some(PathBuf::from("q")));
    }
}
