//! Build a running sidecar from validated configuration: open the queue, build the channels.
//!
//! This is the I/O step after pure validation: secrets are read, the queue directory
//! is opened and recovered, transports are created. Every failure names what to fix.

use super::acknowledge::{load_or_create_key, AckLog, Acknowledger, Signer};
use super::audit::AuditLog;
use super::config::ChannelSection;
use super::config::{ConfigError, ResolvedSecrets, Validated};
use super::queue::{Queue, QueueError};
use super::rescoring::Rescoring;
use super::{RouteFn, Settings, Sidecar};
use crate::address::HttpUrl;
use crate::notify::channel::{Channel, EmailChannel, Named, SlackChannel};
use crate::notify::email::{EmailError, EmailSender};
use crate::notify::file::FileChannel;
use crate::notify::retry::Backoff;
use crate::notify::slack::{SlackError, SlackSender};
use crate::prometheus::{PrometheusHistory, PrometheusSource};
use crate::rescore::config::RescoringSection;
use crate::rescore::engine::{Model, ModelSlot, Rescorer};
use crate::rescore::model_file;
use crate::rescore::shared::{SharedHistory, Sharing};
use crate::rescore::targets::Targets;
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
    /// An email channel could not be built.
    #[error("channels.{name}: {source}")]
    Email {
        /// The channel.
        name: String,
        /// Why.
        source: EmailError,
    },
    /// A Slack channel could not be built.
    #[error("channels.{name}: {source}")]
    Slack {
        /// The channel.
        name: String,
        /// Why.
        source: SlackError,
    },
    /// The model file could not be read or does not fit this build.
    #[error("rescoring.model: {0}")]
    Model(String),
    /// The shadow model file could not be read or does not fit this build.
    #[error("rescoring.shadow_model: {0}")]
    ShadowModel(String),
    /// The acknowledge key or the acknowledgements could not be read or made.
    #[error("acknowledge: {0}")]
    Acknowledge(std::io::Error),
}

/// The Prometheus the email channel charts the recent history from, if one is configured; without
/// one (or if its client cannot be built) emails go out without a chart.
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
    for (name, section) in &cfg.channels.0 {
        let secret = secrets.channels.get(name).map(String::as_str);
        let channel: Arc<dyn Channel> = match section {
            ChannelSection::Email(email) => {
                let config = email.config(secret);
                let sender = EmailSender::new(config.clone())
                    .map_err(|source| AssembleError::Email { name: name.clone(), source })?;
                // The Prometheus the sidecar reads (rescoring.prometheus_url, else links.prometheus_url).
                let history = history_client(cfg.rescoring.prometheus_url.as_ref().map(HttpUrl::as_str));
                Arc::new(EmailChannel { sender, config, links: cfg.site(), history })
            }
            ChannelSection::Slack(slack) => {
                // Validation made sure each Slack channel names its webhook URL.
                let sender = SlackSender::new(slack.config(secret.unwrap_or_default()))
                    .map_err(|source| AssembleError::Slack { name: name.clone(), source })?;
                Arc::new(SlackChannel { sender, links: cfg.site() })
            }
            ChannelSection::File(file) => Arc::new(FileChannel::at_site(file.path.clone(), cfg.site())),
        };
        channels.push(Arc::new(Named { name: name.clone(), channel }));
    }
    let settings = Settings {
        max_body_bytes: cfg.max_body_bytes,
        max_in_flight: cfg.max_in_flight,
        auth: secrets.inbound_auth.clone(),
        api_auth: secrets.api_auth.clone(),
        metrics_auth: secrets.metrics_auth.clone(),
        stale_after: cfg.queue.stale_after.get(),
        backoff: Backoff { base: cfg.retry.base.get(), cap: cfg.retry.cap.get() },
        give_up_after: cfg.retry.give_up_after.get(),
        dispatch_concurrency: DISPATCH_CONCURRENCY,
        site: cfg.site(),
    };
    tracing::info!(
        channels = ?cfg.channel_names(), webhook_auth = settings.auth.is_set(), api_auth = settings.api_auth.is_set(),
        metrics_auth = settings.metrics_auth.is_set(), "channels ready"
    );
    let route: RouteFn = {
        let cfg = cfg.clone();
        Box::new(move |labels, resolved| cfg.route(labels, resolved))
    };
    let model = match cfg.rescoring.enabled {
        true => Some(load_model(cfg.rescoring.model.as_deref()).map_err(|e| AssembleError::Model(format!("{e:#}")))?),
        false => None,
    };
    let shadow = match (&cfg.rescoring.shadow_model, cfg.rescoring.enabled) {
        (Some(path), true) => Some(load_model(Some(path)).map_err(|e| AssembleError::ShadowModel(format!("{e:#}")))?),
        _ => None,
    };
    let rescoring = rescoring(&cfg.rescoring, model, shadow);
    let acknowledger = acknowledger(&cfg).map_err(AssembleError::Acknowledge)?;
    let sidecar = Sidecar::new(settings, queue, channels, route, rescoring);
    if let Some(a) = acknowledger {
        let _ = sidecar.acknowledge.set(a);
    }
    super::detail::publish_judged_downgrades(&sidecar);
    if let Some(history) = history_client(cfg.rescoring.prometheus_url.as_ref().map(HttpUrl::as_str)) {
        let _ = sidecar.history.set(history);
    }
    if cfg.routes.iter().any(|r| !r.escalation.is_empty()) {
        let _ = sidecar.escalation.set(Box::new(move |labels| cfg.escalation(labels)));
    }
    Ok(sidecar)
}

