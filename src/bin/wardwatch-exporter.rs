//! `wardwatch-exporter`: a simulated hospital, or recorded patients, served as Prometheus metrics.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};
use wardwatch::duration::seconds as parse_duration;
use wardwatch::exporter::{self, backfill, handlers::unix_now, Exporter, Options, Source};
use wardwatch::replay::{self, Playback, Replay, Speed, Ward};
use wardwatch::sim::source::HospitalSource;

/// A simulated hospital — patients, network and cluster — as Prometheus metrics; or recorded
/// patients replayed through a bedside monitor (`replay`).
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    hospital: HospitalArgs,
    #[command(flatten)]
    serving: ServingArgs,
    /// Append the ground truth of every simulated event to this file (JSON lines).
    #[arg(long, env = "WARDWATCH_EVENTS_LOG")]
    events_log: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

/// The server and its logs, before or after a subcommand.
#[derive(Args, Debug)]
#[command(next_help_heading = "Serving and logging")]
struct ServingArgs {
    /// Address to listen on [default: 0.0.0.0:10464, outside the allocated 9100–9999 exporter
    /// range; 0.0.0.0:10466 for `replay`].
    #[arg(long = "web.listen-address", env = "WARDWATCH_LISTEN_ADDRESS", global = true)]
    listen_address: Option<String>,
    /// Path under which to expose metrics.
    #[arg(long = "web.telemetry-path", env = "WARDWATCH_TELEMETRY_PATH", default_value = "/metrics", global = true)]
    telemetry_path: String,
    /// Log level filter (e.g. info, debug, wardwatch=debug).
    #[arg(long = "log.level", env = "WARDWATCH_LOG_LEVEL", default_value = "info", global = true)]
    log_level: String,
    /// Log line format on stderr: logfmt or json (colour only on a terminal).
    #[arg(long = "log.format", env = "WARDWATCH_LOG_FORMAT", value_enum, default_value_t, global = true)]
    log_format: wardwatch::logging::LogFormat,
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
    /// Write history as timestamped OpenMetrics for `promtool tsdb create-blocks-from
    /// openmetrics`: of the simulated hospital, or with `--wfdb` of recorded patients.
    Backfill {
        /// Hours of history (simulated hospital).
        #[arg(long, default_value_t = 24.0, conflicts_with = "wfdb")]
        hours: f64,
        /// Interval between samples, e.g. 15s (simulated hospital; records are written every second).
        #[arg(long, default_value = "15s", conflicts_with = "wfdb")]
        step: String,
        /// Output file for the metrics.
        #[arg(long, default_value = "history.om")]
        output: PathBuf,
        /// Output file for the ground truth (JSON lines; simulated hospital).
        #[arg(long, default_value = "events.jsonl", conflicts_with = "wfdb")]
        events_output: PathBuf,
        /// Write the history of the WFDB records in this directory instead of the simulated hospital.
        #[arg(long)]
        wfdb: Option<PathBuf>,
        #[command(flatten)]
        records: RecordArgs,
        /// When every record's alarm onset is (Unix seconds or RFC 3339): each record starts
        /// 300 s before it [default: 30 s ago, so that 330 s records end now].
        #[arg(long, requires = "wfdb")]
        onset: Option<String>,
    },
    /// Serve the WFDB records of a directory as the patients of one ward, their monitor's
    /// numerics advancing in real time as the waveforms play.
    Replay {
        /// Directory of the records (with a RECORDS file), e.g. PhysioNet's challenge-2015 training set.
        #[arg(long)]
        wfdb: PathBuf,
        #[command(flatten)]
        records: RecordArgs,
        /// Seconds of record per second of wall clock.
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// Begin this many seconds into the records; the monitors take in everything before it first.
        #[arg(long, default_value_t = 0.0)]
        start_offset: f64,
        /// Start each record over 330 s after it started (the challenge's longest records' length).
        #[arg(long = "loop")]
        looping: bool,
    },
}

/// Which records, in which ward.
#[derive(Args, Debug)]
struct RecordArgs {
    /// Records to play, comma-separated (default: every record in DIR/RECORDS), e.g. a103l,b268s.
    #[arg(long, value_delimiter = ',', requires = "wfdb")]
    records: Vec<String>,
    /// The beds' department label.
    #[arg(long, default_value = "icu")]
    department: String,
    /// The beds' ward label.
    #[arg(long, default_value = "icu-replay")]
    ward: String,
}

