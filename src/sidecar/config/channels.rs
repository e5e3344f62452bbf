//! The `channels` section: channels by name, several of a kind if need be.
//!
//! ```yaml
//! channels:
//!   email: {to: [ward-7@example.org], ...}
//!   email-charge-nurse: {to: [charge-nurse@example.org], ...}
//!   slack-rapid-response: {webhook_url: {file: /run/secrets/rrt_webhook}}
//! ```
//!
//! A channel's name says its kind ([`channel_kind`]): the kind itself, or the kind, `-` and a
//! name of its own. Routes, escalation steps, the queue and the metrics use these names.

use super::validate::{check_secret, fail, Check};
use super::*;
use crate::alert::notification::channel_kind;

/// One configured channel.
#[derive(Debug, Clone, PartialEq)]
pub enum ChannelSection {
    /// Email over SMTP.
    Email(EmailSection),
    /// A Slack incoming webhook.
    Slack(SlackSection),
    /// A local JSON-lines file.
    File(FileSection),
}

/// The notification channels by name. With none configured, the file channel is used with its
/// defaults (`file: {}` turns it on explicitly; `email: null` or an absent key leaves a channel
/// off).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelsSection(pub BTreeMap<String, ChannelSection>);

impl Serialize for ChannelsSection {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, channel) in &self.0 {
            match channel {
                ChannelSection::Email(c) => map.serialize_entry(name, c)?,
                ChannelSection::Slack(c) => map.serialize_entry(name, c)?,
                ChannelSection::File(c) => map.serialize_entry(name, c)?,
            }
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for ChannelsSection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ChannelsVisitor)
    }
}

struct ChannelsVisitor;

impl<'de> Visitor<'de> for ChannelsVisitor {
    type Value = ChannelsSection;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("channels by name: email, slack, file, or one of them, `-` and a name (email-charge-nurse)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = BTreeMap::new();
        while let Some(name) = map.next_key::<String>()? {
            let channel = match channel_kind(&name) {
                Some("email") => map.next_value::<Option<EmailSection>>()?.map(ChannelSection::Email),
                Some("slack") => map.next_value::<Option<SlackSection>>()?.map(ChannelSection::Slack),
                Some(_) => map.next_value::<Option<FileSection>>()?.map(ChannelSection::File),
                None => {
                    return Err(de::Error::custom(format!(
                        "`{name}` is not a channel name: email, slack or file, or one of them, `-` and a \
                         name of lower-case letters, digits, `-` or `_` (email-charge-nurse)"
                    )))
                }
            };
            if let Some(channel) = channel {
                if out.insert(name.clone(), channel).is_some() {
                    return Err(de::Error::custom(format!("channel `{name}` is configured twice")));
                }
            }
        }
        Ok(ChannelsSection(out))
    }
}

impl ChannelsSection {
    /// Check each configured channel; errors name it (`channels.email-charge-nurse.to`).
    pub(super) fn check(&self) -> Check {
        for (name, channel) in &self.0 {
            let field = format!("channels.{name}");
            match channel {
                ChannelSection::Email(email) => email.check(&field)?,
                ChannelSection::Slack(slack) => slack.check(&field)?,
                ChannelSection::File(file) if file.path.as_os_str().is_empty() => {
                    return fail(format!("{field}.path"), "must not be empty")
                }
                ChannelSection::File(_) => {}
            }
        }
        let mut paths: BTreeMap<&Path, &str> = BTreeMap::new();
        for (name, channel) in &self.0 {
            if let ChannelSection::File(file) = channel {
                if let Some(other) = paths.insert(&file.path, name) {
                    let reason = format!("`{}` is also the path of channel `{other}`", file.path.display());
                    return fail(format!("channels.{name}.path"), reason);
                }
            }
        }
        Ok(())
    }

    /// Names of the configured channels, sorted.
    pub fn names(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }

    /// The email channels, by name.
    pub fn email(&self) -> impl Iterator<Item = (&String, &EmailSection)> {
        self.0.iter().filter_map(|(n, c)| match c {
            ChannelSection::Email(e) => Some((n, e)),
            _ => None,
        })
    }

