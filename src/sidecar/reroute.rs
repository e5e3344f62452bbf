//! Pending notifications whose channel is no longer configured are routed again.
//!
//! A configuration change must never make a stored alert undeliverable. When a pending item names
//! a channel the running sidecar does not have (it was removed, or renamed, while the item waited),
//! the item is routed again by the routes configured now: the missing channels become
//! [`DeliveryState::Rerouted`], the newly routed ones are added, and a note on the item tells its
//! readers what happened. Only when no configured channel can take a firing alert at all does it
//! wait, loudly (a gauge, an error log, and `/-/ready` failing), until the configuration changes.

use super::Sidecar;
use crate::alert::notification::Notification;
use crate::alert::payload::Status;
use crate::sidecar::queue::{DeliveryState, Item};

/// Where an item stands after [`reroute`].
#[derive(Debug)]
pub enum Routing {
    /// Every pending channel is configured (the item as it now stands).
    Ready(Item),
    /// No configured channel takes this firing notification: it waits.
    Unroutable,
    /// The new routing could not be recorded (why): try again later.
    Later(String),
}

/// Pending channels of `item` that the running sidecar does not have.
pub fn missing(s: &Sidecar, item: &Item) -> Vec<String> {
    item.channels
        .iter()
        .filter(|(name, st)| st.state == DeliveryState::Pending && !s.channels.contains_key(name.as_str()))
        .map(|(name, _)| name.clone())
        .collect()
}

/// Route `item` again if one of its pending channels is no longer configured.
pub async fn reroute(s: &Sidecar, item: Item) -> Routing {
    let gone = missing(s, &item);
    if gone.is_empty() {
        return Routing::Ready(item);
    }
    let Ok(n) = item.payload.parse::<Notification>() else {
        return Routing::Ready(item); // unreadable: the attempt dead-letters it with that reason
    };
    let resolved = n.status == Status::Resolved;
    let added: Vec<String> = (s.route)(&n.common_labels, resolved)
        .into_iter()
        .filter(|c| s.channels.contains_key(c.as_str()) && !item.channels.contains_key(c))
        .collect();
    let carried: Vec<&str> = item
        .channels
        .iter()
        .filter(|(c, st)| {
            s.channels.contains_key(c.as_str()) && matches!(st.state, DeliveryState::Pending | DeliveryState::Delivered)
        })
        .map(|(c, _)| c.as_str())
        .collect();
    let was = gone.join(", ");
    let note = if !added.is_empty() {
        format!("Re-routed to {}: {was} is no longer configured.", added.join(", "))
    } else if !carried.is_empty() {
        format!("Not sent to {was}, which is no longer configured; it goes to {}.", carried.join(", "))
    } else if resolved {
        format!("Not sent to {was}, which is no longer configured; no configured channel takes resolved notifications.")
    } else {
        let configured: Vec<&str> = s.channels.keys().map(String::as_str).collect();
        tracing::error!(
            id = %item.id, gone = %was, configured = ?configured,
            "UNROUTABLE: a pending alert's channels are no longer configured and no route gives it another; \
             it waits until the configuration gives it a channel"
        );
        return Routing::Unroutable;
    };
    match s.queue.reroute(&item.id, gone.clone(), added.clone(), &note).await {
        Ok(recorded) => {
            s.telemetry.rerouted.inc();
            tracing::warn!(id = %item.id, gone = ?gone, added = ?added, note, "notification re-routed: its channel is no longer configured");
            Routing::Ready(recorded)
        }
        Err(e) => {
            tracing::error!(id = %item.id, error = %e, "cannot record the re-routing; will retry");
            Routing::Later(e.to_string())
        }
    }
}
