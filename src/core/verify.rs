//! Verifying one stored copy of a backup: is it what the manifest says, and is it a healthy
//! database? Used by `verify`, `drill` and anything else that must trust a backup.
//!
//! A copy whose content is no longer recognised as the backup's format (a damaged header, a
//! gzip/zstd stream that fails to decode) fails a `format` check first, and nothing else is read
//! from it. Otherwise the format's source runs its checks (`engine::source::Source::verify`), in
//! order, each `ok` or why not; a copy is OK only when all pass. SQLite files: checksum (against
//! the manifest, else the catalog; a `-wal` against the manifest's `content_sha256`, else the
//! catalog), readable (decompression and header), `PRAGMA integrity_check`. pg_dump archives:
//! checksum, archive structure (TOC, every data block or data file decompressed to its end, or the
//! whole plain text) and `pg_restore -l`. Base backups: the manifest's checksum, their facts, and
//! `pg_verifybackup` (plain) or every tar member against the manifest (tar). A recovery window's
//! log is checked for gaps (`verify_window`).

use serde::Serialize;

use crate::core::catalog::sniff::{Sniff, sniff};
use crate::core::catalog::{Backup, Copy, RecoveryWindow, manifest};
use crate::engine::registry;
pub use crate::engine::source::Check;
use crate::engine::source::{Declared, DeclaredSums, StoredCopy};
use crate::util::hash::sha256_file;

/// The verdict on one copy.
#[derive(Debug, Serialize)]
pub struct CopyVerdict {
    pub backup_id: String,
    pub path: std::path::PathBuf,
    pub ok: bool,
    /// The checks that ran, in order, each `ok` or the reason it failed.
    pub checks: Vec<Check>,
}

/// Runs every check on one copy: its format, then its source's checks (module docs).
pub fn verify_copy(b: &Backup, c: &Copy) -> CopyVerdict {
    if let Some(why) = undecodable(b, c) {
        // Nothing else can be read from it; the checksum still says whether it was changed.
        let mut checks = vec![Check { name: "format", ok: false, detail: why }];
        if let Some(differs) = checksum_against_manifest(c) {
            checks.push(Check { name: "checksum", ok: false, detail: differs });
        }
        return CopyVerdict { backup_id: b.id.clone(), path: c.path.clone(), ok: false, checks };
    }
    let declared: Declared = match manifest::read_for(&c.path) {
        Ok(m) => Ok(m.map(|m| DeclaredSums { sha256: m.sha256, content_sha256: m.content_sha256 })),
        Err(e) => Err(format!("{e:#}")),
    };
    let stored = StoredCopy {
        path: &c.path,
        format: b.format,
        compression: c.compression,
        sha256: &c.sha256,
        with: c.wal.as_ref().map(|w| (w.real.as_path(), w.sha256.as_str())),
        declared: &declared,
    };
    let checks = registry::source_for(b.format).verify(&stored);
    CopyVerdict { backup_id: b.id.clone(), path: c.path.clone(), ok: checks.iter().all(|c| c.ok), checks }
}

/// The check of a recovery window's log: no gap (a missing WAL segment) and nothing its source
/// warned about (a base backup whose WAL the archive lacks, a segment pg_waldump cannot read).
/// A window with a gap fails: no restore crosses it.
pub fn verify_window(w: &RecoveryWindow) -> CopyVerdict {
    let mut checks = vec![Check {
        name: "log",
        ok: w.window.gaps.is_empty(),
        detail: if w.window.gaps.is_empty() {
            format!(
                "no gap from {} to {} ({} file(s))",
                crate::time::show(w.window.from),
                crate::time::show(w.window.to),
                w.log_files
            )
        } else {
            let gaps: Vec<String> = w.window.gaps.iter().map(|g| g.reason.clone()).collect();
            format!("{} gap(s): {}; no restore crosses a gap", gaps.len(), gaps.join("; "))
        },
    }];
    checks.extend(w.warnings.iter().map(|warning| Check { name: "log", ok: false, detail: warning.clone() }));
    CopyVerdict {
        backup_id: w.id.clone(),
        path: w.log.clone().unwrap_or_else(|| w.repository.clone()),
        ok: checks.iter().all(|c| c.ok),
        checks,
    }
}

/// Why the copy's content is not (or no longer) a backup of the catalogued format, if it is not.
fn undecodable(b: &Backup, c: &Copy) -> Option<String> {
    let source = registry::source_for(b.format);
    if source.folder_format() == Some(b.format) {
        return None;
    }
    match sniff(&c.path) {
        Ok(Sniff::Backup(f, comp)) if f == b.format && comp == c.compression => None,
        Ok(Sniff::Backup(f, _)) => {
            Some(format!("`{}` is now a {}, catalogued as a {}", c.path.display(), f.label(), b.format.label()))
        }
        Ok(Sniff::Damaged(_, why)) => Some(why),
        Ok(Sniff::Empty) => Some(format!("`{}` is empty (0 bytes)", c.path.display())),
        Ok(Sniff::NotABackup) if registry::default_source().formats().contains(&b.format) => {
            Some(format!("`{}` is {}", c.path.display(), registry::default_source().unrecognised()))
        }
        Ok(Sniff::NotABackup) => Some(format!("`{}` is not a {} any more", c.path.display(), b.format.label())),
        Err(e) => Some(format!("{e:#}")),
    }
}

/// The copy's sha256 against its manifest's, when both are known and differ.
fn checksum_against_manifest(c: &Copy) -> Option<String> {
    let expected = manifest::read_for(&c.path).ok()??.sha256?;
    let sha = sha256_file(&c.path).ok()?;
    (!sha.eq_ignore_ascii_case(&expected)).then(|| format!("sha256 {sha} differs from manifest's {expected}"))
}
