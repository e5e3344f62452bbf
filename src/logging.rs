//! Logging for both binaries, on stderr, in the formats Prometheus' own binaries offer with
//! `--log.format`: `logfmt` (the default) or `json` (one object per line, for journald and log
//! shippers). Colour is used only when stderr is a terminal, so a log redirected to a file or a
//! pipe holds no escape sequences.

use std::io::IsTerminal;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// `ts=… level=info target=… msg="…" key=value`, as Prometheus logs.
    #[default]
    Logfmt,
    /// One JSON object per line: `{"timestamp":…,"level":"INFO","fields":{"message":…,…},…}`.
    Json,
}

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The level filter did not parse.
    #[error("--log.level {level:?}: {source}; use e.g. info, debug or wardwatch=debug")]
    Level {
        /// The filter as given.
        level: String,
        /// The parser's complaint.
        source: tracing_subscriber::filter::ParseError,
    },
    /// A global subscriber was already installed.
    #[error("logging was already initialised: {0}")]
    Init(#[from] tracing_subscriber::util::TryInitError),
}

/// Install the global subscriber: `level` as an `EnvFilter` directive, lines in `format` on stderr.
pub fn init(level: &str, format: LogFormat) -> Result<(), LogError> {
    let filter = EnvFilter::try_new(level).map_err(|source| LogError::Level { level: level.to_owned(), source })?;
    let colour = std::io::stderr().is_terminal();
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Logfmt => registry
            .with(tracing_logfmt::builder().with_ansi_color(colour).layer().with_writer(std::io::stderr))
            .try_init()?,
        LogFormat::Json => registry
            .with(tracing_subscriber::fmt::layer().json().with_ansi(false).with_writer(std::io::stderr))
            .try_init()?,
    }
    // A panic is logged as an error line in the chosen format, with where it happened, instead
    // of free text that a log shipper would not parse.
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let location = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        let thread = std::thread::current().name().unwrap_or("unnamed").to_owned();
        tracing::error!(panic = %message, location, thread, "panic");
    }));
    Ok(())
}
