//! Durable state: the state file is written to a temporary file, fsynced, renamed over the
//! old one, and the directory fsynced, before any response that depends on it leaves.
//!
//! Files that hold keys, PINs or sessions are owner-only from the moment they exist: the
//! temporary file is created with mode 0600 and O_EXCL under a name nobody can predict (so no
//! symlink planted in advance is followed), folders are created 0700, and one process owns
//! one state file through an advisory lock held for its life.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Mode of files holding keys, PINs or sessions.
pub const PRIVATE_FILE_MODE: u32 = 0o600;
/// Mode of folders holding them.
pub const PRIVATE_DIR_MODE: u32 = 0o700;

/// Why the state file could not be read or written. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read state file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state file {path} is corrupt: {problem}")]
    Corrupt { path: PathBuf, problem: String },
    #[error("cannot write state file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is in use by another process (one state file, one owner): stop it first")]
    Locked { path: PathBuf },
}

/// Read a file, or `None` when it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StoreError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

fn temp_prefix(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".into());
    format!(".{name}.tmp.")
}

/// Remove temporary files left by writes that a crash interrupted (they never replaced the
/// state file, so they hold nothing the card answered on).
pub fn remove_stale_temps(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let prefix = temp_prefix(path);
    if let Ok(entries) = fs::read_dir(&dir) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = fs::remove_file(e.path());
            }
        }
    }
}

/// Create a folder (and its parents) owner-only (0700) when it does not exist.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR_MODE)
        .create(dir)
}

/// [`create_private_dir`] for a folder gbau chooses itself (its state folder, also when there
/// is no HOME and it lives under the temporary directory): one that exists must be a real
/// folder (not a link) of this user's that nobody else can write to, so keys are never put
/// where someone else could replace them.
pub fn own_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    create_private_dir(dir)?;
    let m = fs::symlink_metadata(dir)?;
    let me = rustix::process::getuid().as_raw();
    if !m.is_dir() || m.uid() != me || m.mode() & 0o022 != 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "{} is not a folder of this user's that only it can write to",
                dir.display()
            ),
        ));
    }
    Ok(())
}

/// Open a new file owner-only (0600 at creation, whatever the umask adds), refusing one that
/// exists already (O_EXCL: nothing planted there is followed).
pub fn create_private(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(PRIVATE_FILE_MODE)
        .open(path)
}

/// A temporary name nobody can guess in advance: process, time and a counter.
fn temp_name(name: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        ".{name}.tmp.{}.{nanos:x}.{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Replace `path` with `bytes` durably: an owner-only temporary file in the same directory
/// (created with O_EXCL), fsync, rename, fsync of the directory.
pub fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let err = |source| StoreError::Write {
        path: path.to_owned(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".into());
    let tmp = dir.join(temp_name(&name));
    {
        let mut f = create_private(&tmp).map_err(err)?;
        let written = f.write_all(bytes).and_then(|()| f.sync_all());
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(err(e));
        }
    }
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(err(e));
    }
    File::open(&dir).and_then(|d| d.sync_all()).map_err(err)?;
    Ok(())
}

/// How long [`Owner::take`] waits for a lock another process holds before refusing.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// The exclusive, advisory ownership of a state file for this process's life: a lock on
/// `.NAME.lock` beside it (the state file itself is replaced by every write).
#[derive(Debug)]
pub struct Owner {
    _lock: File,
}

impl Owner {
    /// Take ownership of `path`, or say that another process has it.
    pub fn take(path: &Path) -> Result<Self, StoreError> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "state".into());
        let lock_path = dir.join(format!(".{name}.lock"));
        let err = |source| StoreError::Write {
            path: lock_path.clone(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(PRIVATE_FILE_MODE)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&lock_path)
            .map_err(err)?;
        // A lock just released can still be held for an instant by a child process forked
        // in between (it shares the descriptor until its exec closes it): a short wait before
        // saying another process owns the file.
        let deadline = std::time::Instant::now() + LOCK_WAIT;
        loop {
            match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return Ok(Self { _lock: file }),
                Err(rustix::io::Errno::WOULDBLOCK) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(rustix::io::Errno::WOULDBLOCK) => {
                    return Err(StoreError::Locked {
                        path: path.to_owned(),
                    })
                }
                Err(e) => return Err(err(e.into())),
            }
        }
    }
}
