//! Headless Chromium (Debian's `chromium`), driven over the DevTools protocol: open a page,
//! read it, type, click with the mouse where the element is, and save screenshots.
//!
//! Written against the protocol directly (a websocket and a handful of commands) rather than
//! with a WebDriver crate: that would need `chromium-driver` too, and a test here needs only
//! these few commands.

use super::process::Process;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One browser with one page.
pub struct Browser {
    _process: Process,
    socket: Socket,
    session: String,
    next_id: u64,
    /// Where screenshots go.
    pub screenshots: PathBuf,
}

/// Where a test's screenshots go: `WARDWATCH_SCREENSHOTS/<test>` when set (CI keeps them),
/// else a directory under the system's temporary directory. Printed, so the test output says.
pub fn screenshot_dir(test: &str) -> PathBuf {
    let root = std::env::var_os("WARDWATCH_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("wardwatch-screenshots"));
    let dir = root.join(test);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Browser {
    /// Start Chromium with a phone-sized page (`width`×`height` CSS pixels); `None` when it is not
    /// installed and the tools are not required (a loud skip).
    pub async fn start(dir: &Path, width: u32, height: u32, screenshots: PathBuf) -> Option<Browser> {
        let chromium = super::require_tool("chromium")?;
        let profile = dir.join("chromium-profile");
        std::fs::create_dir_all(&profile).unwrap();
        let mut cmd = Command::new(chromium);
        cmd.args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--remote-debugging-port=0",
            "--remote-allow-origins=*",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--window-size={width},{height}"))
        .arg("about:blank");
        let process = Process::spawn("chromium", cmd, dir);
        // Chromium writes its port and the browser's websocket path here once it listens.
        let port_file = profile.join("DevToolsActivePort");
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file) {
                let mut lines = text.lines();
                if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                    break format!("ws://127.0.0.1:{port}{path}");
                }
            }
            assert!(Instant::now() < deadline, "chromium did not start\n{}", process.report(40));
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let (socket, _) = tokio_tungstenite::connect_async(&url).await.expect("the DevTools websocket");
        let mut browser = Browser { _process: process, socket, session: String::new(), next_id: 0, screenshots };
        let target = browser.call(None, "Target.createTarget", json!({"url": "about:blank"})).await;
        let target = target["targetId"].as_str().expect("a target").to_owned();
        let attached = browser.call(None, "Target.attachToTarget", json!({"targetId": target, "flatten": true})).await;
        browser.session = attached["sessionId"].as_str().expect("a session").to_owned();
        browser.page("Page.enable", json!({})).await;
        let metrics = json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": true});
        browser.page("Emulation.setDeviceMetricsOverride", metrics).await;
        Some(browser)
    }

    /// Send a command (to the page's session, or the browser's when `session` is `None`) and
    /// return its result; a protocol error fails the test.
    async fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        match self.try_call(session, method, params).await {
            Ok(result) => result,
            Err(error) => panic!("{method}: {error}"),
        }
    }

    /// Like [`Browser::call`], returning a protocol error instead of failing.
    async fn try_call(&mut self, session: Option<&str>, method: &str, params: Value) -> Result<Value, Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            message["sessionId"] = s.into();
        }
        self.socket.send(Message::text(message.to_string())).await.expect("send to chromium");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let frame = tokio::time::timeout(left, self.socket.next()).await;
            let Ok(Some(Ok(Message::Text(text)))) = frame else {
                assert!(Instant::now() < deadline, "{method}: no answer from chromium");
                continue;
            };
            let reply: Value = serde_json::from_str(&text).expect("DevTools JSON");
            if reply["id"].as_u64() == Some(id) {
                return match reply.get("error") {
                    Some(error) => Err(error.clone()),
                    None => Ok(reply["result"].clone()),
                };
            }
        }
    }

    async fn page(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.call(Some(&session), method, params).await
    }

    /// Open `url` and wait until it has loaded.
    pub async fn open(&mut self, url: &str) {
        self.page("Page.navigate", json!({"url": url})).await;
        self.wait_for("document.readyState === 'complete' && location.href !== 'about:blank'").await;
    }

    /// The value of a JavaScript expression on the page; `null` while the page is being replaced
    /// (a form was just submitted), so [`Browser::wait_for`] asks again.
    pub async fn eval(&mut self, expression: &str) -> Value {
        let session = self.session.clone();
        let params = json!({"expression": expression, "returnByValue": true});
        match self.try_call(Some(&session), "Runtime.evaluate", params).await {
            Ok(r) => r["result"]["value"].clone(),
            Err(e) if navigating(&e) => Value::Null,
            Err(e) => panic!("Runtime.evaluate: {e}"),
        }
    }

    /// Wait (up to 20 s) until `condition` is true on the page.
    pub async fn wait_for(&mut self, condition: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.eval(&format!("!!({condition})")).await != Value::Bool(true) {
            let text = self.text().await;
            assert!(Instant::now() < deadline, "never true: {condition}\npage: {text}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The page's visible text.
    pub async fn text(&mut self) -> String {
        self.eval("document.body ? document.body.innerText : ''").await.as_str().unwrap_or_default().to_owned()
    }

    /// Click the element `selector` selects as a person does: the mouse pressed and released at
    /// its centre.
    pub async fn click(&mut self, selector: &str) {
        let js = format!(
            "(() => {{ const e = document.querySelector({sel}); if (!e) return null; e.scrollIntoView(); \
             const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()",
            sel = serde_json::to_string(selector).unwrap()
        );
        let at = self.eval(&js).await;
        let (Some(x), Some(y)) = (at[0].as_f64(), at[1].as_f64()) else {
            let text = self.text().await;
            panic!("nothing to click at {selector}: {text}");
        };
        for kind in ["mousePressed", "mouseReleased"] {
            let event = json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1});
            self.page("Input.dispatchMouseEvent", event).await;
        }
    }

    /// Type `text` into the field `selector` selects (focused first, as a tap does).
    pub async fn type_into(&mut self, selector: &str, text: &str) {
        let sel = serde_json::to_string(selector).unwrap();
        self.eval(&format!("document.querySelector({sel}).focus()")).await;
        self.page("Input.insertText", json!({"text": text})).await;
    }

    /// Save the page as `<screenshots>/<name>.png` and say where.
    pub async fn screenshot(&mut self, name: &str) -> PathBuf {
        let shot = self.page("Page.captureScreenshot", json!({"format": "png"})).await;
        let data = shot["data"].as_str().expect("PNG data");
        use base64::Engine;
        let png = base64::engine::general_purpose::STANDARD.decode(data).expect("base64 PNG");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let path = self.screenshots.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        println!("screenshot: {}", path.display());
        path
    }
}

/// Whether a DevTools error only says that the page went away under the command: it navigated,
/// or its JavaScript context was replaced.
fn navigating(error: &Value) -> bool {
    let message = error["message"].as_str().unwrap_or_default();
    ["navigated or closed", "context was destroyed", "Cannot find context"].iter().any(|m| message.contains(m))
}
