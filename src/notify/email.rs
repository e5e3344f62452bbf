//! Email channel: one [`Notification`] becomes one multipart email, sent over SMTP (Gmail by default).
//!
//! - [`build_message`] renders the notification: a subject naming status, severity, alert, ward and
//!   patient; a `multipart/alternative` body (text/plain and HTML-escaped text/html) with labels,
//!   annotations, links (Prometheus graph, Alertmanager silence, Grafana dashboard) and the
//!   scoring line; and threading headers (see [Threading](#threading)).
//! - [`EmailSender::send`] makes exactly one delivery attempt and classifies the outcome as a
//!   [`Delivery`]: the dispatcher owns retries and the durable queue.
//! - [`build_message_with_chart`] adds a chart of the recent history (see [`ChartPart`]): the
//!   HTML part shows it from an inline PNG in a `multipart/related` part with Content-ID
//!   [`CHART_CONTENT_ID`], or both parts say why it is unavailable. The channel fetches and renders
//!   it (`prometheus`, `notify::chart`).
//!
//! # Threading
//!
//! Every notification of an alert group belongs to one thread, rooted at a *virtual* message
//! `<{group-hash}.firing@wardwatch>` ([`thread_root_id`]) that is never sent itself:
//!
//! - each email has its own `Message-ID: <{group-hash}.{status}.{notification id}@wardwatch>`
//!   ([`message_id`]), so a repeated firing never reuses an id (Gmail drops a second message with
//!   an id it has seen), while a re-send of the *same* notification (after a lost SMTP reply)
//!   reuses it and is de-duplicated by the mailbox;
//! - each email — first firing, repeat firing and resolved alike — carries
//!   `In-Reply-To:` and `References:` naming the root.
//!
//! Threading clients (Thunderbird, Apple Mail, mutt, Outlook's conversation view) thus group
//! firing and resolved under the root whether or not the first firing was ever delivered, with no
//! state kept in the sender. Gmail additionally requires similar subjects to join a thread, so
//! there `[FIRING …]` and `[RESOLVED] …` of one group may show as two conversations.
//!
//! The group hash is FNV-1a 64 of Alertmanager's `groupKey` ([`group_hash`]): stable across
//! builds, restarts and replicas.

use crate::alert::notification::Notification;
use crate::alert::payload::Status;
use crate::alert::view::{html_escape, AlertView, Link, Site, View};
use lettre::message::header::ContentType;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::fmt::{self, Write as _};
use std::path::PathBuf;
use std::time::Duration;

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain connection upgraded with STARTTLS, which is required (port 587; Gmail).
    StartTls,
    /// TLS from the first byte (port 465, "SMTPS").
    Implicit,
    /// No TLS at all: local testing only; refused with a password unless the host is loopback.
    None,
}

/// SMTP settings of the email channel.
#[derive(Clone)]
pub struct EmailConfig {
    /// SMTP server, e.g. `smtp.gmail.com`; also the name its certificate must carry.
    pub host: String,
    /// SMTP port: 587 with [`TlsMode::StartTls`], 465 with [`TlsMode::Implicit`].
    pub port: u16,
    /// How the connection is secured.
    pub tls: TlsMode,
    /// Login for AUTH PLAIN/LOGIN; empty to send without authenticating.
    pub username: String,
    /// Password (for Gmail an app password). Never logged; `Debug` redacts it.
    pub password: String,
    /// Sender, `alerts@example.org` or `Wardwatch <alerts@example.org>`.
    pub from: String,
    /// Recipients; at least one.
    pub to: Vec<String>,
    /// Bound on one whole delivery attempt (connect, TLS, AUTH, DATA); lettre's async transport
    /// bounds only the connect by itself, so a server that stops answering would hang a send.
    pub timeout: Duration,
    /// Extra root CA (PEM) to trust, for a private or test SMTP server.
    pub ca_file: Option<PathBuf>,
}

impl EmailConfig {
    /// Gmail over STARTTLS on port 587 with an app password, and a 30 s timeout.
    pub fn gmail(username: &str, app_password: &str, to: Vec<String>) -> Self {
        Self {
            host: "smtp.gmail.com".into(),
            port: 587,
            tls: TlsMode::StartTls,
            username: username.into(),
            password: app_password.into(),
            from: username.into(),
            to,
            timeout: Duration::from_secs(30),
            ca_file: None,
        }
    }
}

