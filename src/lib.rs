//! wardwatch: monitoring for hospital infrastructure.
//!
//! # Layout
//! - [`clinical`]: clinical reference logic (NEWS2 scoring).
//! - [`sim`]: the simulated hospital — patients, ECG, network, cluster, events.
