//! Notification channels (email, Slack, a local file) and the retry decisions they share.

pub mod channel;
pub mod chart;
pub mod email;
pub mod file;
pub mod retry;
pub mod slack;
