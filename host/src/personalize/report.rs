//! What `gbau personalize` did, as text and JSON.

use serde::Serialize;

use super::model::{FileShape, Target};

/// One command of the plan and what happened to it.
#[derive(Debug, Serialize)]
pub struct StepReport {
    /// `file:line`.
    pub at: String,
    /// The command with keys masked.
    pub command: String,
    /// The expected response with keys masked.
    pub expect: Option<String>,
    /// "ok", or what the card answered instead (hidden when it holds keys); absent in a dry run.
    pub outcome: Option<String>,
}

/// What `gbau personalize` did.
#[derive(Debug, Serialize)]
pub struct Report {
    pub target: Target,
    pub model: &'static str,
    pub card: Option<String>,
    pub atr: Option<String>,
    pub recognised_as: Option<String>,
    /// ADM1 tries left before anything was presented (`None`: already verified).
    pub adm1_tries_left: Option<u8>,
    pub dry_run: bool,
    pub files: Vec<FileShape>,
    pub steps: Vec<StepReport>,
    /// "all N commands answered as expected" after a write.
    pub read_back: Option<String>,
    /// The AUTHENTICATE check of the keys.
    pub key_check: Option<String>,
    /// What the card does with GBA, and which mode gbau will use.
    pub gba: Option<String>,
    pub notes: Vec<String>,
    /// Why it stopped, when it did.
    pub error: Option<String>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = if self.dry_run { "DRY RUN" } else { "WRITE" };
        writeln!(f, "personalize   {} ({mode})", self.model)?;
        if let Some(c) = &self.card {
            writeln!(f, "card          {c}")?;
        }
        if let (Some(atr), Some(r)) = (&self.atr, &self.recognised_as) {
            writeln!(f, "ATR           {atr} ({r})")?;
        }
        if self.card.is_some() {
            match self.adm1_tries_left {
                Some(n) => writeln!(f, "ADM1          {n} tries left")?,
                None => writeln!(f, "ADM1          already verified")?,
            }
        }
        for s in &self.files {
            match (s.record_len, s.records) {
                (Some(l), Some(n)) => {
                    writeln!(f, "file          {:<22} {n} records of {l} bytes", s.file)?
                }
                _ => writeln!(f, "file          {:<22} {} bytes", s.file, s.size)?,
            }
        }
        writeln!(
            f,
            "commands      {} (keys shown as ‹name›)",
            self.steps.len()
        )?;
        for s in &self.steps {
            let outcome = s
                .outcome
                .as_deref()
                .map(|o| format!("  [{o}]"))
                .unwrap_or_default();
            writeln!(f, "  {:<44} > {}{outcome}", s.at, s.command)?;
            if let Some(e) = &s.expect {
                writeln!(f, "  {:<44} < {e}", "")?;
            }
        }
        for (label, v) in [
            ("read-back", &self.read_back),
            ("keys", &self.key_check),
            ("GBA", &self.gba),
        ] {
            if let Some(v) = v {
                writeln!(f, "{label:<13} {v}")?;
            }
        }
        for n in &self.notes {
            writeln!(f, "note          {n}")?;
        }
        if let Some(e) = &self.error {
            writeln!(f, "stopped       {e}")?;
        }
        Ok(())
    }
}
