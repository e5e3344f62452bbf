//! Unsupervised anomaly detection, independent of the sidecar and of files.
//!
//! - [`iforest`]: an isolation forest with scikit-learn's semantics, built for speed.
//! - [`detect`]: a causal streaming detector for single metric series (NAB's `timestamp,value`);
//!   the NAB benchmark that scores it is in the lab (`crate::eval::nab`).

pub mod detect;
pub mod iforest;
