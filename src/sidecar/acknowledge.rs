//! Acknowledgement — "I'm on it" — from a link in the message, with no login, from a phone.
//!
//! Every firing notification carries a link `…/acknowledge/<token>`. The token names the
//! notification and when the link expires, signed with HMAC-SHA256 under the site's key, so it
//! can be neither forged nor extended, and works on any replica holding the key. Opening the link
//! shows a confirmation page with a form; only submitting the form (`POST`) acknowledges, so a
//! mail scanner or a chat's link preview, which fetch links, acknowledges nothing.
//!
//! An acknowledgement is durable before it is confirmed: one JSON line in
//! `<queue.dir>/acknowledgements.jsonl` (who, when, from which client), fsynced, read back at
//! start. That file is the audit trail of acknowledgements; the metrics count them and how long
//! they took. The key lives in `<queue.dir>/acknowledge.key` (created on first start, mode 0600)
//! unless the configuration names a key file, so links stay valid across restarts.

use super::Sidecar;
use crate::alert::notification::{Acknowledged, Notification};
use crate::alert::payload::Status;
use crate::alert::view::html_escape;
use crate::alert::view::{Moment, Site, View};
use crate::sidecar::queue::DeliveryState;
use crate::sidecar::rescoring::remembered;
use axum::extract::{Form, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where the links point under the sidecar's address.
pub const PATH: &str = "/acknowledge";
/// Bytes of signature kept in a token (128 bits).
const SIGNATURE_BYTES: usize = 16;
/// Longest name a person may give.
const MAX_BY_CHARS: usize = 100;

type HmacSha256 = Hmac<Sha256>;
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Why a link does not acknowledge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Not a token this sidecar makes.
    #[error("this is not an acknowledge link of this site")]
    Malformed,
    /// Signed with another key, or changed.
    #[error("this acknowledge link is not valid (changed, or from another site)")]
    Forged,
    /// Past its time.
    #[error("this acknowledge link expired at {0}")]
    Expired(DateTime<Utc>),
}

/// Makes and checks signed, expiring tokens naming a notification.
#[derive(Clone)]
pub struct Signer {
    key: Vec<u8>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(<key redacted>)")
    }
}

impl Signer {
    /// A signer with `key` (at least 16 bytes).
    pub fn new(key: Vec<u8>) -> Self {
        Self { key }
    }

    fn mac(&self, id: &str, expires: i64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        mac.update(format!("wardwatch-acknowledge|{id}|{expires}").as_bytes());
        mac
    }

    /// `<id>.<expiry, Unix seconds>.<signature>`: URL-safe as it stands.
    pub fn token(&self, id: &str, expires: DateTime<Utc>) -> String {
        let expires = expires.timestamp();
        let sig = self.mac(id, expires).finalize().into_bytes();
        format!("{id}.{expires}.{}", B64.encode(&sig[..SIGNATURE_BYTES]))
    }

    /// The notification a token names, if it is this site's and not expired at `now`.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<String, LinkError> {
        let mut parts = token.split('.');
        let (Some(id), Some(expires), Some(sig), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(LinkError::Malformed);
        };
        let valid_id = !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric());
        let expires: i64 = expires.parse().map_err(|_| LinkError::Malformed)?;
        let sig = B64.decode(sig).map_err(|_| LinkError::Malformed)?;
        if !valid_id || sig.len() != SIGNATURE_BYTES {
            return Err(LinkError::Malformed);
        }
        self.mac(id, expires).verify_truncated_left(&sig).map_err(|_| LinkError::Forged)?;
        let at = DateTime::from_timestamp(expires, 0).ok_or(LinkError::Malformed)?;
        if at <= now {
            return Err(LinkError::Expired(at));
        }
        Ok(id.to_owned())
    }
}

/// The site's key: read from `path` (hex), or made there (32 random bytes, mode 0600) if missing.
pub fn load_or_create_key(path: &FsPath) -> io::Result<Vec<u8>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let text = text.trim();
            let key = decode_hex(text).ok_or_else(|| io::Error::other(format!("{}: not a hex key", path.display())))?;
            if key.len() < 16 {
                return Err(io::Error::other(format!("{}: a key needs at least 16 bytes", path.display())));
            }
            Ok(key)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            use rand::RngCore;
            use std::os::unix::fs::OpenOptionsExt;
            let mut key = vec![0u8; 32];
            rand::rng().fill_bytes(&mut key);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut f = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
            f.write_all(key.iter().map(|b| format!("{b:02x}")).collect::<String>().as_bytes())?;
            f.sync_all()?;
            Ok(key)
        }
        Err(e) => Err(e),
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

