//! Command-line flags and environment variables that beat the file.

use super::*;

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
    /// File holding the SMTP password; replaces the `password` of every email channel.
    #[arg(long = "smtp.password-file", env = "WARDWATCH_SMTP_PASSWORD_FILE")]
    pub smtp_password_file: Option<PathBuf>,
    /// File holding the Slack webhook URL; replaces the `webhook_url` of every Slack channel.
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
        let flags = [
            ("channels.email", "--smtp.password-file", &self.smtp_password_file),
            ("channels.slack", "--slack.webhook-url-file", &self.slack_webhook_url_file),
        ];
        for (kind, flag, file) in flags {
            let Some(path) = file else { continue };
            let mut any = false;
            for channel in cfg.channels.0.values_mut() {
                let secret = match channel {
                    ChannelSection::Email(email) if kind == "channels.email" => &mut email.password,
                    ChannelSection::Slack(slack) if kind == "channels.slack" => &mut slack.webhook_url,
                    _ => continue,
                };
                *secret = Some(Secret::File(path.clone()));
                any = true;
            }
            if !any {
                return Err(missing(kind, flag));
            }
        }
        if let Some(path) = &self.inbound_token_file {
            cfg.inbound_auth.get_or_insert_with(InboundAuth::default).bearer_token = Some(Secret::File(path.clone()));
        }
        Ok(())
    }
}

/// Name the plain environment variables as secrets where the configuration names none.
pub(super) fn apply_env_fallbacks(cfg: &mut SidecarConfig, is_set: impl Fn(&str) -> bool) {
    for channel in cfg.channels.0.values_mut() {
        match channel {
            ChannelSection::Email(email) if email.password.is_none() && is_set(ENV_SMTP_PASSWORD) => {
                email.password = Some(Secret::Env(ENV_SMTP_PASSWORD.into()));
            }
            ChannelSection::Slack(slack) if slack.webhook_url.is_none() && is_set(ENV_SLACK_WEBHOOK_URL) => {
                slack.webhook_url = Some(Secret::Env(ENV_SLACK_WEBHOOK_URL.into()));
            }
            _ => {}
        }
    }
    let unnamed = cfg.inbound_auth.as_ref().is_none_or(|a| a.bearer_token.is_none());
    if unnamed && is_set(ENV_INBOUND_TOKEN) {
        cfg.inbound_auth.get_or_insert_with(InboundAuth::default).bearer_token =
            Some(Secret::Env(ENV_INBOUND_TOKEN.into()));
    }
}
