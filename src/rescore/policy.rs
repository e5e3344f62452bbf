//! The decision: escalate, keep, or downgrade as a likely artifact — never drop.

use super::score::{Assessment, Subject};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What happens to a scored alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// A likely artifact: fewer channels, marked as such.
    Downgrade,
    /// Delivered as routed.
    Keep,
    /// Delivered as routed, marked urgent.
    Escalate,
}

impl Decision {
    /// The decision's name, as in metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Downgrade => "downgrade",
            Decision::Keep => "keep",
            Decision::Escalate => "escalate",
        }
    }
}

/// A decision and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The decision.
    pub decision: Decision,
    /// Why, in words.
    pub reasons: Vec<String>,
}

/// The decision policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Score at or above which an alert is escalated.
    pub escalate_at: f64,
    /// Artifact likelihood at or above which an alert is downgraded.
    pub downgrade_at: f64,
}

impl Default for Policy {
    fn default() -> Self {
        Self { escalate_at: 0.8, downgrade_at: 0.6 }
    }
}

impl Policy {
    /// Check the thresholds.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.escalate_at) || !(0.0..=1.0).contains(&self.downgrade_at) {
            return Err("thresholds must lie in [0, 1]".into());
        }
        Ok(())
    }

    /// How long a downgraded alert may fire before it is re-escalated.
    pub fn reescalate_after(&self) -> Duration {
        Duration::from_secs(120)
    }

    /// Decide.
    pub fn decide(&self, _subject: &Subject, a: &Assessment, _firing_for: Duration) -> Verdict {
        let decision = if a.score >= self.escalate_at {
            Decision::Escalate
        } else if a.artifact >= self.downgrade_at {
            Decision::Downgrade
        } else {
            Decision::Keep
        };
        Verdict { decision, reasons: vec![] }
    }
}