/// One acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The notification acknowledged.
    pub id: String,
    /// Who, as they gave their name (empty if they gave none).
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The client they used (its `User-Agent`), as far as known.
    #[serde(default)]
    pub client: String,
}

/// What recording an acknowledgement did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// It is the first: now durable.
    New(Ack),
    /// Someone acknowledged it before.
    Already(Ack),
}

/// The durable acknowledgements: one fsynced JSON line each, all read back at open.
pub struct AckLog {
    path: PathBuf,
    state: Mutex<LogState>,
}

struct LogState {
    acks: HashMap<String, Ack>,
    /// The file may end in a torn line (a crash, a full disk): the next line starts on a new one.
    torn: bool,
}

impl AckLog {
    /// Open (creating) the log at `path` and read what it holds; a torn last line is skipped.
    pub fn open(path: &FsPath) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut acks = HashMap::new();
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        for line in bytes.split(|&b| b == b'\n') {
            if let Ok(ack) = serde_json::from_slice::<Ack>(line) {
                acks.entry(ack.id.clone()).or_insert(ack);
            }
        }
        let torn = bytes.last().is_some_and(|&b| b != b'\n');
        // Made now, so a directory that cannot take it stops start-up rather than a click.
        OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self { path: path.to_owned(), state: Mutex::new(LogState { acks, torn }) })
    }

    /// The acknowledgement of notification `id`, if any.
    pub fn get(&self, id: &str) -> Option<Ack> {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).acks.get(id).cloned()
    }

    /// Record `ack` durably unless its notification was acknowledged before.
    pub fn record(&self, ack: Ack) -> io::Result<Recorded> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(first) = state.acks.get(&ack.id) {
            return Ok(Recorded::Already(first.clone()));
        }
        let mut line = if state.torn { vec![b'\n'] } else { Vec::new() };
        serde_json::to_writer(&mut line, &ack).map_err(io::Error::other)?;
        line.push(b'\n');
        // Opened for each acknowledgement, not held: a file held open for writing would keep an
        // operator from remounting the queue's filesystem read-only.
        let written = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .and_then(|mut file| file.write_all(&line).and_then(|()| file.sync_data()));
        if let Err(e) = written {
            state.torn = true;
            return Err(e);
        }
        state.torn = false;
        state.acks.insert(ack.id.clone(), ack.clone());
        Ok(Recorded::New(ack))
    }

    /// Where it is.
    pub fn path(&self) -> &FsPath {
        &self.path
    }
}

/// Links, their checking and the log, as the running sidecar holds them.
pub struct Acknowledger {
    signer: Signer,
    /// `https://wardwatch.example.org/acknowledge`.
    base: String,
    valid_for: Duration,
    /// The acknowledgements.
    pub log: AckLog,
}

impl Acknowledger {
    /// Links under `sidecar_url`, valid for `valid_for`, signed by `signer`, recorded in `log`.
    pub fn new(signer: Signer, sidecar_url: &str, valid_for: Duration, log: AckLog) -> Self {
        Self { signer, base: format!("{}{PATH}", sidecar_url.trim_end_matches('/')), valid_for, log }
    }

    /// The acknowledge link of notification `id`, made at `now`.
    pub fn link(&self, id: &str, now: DateTime<Utc>) -> String {
        let expires = now + chrono::Duration::from_std(self.valid_for).unwrap_or(chrono::Duration::hours(24));
        format!("{}/{}", self.base, self.signer.token(id, expires))
    }
}

/// The form a confirmation page posts.
#[derive(Debug, Deserialize)]
pub struct AckForm {
    /// The name the person gives (optional).
    #[serde(default)]
    by: String,
}

/// `GET /acknowledge/<token>`: what would be acknowledged, and a button; acknowledges nothing.
pub async fn confirm(State(s): State<Arc<Sidecar>>, Path(token): Path<String>) -> Response {
    let Some(ack) = s.acknowledge.get() else { return page(StatusCode::NOT_FOUND, "Not available", NOT_ON) };
    let id = match ack.signer.verify(&token, Utc::now()) {
        Ok(id) => id,
        Err(e) => return refused(&e),
    };
    let about = describe(&s, &id).await;
    if let Some(done) = ack.log.get(&id) {
        return page(StatusCode::OK, "Already acknowledged", &format!("{about}{}", done_html(&done, &s.settings.site)));
    }
    let body = format!(
        "{about}<form method=\"post\"><p><label>Your name (optional)<br>\
         <input name=\"by\" maxlength=\"{MAX_BY_CHARS}\" autocomplete=\"name\" style=\"font-size:1.1em;width:16em\"></label></p>\
         <p><button type=\"submit\" style=\"font-size:1.3em;padding:.4em 1.2em\">I'm on it — acknowledge</button></p></form>"
    );
    page(StatusCode::OK, "Acknowledge this alert?", &body)
}

