//! Safety snapshots of a SQLite live, as merge and promote name them, and the undo command that
//! promotes one back.
//!
//! Invariant: a snapshot is `<live>.lastgood-snapshot-<UTC stamp>Z.db` beside live (the README's
//! name, which the catalog reads the time back from), never an existing file: a clash gets `-1`,
//! `-2`, … appended.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::util::fs::parent_dir;
use crate::util::shell::shell_quote;

/// `<live>.lastgood-snapshot-20261124T060000Z.db`, beside live, not yet existing.
pub fn snapshot_path(live: &Path, now: DateTime<Utc>) -> PathBuf {
    let name = live.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "live".into());
    let base = format!("{name}.lastgood-snapshot-{}", now.format("%Y%m%dT%H%M%SZ"));
    let dir = parent_dir(live);
    let mut candidate = dir.join(format!("{base}.db"));
    let mut n = 1;
    while candidate.exists() {
        candidate = dir.join(format!("{base}-{n}.db"));
        n += 1;
    }
    candidate
}

/// The command that puts live back as the snapshot holds it.
pub fn undo_command(snapshot: &Path, live: &str) -> String {
    format!(
        "lastgood promote --scratch {} --live {} --yes",
        shell_quote(&snapshot.display().to_string()),
        shell_quote(live)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_names_carry_a_utc_stamp_the_catalog_reads_back() {
        let now = DateTime::parse_from_rfc3339("2026-11-24T06:00:00Z").unwrap().with_timezone(&Utc);
        let p = snapshot_path(Path::new("/nonexistent/shop.db"), now);
        assert_eq!(p, Path::new("/nonexistent/shop.db.lastgood-snapshot-20261124T060000Z.db"));
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(crate::time::timestamp_in_name(&name), Some(now));
    }
}
