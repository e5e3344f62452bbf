//! `wardwatch-sidecar`: an Alertmanager webhook receiver that never loses an alert.

use anyhow::Context;
use clap::Parser;
use wardwatch::sidecar::{self, assemble::assemble, config::Overrides};

/// Receive Alertmanager webhooks, persist them, deliver them by email, Slack or file.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    overrides: Overrides,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&cli.overrides.log_level).context("--log.level")?)
        .with_writer(std::io::stderr)
        .init();
    let (config, origin) = cli.overrides.load()?;
    let validated = config.validate(&origin)?;
    let address = validated.listen_address;
    let sidecar = assemble(validated).await?;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address} (in use? choose another with --web.listen-address)"))?;
    tracing::info!(address = %listener.local_addr()?, config = %origin, "receiving Alertmanager webhooks on /webhook");
    sidecar::run(listener, sidecar, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
