//! Alerts as Alertmanager delivers them, and the notifications wardwatch makes of them.
//!
//! - [`payload`]: Alertmanager's webhook payload, version 4, parsed leniently.
//! - [`notification`]: one notification per (alert group, status), with its idempotency key.

pub mod notification;
pub mod payload;