impl fmt::Debug for EmailConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let password = if self.password.is_empty() { "<empty>" } else { "<redacted>" };
        f.debug_struct("EmailConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &password)
            .field("from", &self.from)
            .field("to", &self.to)
            .field("timeout", &self.timeout)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// What an email needs to know of the site: the addresses its links use and its time zone.
pub type EmailLinks = Site;

/// Why an email could not be built or the sender configured.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    /// An address in the configuration does not parse.
    #[error("invalid {field} address {value:?}: {source}")]
    Address {
        /// `from` or `to`.
        field: &'static str,
        /// The offending value.
        value: String,
        /// The parser's complaint.
        source: lettre::address::AddressError,
    },
    /// `to` is empty.
    #[error("no recipients configured (`to` is empty)")]
    NoRecipients,
    /// `host` is empty.
    #[error("SMTP host is empty")]
    NoHost,
    /// A password would cross the network in plain text.
    #[error("TLS mode `none` with a password is only allowed for a loopback host, not {0:?}")]
    PlaintextRemote(String),
    /// The CA file cannot be read.
    #[error("cannot read CA file {path}: {source}")]
    CaFile {
        /// The configured path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The CA file holds no usable PEM certificate.
    #[error("CA file {path} holds no PEM certificate{detail}")]
    CaPem {
        /// The configured path.
        path: PathBuf,
        /// The parser's complaint, if any (starts with ": ").
        detail: String,
    },
    /// The TLS client could not be configured.
    #[error("invalid TLS configuration: {0}")]
    Tls(#[source] lettre::transport::smtp::Error),
    /// lettre refused to assemble the message.
    #[error("cannot build the email: {0}")]
    Build(#[from] lettre::error::Error),
}

/// Content-ID of the inline chart image, without angle brackets; the HTML refers to it as `cid:`.
pub const CHART_CONTENT_ID: &str = "history@wardwatch";

/// The chart of the recent history an email carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChartPart {
    /// A PNG, shown inline in the HTML part.
    Image(Vec<u8>),
    /// No chart, and why: both parts say "Chart of recent history unavailable: `<reason>`".
    Unavailable(String),
    /// No chart and nothing said about it.
    None,
}

/// Outcome of one delivery attempt, for the dispatcher to map onto its retry policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The server accepted the message (250 after DATA).
    Sent,
    /// Worth retrying later: 4xx replies, connection, timeout, TLS and I/O failures.
    Transient(String),
    /// Retrying cannot help: 5xx replies (535 bad credentials, 550 mailbox unavailable, ...),
    /// or a message or address the client refuses to send.
    Permanent(String),
}

// ---------------------------------------------------------------------------------------------
// Threading ids

/// FNV-1a 64 over `bytes`, as 16 hex digits.
fn fnv1a_hex(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01B3);
    }
    format!("{h:016x}")
}

/// Stable hash of the notification's alert group: FNV-1a 64 (16 hex digits) of `group_key`, or,
/// for senders that omit the key, of the receiver and group labels.
pub fn group_hash(n: &Notification) -> String {
    if !n.group_key.is_empty() {
        return fnv1a_hex(n.group_key.as_bytes());
    }
    let mut key = format!("receiver={}", n.receiver);
    for (k, v) in &n.group_labels {
        let _ = write!(key, "\u{ff}{k}={v}");
    }
    fnv1a_hex(key.as_bytes())
}

/// The virtual thread root every email of the group refers to: `<{group-hash}.firing@wardwatch>`.
pub fn thread_root_id(n: &Notification) -> String {
    format!("<{}.firing@wardwatch>", group_hash(n))
}

/// This notification's own id: `<{group-hash}.{status}.{notification id}@wardwatch>`.
pub fn message_id(n: &Notification) -> String {
    format!("<{}.{}.{}@wardwatch>", group_hash(n), n.status.as_str(), n.id)
}

// ---------------------------------------------------------------------------------------------
// Rendering helpers

/// `[FIRING critical] HypoxiaDetected — ward icu-1, patient p00003 (+2 more)`; `[RESOLVED] ...`.
pub fn subject(n: &Notification) -> String {
    View::of(n, &Site::default()).title()
}

