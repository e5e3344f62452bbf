//! A real SMTP server for tests: `tests/smtp_server.py` (aiosmtpd from `.venv-test/`) with
//! STARTTLS or implicit TLS, AUTH required, and a certificate from a private CA made with openssl.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use wardwatch::notify::email::{EmailConfig, TlsMode};

pub const USER: &str = "alerts@wardwatch.test";
pub const PASSWORD: &str = "correct horse battery staple";
pub const TO: &str = "oncall@wardwatch.test";

/// Run openssl in `dir`; panic with its output on failure.
fn openssl(bin: &Path, dir: &Path, args: &[&str]) {
    let out = Command::new(bin).args(args).current_dir(dir).stdin(Stdio::null()).output().expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A private CA (ca.pem) and a server certificate for 127.0.0.1/localhost (server.pem, server.key).
fn make_certs(dir: &Path) -> Option<()> {
    let bin = super::require_tool("openssl")?;
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let ext = "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n\
               keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n";
    std::fs::write(dir.join("server.ext"), ext).unwrap();
    let ca = [&["req", "-x509"][..], &ec, &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2"]].concat();
    openssl(&bin, dir, &[&ca[..], &["-subj", "/CN=wardwatch test CA"]].concat());
    let csr = [&["req", "-new"][..], &ec, &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"]];
    openssl(&bin, dir, &csr.concat());
    let sign =
        "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 1 -extfile server.ext";
    openssl(&bin, dir, &sign.split(' ').collect::<Vec<_>>());
    Some(())
}

/// The Python with aiosmtpd: `.venv-test/bin/python`, else the one next to an `aiosmtpd` on PATH.
fn python() -> Option<PathBuf> {
    let aiosmtpd = super::require_tool("aiosmtpd")?;
    let venv = super::repo_root().join(".venv-test").join("bin").join("python");
    let found =
        [venv, aiosmtpd.with_file_name("python3"), aiosmtpd.with_file_name("python")].into_iter().find(|p| p.exists());
    found.or_else(|| super::require_tool("python3"))
}

/// Wait until the server accepts connections (10 s at most); its exit status and log if it exited.
fn wait_ready(child: &mut Child, port: u16, log: &Path) -> Result<(), String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Err(format!("{status}\n{}", super::file_tail(log, 40)));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("smtp_server.py not listening on {addr} after 10 s:\n{}", super::file_tail(log, 40));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `tests/smtp_server.py` running as a child process, killed on drop.
pub struct SmtpServer {
    child: Child,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    dir: tempfile::TempDir,
}

impl SmtpServer {
    /// Start in `mode` (starttls or implicit), answering the first `fail.0` DATA with `fail.1`.
    /// `None` when the tools are missing and skipping is allowed.
    pub fn start(mode: &str, fail: Option<(u32, u16)>) -> Option<Self> {
        let python = python()?;
        let dir = tempfile::Builder::new().prefix("wardwatch-smtp-").tempdir().unwrap();
        make_certs(dir.path())?;
        let (fail_first, fail_code) = fail.unwrap_or((0, 451));
        let log = dir.path().join("server.log");
        for _attempt in 0..3 {
            let port = super::free_port();
            let mut child = Command::new(&python)
                .arg(super::repo_root().join("tests").join("smtp_server.py"))
                .args(["--port", &port.to_string(), "--mode", mode, "--user", USER, "--password", PASSWORD])
                .args(["--cert", "server.pem", "--key", "server.key", "--maildir", "mail"])
                .args(["--fail-first", &fail_first.to_string(), "--fail-code", &fail_code.to_string()])
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {}: {e}", python.display()));
            match wait_ready(&mut child, port, &log) {
                Ok(()) => return Some(SmtpServer { child, port, dir }),
                Err(e) if e.contains("in use") => continue,
                Err(e) => panic!("smtp_server.py exited early: {e}"),
            }
        }
        panic!("smtp_server.py: no free port after 3 attempts:\n{}", super::file_tail(&log, 40));
    }

    pub fn log(&self) -> String {
        super::file_tail(&self.dir.path().join("server.log"), 40)
    }

    /// Settings for this server: its port, the private CA, and the given TLS mode and password.
    pub fn config(&self, tls: TlsMode, password: &str) -> EmailConfig {
        EmailConfig {
            host: "127.0.0.1".into(),
            port: self.port,
            tls,
            username: USER.into(),
            password: password.into(),
            from: format!("Wardwatch <{USER}>"),
            to: vec![TO.into()],
            timeout: Duration::from_secs(5),
            ca_file: Some(self.dir.path().join("ca.pem")),
        }
    }

    /// The summaries (NNNN.json) of the stored messages, in order.
    pub fn messages(&self) -> Vec<serde_json::Value> {
        let Ok(entries) = std::fs::read_dir(self.dir.path().join("mail")) else { return Vec::new() };
        let mut paths: Vec<PathBuf> =
            entries.map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect();
        paths.sort();
        paths.iter().map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()).collect()
    }

    /// The raw bytes of stored message `i` (1-based), as text.
    pub fn raw(&self, i: usize) -> String {
        String::from_utf8_lossy(&std::fs::read(self.dir.path().join(format!("mail/{i:04}.eml"))).unwrap()).into_owned()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