    /// The Slack channels, by name.
    pub fn slack(&self) -> impl Iterator<Item = (&String, &SlackSection)> {
        self.0.iter().filter_map(|(n, c)| match c {
            ChannelSection::Slack(e) => Some((n, e)),
            _ => None,
        })
    }

    /// Whether channel `name` is configured and wants resolved notifications.
    pub(super) fn sends_resolved(&self, name: &str) -> bool {
        match self.0.get(name) {
            Some(ChannelSection::Email(c)) => c.send_resolved,
            Some(ChannelSection::Slack(c)) => c.send_resolved,
            Some(ChannelSection::File(c)) => c.send_resolved,
            None => false,
        }
    }
}

impl EmailSection {
    fn check(&self, field: &str) -> Check {
        let at = |name: &str| format!("{field}.{name}");
        if self.host.trim().is_empty() {
            return fail(at("host"), "must not be empty");
        }
        match (self.port, self.tls) {
            (0, _) => return fail(at("port"), "0 is not a port"),
            (465, TlsMode::StartTls) => return fail(at("port"), "465 expects `tls: implicit`"),
            (587, TlsMode::Implicit) => return fail(at("port"), "587 expects `tls: starttls`"),
            _ => {}
        }
        match (&self.password, self.username.is_empty()) {
            (Some(_), true) => return fail(at("username"), "required with a password"),
            (Some(p), false) => check_secret(&at("password"), p)?,
            (None, false) => {
                let reason = format!(
                    "required with a username: give {{file: PATH}}, --smtp.password-file or set {ENV_SMTP_PASSWORD}"
                );
                return fail(at("password"), reason);
            }
            (None, true) => {}
        }
        if self.from.is_none() {
            match self.username.parse::<EmailAddress>() {
                Ok(_) => {}
                Err(_) if self.username.is_empty() => return fail(at("from"), "required without a username"),
                Err(_) => return fail(at("from"), "required: the username is not an address"),
            }
        }
        if self.to.is_empty() {
            return fail(at("to"), "at least one recipient is required");
        }
        Ok(())
    }

    /// The sender address: `from`, else the username.
    pub fn sender(&self) -> &str {
        self.from.as_ref().map_or(&self.username, |f| f.as_str())
    }

    /// The sender's settings, with the password read by [`Validated::resolve_secrets`].
    pub fn config(&self, password: Option<&str>) -> EmailConfig {
        EmailConfig {
            host: self.host.clone(),
            port: self.port,
            tls: self.tls,
            username: self.username.clone(),
            password: password.unwrap_or_default().to_owned(),
            from: self.sender().to_string(),
            to: self.to.iter().map(|t| t.as_str().to_owned()).collect(),
            timeout: self.timeout.get(),
            ca_file: self.ca_file.clone(),
        }
    }
}

impl SlackSection {
    fn check(&self, field: &str) -> Check {
        let at = |name: &str| format!("{field}.{name}");
        match &self.webhook_url {
            Some(url) => check_secret(&at("webhook_url"), url)?,
            None => {
                let reason =
                    format!("required: give {{file: PATH}}, --slack.webhook-url-file or set {ENV_SLACK_WEBHOOK_URL}");
                return fail(at("webhook_url"), reason);
            }
        }
        if !(self.rate_per_second.is_finite() && self.rate_per_second >= 0.001) {
            return fail(at("rate_per_second"), format!("{} must be at least 0.001", self.rate_per_second));
        }
        if self.burst == 0 {
            return fail(at("burst"), "must be at least 1");
        }
        Ok(())
    }

    /// The sender's settings, with the webhook URL read by [`Validated::resolve_secrets`].
    pub fn config(&self, webhook_url: &str) -> SlackConfig {
        SlackConfig {
            webhook_url: webhook_url.to_owned(),
            timeout: self.timeout.get(),
            rate_per_second: self.rate_per_second,
            burst: self.burst,
        }
    }
}