/// The lines that lead the message, as (heading, text): who, what, the verdict, what to do.
fn lead(v: &View) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(b) = &v.banner {
        out.push((b.kind, b.text.clone()));
    }
    let who = v.place.who();
    if !who.is_empty() {
        out.push(("Who", who));
    }
    if let Some(what) = &v.what {
        out.push(("What", what.clone()));
    }
    if v.status == Status::Firing {
        out.push(("Verdict", v.verdict.headline.clone()));
    }
    if let Some(action) = &v.action {
        out.push(("Action", format!("{}: {}", action.title, action.url)));
    }
    if let Some(ack) = &v.acknowledge {
        out.push(("Acknowledge", format!("I'm on it: {}", ack.url)));
    }
    if let Some(page) = &v.page {
        out.push(("History", format!("{}: {}", page.title, page.url)));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Bodies

/// One alert as plain text.
fn text_alert(out: &mut String, i: usize, a: &AlertView, total: usize) {
    let _ = writeln!(out, "\n[{}/{total}] {}: {}", i + 1, a.name, a.when());
    for (k, text) in [("summary", &a.summary), ("description", &a.description)] {
        if let Some(text) = text {
            let _ = writeln!(out, "  {k}: {text}");
        }
    }
    for (k, text) in &a.annotations {
        let _ = writeln!(out, "  {k}: {text}");
    }
    let _ = writeln!(out, "  Labels:");
    for (k, text) in &a.labels {
        let _ = writeln!(out, "    {k} = {text}");
    }
    let links: Vec<&Link> = a.runbook.iter().chain(&a.links).collect();
    if !links.is_empty() {
        let _ = writeln!(out, "  Links:");
        for l in links {
            let _ = writeln!(out, "    {}: {}", l.title, l.url);
        }
    }
}

/// The text/plain part.
fn text_body(v: &View, chart: &ChartPart) -> String {
    let mut out = format!("{}\n\n", v.title());
    for (heading, text) in lead(v) {
        let _ = writeln!(out, "{heading}: {text}");
        if heading == "Verdict" {
            for e in &v.verdict.evidence {
                let _ = writeln!(out, "  - {e}");
            }
        }
    }
    let _ = writeln!(out, "Received: {}", v.received.both());
    if let ChartPart::Unavailable(reason) = chart {
        let _ = writeln!(out, "Chart of recent history unavailable: {reason}");
    }
    let _ = writeln!(out, "\nDetails\nScoring: {}", v.verdict.detail);
    let _ = writeln!(out, "Group: {} (receiver {})", v.group, v.receiver);
    for (i, a) in v.alerts.iter().enumerate() {
        text_alert(&mut out, i, a, v.alerts.len());
    }
    for notice in &v.notices {
        let _ = writeln!(out, "\n{notice}");
    }
    let _ = write!(out, "\n-- \nwardwatch notification {}\n", v.id);
    out
}

/// A two-column HTML table of escaped key/value pairs.
fn html_table<'a>(out: &mut String, title: &str, rows: impl Iterator<Item = (&'a str, &'a str)>) {
    let _ = write!(out, "<h4 style=\"margin:8px 0 4px\">{title}</h4><table style=\"border-collapse:collapse\">");
    for (k, v) in rows {
        let _ = write!(
            out,
            "<tr><td style=\"padding:1px 8px 1px 0;color:#555\">{}</td><td><code>{}</code></td></tr>",
            html_escape(k),
            html_escape(v)
        );
    }
    out.push_str("</table>");
}

/// A link (every link of a view is absolute).
fn html_link(l: &Link) -> String {
    format!("<a href=\"{}\">{}</a>", html_escape(&l.url), html_escape(l.title))
}