impl RecordArgs {
    /// Read the records (I/O) after checking the labels.
    fn read(&self, dir: &Path) -> anyhow::Result<(Vec<replay::Recording>, Ward)> {
        let ward = Ward::new(&self.department, &self.ward).context("--department/--ward")?;
        let recordings = replay::read_recordings(dir, &self.records)?;
        for r in recordings.iter().filter(|r| r.alarm.is_none()) {
            tracing::warn!(record = %r.name, "the header names no challenge alarm type: no alarm series");
        }
        Ok((recordings, ward))
    }
}

impl HospitalArgs {
    fn source(&self) -> HospitalSource {
        let seed = self.seed.unwrap_or_else(|| rand::random::<u32>().into());
        tracing::info!(seed, "simulation seed (pass --seed to repeat this run)");
        HospitalSource { config: self.config.clone(), patients: self.patients, seed, scenario: self.scenario.clone() }
    }

    fn given(&self) -> bool {
        self.config.is_some() || self.patients.is_some() || self.seed.is_some() || self.scenario.is_some()
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    wardwatch::logging::init(&cli.serving.log_level, cli.serving.log_format)?;
    let records_mode = matches!(&cli.command, Some(Command::Replay { .. } | Command::Backfill { wfdb: Some(_), .. }));
    anyhow::ensure!(
        !(records_mode && (cli.hospital.given() || cli.events_log.is_some())),
        "--config, --patients, --seed, --scenario and --events-log describe the simulated hospital, not recorded patients"
    );
    match &cli.command {
        Some(Command::Backfill { wfdb: Some(dir), records, onset, output, .. }) => {
            let (recordings, ward) = records.read(dir)?;
            let onset = match onset {
                Some(t) => replay::backfill::parse_instant(t).context("--onset")?,
                None => unix_now().floor() - f64::from(replay::LOOP_SECONDS - replay::ALARM_ONSET_SECONDS),
            };
            let summary = replay::backfill::backfill(recordings, ward, onset, &mut create(output)?)?;
            tracing::info!(?summary, output = %output.display(), "backfill of recorded patients written");
        }
        Some(Command::Backfill { hours, step, output, events_output, .. }) => {
            let step = parse_duration(step).map_err(|e| anyhow::anyhow!("--step: {e}"))?;
            anyhow::ensure!(step > 0.0 && *hours > 0.0, "--hours and --step must be positive");
            let end = (unix_now() / step).floor() * step;
            let mut sim = cli.hospital.source().build(end - hours * 3600.0)?;
            let summary =
                backfill::backfill(&mut sim, *hours, step, &mut create(output)?, &mut create(events_output)?)?;
            tracing::info!(?summary, output = %output.display(), events = %events_output.display(), "backfill written");
        }
        Some(Command::Replay { wfdb, records, speed, start_offset, looping }) => {
            let playback = Playback::new(Speed::try_from(*speed).context("--speed")?, *start_offset, *looping)
                .context("--start-offset")?;
            let listener = bind(&cli, exporter::DEFAULT_REPLAY_LISTEN_ADDRESS).await?;
            let (recordings, ward) = records.read(wfdb)?;
            let mut replay = Replay::new(recordings, ward, playback)?;
            tracing::info!(
                beds = replay.beds().len(),
                ward = replay.ward().name(),
                speed,
                start_offset,
                "records read"
            );
            // The clock starts once the monitors have taken in everything before the start offset.
            replay.start(unix_now());
            serve(&cli, listener, replay).await?;
        }
        None => {
            let sim = cli.hospital.source().build(unix_now())?;
            tracing::info!(patients = sim.patients.len(), wards = sim.wards.len(), "hospital built");
            let listener = bind(&cli, exporter::DEFAULT_LISTEN_ADDRESS).await?;
            serve(&cli, listener, sim).await?;
        }
    }
    Ok(())
}

fn create(path: &Path) -> anyhow::Result<std::io::BufWriter<std::fs::File>> {
    std::fs::File::create(path)
        .map(std::io::BufWriter::new)
        .with_context(|| format!("cannot create {}", path.display()))
}

async fn bind(cli: &Cli, default: &str) -> anyhow::Result<tokio::net::TcpListener> {
    let address = cli.serving.listen_address.as_deref().unwrap_or(default);
    tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address} (in use? choose another with --web.listen-address)"))
}

async fn serve(cli: &Cli, listener: tokio::net::TcpListener, source: impl Source) -> anyhow::Result<()> {
    let options = Options { telemetry_path: cli.serving.telemetry_path.clone(), events_log: cli.events_log.clone() };
    let exporter = Exporter::new(source, options)?;
    tracing::info!(address = %listener.local_addr()?, path = %cli.serving.telemetry_path, "serving metrics");
    exporter::run(listener, exporter, wardwatch::shutdown::signal()).await?;
    Ok(())
}
