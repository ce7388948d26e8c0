//! Where the REPL keeps its history: `$XDG_STATE_HOME/gbau/history` (default
//! `~/.local/state/gbau/history`, XDG Base Directory spec), the folder 0700 and the file 0600
//! from the moment they are created — lines may hold PINs typed as arguments.

use std::fs::{self, DirBuilder, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of the history folder.
pub const DIR_MODE: u32 = 0o700;
/// Mode of the history file.
pub const FILE_MODE: u32 = 0o600;

/// The history file's path from the environment; `None` without XDG_STATE_HOME and HOME.
#[must_use]
pub fn path() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| Path::new(v).is_absolute())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    Some(state.join("gbau").join("history"))
}

/// Create the folder (0700) and the file (0600) if missing, and tighten an existing file's
/// mode to 0600.
pub fn prepare(file: &Path) -> io::Result<()> {
    if let Some(dir) = file.parent() {
        DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir)?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(FILE_MODE)
        .open(file)?;
    fs::set_permissions(file, Permissions::from_mode(FILE_MODE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_the_file_0600_in_a_0700_folder() {
        let base = std::env::temp_dir().join(format!("gbau-history-{}", std::process::id()));
        let file = base.join("gbau").join("history");
        prepare(&file).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&file), FILE_MODE);
        assert_eq!(mode(file.parent().unwrap()), DIR_MODE);
        let _ = fs::remove_dir_all(&base);
    }
}
