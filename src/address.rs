//! The addresses a configuration names — web URLs and email mailboxes — checked once, when the
//! file is read, so an unusable one cannot exist past parsing. Each keeps its text as written,
//! for messages and for a configuration written back.

use lettre::message::Mailbox;
use serde::Serialize;
use url::Url;

/// An `http://` or `https://` URL with a host, as the WHATWG URL standard reads it.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct HttpUrl {
    text: String,
    url: Url,
}

impl HttpUrl {
    /// As written (trimmed).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parsed URL.
    pub fn url(&self) -> &Url {
        &self.url
    }
}

impl TryFrom<String> for HttpUrl {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let text = text.trim().to_owned();
        let not = |why: &str| format!("`{text}` is not an http:// or https:// URL ({why})");
        let url = Url::parse(&text).map_err(|e| not(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(not(&format!("its scheme is {}", url.scheme())));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(not("it has no host"));
        }
        Ok(Self { text, url })
    }
}

crate::yaml::text_value!(HttpUrl);

/// An email address, bare (`alerts@example.org`) or with a name (`Ward 3 <alerts@example.org>`),
/// as the mail it is put in reads it (lettre's [`Mailbox`]).
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct EmailAddress {
    text: String,
    mailbox: Mailbox,
}

impl EmailAddress {
    /// As written (trimmed).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The mailbox.
    pub fn mailbox(&self) -> &Mailbox {
        &self.mailbox
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let text = text.trim().to_owned();
        let mailbox = text.parse::<Mailbox>().map_err(|e| format!("`{text}` is not an email address ({e})"))?;
        Ok(Self { text, mailbox })
    }
}

crate::yaml::text_value!(EmailAddress);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_addresses_need_http_or_https_and_a_host() {
        let u: HttpUrl = "https://grafana.example.org:3000/ ".parse().unwrap();
        assert_eq!((u.as_str(), u.url().port()), ("https://grafana.example.org:3000/", Some(3000)));
        for (bad, why) in
            [("grafana.example.org", "relative URL"), ("ftp://x.org", "scheme is ftp"), ("http://", "empty host")]
        {
            let e = bad.parse::<HttpUrl>().unwrap_err();
            assert!(e.contains(why) && e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn email_addresses_read_as_mail_reads_them() {
        let a: EmailAddress = "Ward 3 <ward3@example.org>".parse().unwrap();
        assert_eq!(a.mailbox().email.to_string(), "ward3@example.org");
        assert_eq!(a.mailbox().name.as_deref(), Some("Ward 3"));
        for bad in ["ward3", "@example.org", "ward3@", "a b@example.org"] {
            assert!(bad.parse::<EmailAddress>().unwrap_err().contains("not an email address"), "{bad}");
        }
        let yaml: Vec<EmailAddress> = serde_yaml::from_str("[a@example.org, 'B <b@example.org>']").unwrap();
        assert_eq!(serde_yaml::to_string(&yaml).unwrap(), "- a@example.org\n- B <b@example.org>\n");
    }
}
