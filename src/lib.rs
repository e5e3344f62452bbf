//! wardwatch: monitoring for hospital infrastructure.
//!
//! # Layout
//! - [`address`]: the web URLs and email addresses a configuration names, checked when read.
//! - [`alert`]: Alertmanager webhook payloads and the notifications made of them.
//! - [`clinical`]: clinical reference logic (NEWS2 scoring).
//! - [`sim`]: the simulated hospital — patients, ECG, network, cluster, events with ground truth.
//! - [`exposition`]: a fast Prometheus/OpenMetrics writer for the simulated population, and
//!   timestamped history for backfill files.
//! - [`exporter`]: the `wardwatch-exporter` HTTP server and its backfill mode.
//! - [`replay`]: recorded patients (PhysioNet WFDB records) played through the bedside monitor as
//!   the beds of a ward, live or as a backfill.
//! - [`sidecar`]: the `wardwatch-sidecar` Alertmanager receiver: config, receiver, durable queue,
//!   dispatcher.
//! - [`notify`]: delivery channels (email, Slack, file) and retry decisions.
//! - [`monitor`]: a bedside monitor in software: beats, rates, signal quality, rhythm features.
//! - [`ml`]: anomaly detection: an isolation forest and a streaming detector.
//! - [`plotting`]: the font every chart's text is drawn with.
//! - [`rescore`]: the sidecar's rescoring of alerts: history, features, score, decision, audit,
//!   and the model file it scores with.
//! - [`eval`]: the lab — the simulated evaluation, real ICU alarms, the NAB benchmark, training on
//!   the simulator. Nothing the sidecar or the exporter runs depends on it.
//! - [`tools`]: the binary's subcommands over files (`model fit|score` on CSV, `detect`).
//! - [`group_commit`]: concurrent writers sharing one fsync.
//! - [`logging`]: logfmt or JSON log lines on stderr for both binaries.
//! - [`shutdown`]: the signals the servers stop on.
//! - [`wfdb`]: reading PhysioNet WFDB records (the ICU false-alarm challenge).
//! - [`yaml`]: reading YAML files with errors that name the file.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod address;
pub mod alert;
pub mod clinical;
pub mod duration;
pub mod eval;
pub mod exporter;
pub mod exposition;
pub mod group_commit;
pub mod logging;
pub mod ml;
pub mod monitor;
pub mod notify;
pub mod plotting;
pub mod prometheus;
pub mod promql;
pub mod replay;
pub mod rescore;
pub mod shutdown;
pub mod sidecar;
pub mod sim;
pub mod tools;
pub mod wfdb;
pub mod yaml;
