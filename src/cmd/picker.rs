//! The interactive backup picker: on a terminal, `restore` without `--at`/`--backup` lists the
//! backups and lets the operator choose one with the arrow keys.
//!
//! Invariants: it draws on stderr and reads the terminal only when both stdin and stderr are
//! terminals; otherwise it refuses at once, naming the flags to pass, so scripts and CI never hang
//! on a prompt. Damaged backups are listed but cannot be chosen.

use std::io::IsTerminal;

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::core::catalog::{Backup, Catalog};
use crate::error::{Failure, Kind, bad_input, usage};
use crate::output::{human_age, human_bytes};

/// Whether the picker can run here.
pub fn available() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Marks recorded for a backup in any of its repositories' caches (`lkg`, `verified`).
pub fn mark(backup: &Backup, name: &str) -> Option<String> {
    backup.mark(name)
}

/// One line of the picker for `b`.
pub fn line(b: &Backup, now: DateTime<Utc>) -> String {
    let verified = match mark(b, "verified").as_deref() {
        _ if b.problem.is_some() => "DAMAGED",
        Some(v) if v.starts_with("ok") => "verified",
        Some(_) => "FAILED",
        None => "unverified",
    };
    let lkg = if mark(b, "lkg").is_some() { "  <- last known good" } else { "" };
    format!(
        "{}  {}  {:>13}  {:>9}  {:<10}  {} cop{}{lkg}",
        b.id,
        crate::time::show(b.taken_at),
        if now >= b.taken_at { format!("{} ago", human_age(now - b.taken_at)) } else { "in the future".into() },
        human_bytes(b.size),
        verified,
        b.copies.len(),
        if b.copies.len() == 1 { "y" } else { "ies" },
    )
}

/// Lets the operator pick a backup. Errors: `Usage` without a terminal, `Interrupted` when the
/// operator cancels (Esc or q), `BadInput` when the catalog is empty or a damaged backup is chosen.
pub fn pick(catalog: &Catalog, now: DateTime<Utc>) -> Result<&Backup> {
    if !available() {
        return Err(usage("no backup chosen, and there is no terminal for the interactive picker")
            .hint("pass --at TIME or --backup ID")
            .into());
    }
    if catalog.backups.is_empty() {
        return Err(bad_input("the catalog holds no backup to pick").into());
    }
    let items: Vec<String> = catalog.backups.iter().map(|b| line(b, now)).collect();
    let default = catalog
        .backups
        .iter()
        .rposition(|b| mark(b, "lkg").is_some())
        .or_else(|| catalog.backups.iter().rposition(|b| b.problem.is_none()))
        .unwrap_or(catalog.backups.len() - 1);
    let chosen = dialoguer::Select::new()
        .with_prompt("Pick the backup to restore (arrows, Enter; Esc to cancel)")
        .items(&items)
        .default(default)
        .max_length(20)
        .interact_on_opt(&dialoguer::console::Term::stderr())
        .map_err(|e| usage(format!("the interactive picker failed: {e}")).hint("pass --at TIME or --backup ID"))?;
    let Some(i) = chosen else {
        return Err(Failure::new(Kind::Interrupted, "no backup chosen (picker cancelled)").into());
    };
    let b = &catalog.backups[i];
    if let Some(p) = &b.problem {
        return Err(bad_input(format!("backup {} is damaged: {p}", b.id)).hint("pick another backup").into());
    }
    Ok(b)
}
