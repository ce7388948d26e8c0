//! Running APDU script files from disk (the language is `gbau_core::script`): includes are
//! resolved relative to the including file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gbau_core::exchange::RawTransmit;
use gbau_core::script::{self, Exchange, Runner, ScriptError};

/// Read an included file relative to the file that includes it.
pub fn load_relative(from: &str, path: &str) -> Result<(String, String), String> {
    let base = Path::new(from)
        .parent()
        .map_or_else(PathBuf::new, Path::to_path_buf);
    let full = base.join(path);
    let text = std::fs::read_to_string(&full)
        .map_err(|e| format!("cannot read {}: {e}", full.display()))?;
    Ok((full.display().to_string(), text))
}

/// Run a script file through `transmit` with initial variables; returns the transcript.
pub fn run_file<E: std::error::Error + 'static>(
    transmit: &mut RawTransmit<'_, E>,
    path: &Path,
    vars: BTreeMap<String, String>,
) -> Result<Vec<Exchange>, ScriptError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ScriptError::Include {
        file: name.clone(),
        line: 0,
        path: name.clone(),
        problem: e.to_string(),
    })?;
    let lines = script::parse(&text, &name)?;
    let mut load = load_relative;
    let mut runner = Runner::new(transmit, &mut load);
    runner.vars = vars;
    runner.run(&lines)?;
    Ok(runner.transcript)
}
