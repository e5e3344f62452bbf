//! `wardwatch-sidecar`: an Alertmanager webhook receiver that never loses an alert, and rescores it.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use wardwatch::sidecar::{self, assemble::assemble, config::Overrides};

/// Receive Alertmanager webhooks, rescore them, deliver them by email, Slack or file.
///
/// Without a subcommand it serves; the subcommands work on files.
#[derive(Parser, Debug)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    overrides: Overrides,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write the rescoring's model file, or fit and apply an isolation forest on CSV files
    /// (header row of feature names).
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
    /// Score a NAB series (`timestamp,value`) causally: writes `timestamp,value,anomaly_score,is_anomaly`.
    Detect {
        /// The series.
        #[arg(long)]
        csv: PathBuf,
    },
    /// Run the simulated evaluation (the repository's rules in a real Prometheus over each seed's
    /// history, ground truth from the simulator's events) and print its figures. Needs
    /// `prometheus` and `promtool` on PATH.
    Eval {
        /// First simulation seed.
        #[arg(long, default_value_t = 1)]
        first_seed: u64,
        /// Number of seeds.
        #[arg(long, default_value_t = 10)]
        seeds: u64,
        /// Simulated hours per seed.
        #[arg(long, default_value_t = 24.0)]
        hours: f64,
        /// A decision policy to evaluate instead of the default: YAML in the form of the
        /// configuration's `rescoring.policy` section, e.g. `routine_critical: false`.
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Also write the event figures (wardwatch beside the baseline) to this file as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Instead, fire each clinical rule with other `for` durations and print what each costs:
        /// false alerts per patient-day beside the time it adds before a true event is alerted.
        #[arg(long)]
        for_sweep: bool,
    },
    /// Rescore real ICU arrhythmia alarms (WFDB records of the PhysioNet/CinC Challenge 2015):
    /// `record,1` (kept) or `record,0` (downgraded) per record on stdout; with labels in
    /// DIR/ALARMS, the figures on stderr.
    EvalAlarms {
        /// The records' directory (with RECORDS, and ALARMS for figures).
        #[arg(env = "WARDWATCH_PHYSIONET2015", default_value = DEFAULT_PHYSIONET2015)]
        dir: PathBuf,
        /// Also cross-validate by record in this many folds, thresholds tuned on the others.
        #[arg(long, default_value_t = 0)]
        folds: usize,
        /// Print the thresholds tuned on every labelled record, and their figures.
        #[arg(long)]
        tune: bool,
        /// Thresholds to decide with (YAML; default: the shipped ones).
        #[arg(long)]
        params: Option<PathBuf>,
        /// Write every record's features, decision and label to this CSV file.
        #[arg(long)]
        features: Option<PathBuf>,
        /// Draw PNG pictures of a few alarms (a true and a false one per type, every miss) here.
        #[arg(long)]
        plots: Option<PathBuf>,
    },
}

/// Where the challenge records are unless told: beside the repository's checkout.
const DEFAULT_PHYSIONET2015: &str = "../shared/data/physionet2015";

#[derive(Subcommand, Debug)]
enum ModelCommand {
    /// Write a rescoring model file fitted on windows of the simulated hospital (the shipped
    /// `models/default.json` is this with the default seed).
    Simulate {
        /// Where to write the model file.
        #[arg(long)]
        out: PathBuf,
        /// The simulation's (and the forest's) seed.
        #[arg(long, default_value_t = wardwatch::eval::training::DEFAULT_TRAINING_SEED)]
        seed: u64,
    },
    /// Fit an isolation forest (100 trees, 256-row subsample) and write it as JSON.
    Fit {
        /// Training rows.
        #[arg(long)]
        csv: PathBuf,
        /// Where to write the model.
        #[arg(long)]
        out: PathBuf,
        /// Random seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Print one `score_samples` value per row (scikit-learn's convention: lower is more anomalous).
    Score {
        /// A model written by `model fit`.
        #[arg(long)]
        model: PathBuf,
        /// Rows to score, same columns as the training file.
        #[arg(long)]
        csv: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match cli.command {
        None => serve(cli.overrides),
        Some(Command::Model { command: ModelCommand::Simulate { out: path, seed } }) => {
            let text = wardwatch::eval::training::simulated_model_file(seed).to_text();
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            std::io::Write::write_fmt(&mut out, format_args!("wrote {}\n", path.display()))?;
            Ok(())
        }
        Some(Command::Model { command: ModelCommand::Fit { csv, out: model, seed } }) => {
            wardwatch::tools::csv::fit_csv(&csv, &model, seed)
        }
        Some(Command::Model { command: ModelCommand::Score { model, csv } }) => {
            wardwatch::tools::csv::score_csv(&model, &csv, &mut out)
        }
        Some(Command::Detect { csv }) => wardwatch::tools::detect::detect_csv(&csv, &mut out),
        Some(Command::EvalAlarms { dir, folds, tune, params, features, plots }) => {
            let params = match params {
                Some(path) => {
                    let text =
                        std::fs::read_to_string(&path).with_context(|| format!("--params {}", path.display()))?;
                    serde_yaml::from_str(&text).with_context(|| format!("--params {}", path.display()))?
                }
                None => Default::default(),
            };
            let options = wardwatch::eval::alarms::AlarmOptions { dir, folds, params, tune, features, plots };
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(wardwatch::eval::alarms::run(&options, &mut out, &mut std::io::stderr()))
        }
        Some(Command::Eval { first_seed, seeds, hours, policy, json, for_sweep }) => {
            let policy = match policy {
                Some(path) => {
                    let text =
                        std::fs::read_to_string(&path).with_context(|| format!("--policy {}", path.display()))?;
                    let policy: wardwatch::rescore::policy::Policy =
                        serde_yaml::from_str(&text).with_context(|| format!("--policy {}", path.display()))?;
                    policy.validate()?;
                    policy
                }
                None => Default::default(),
            };
            let options = wardwatch::eval::EvalOptions { first_seed, seeds, hours, policy };
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            if for_sweep {
                runtime.block_on(wardwatch::eval::delays::run(&options, &mut out))
            } else {
                runtime.block_on(wardwatch::eval::run(&options, json.as_deref(), &mut out))
            }
        }
    }
}

#[tokio::main]
async fn serve(overrides: Overrides) -> anyhow::Result<()> {
    wardwatch::logging::init(&overrides.log_level, overrides.log_format)?;
    let (config, origin) = overrides.load()?;
    let validated = config.validate(&origin)?;
    let address = validated.listen_address;
    let sidecar = assemble(validated).await?;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address} (in use? choose another with --web.listen-address)"))?;
    tracing::info!(address = %listener.local_addr()?, config = %origin, "receiving Alertmanager webhooks on /webhook");
    sidecar::run(listener, sidecar, wardwatch::shutdown::signal()).await?;
    Ok(())
}
