//! The simulated hospital.
//!
//! - [`config`]: the hospital's YAML configuration and its validation.
//! - [`physiology`]: a patient's true body: baseline, rhythms, couplings.
//! - [`ecg`]: the ECGSYN model: R-R intervals and the waveform.
//! - [`monitor`]: the bedside monitor: readings, cadences and artifacts.
//! - [`patient`]: one patient with body, monitor and labels.
//! - [`network`] and [`cluster`]: the hospital's network and Kubernetes cluster.
//! - [`events`], [`scenario`], [`schedule`]: events with ground truth, drawn or scheduled.
//! - [`hospital`]: the [`Simulation`] that advances all of it in time.
//! - [`metrics`]: writing the simulation's state as Prometheus metrics.
//! - [`source`]: loading configuration and scenario, then building a [`Simulation`].

pub mod cluster;
pub mod config;
pub mod ecg;
pub mod events;
pub mod hospital;
pub mod metrics;
pub mod monitor;
pub mod network;
pub mod patient;
pub mod physiology;
pub mod scenario;
pub mod schedule;
pub mod source;

pub use hospital::Simulation;
