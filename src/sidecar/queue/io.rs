//! The queue's file-system operations: the primitives behind a trait ([`Io`]), so tests can make
//! any one of them fail, and the write protocol built on them (`Fs`).
//!
//! Every operation the queue performs on its directory goes through [`Io`] except the directory
//! lock, which is not a write and whose failure needs no injecting (a second open is refused).

use super::QueueError;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;
use tracing::warn;

pub(super) const TMP_DIR: &str = "tmp";
pub(super) const SEEN_DIR: &str = "seen";
pub(super) const DEAD_DIR: &str = "dead";
pub(super) const CORRUPT_DIR: &str = "corrupt";
pub(super) const LOCK_FILE: &str = "LOCK";

/// The file-system primitives the queue uses. [`StdIo`] is the real one.
pub trait Io: Send + Sync {
    /// Create `path` with `bytes` (replacing it), and `fsync` it if `sync`.
    fn write_file(&self, path: &Path, bytes: &[u8], sync: bool) -> io::Result<()>;
    /// Rename `from` onto `to` (atomic within one filesystem).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Remove the file `path`.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// `fsync` the directory `dir`, so the names in it are durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Create `dir` and its parents.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Names of the regular files in `dir`.
    fn list_files(&self, dir: &Path) -> io::Result<Vec<OsString>>;
    /// Read the whole file `path`.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// When `path` was last modified.
    fn modified(&self, path: &Path) -> io::Result<SystemTime>;
    /// Whether `path` exists.
    fn exists(&self, path: &Path) -> bool;
}

/// The operating system's file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdIo;

impl Io for StdIo {
    fn write_file(&self, path: &Path, bytes: &[u8], sync: bool) -> io::Result<()> {
        let mut file = File::create(path)?;
        file.write_all(bytes)?;
        if sync {
            file.sync_all()?;
        }
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    fn list_files(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                names.push(entry.file_name());
            }
        }
        Ok(names)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        fs::read(path)
    }

    fn modified(&self, path: &Path) -> io::Result<SystemTime> {
        fs::metadata(path)?.modified()
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
}

/// A failed write, and whether its result is nevertheless visible on disk (the rename happened
/// but the directory `fsync` failed).
pub(super) struct WriteFailure {
    pub(super) error: QueueError,
    pub(super) visible: bool,
}

impl WriteFailure {
    fn hidden(error: QueueError) -> Self {
        Self { error, visible: false }
    }
}

/// The [`QueueError::Io`] of doing `op` on `path`.
pub(super) fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> QueueError + 'a {
    move |source| QueueError::Io { op, path: path.to_path_buf(), source }
}

/// The queue directory and the write protocol on it.
pub(super) struct Fs {
    pub(super) dir: PathBuf,
    pub(super) fsync: bool,
    pub(super) io: Arc<dyn Io>,
    /// One group commit per directory, so concurrent renames share a directory `fsync`.
    dir_syncs: std::sync::Mutex<std::collections::HashMap<PathBuf, Arc<crate::group_commit::GroupCommit>>>,
}

impl Fs {
    pub(super) fn new(dir: PathBuf, fsync: bool, io: Arc<dyn Io>) -> Self {
        Self { dir, fsync, io, dir_syncs: Default::default() }
    }

    pub(super) fn sub(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub(super) fn sync_dir(&self, dir: &Path) -> Result<(), QueueError> {
        if self.fsync {
            let group = {
                let mut syncs = self.dir_syncs.lock().unwrap_or_else(|e| e.into_inner());
                Arc::clone(syncs.entry(dir.to_path_buf()).or_default())
            };
            group.sync(|| self.io.sync_dir(dir)).map_err(io_err("fsync directory", dir))?;
        }
        Ok(())
    }

    pub(super) fn write_file(&self, path: &Path, bytes: &[u8]) -> Result<(), QueueError> {
        self.io.write_file(path, bytes, self.fsync).map_err(io_err("write", path))
    }

    /// Write `tmp/<tmp_name>`, fsync, rename to `dest`, fsync `dest`'s directory.
    pub(super) fn write_atomic(&self, tmp_name: &str, dest: &Path, bytes: &[u8]) -> Result<(), WriteFailure> {
        let tmp = self.sub(TMP_DIR).join(tmp_name);
        let staged =
            self.write_file(&tmp, bytes).and_then(|()| self.io.rename(&tmp, dest).map_err(io_err("rename", &tmp)));
        if let Err(error) = staged {
            let _ = self.io.remove_file(&tmp);
            return Err(WriteFailure::hidden(error));
        }
        let parent = dest.parent().unwrap_or(&self.dir);
        self.sync_dir(parent).map_err(|error| WriteFailure { error, visible: true })
    }

    /// Rename a finished item file into `seen/`, then fsync both directories.
    pub(super) fn retire(&self, item: &Path, marker: &Path) -> Result<(), WriteFailure> {
        self.io.rename(item, marker).map_err(|e| WriteFailure::hidden(io_err("rename", item)(e)))?;
        let visible = |error| WriteFailure { error, visible: true };
        self.sync_dir(marker.parent().unwrap_or(&self.dir)).map_err(visible)?;
        self.sync_dir(item.parent().unwrap_or(&self.dir)).map_err(visible)
    }

    /// Remove `path` and fsync its directory.
    pub(super) fn remove(&self, path: &Path) -> Result<(), WriteFailure> {
        self.io.remove_file(path).map_err(|e| WriteFailure::hidden(io_err("remove", path)(e)))?;
        let parent = path.parent().unwrap_or(&self.dir);
        self.sync_dir(parent).map_err(|error| WriteFailure { error, visible: true })
    }

    /// File names (UTF-8 only) of the regular files in `dir`, sorted.
    pub(super) fn list_files(&self, dir: &Path) -> Result<Vec<String>, QueueError> {
        let mut names = Vec::new();
        for name in self.io.list_files(dir).map_err(io_err("list directory", dir))? {
            match name.into_string() {
                Ok(name) => names.push(name),
                Err(name) => warn!(dir = %dir.display(), ?name, "ignoring a file whose name is not UTF-8"),
            }
        }
        names.sort();
        Ok(names)
    }
}