/// One alert as HTML.
fn html_alert(out: &mut String, i: usize, a: &AlertView, total: usize) {
    let color = if a.status == Status::Firing { "#b00020" } else { "#1b7f3b" };
    let _ = write!(
        out,
        "<div style=\"border-left:4px solid {color};padding:4px 12px;margin:12px 0\">\
         <h3 style=\"margin:4px 0\">[{}/{total}] {}</h3><p style=\"margin:2px 0\">{}</p>",
        i + 1,
        html_escape(&a.name),
        html_escape(&a.when())
    );
    let texts = [("summary", &a.summary), ("description", &a.description)];
    let annotations = texts
        .iter()
        .filter_map(|(k, t)| t.as_deref().map(|t| (*k, t)))
        .chain(a.annotations.iter().map(|(k, t)| (k.as_str(), t.as_str())));
    html_table(out, "Annotations", annotations);
    html_table(out, "Labels", a.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let l: Vec<String> = a.runbook.iter().chain(&a.links).map(html_link).collect();
    if !l.is_empty() {
        let _ = write!(out, "<p>{}</p>", l.join(" · "));
    }
    out.push_str("</div>");
}

/// The chart, or why there is none, as HTML.
fn html_chart(out: &mut String, chart: &ChartPart) {
    match chart {
        ChartPart::Image(_) => {
            let _ = write!(out, "<p><img src=\"cid:{CHART_CONTENT_ID}\" alt=\"recent history\"></p>");
        }
        ChartPart::Unavailable(reason) => {
            let _ =
                write!(out, "<p style=\"color:#888\">Chart of recent history unavailable: {}</p>", html_escape(reason));
        }
        ChartPart::None => {}
    }
}

/// The text/html part; every label and annotation value is escaped.
fn html_body(v: &View, chart: &ChartPart) -> String {
    let mut out = String::from("<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head>");
    let _ = write!(out, "<body style=\"font-family:sans-serif\"><h2>{}</h2>", html_escape(&v.title()));
    let verdict_color = if v.verdict.full_priority { "#b00020" } else { "#555" };
    out.push_str("<table style=\"border-collapse:collapse;font-size:15px\">");
    for (heading, text) in lead(v) {
        let cell = match (heading, &v.action) {
            ("Action", Some(action)) => html_link(action),
            ("Acknowledge", _) => v.acknowledge.as_ref().map_or_else(String::new, |a| {
                format!(
                    "<a href=\"{}\" style=\"display:inline-block;background:#1b5e20;color:#fff;padding:6px 14px;\
                     border-radius:4px;text-decoration:none;font-weight:bold\">✋ I'm on it</a>",
                    html_escape(&a.url)
                )
            }),
            ("History", _) => v.page.as_ref().map_or_else(String::new, html_link),
            ("Acknowledged" | "Escalated", _) => format!("<b style=\"color:#1a4f9c\">{}</b>", html_escape(&text)),
            ("Verdict", _) => {
                let items: Vec<String> =
                    v.verdict.evidence.iter().map(|e| format!("<li>{}</li>", html_escape(e))).collect();
                let evidence = match items.is_empty() {
                    true => String::new(),
                    false => format!("<ul style=\"margin:2px 0;padding-left:18px\">{}</ul>", items.concat()),
                };
                format!("<b style=\"color:{verdict_color}\">{}</b>{evidence}", html_escape(&text))
            }
            _ => html_escape(&text),
        };
        let _ = write!(
            out,
            "<tr><td style=\"padding:2px 12px 2px 0;color:#555;vertical-align:top\">{heading}</td><td>{cell}</td></tr>"
        );
    }
    out.push_str("</table>");
    let _ = write!(out, "<p style=\"color:#555\">Received {}</p>", html_escape(&v.received.both()));
    html_chart(&mut out, chart);
    let _ = write!(
        out,
        "<h4 style=\"margin:12px 0 4px\">Details</h4><p style=\"color:#555\"><b>Scoring:</b> {}<br>\
         Group <code>{}</code>, receiver {}</p>",
        html_escape(&v.verdict.detail),
        html_escape(&v.group),
        html_escape(&v.receiver),
    );
    for (i, a) in v.alerts.iter().enumerate() {
        html_alert(&mut out, i, a, v.alerts.len());
    }
    for notice in &v.notices {
        let _ = write!(out, "<p>{}</p>", html_escape(notice));
    }
    let _ = write!(out, "<hr><p style=\"color:#888\">wardwatch notification {}</p></body></html>", html_escape(&v.id));
    out
}

/// Parse one configured address.
fn mailbox(field: &'static str, value: &str) -> Result<Mailbox, EmailError> {
    value.parse().map_err(|source| EmailError::Address { field, value: value.to_string(), source })
}

/// Build the email for a notification, without a chart; see the [module docs](self) for headers
/// and threading.
pub fn build_message(n: &Notification, cfg: &EmailConfig, links: &EmailLinks) -> Result<Message, EmailError> {
    build_message_with_chart(n, cfg, links, ChartPart::None)
}

/// The body: `multipart/alternative` of text and HTML; with an image, the HTML and the inline PNG
/// form a `multipart/related` part.
fn body(v: &View, chart: &ChartPart) -> MultiPart {
    let (text, html) = (text_body(v, chart), html_body(v, chart));
    let ChartPart::Image(png) = chart else { return MultiPart::alternative_plain_html(text, html) };
    let image = Attachment::new_inline(CHART_CONTENT_ID.to_string())
        .body(png.clone(), ContentType::parse("image/png").expect("a valid MIME type"));
    MultiPart::alternative()
        .singlepart(SinglePart::plain(text))
        .multipart(MultiPart::related().singlepart(SinglePart::html(html)).singlepart(image))
}

/// Build the email for a notification with `chart` (see [`ChartPart`]); see the
/// [module docs](self) for headers and threading.
pub fn build_message_with_chart(
    n: &Notification,
    cfg: &EmailConfig,
    links: &EmailLinks,
    chart: ChartPart,
) -> Result<Message, EmailError> {
    if cfg.to.is_empty() {
        return Err(EmailError::NoRecipients);
    }
    let mut b = Message::builder().from(mailbox("from", &cfg.from)?);
    for to in &cfg.to {
        b = b.to(mailbox("to", to)?);
    }
    let root = thread_root_id(n);
    let raw = |name: &'static str, value: &str| HeaderValue::new(HeaderName::new_from_ascii_str(name), value.into());
    let view = View::of(n, links);
    let msg = b
        .subject(view.title())
        .message_id(Some(message_id(n)))
        .in_reply_to(root.clone())
        .references(root)
        .raw_header(raw("Auto-Submitted", "auto-generated"))
        .raw_header(raw("X-Wardwatch-Notification", &n.id))
        .raw_header(raw("X-Wardwatch-Status", n.status.as_str()))
        .multipart(body(&view, &chart))?;
    Ok(msg)
}

// ---------------------------------------------------------------------------------------------
// Delivery

/// The error and its sources, without repeating what the display already says.
fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            let _ = write!(text, ": {more}");
        }
        source = s.source();
    }
    text
}

/// Classify a reply code: 4xx transient, 5xx permanent, anything else transient.
fn classify_code(code: u16, reason: String) -> Delivery {
    match code {
        500..=599 => Delivery::Permanent(reason),
        _ => Delivery::Transient(reason),
    }
}

/// Classify a failed attempt.
///
/// - 4xx replies (421 service unavailable, 450/451/452, 454 "too many login attempts"): transient.
/// - 5xx replies (530/534/535 authentication, 550 mailbox unavailable, 553, 554): permanent.
///   Gmail's daily quota (550 5.4.5) is reported permanent too; the reason carries the reply text.
/// - Client-side refusals (e.g. a non-ASCII address the server cannot take): permanent.
/// - Connection, timeout, I/O, unparsable replies, TLS handshake and certificate failures, and a
///   shut-down transport: transient, so a durable queue keeps the alert while the cause is fixed.
pub fn classify(err: &lettre::transport::smtp::Error) -> Delivery {
    let reason = describe(err);
    if let Some(code) = err.status() {
        return classify_code(u16::from(code), reason);
    }
    if err.is_client() {
        Delivery::Permanent(reason)
    } else {
        Delivery::Transient(reason)
    }
}

