//! The sidecar's decision on an alert, as its notification carries it.

use serde::{Deserialize, Serialize};

/// What happens to an alert, from least to most urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Delivered at lower priority, marked as a likely artifact, with the reasons.
    Downgrade,
    /// Delivered as the rule raised it.
    Keep,
    /// Delivered at higher priority: credible and severe.
    Escalate,
}

impl Decision {
    /// Label value, e.g. `downgrade`.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Downgrade => "downgrade",
            Decision::Keep => "keep",
            Decision::Escalate => "escalate",
        }
    }
}
