//! The wardwatch-sidecar: an Alertmanager receiver.

pub mod queue;
