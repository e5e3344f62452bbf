//! Build a running sidecar from validated configuration: open the queue, build the channels.
//!
//! This is the I/O step after pure validation (STYLE.md 5): secrets are read, the queue directory
//! is opened and recovered, transports are created. Every failure names what to fix.

use super::config::{ConfigError, ResolvedSecrets, Validated};
use super::queue::{Queue, QueueError};
use super::receiver::InboundAuth;
use super::{RouteFn, Settings, Sidecar};
use crate::notify::channel::{Channel, EmailChannel, SlackChannel};
use crate::notify::email::{EmailError, EmailSender};
use crate::notify::file::FileChannel;
use crate::notify::history::PrometheusHistory;
use crate::notify::retry::Backoff;
use crate::notify::slack::{SlackError, SlackSender};
use std::sync::Arc;
use std::time::Duration;

/// Bound on fetching the history charted in an email, so a chart never holds up an alert for long.
const HISTORY_TIMEOUT: Duration = Duration::from_secs(5);

/// Delivery attempts in flight at once.
const DISPATCH_CONCURRENCY: usize = 32;

/// Why the sidecar could not start.
#[derive(Debug, thiserror::Error)]
pub enum AssembleError {
    /// A secret could not be read.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The queue directory could not be opened.
    #[error("queue: {0}")]
    Queue(#[from] QueueError),
    /// The email channel could not be built.
    #[error("channels.email: {0}")]
    Email(#[from] EmailError),
    /// The Slack channel could not be built.
    #[error("channels.slack: {0}")]
    Slack(#[from] SlackError),
}

/// The Prometheus the email channel charts the recent history from, if `links.prometheus_url` is
/// set; without one (or if its client cannot be built) emails go out without a chart.
fn history_client(url: Option<&str>) -> Option<PrometheusHistory> {
    let url = url.filter(|u| !u.trim().is_empty())?;
    match PrometheusHistory::new(url, HISTORY_TIMEOUT) {
        Ok(h) => Some(h),
        Err(e) => {
            tracing::warn!(error = %e, "emails will carry no chart of recent history");
            None
        }
    }
}

/// Read secrets, open the queue, build the channels; `Sidecar` ready to serve.
pub async fn assemble(cfg: Validated) -> Result<Arc<Sidecar>, AssembleError> {
    let secrets: ResolvedSecrets = cfg.resolve_secrets()?;
    let (queue, recovery) = Queue::open(cfg.queue.queue_config()).await?;
    tracing::info!(
        pending = recovery.pending,
        corrupt = recovery.corrupt,
        removed_tmp = recovery.removed_tmp,
        dir = %cfg.queue.dir.display(),
        "queue opened; pending notifications will be delivered"
    );
    let mut channels: Vec<Arc<dyn Channel>> = Vec::new();
    if let Some(config) = cfg.email_config(&secrets) {
        let sender = EmailSender::new(config.clone())?;
        let history = history_client(cfg.links.prometheus_url.as_deref());
        channels.push(Arc::new(EmailChannel { sender, config, links: cfg.links.email_links(), history }));
    }
    if let Some(config) = cfg.slack_config(&secrets) {
        channels.push(Arc::new(SlackChannel { sender: SlackSender::new(config)?, links: cfg.links.slack_links() }));
    }
    if let Some(file) = &cfg.channels.file {
        channels.push(Arc::new(FileChannel::new(file.path.clone())));
    }
    let settings = Settings {
        max_body_bytes: cfg.max_body_bytes,
        max_in_flight: cfg.max_in_flight,
        auth: InboundAuth { bearer_token: secrets.bearer_token.clone(), basic: secrets.basic.clone() },
        stale_after: cfg.queue.stale_after,
        backoff: Backoff { base: cfg.retry.base, cap: cfg.retry.cap },
        give_up_after: cfg.retry.give_up_after,
        dispatch_concurrency: DISPATCH_CONCURRENCY,
    };
    tracing::info!(channels = ?cfg.channel_names(), auth = settings.auth.bearer_token.is_some() || settings.auth.basic.is_some(), "channels ready");
    let route: RouteFn = {
        let cfg = cfg.clone();
        Box::new(move |labels, resolved| cfg.route(labels, resolved))
    };
    Ok(Sidecar::new(settings, queue, channels, route))
}