/// `POST /acknowledge/<token>`: acknowledge, durably, then say so.
pub async fn acknowledge(
    State(s): State<Arc<Sidecar>>,
    Path(token): Path<String>,
    headers: HeaderMap,
    Form(form): Form<AckForm>,
) -> Response {
    let Some(ack) = s.acknowledge.get() else { return page(StatusCode::NOT_FOUND, "Not available", NOT_ON) };
    let now = Utc::now();
    let id = match ack.signer.verify(&token, now) {
        Ok(id) => id,
        Err(e) => return refused(&e),
    };
    let by: String = form.by.trim().chars().filter(|c| !c.is_control()).take(MAX_BY_CHARS).collect();
    let client =
        headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").chars().take(200).collect();
    let entry = Ack { id: id.clone(), by, at: now, client };
    let acknowledger = Arc::clone(&s);
    let recorded = tokio::task::spawn_blocking(move || match acknowledger.acknowledge.get() {
        Some(a) => a.log.record(entry),
        None => Err(io::Error::other("acknowledgement is off")),
    })
    .await
    .map_err(io::Error::other)
    .and_then(|r| r);
    let about = describe(&s, &id).await;
    match recorded {
        Ok(Recorded::New(done)) => {
            s.telemetry.acknowledged.inc();
            if let Some(n) = lookup(&s, &id).await {
                let waited = (done.at - n.received_at).to_std().unwrap_or_default();
                s.telemetry.time_to_acknowledge.observe(waited.as_secs_f64());
            }
            tracing::info!(id, by = %done.by, client = %done.client, "notification acknowledged");
            follow_up(&s, &id, &done).await;
            page(StatusCode::OK, "Acknowledged", &format!("{about}{}", done_html(&done, &s.settings.site)))
        }
        Ok(Recorded::Already(first)) => {
            page(StatusCode::OK, "Already acknowledged", &format!("{about}{}", done_html(&first, &s.settings.site)))
        }
        Err(e) => {
            tracing::error!(id, error = %e, "cannot record an acknowledgement");
            let why =
                "The acknowledgement could not be saved (the sidecar's disk is failing). Try again, and call the ward.";
            page(StatusCode::SERVICE_UNAVAILABLE, "Not acknowledged", &format!("{about}<p><b>{why}</b></p>"))
        }
    }
}

/// Tell the channels that had notification `id` that someone acknowledged it: a follow-up
/// message through the queue (durable and retried as any notification), leading with who and
/// when, with the original's verdict and without an acknowledge link. A channel that gets the
/// notification only later (a held or escalation channel) is told in that message instead.
async fn follow_up(s: &Sidecar, id: &str, ack: &Ack) {
    let Some((item, mut n)) = remembered(s, id).await else { return };
    let channels: Vec<String> =
        item.channels.iter().filter(|(_, st)| st.state == DeliveryState::Delivered).map(|(c, _)| c.clone()).collect();
    if channels.is_empty() || n.status != Status::Firing {
        return;
    }
    n.acknowledged = Some(Acknowledged { by: ack.by.clone(), at: ack.at });
    n.id = format!("{id}.ack");
    match s.queue.enqueue(&n.id, &channels, &n).await {
        Ok(_) => {
            tracing::info!(id, channels = ?channels, "acknowledgement follow-up stored");
            s.wake.notify_one();
        }
        Err(e) => {
            tracing::error!(id, error = %e, "cannot store the acknowledgement's follow-up; the acknowledgement stands")
        }
    }
}

const NOT_ON: &str = "<p>Acknowledgement is not switched on at this sidecar.</p>";

/// The notification `id` with its verdict, while the queue still remembers it.
async fn lookup(s: &Sidecar, id: &str) -> Option<Notification> {
    remembered(s, id).await.map(|(_, n)| n)
}

/// The notification as its message leads: title, who, what, the verdict.
async fn describe(s: &Sidecar, id: &str) -> String {
    let Some(n) = lookup(s, id).await else {
        return format!("<p>Notification <code>{}</code> (no longer in the queue's memory).</p>", html_escape(id));
    };
    let v = View::of(&n, &s.settings.site);
    let mut out = format!("<h2 style=\"margin:.2em 0\">{}</h2><table>", html_escape(&v.title()));
    let who = v.place.who();
    let rows = [("Who", who.as_str()), ("What", v.what.as_deref().unwrap_or("")), ("Verdict", &v.verdict.headline)];
    for (k, text) in rows.iter().filter(|(_, t)| !t.is_empty()) {
        out.push_str(&format!(
            "<tr><td style=\"color:#555;padding-right:1em\">{k}</td><td>{}</td></tr>",
            html_escape(text)
        ));
    }
    out.push_str(&format!("</table><p style=\"color:#555\">Received {}</p>", html_escape(&v.received.both())));
    out
}