/// True for `localhost` and loopback IP addresses.
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.trim_matches(|c| c == '[' || c == ']').parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// TLS parameters for the host, trusting `ca_file` in addition to the built-in roots.
fn tls_parameters(cfg: &EmailConfig) -> Result<TlsParameters, EmailError> {
    let mut builder = TlsParameters::builder(cfg.host.clone());
    if let Some(path) = &cfg.ca_file {
        let pem = std::fs::read(path).map_err(|source| EmailError::CaFile { path: path.clone(), source })?;
        if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
            return Err(EmailError::CaPem { path: path.clone(), detail: String::new() });
        }
        let cert = Certificate::from_pem(&pem)
            .map_err(|e| EmailError::CaPem { path: path.clone(), detail: format!(": {e}") })?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build().map_err(EmailError::Tls)
}

/// Sends emails over SMTP, one fresh connection per message.
///
/// Connections are not reused: an attempt cut short by the timeout would otherwise hand a
/// half-finished SMTP dialogue back to lettre's pool (notifications are rare; a connection each
/// costs a TLS handshake and an AUTH).
pub struct EmailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    host: String,
    port: u16,
    tls: TlsMode,
    timeout: Duration,
}

impl fmt::Debug for EmailSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailSender")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .finish()
    }
}

impl EmailSender {
    /// Validate the configuration and set up the transport; connects lazily, on each send.
    ///
    /// Must be called within a Tokio runtime (lettre spawns a housekeeping task).
    pub fn new(cfg: EmailConfig) -> Result<Self, EmailError> {
        if cfg.host.is_empty() {
            return Err(EmailError::NoHost);
        }
        if cfg.to.is_empty() {
            return Err(EmailError::NoRecipients);
        }
        mailbox("from", &cfg.from)?;
        for to in &cfg.to {
            mailbox("to", to)?;
        }
        if cfg.tls == TlsMode::None && !cfg.password.is_empty() && !is_loopback(&cfg.host) {
            return Err(EmailError::PlaintextRemote(cfg.host));
        }
        let tls = match cfg.tls {
            TlsMode::StartTls => Tls::Required(tls_parameters(&cfg)?),
            TlsMode::Implicit => Tls::Wrapper(tls_parameters(&cfg)?),
            TlsMode::None => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(cfg.host.clone())
            .port(cfg.port)
            .tls(tls)
            .timeout(Some(cfg.timeout))
            .pool_config(PoolConfig::new().max_size(0));
        if !cfg.username.is_empty() {
            builder = builder.credentials(Credentials::new(cfg.username.clone(), cfg.password.clone()));
        }
        Ok(Self { transport: builder.build(), host: cfg.host, port: cfg.port, tls: cfg.tls, timeout: cfg.timeout })
    }

    /// One delivery attempt within the configured timeout, no retry: the caller (dispatcher) owns
    /// retries and the durable queue. Failure reasons name the server; never the password.
    pub async fn send(&self, msg: Message) -> Delivery {
        let (host, port) = (&self.host, self.port);
        let outcome = match tokio::time::timeout(self.timeout, self.transport.send(msg)).await {
            Ok(Ok(_)) => Delivery::Sent,
            Ok(Err(err)) => classify(&err),
            Err(_) => Delivery::Transient(format!("no complete SMTP exchange within {:?}", self.timeout)),
        };
        match outcome {
            Delivery::Sent => {
                tracing::debug!(%host, port, "email accepted by SMTP server");
                Delivery::Sent
            }
            Delivery::Transient(r) => {
                tracing::warn!(%host, port, reason = %r, "email delivery failed, retryable");
                Delivery::Transient(format!("SMTP {host}:{port}: {r}"))
            }
            Delivery::Permanent(r) => {
                tracing::warn!(%host, port, reason = %r, "email rejected permanently");
                Delivery::Permanent(format!("SMTP {host}:{port}: {r}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::notification::Scoring;
    use crate::alert::payload::WebhookPayload;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    const PAYLOAD: &str = r#"{
      "receiver": "wardwatch", "status": "firing",
      "alerts": [{
        "status": "firing",
        "labels": {"alertname": "HypoxiaDetected", "severity": "critical", "ward": "icu-1", "patient": "p00003",
                   "note": "<script>alert(1)</script>"},
        "annotations": {"summary": "SpO2 88% < 90% for 10 s", "description": "Check probe & patient"},
        "startsAt": "2026-11-22T01:00:00.123Z", "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=x", "fingerprint": "1a2b3c4d5e6f7a8b"
      }],
      "groupLabels": {"alertname": "HypoxiaDetected"}, "commonLabels": {"alertname": "HypoxiaDetected"},
      "externalURL": "http://alertmanager:9093", "version": "4",
      "groupKey": "{}:{alertname=\"HypoxiaDetected\"}", "truncatedAlerts": 0
    }"#;

    fn notification() -> Notification {
        let p = WebhookPayload::parse(PAYLOAD.as_bytes()).unwrap();
        Notification::from_payload(p, "2026-11-22T01:00:05Z".parse().unwrap())
    }

    fn resolved() -> Notification {
        let mut n = notification();
        n.status = Status::Resolved;
        n.alerts[0].status = Status::Resolved;
        n.alerts[0].ends_at = Some("2026-11-22T01:07:00Z".parse().unwrap());
        n.id = "00000000000000aa".into();
        n
    }

    fn config(port: u16) -> EmailConfig {
        EmailConfig {
            host: "127.0.0.1".into(),
            port,
            tls: TlsMode::None,
            username: String::new(),
            password: String::new(),
            from: "Wardwatch <alerts@wardwatch.test>".into(),
            to: vec!["oncall@wardwatch.test".into()],
            timeout: Duration::from_secs(5),
            ca_file: None,
        }
    }

    fn links() -> EmailLinks {
        EmailLinks {
            prometheus_url: Some("https://prom.example.org/".into()),
            alertmanager_url: Some("https://am.example.org".into()),
            grafana_url: Some("https://grafana.example.org".into()),
            ..EmailLinks::default()
        }
    }

    #[test]
    fn subject_names_status_severity_alert_ward_and_patient() {
        assert_eq!(subject(&notification()), "[FIRING critical] HypoxiaDetected — ward icu-1, patient p00003");
        assert_eq!(subject(&resolved()), "[RESOLVED] HypoxiaDetected — ward icu-1, patient p00003");
        let mut many = notification();
        let mut other = many.alerts[0].clone();
        other.labels.insert("patient".into(), "p00009".into());
        many.alerts.push(other);
        many.truncated_alerts = 2;
        assert_eq!(subject(&many), "[FIRING critical] HypoxiaDetected — ward icu-1 (+3 more)", "what they share");
        let mut bare = notification();
        bare.alerts[0].labels.retain(|k, _| k == "alertname");
        assert_eq!(subject(&bare), "[FIRING] HypoxiaDetected");
    }

    #[test]
    fn an_acknowledgement_follow_up_leads_with_who_took_it() {
        let mut n = notification();
        n.acknowledged = Some(crate::alert::notification::Acknowledged {
            by: "Sam <b>".into(),
            at: "2026-11-22T01:02:00Z".parse().unwrap(),
        });
        assert!(subject(&n).starts_with("[ACKNOWLEDGED] [FIRING critical] HypoxiaDetected"), "{}", subject(&n));
        let v = View::of(&n, &links());
        let html = html_body(&v, &ChartPart::None);
        let first = html.find("<tr>").unwrap();
        assert!(
            html[first..].starts_with(
                "<tr><td style=\"padding:2px 12px 2px 0;color:#555;vertical-align:top\">Acknowledged</td>"
            ),
            "{html}"
        );
        assert!(html.contains("Acknowledged by Sam &lt;b&gt; at 2026-11-22 01:02:00 UTC"), "{html}");
        assert!(!html.contains("I'm on it"), "no acknowledge button: {html}");
        assert!(
            text_body(&v, &ChartPart::None).contains("Acknowledged: Acknowledged by Sam <b> at"),
            "the text part too"
        );
    }

    #[test]
    fn a_technical_notice_says_so_in_the_subject_and_the_scoring_line() {
        let mut n = notification();
        n.scoring = Scoring::Scored(Box::new(crate::alert::notification::GroupVerdict {
            decision: crate::rescore::policy::Decision::Downgrade,
            score: 0.03,
            artifact: 0.97,
            reasons: vec!["still firing after 5 min and still a likely artifact (0.97, score 0.03): a technical notice — the readings are lost, check the sensor".into()],
            model_version: "m".into(),
            alert: "HypoxiaDetected p00003".into(),
            unscored: Vec::new(),
            reescalated: true,
            technical: true,
            trend: None,
        }));
        assert_eq!(
            subject(&n),
            "[FIRING critical] [technical: check the sensor] HypoxiaDetected — ward icu-1, patient p00003"
        );
        let text = text_body(&View::of(&n, &links()), &ChartPart::None);
        assert!(text.contains("technical notice: still firing, still a likely artifact"), "{text}");
    }

    #[test]
    fn message_is_multipart_alternative_with_escaped_html() {
        let n = notification();
        let msg = build_message(&n, &config(25), &links()).unwrap();
        let raw = String::from_utf8(msg.formatted()).unwrap();
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(raw.contains("text/plain") && raw.contains("text/html"), "{raw}");
        assert_eq!(msg.headers().get_raw("Auto-Submitted"), Some("auto-generated"));

        let text = text_body(&View::of(&n, &links()), &ChartPart::None);
        assert!(text.contains("note = <script>alert(1)</script>"), "{text}");
        assert!(text.contains("Scoring: unscored: rescoring is not enabled"), "{text}");
        assert!(text.contains("summary: SpO2 88% < 90% for 10 s"), "{text}");

        let html = html_body(&View::of(&n, &links()), &ChartPart::None);
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{html}");
        assert!(html.contains("Check probe &amp; patient"), "{html}");
        assert!(html.contains("unscored: rescoring is not enabled"), "{html}");
    }

    #[test]
    fn chart_image_is_an_inline_png_related_to_the_html() {
        let png = b"\x89PNG\r\n\x1a\nnot really".to_vec();
        let msg = build_message_with_chart(&notification(), &config(25), &links(), ChartPart::Image(png)).unwrap();
        let raw = String::from_utf8(msg.formatted()).unwrap();
        let (alt, rel, img) =
            (raw.find("multipart/alternative"), raw.find("multipart/related"), raw.find("Content-Type: image/png"));
        assert!(alt < rel && rel < img && alt.is_some(), "alternative > related > image: {raw}");
        assert!(raw.contains("Content-ID: <history@wardwatch>"), "{raw}");
        assert!(raw.contains("Content-Disposition: inline"), "{raw}");
        let html = html_body(&View::of(&notification(), &links()), &ChartPart::Image(Vec::new()));
        assert!(html.contains("<img src=\"cid:history@wardwatch\" alt=\"recent history\">"), "{html}");
        assert!(!text_body(&View::of(&notification(), &links()), &ChartPart::Image(Vec::new())).contains("unavailable"));
    }

    #[test]
    fn unavailable_chart_is_explained_in_both_parts() {
        let chart = ChartPart::Unavailable("Prometheus did not answer within 5s <x>".into());
        let msg = build_message_with_chart(&notification(), &config(25), &links(), chart.clone()).unwrap();
        let raw = String::from_utf8(msg.formatted()).unwrap();
        assert!(!raw.contains("multipart/related") && !raw.contains("image/png"), "{raw}");
        let text = text_body(&View::of(&notification(), &links()), &chart);
        assert!(
            text.contains("Chart of recent history unavailable: Prometheus did not answer within 5s <x>"),
            "{text}"
        );
        let html = html_body(&View::of(&notification(), &links()), &chart);
        assert!(html.contains("Chart of recent history unavailable: Prometheus did not answer within 5s &lt;x&gt;"));
    }

    #[test]
    fn build_message_has_no_chart() {
        let plain = build_message(&notification(), &config(25), &links()).unwrap();
        let none = build_message_with_chart(&notification(), &config(25), &links(), ChartPart::None).unwrap();
        let raw = String::from_utf8(plain.formatted()).unwrap();
        assert!(!raw.contains("Chart of recent history") && !raw.contains("cid:"), "{raw}");
        assert_eq!(plain.headers().get_raw("Message-ID"), none.headers().get_raw("Message-ID"));
        let none_raw = String::from_utf8(none.formatted()).unwrap();
        assert!(!none_raw.contains("Chart of recent history") && !none_raw.contains("cid:"));
    }

    #[test]
    fn links_point_to_prometheus_alertmanager_and_grafana() {
        let n = notification();
        let alert_links = |n: &Notification, site: &Site| -> Vec<(&'static str, String)> {
            View::of(n, site).alerts[0].links.iter().map(|l| (l.title, l.url.clone())).collect()
        };
        let l = alert_links(&n, &links());
        let urls: Vec<&str> = l.iter().map(|(_, u)| u.as_str()).collect();
        assert_eq!(urls[0], "https://prom.example.org/graph?g0.expr=x");
        assert!(
            urls[1].starts_with("https://am.example.org/#/silences/new?filter=%7Balertname%3D%22HypoxiaDetected%22%2C")
        );
        assert!(urls[1].contains("patient%3D%22p00003%22"), "{}", urls[1]);
        assert!(urls[2].starts_with("https://grafana.example.org/d/wardwatch-patient?var-patient=p00003&from="));
        // Without configured URLs: the generatorURL as is, Alertmanager's externalURL, no Grafana.
        let bare = alert_links(&n, &EmailLinks::default());
        assert_eq!(bare.len(), 2);
        assert_eq!(bare[0].1, "http://prometheus:9090/graph?g0.expr=x");
        assert!(bare[1].1.starts_with("http://alertmanager:9093/#/silences/new?filter=%7B"));
        let mut ward_only = notification();
        ward_only.alerts[0].labels.remove("patient");
        let g = alert_links(&ward_only, &links()).pop().unwrap();
        assert!(g.1.starts_with("https://grafana.example.org/d/wardwatch-ward?var-ward=icu-1&from="), "{}", g.1);
    }

    #[test]
    fn message_ids_thread_firing_and_resolved_under_a_stable_root() {
        let firing = notification();
        let root = thread_root_id(&firing);
        assert_eq!(root, format!("<{}.firing@wardwatch>", fnv1a_hex(firing.group_key.as_bytes())));
        assert_eq!(group_hash(&firing).len(), 16);
        assert_eq!(fnv1a_hex(b"a"), "af63dc4c8601ec8c", "FNV-1a test vector");

        let mut repeat = notification();
        repeat.id = "00000000000000bb".into();
        let res = resolved();
        for n in [&firing, &repeat, &res] {
            let msg = build_message(n, &config(25), &links()).unwrap();
            let h = msg.headers();
            let id = format!("<{}.{}.{}@wardwatch>", group_hash(n), n.status.as_str(), n.id);
            assert_eq!(h.get_raw("Message-ID"), Some(id.as_str()));
            assert_eq!(h.get_raw("In-Reply-To"), Some(root.as_str()));
            assert_eq!(h.get_raw("References"), Some(root.as_str()));
            assert_eq!(thread_root_id(n), root, "root is stable across the group's notifications");
        }
        assert_ne!(message_id(&firing), message_id(&repeat));
        assert_ne!(message_id(&firing), message_id(&res));
        let mut other = notification();
        other.group_key = "{}:{alertname=\"HeartRateHigh\"}".into();
        assert_ne!(thread_root_id(&other), root);
    }

    #[test]
    fn debug_redacts_the_password() {
        let mut cfg = config(587);
        cfg.password = "abcd efgh ijkl mnop".into();
        let dbg = format!("{cfg:?}");
        assert!(!dbg.contains("abcd"), "{dbg}");
        assert!(dbg.contains("<redacted>"), "{dbg}");
    }

    #[test]
    fn configuration_errors_are_reported() {
        let mut cfg = config(25);
        cfg.to.clear();
        assert!(matches!(EmailSender::new(cfg), Err(EmailError::NoRecipients)));
        let mut cfg = config(25);
        cfg.from = "not an address".into();
        assert!(matches!(EmailSender::new(cfg), Err(EmailError::Address { field: "from", .. })));
        let mut cfg = config(25);
        cfg.host = "smtp.example.org".into();
        cfg.password = "secret".into();
        assert!(matches!(EmailSender::new(cfg), Err(EmailError::PlaintextRemote(_))));
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("ca.pem");
        std::fs::write(&bad, "not a certificate").unwrap();
        let mut cfg = config(465);
        cfg.tls = TlsMode::Implicit;
        cfg.ca_file = Some(bad);
        assert!(matches!(EmailSender::new(cfg), Err(EmailError::CaPem { .. })));
    }

    /// One send against a scripted plaintext server that answers MAIL FROM with `reply`.
    async fn error_for_reply(reply: &'static str) -> lettre::transport::smtp::Error {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (sock, _) = listener.accept().await.unwrap();
            let (r, mut w) = sock.into_split();
            let mut lines = BufReader::new(r).lines();
            w.write_all(b"220 scripted ESMTP\r\n").await.unwrap();
            while let Ok(Some(line)) = lines.next_line().await {
                let verb = line.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
                let answer = match verb.as_str() {
                    "EHLO" | "HELO" => "250 scripted".to_string(),
                    "MAIL" => reply.to_string(),
                    "QUIT" => "221 bye".to_string(),
                    _ => "250 ok".to_string(),
                };
                if w.write_all(format!("{answer}\r\n").as_bytes()).await.is_err() || verb == "QUIT" {
                    break;
                }
            }
        });
        let sender = EmailSender::new(config(port)).unwrap();
        let msg = build_message(&notification(), &config(port), &links()).unwrap();
        sender.transport.send(msg).await.unwrap_err()
    }

    #[tokio::test]
    async fn classify_maps_4xx_to_transient_and_5xx_to_permanent() {
        for reply in ["421 4.7.0 Try again later, closing connection", "451 4.3.0 Mail server temporarily rejected"] {
            let d = classify(&error_for_reply(reply).await);
            assert!(matches!(&d, Delivery::Transient(r) if r.contains(&reply[..3])), "{reply}: {d:?}");
        }
        for reply in ["535 5.7.8 Username and Password not accepted", "550 5.1.1 The email account does not exist"] {
            let d = classify(&error_for_reply(reply).await);
            assert!(matches!(&d, Delivery::Permanent(r) if r.contains(&reply[..3])), "{reply}: {d:?}");
        }
    }

    #[tokio::test]
    async fn a_silent_server_times_out_as_transient() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hold = tokio::spawn(async move { listener.accept().await.map(|(sock, _)| sock) });
        let mut cfg = config(port);
        cfg.timeout = Duration::from_millis(300);
        let sender = EmailSender::new(cfg.clone()).unwrap();
        let d = sender.send(build_message(&notification(), &cfg, &links()).unwrap()).await;
        assert!(matches!(&d, Delivery::Transient(r) if r.contains("within 300ms")), "{d:?}");
        drop(hold);
    }

    #[tokio::test]
    async fn network_and_tls_failures_are_transient() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let sender = EmailSender::new(config(port)).unwrap();
        let msg = build_message(&notification(), &config(port), &links()).unwrap();
        let d = sender.send(msg).await;
        assert!(matches!(&d, Delivery::Transient(r) if r.contains(&format!("127.0.0.1:{port}"))), "{d:?}");
        let tls_err =
            Certificate::from_pem(b"-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n").unwrap_err();
        assert!(matches!(classify(&tls_err), Delivery::Transient(_)));
        assert_eq!(classify_code(452, "x".into()), Delivery::Transient("x".into()));
        assert_eq!(classify_code(553, "x".into()), Delivery::Permanent("x".into()));
    }
}
