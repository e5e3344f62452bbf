//! `wardwatch-exporter`: a simulated hospital served as Prometheus metrics.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use wardwatch::exporter::{self, backfill, handlers::unix_now, Exporter, Options};
use wardwatch::sim::events::parse_duration;
use wardwatch::sim::source::HospitalSource;

/// A simulated hospital — patients, network and cluster — as Prometheus metrics.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    hospital: HospitalArgs,
    /// Address to listen on (port 10464: outside the allocated 9100–9999 exporter range).
    #[arg(long = "web.listen-address", env = "WARDWATCH_LISTEN_ADDRESS", default_value = exporter::DEFAULT_LISTEN_ADDRESS)]
    listen_address: String,
    /// Path under which to expose metrics.
    #[arg(long = "web.telemetry-path", env = "WARDWATCH_TELEMETRY_PATH", default_value = "/metrics")]
    telemetry_path: String,
    /// Append the ground truth of every simulated event to this file (JSON lines).
    #[arg(long, env = "WARDWATCH_EVENTS_LOG")]
    events_log: Option<PathBuf>,
    /// Log level filter (e.g. info, debug, wardwatch=debug).
    #[arg(long = "log.level", env = "WARDWATCH_LOG_LEVEL", default_value = "info")]
    log_level: String,
    /// Log line format on stderr: logfmt or json (colour only on a terminal).
    #[arg(long = "log.format", env = "WARDWATCH_LOG_FORMAT", value_enum, default_value_t)]
    log_format: wardwatch::logging::LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
}

/// The hospital to simulate.
#[derive(Args, Debug)]
struct HospitalArgs {
    /// Hospital configuration (YAML); the embedded default hospital when absent.
    #[arg(long, env = "WARDWATCH_CONFIG")]
    config: Option<PathBuf>,
    /// Number of patients, spread over the wards in proportion to their beds.
    #[arg(long, env = "WARDWATCH_PATIENTS")]
    patients: Option<u32>,
    /// Seed of every random draw; the same seed, config and scrape times give the same run.
    #[arg(long, env = "WARDWATCH_SEED")]
    seed: Option<u64>,
    /// Scenario file of events scheduled at offsets from the start.
    #[arg(long, env = "WARDWATCH_SCENARIO")]
    scenario: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write simulated history as timestamped OpenMetrics for `promtool tsdb create-blocks-from openmetrics`.
    Backfill {
        /// Hours of history.
        #[arg(long, default_value_t = 24.0)]
        hours: f64,
        /// Interval between samples, e.g. 15s.
        #[arg(long, default_value = "15s")]
        step: String,
        /// Output file for the metrics.
        #[arg(long, default_value = "history.om")]
        output: PathBuf,
        /// Output file for the ground truth (JSON lines).
        #[arg(long, default_value = "events.jsonl")]
        events_output: PathBuf,
    },
}

impl HospitalArgs {
    fn source(&self) -> HospitalSource {
        let seed = self.seed.unwrap_or_else(|| rand::random::<u32>().into());
        tracing::info!(seed, "simulation seed (pass --seed to repeat this run)");
        HospitalSource { config: self.config.clone(), patients: self.patients, seed, scenario: self.scenario.clone() }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    wardwatch::logging::init(&cli.log_level, cli.log_format)?;
    if let Some(Command::Backfill { hours, step, output, events_output }) = &cli.command {
        let step = parse_duration(step).map_err(|e| anyhow::anyhow!("--step: {e}"))?;
        anyhow::ensure!(step > 0.0 && *hours > 0.0, "--hours and --step must be positive");
        let end = (unix_now() / step).floor() * step;
        let mut sim = cli.hospital.source().build(end - hours * 3600.0)?;
        let create = |p: &PathBuf| {
            std::fs::File::create(p)
                .map(std::io::BufWriter::new)
                .with_context(|| format!("cannot create {}", p.display()))
        };
        let summary = backfill::backfill(&mut sim, *hours, step, &mut create(output)?, &mut create(events_output)?)?;
        tracing::info!(?summary, output = %output.display(), events = %events_output.display(), "backfill written");
        return Ok(());
    }
    let sim = cli.hospital.source().build(unix_now())?;
    tracing::info!(patients = sim.patients.len(), wards = sim.wards.len(), "hospital built");
    let options = Options { telemetry_path: cli.telemetry_path.clone(), events_log: cli.events_log.clone() };
    let exporter = Exporter::new(sim, options)?;
    let listener = tokio::net::TcpListener::bind(&cli.listen_address).await.with_context(|| {
        format!("cannot listen on {} (in use? choose another with --web.listen-address)", cli.listen_address)
    })?;
    tracing::info!(address = %listener.local_addr()?, path = %cli.telemetry_path, "serving metrics");
    exporter::run(listener, exporter, wardwatch::shutdown::signal()).await?;
    Ok(())
}
