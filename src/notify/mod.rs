//! Notification channels (Slack, ...) and the retry decisions they share.

pub mod email;
pub mod retry;
pub mod slack;
