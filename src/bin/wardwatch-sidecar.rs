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
    /// Fit a rescoring model file on a site's history in Prometheus (`--prometheus`), or a bare
    /// isolation forest (100 trees, 256-row subsample) on CSV rows (`--csv`), written as JSON.
    Fit {
        /// Training rows (CSV, a header line of feature names).
        #[arg(long, required_unless_present = "prometheus", conflicts_with = "prometheus")]
        csv: Option<PathBuf>,
        /// The Prometheus whose history the model file is fitted on, e.g. http://prometheus:9090.
        #[arg(long)]
        prometheus: Option<String>,
        /// How much history, ending at `--until` (with `--prometheus`).
        #[arg(long, default_value = "7d")]
        since: String,
        /// The end of the history, RFC 3339 [default: a minute ago].
        #[arg(long)]
        until: Option<String>,
        /// The sidecar configuration whose `rescoring` targets, lookback and step to fit for
        /// [default: the embedded defaults].
        #[arg(long)]
        config: Option<PathBuf>,
        /// Rows per entity kind, at most.
        #[arg(long, default_value_t = 4000)]
        max_rows: usize,
        /// Where to write the model: a file, or a directory for `model-<version hash>.json`.
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
        Some(Command::Model {
            command: ModelCommand::Fit { csv, prometheus, since, until, config, max_rows, out: model, seed },
        }) => match (csv, prometheus) {
            (Some(csv), _) => wardwatch::tools::csv::fit_csv(&csv, &model, seed),
            (None, Some(url)) => {
                let options = fit_options(url, &since, until.as_deref(), config.as_deref(), max_rows, model, seed)?;
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
                let mut progress = FitProgress::new();
                let summary = runtime.block_on(wardwatch::tools::fit::fit_from_prometheus(&options, &mut progress))?;
                progress.finish();
                let s = &summary;
                let line = format!(
                    "wrote {} (version {}): rows {:?} of entities {:?}, {} moments skipped near alerts, {} range queries\n",
                    s.path.display(),
                    s.version,
                    s.rows,
                    s.entities,
                    s.skipped_near_alerts,
                    s.queries
                );
                std::io::Write::write_all(&mut out, line.as_bytes())?;
                Ok(())
            }
            (None, None) => unreachable!("clap requires --csv or --prometheus"),
        },
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

/// The options of `model fit --prometheus`, each flag checked and named when it is wrong.
fn fit_options(
    prometheus: String,
    since: &str,
    until: Option<&str>,
    config: Option<&std::path::Path>,
    max_rows: usize,
    out: PathBuf,
    seed: u64,
) -> anyhow::Result<wardwatch::tools::fit::FitOptions> {
    let since: wardwatch::duration::Span = since.parse().map_err(|e| anyhow::anyhow!("--since: {e}"))?;
    let until = match until {
        Some(t) => Some(
            chrono::DateTime::parse_from_rfc3339(t)
                .map_err(|e| anyhow::anyhow!("--until {t:?}: {e} (RFC 3339, e.g. 2026-12-01T08:00:00Z)"))?
                .with_timezone(&chrono::Utc),
        ),
        None => None,
    };
    let rescoring = match config {
        Some(path) => {
            let config = wardwatch::sidecar::config::SidecarConfig::from_file(path)?;
            config.validate(&path.display().to_string())?.rescoring.clone()
        }
        None => Default::default(),
    };
    if max_rows == 0 {
        anyhow::bail!("--max-rows must be at least 1");
    }
    Ok(wardwatch::tools::fit::FitOptions { prometheus, since: since.get(), until, out, seed, max_rows, rescoring })
}

/// `model fit`'s progress: a bar on a terminal, a line every tenth otherwise.
struct FitProgress {
    bar: Option<indicatif::ProgressBar>,
    told: usize,
}

impl FitProgress {
    fn new() -> Self {
        use std::io::IsTerminal;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(0);
            let style = indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} fetches, {eta} left")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            bar.set_style(style.progress_chars("=> "));
            bar.set_message("reading history");
            bar
        });
        Self { bar, told: 0 }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl wardwatch::tools::fit::Progress for FitProgress {
    fn advance(&mut self, done: usize, total: usize) {
        match &self.bar {
            Some(bar) => {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            }
            None => {
                let tenth = (done * 10).checked_div(total).unwrap_or(10);
                if tenth > self.told || done == 0 {
                    self.told = tenth;
                    eprintln!("reading history: {done} of {total} fetches");
                }
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
    let _ = sidecar.reloader.set(sidecar::reload::Reloader::new(overrides.clone(), config));
    sidecar::reload_on_sighup(sidecar.clone()).context("cannot listen for SIGHUP")?;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address} (in use? choose another with --web.listen-address)"))?;
    tracing::info!(address = %listener.local_addr()?, config = %origin, "receiving Alertmanager webhooks on /webhook");
    sidecar::run(listener, sidecar, wardwatch::shutdown::signal()).await?;
    Ok(())
}
