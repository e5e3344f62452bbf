//! Child processes of a test: each one logs to a file, and is killed when dropped, on panic too.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A named child process with its stdout and stderr in `log`; killed and reaped on drop.
pub struct Process {
    pub name: String,
    pub log: PathBuf,
    child: Child,
}

impl Process {
    /// Start `cmd` with stdin closed and its output in `<log_dir>/<name>.log`.
    pub fn spawn(name: &str, mut cmd: Command, log_dir: &Path) -> Process {
        let log = log_dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
        let err = out.try_clone().unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name} ({:?}): {e}", cmd.get_program()));
        Process { name: name.to_string(), log, child }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its exit status, if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap_or_else(|e| panic!("{}: try_wait: {e}", self.name))
    }

    pub fn log_tail(&self, lines: usize) -> String {
        super::file_tail(&self.log, lines)
    }

    /// `== name (log) ==` and the log's last lines, for failure messages.
    pub fn report(&self, lines: usize) -> String {
        format!("==== {} ({}) ====\n{}\n", self.name, self.log.display(), self.log_tail(lines))
    }

    /// Wait until `GET http://addr{path}` answers 200; panic with the log when the process exits
    /// first or `timeout` passes.
    pub async fn wait_http_ok(&mut self, addr: SocketAddr, path: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                panic!("{} exited with {status} before {path} answered\n{}", self.name, self.report(40));
            }
            let probe = tokio::task::spawn_blocking({
                let path = path.to_string();
                move || super::http_status(addr, &path)
            });
            if probe.await.unwrap() == Some(200) {
                return;
            }
            assert!(Instant::now() < deadline, "{}: {path} not 200 after {timeout:?}\n{}", self.name, self.report(40));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