fn done_html(a: &Ack, site: &Site) -> String {
    let by = if a.by.is_empty() { "someone who gave no name".to_owned() } else { a.by.clone() };
    let at = Moment::new(a.at, site.time_zone).both();
    format!("<p style=\"font-size:1.2em\">✋ Acknowledged by <b>{}</b> at {}.</p>", html_escape(&by), html_escape(&at))
}

fn refused(e: &LinkError) -> Response {
    let status = match e {
        LinkError::Expired(_) => StatusCode::GONE,
        _ => StatusCode::BAD_REQUEST,
    };
    page(
        status,
        "Link not valid",
        &format!("<p>{}</p><p>Acknowledge from the latest message, or call the ward.</p>", html_escape(&e.to_string())),
    )
}

/// A small page for a phone.
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{t} — wardwatch</title></head>\
         <body style=\"font-family:sans-serif;max-width:36em;margin:1em auto;padding:0 1em\">\
         <h1 style=\"font-size:1.4em\">{t}</h1>{body}</body></html>",
        t = html_escape(title)
    );
    let headers = [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")];
    (status, headers, html).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_its_notification_until_it_expires_and_cannot_be_changed() {
        let signer = Signer::new(b"0123456789abcdef0123456789abcdef".to_vec());
        let now: DateTime<Utc> = "2026-12-01T12:00:00Z".parse().unwrap();
        let token = signer.token("fe41602a31caf494", now + chrono::Duration::hours(24));
        assert_eq!(signer.verify(&token, now), Ok("fe41602a31caf494".to_owned()));
        let later = now + chrono::Duration::hours(25);
        assert!(matches!(signer.verify(&token, later), Err(LinkError::Expired(_))));
        let extended = token.replacen(&(now + chrono::Duration::hours(24)).timestamp().to_string(), "9999999999", 1);
        assert_eq!(signer.verify(&extended, now), Err(LinkError::Forged), "the expiry is signed");
        let other = token.replacen("fe41602a31caf494", "fe41602a31caf495", 1);
        assert_eq!(signer.verify(&other, now), Err(LinkError::Forged), "so is the notification");
        let elsewhere = Signer::new(b"another site's key, also 32 byte".to_vec());
        assert_eq!(elsewhere.verify(&token, now), Err(LinkError::Forged));
        for bad in ["", "x", "a.b.c", "fe41602a31caf494.12.!!", "../etc.1.AAAAAAAAAAAAAAAAAAAAAA", "a.1.b.c"] {
            assert!(signer.verify(bad, now).is_err(), "{bad}");
        }
        assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)), "URL-safe: {token}");
    }

    #[test]
    fn acknowledgements_are_durable_and_the_first_one_stands() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("acknowledgements.jsonl");
        let at: DateTime<Utc> = "2026-12-01T12:00:00Z".parse().unwrap();
        let ack = |by: &str| Ack { id: "n1".into(), by: by.into(), at, client: String::new() };
        let log = AckLog::open(&path).unwrap();
        assert_eq!(log.record(ack("Sam")).unwrap(), Recorded::New(ack("Sam")));
        assert_eq!(log.record(ack("Alex")).unwrap(), Recorded::Already(ack("Sam")));
        drop(log);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"id\":\"n2\",\"by\":\"torn").unwrap();
        let log = AckLog::open(&path).unwrap();
        assert_eq!(log.get("n1"), Some(ack("Sam")), "read back after a restart");
        assert_eq!(log.get("n2"), None, "a torn line is no acknowledgement");
        let after = Ack { id: "n3".into(), ..ack("Kim") };
        log.record(after.clone()).unwrap();
        drop(log);
        let log = AckLog::open(&path).unwrap();
        assert_eq!(log.get("n3"), Some(after), "the line after a torn one starts on its own");
    }

    #[test]
    fn the_key_is_made_once_kept_private_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q").join("acknowledge.key");
        let key = load_or_create_key(&path).unwrap();
        assert_eq!(key.len(), 32);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(load_or_create_key(&path).unwrap(), key);
        std::fs::write(&path, "abc").unwrap();
        assert!(load_or_create_key(&path).is_err(), "a bad key stops start-up rather than signing with garbage");
    }
}