/// Acknowledge links, when on: the key (made on first start), the log of acknowledgements.
fn acknowledger(cfg: &Validated) -> std::io::Result<Option<Acknowledger>> {
    let a = &cfg.acknowledge;
    if !a.enabled {
        return Ok(None);
    }
    let key_file = a.key_file.clone().unwrap_or_else(|| cfg.queue.dir.join("acknowledge.key"));
    let key = load_or_create_key(&key_file)?;
    let log = AckLog::open(&cfg.queue.dir.join("acknowledgements.jsonl"))?;
    let url = cfg.sidecar_url();
    tracing::info!(links = %format!("{url}{}", super::acknowledge::PATH), log = %log.path().display(), "acknowledge links on");
    Ok(Some(Acknowledger::new(Signer::new(key), &url, a.valid_for.get(), log)))
}

/// Build the rescoring step with `model` (`None` when rescoring is disabled). Nothing here
/// stops the sidecar: without Prometheus or the audit log, alerts still go out, unscored or
/// unaudited, and the log says why.
fn rescoring(cfg: &RescoringSection, model: Option<Arc<dyn Model>>, shadow: Option<Arc<dyn Model>>) -> Rescoring {
    let Some(model) = model else {
        return Rescoring::disabled("rescoring is disabled in the configuration");
    };
    // The checked configuration always names the audit log (by default beside the queue).
    let path = cfg.audit_log.clone().unwrap_or_default();
    let audit = match AuditLog::open(&path) {
        Ok(log) => Some(Arc::new(log)),
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "cannot open the audit log; decisions are only logged");
            None
        }
    };
    let slot = Arc::new(ModelSlot::new(model));
    let built = build_rescorer(cfg, slot.clone(), shadow);
    let history = built.as_ref().ok().map(|(_, h)| h.clone());
    let rescorer = built.map(|(r, _)| r);
    match &rescorer {
        Ok(r) => {
            tracing::info!(model = %r.model.version(), prometheus = ?cfg.prometheus_url.as_ref().map(HttpUrl::as_str), audit_log = %path.display(), "rescoring ready")
        }
        Err(why) => tracing::warn!(reason = %why, "alerts will go out unscored"),
    }
    Rescoring {
        rescorer,
        audit,
        downgraded_channels: cfg.downgraded_channels.clone(),
        history,
        model_file: std::sync::Mutex::new(cfg.model.clone()),
        model_slot: Some(slot),
    }
}

/// The chain, with the shared history source it reads Prometheus through.
fn build_rescorer(
    cfg: &RescoringSection,
    model: Arc<dyn Model>,
    shadow: Option<Arc<dyn Model>>,
) -> Result<(Rescorer, Arc<SharedHistory>), String> {
    let url = cfg.prometheus_url.as_ref().ok_or("no Prometheus to read history from (set rescoring.prometheus_url)")?;
    let prometheus = PrometheusSource::new(url.as_str(), cfg.request_timeout.get()).map_err(|e| e.to_string())?;
    let sharing = Sharing { concurrency: cfg.fetch_concurrency, within: cfg.share_within.get(), ..Sharing::default() };
    let history = Arc::new(SharedHistory::new(Arc::new(prometheus), sharing));
    let targets = Targets::new(&cfg.targets.clone().unwrap_or_default()).map_err(|e| e.to_string())?;
    let rescorer = Rescorer {
        history: history.clone(),
        targets,
        model,
        policy: cfg.policy.clone(),
        lookback: cfg.lookback.get(),
        step: cfg.step.get(),
        budget: cfg.budget.get(),
        shadow,
    };
    Ok((rescorer, history))
}

/// The model the sidecar scores with: the model file at `path`, or the shipped one. The error
/// names the file and the reason.
pub fn load_model(path: Option<&std::path::Path>) -> anyhow::Result<Arc<dyn Model>> {
    let Some(path) = path else { return Ok(Arc::new(model_file::shipped())) };
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let scorer = model_file::scorer_from_text(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(Arc::new(scorer))
}
