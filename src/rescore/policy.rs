//! The decision: escalate, keep, or downgrade as a likely artifact — never drop.
