//! The channel abstraction the dispatcher delivers through, and its adapters.
//!
//! A channel makes one attempt per call and says what happened as an [`Outcome`]; retries,
//! backoff and durability belong to the dispatcher and the queue.

use crate::alert::notification::Notification;
use crate::notify::email::{self, Delivery, EmailConfig, EmailLinks, EmailSender};
use crate::notify::retry::Outcome;
use crate::notify::slack::{self, SlackSender};
use std::future::Future;
use std::pin::Pin;

/// A boxed future, so channels can sit behind `dyn`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A place notifications go.
pub trait Channel: Send + Sync {
    /// Name used in routes, queue state and metrics: `email`, `slack`, `file`.
    fn name(&self) -> &'static str;
    /// One delivery attempt.
    fn deliver<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Outcome>;
}

/// Slack incoming webhook.
pub struct SlackChannel {
    /// The sender (rate limiter included).
    pub sender: SlackSender,
    /// Links put into messages.
    pub links: slack::Links,
}

impl Channel for SlackChannel {
    fn name(&self) -> &'static str {
        "slack"
    }
    fn deliver<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Outcome> {
        Box::pin(async move { self.sender.send(&slack::render(n, &self.links)).await })
    }
}

/// Email over SMTP.
pub struct EmailChannel {
    /// The sender.
    pub sender: EmailSender,
    /// Addresses and server, for building messages.
    pub config: EmailConfig,
    /// Links put into messages.
    pub links: EmailLinks,
}

impl Channel for EmailChannel {
    fn name(&self) -> &'static str {
        "email"
    }
    fn deliver<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let message = match email::build_message(n, &self.config, &self.links) {
                Ok(m) => m,
                Err(e) => return Outcome::Permanent { reason: format!("cannot build the message: {e}") },
            };
            match self.sender.send(message).await {
                Delivery::Sent => Outcome::Success,
                Delivery::Transient(reason) => Outcome::Retry { after: None, reason },
                Delivery::Permanent(reason) => Outcome::Permanent { reason },
            }
        })
    }
}
