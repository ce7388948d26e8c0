//! How commands print: plain text for people, `--json` for scripts, quiet on a closed pipe.

use serde::Serialize;

use crate::failure::Failure;

/// Write to stdout; a reader that went away (`| head`) ends the output quietly.
pub fn emit(text: &str) -> Result<(), Failure> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Pretty JSON on stdout.
pub fn print_json<T: Serialize>(v: &T) -> Result<(), Failure> {
    emit(&format!("{}\n", serde_json::to_string_pretty(v)?))
}

/// JSON when asked, else aligned `name  value` lines.
pub fn print_report<T: Serialize>(
    report: &T,
    json: bool,
    lines: &[(&str, &String)],
) -> Result<(), Failure> {
    if json {
        print_json(report)
    } else {
        let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (k, v) in lines {
            println!("{k:<width$}  {v}");
        }
        Ok(())
    }
}

/// Print a line announcing a server's address and flush, so a parent process sees it at once.
pub fn announce(line: &str) {
    println!("{line}");
    let _ = std::io::Write::flush(&mut std::io::stdout());
}
