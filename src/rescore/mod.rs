//! Rescoring: every alert scored against its own history, explained, and decided.
//!
//! An alert names an entity (a patient, a network device or link, a node, the cluster). The
//! sidecar fetches that entity's recent history ([`history`], the window ending at the alert's
//! `startsAt`), turns it into named features ([`features`], [`artifact`]), scores them
//! ([`score`]) and decides what to do ([`policy`]); every decision goes to the audit log
//! ([`audit`]). A bedside monitor's arrhythmia alarm is judged on the monitor's numerics
//! ([`arrhythmia`]). [`targets`] says which series belong to which alert; [`crate::eval`] measures the whole
//! chain against the simulator's ground truth.
//!
//! Everything from the window on is a pure function, so replaying an alert on the same history
//! gives the same decision.

pub mod arrhythmia;
pub mod artifact;
pub mod audit;
pub mod config;
pub mod engine;
pub mod explain;
pub mod features;
#[cfg(test)]
mod fixtures;
pub mod history;
pub mod model;
pub mod model_file;
pub mod policy;
pub mod score;
pub mod shared;
pub mod targets;
pub mod trend;
pub mod window;
