//! Unsupervised anomaly detection, independent of the sidecar.
//!
//! - [`iforest`]: an isolation forest with scikit-learn's semantics, built for speed.
//! - [`detect`]: a causal streaming detector for single metric series (NAB's `timestamp,value`).
//! - [`nab`]: a port of the Numenta Anomaly Benchmark's scorer.

pub mod detect;
pub mod iforest;
pub mod nab;
