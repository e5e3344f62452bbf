//! Alerts as Alertmanager delivers them, and the notifications wardwatch makes of them.
//!
//! - [`payload`]: Alertmanager's webhook payload, version 4, parsed leniently.
//! - [`budget`]: reading a body of any size, keeping its alerts within a byte budget.
//! - [`notification`]: one notification per (alert group, status), with its idempotency key.
//! - [`decision`]: escalate, keep or downgrade, as the rescoring decides and a notification says.
//! - [`view`]: the message a person reads, built once for every channel.
//! - [`links`]: the links it carries (silence, dashboard), percent-encoded one way.

pub mod budget;
pub mod decision;
pub mod links;
pub mod notification;
pub mod payload;
pub mod view;
