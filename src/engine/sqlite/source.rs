//! SQLite's source (`engine::source`): a SQLite database file (as made by `sqlite3 .backup`, the
//! backup API or VACUUM INTO), possibly gzip/zstd-compressed, read together with the `-wal`
//! beside it. Its facts: the tables with their row counts, the skipped (virtual, shadow) tables,
//! and a warning for a WAL-mode file without its `-wal`. It restores to a point.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::SqliteDb;
use super::file::{self, HEADER, side_file};
use super::stored::{OpenedBackup, open_stored};
use crate::engine::source::{Check, Inspection, Source, StoredCopy, TableFacts};
use crate::engine::{Database, Format, SkippedTable};
use crate::util::compress::Compression;

/// SQLite database files.
pub struct SqliteFile;

impl Source for SqliteFile {
    fn name(&self) -> &'static str {
        "SQLite file"
    }

    fn formats(&self) -> &'static [Format] {
        &[Format::Sqlite]
    }

    fn manifest_engine(&self) -> &'static str {
        "sqlite"
    }

    fn sniff(&self, head: &[u8], _compression: Compression) -> Option<Format> {
        (head.len() >= 16 && head[..16] == HEADER[..]).then_some(Format::Sqlite)
    }

    fn default_format(&self, _compression: Compression) -> Format {
        Format::Sqlite
    }

    fn not_this_format(&self, path: &Path, _format: Format, compression: Compression) -> String {
        match compression {
            Compression::None => format!("`{}` is {}", path.display(), self.unrecognised()),
            _ => format!("`{}` does not decompress to a SQLite database", path.display()),
        }
    }

    fn unrecognised(&self) -> String {
        "not a SQLite database (no `SQLite format 3` header)".to_string()
    }

    fn side_file(&self, name: &str) -> bool {
        file::is_side_file(name)
    }

    fn read_with(&self, main: &Path) -> Option<PathBuf> {
        Some(side_file(main, "-wal"))
    }

    fn companions(&self, main: &Path) -> Vec<PathBuf> {
        vec![side_file(main, "-wal"), side_file(main, "-shm")]
    }

    fn inspect(&self, path: &Path, _: Format, compression: Compression, wal: Option<&Path>) -> Result<Inspection> {
        let opened = match open_stored(path, compression, wal) {
            Ok(o) => o,
            Err(e) => return Inspection::undecodable(path, wal, format!("{e:#}")),
        };
        let mut read = Inspection::new(opened.sha256.clone(), opened.content_sha256.clone(), opened.wal_sha256.clone());
        match opened.open_db().and_then(|mut db| read_tables(&mut db)) {
            Ok((tables, skipped)) => (read.tables, read.skipped_tables) = (tables, skipped),
            Err(e) => read.problem = Some(format!("{e:#}")),
        }
        if wal.is_none() && file::is_wal_mode(opened.path()) {
            read.warnings.push(
                "WAL-mode database without its `-wal` beside it: it holds the data as of its last checkpoint \
                 (complete if made by the backup API or `.backup`, or checkpointed before it was copied)"
                    .to_string(),
            );
        }
        Ok(read)
    }

    fn verify(&self, c: &StoredCopy) -> Vec<Check> {
        let mut checks = Vec::new();
        let opened = open_stored(c.path, c.compression, c.with.map(|w| w.0).or(wal_now(c.path).as_deref()));
        let checksum = match &opened {
            Ok(o) => checksum_check(c, o),
            Err(_) if matches!(c.declared, Ok(Some(_))) => {
                Err(anyhow::anyhow!("file unreadable, checksum not computed"))
            }
            Err(_) => c.declared.as_ref().map(|_| "no manifest".to_string()).map_err(|e| anyhow::anyhow!("{e}")),
        };
        checks.push(Check::of("checksum", checksum));
        let opened = match opened {
            Ok(o) => o,
            Err(e) => {
                checks.push(Check::of("readable", Err(e)));
                return checks;
            }
        };
        let readable = match (c.compression, c.with) {
            (Compression::None, None) => "SQLite header ok",
            (Compression::None, Some(_)) => "SQLite header ok, read with its -wal",
            (_, _) => "decompressed, SQLite header ok",
        };
        checks.push(Check::of("readable", Ok(readable.to_string())));
        let integrity = opened.open_db().and_then(|mut db| db.integrity_problems(false)).and_then(|p| {
            if p.is_empty() {
                Ok("ok".to_string())
            } else {
                Err(anyhow::anyhow!("{}", p.into_iter().take(5).collect::<Vec<_>>().join("; ")))
            }
        });
        checks.push(Check::of("integrity_check", integrity));
        checks
    }
}

/// A `-wal` that appeared beside the copy since it was catalogued (so the checksums tell).
fn wal_now(main: &Path) -> Option<PathBuf> {
    Some(side_file(main, "-wal")).filter(|p| p.exists())
}

/// The stored bytes read against the manifest's checksums, and what the manifest does not cover
/// (a manifest without `content_sha256` says nothing of a `-wal`) against the catalog's.
fn checksum_check(c: &StoredCopy, o: &OpenedBackup) -> Result<String> {
    let m = c.declared.as_ref().map_err(|e| anyhow::anyhow!("{e}"))?;
    let (m_sha, m_content) = m.as_ref().map_or((None, None), |m| (m.sha256.as_deref(), m.content_sha256.as_deref()));
    if let Some(expected) = m_sha
        && !expected.eq_ignore_ascii_case(&o.sha256)
    {
        anyhow::bail!("sha256 {} differs from manifest's {expected}", o.sha256);
    }
    if let Some(expected) = m_content
        && !expected.eq_ignore_ascii_case(&o.content_sha256)
    {
        anyhow::bail!("content sha256 {} (file and -wal) differs from manifest's {expected}", o.content_sha256);
    }
    if m_sha.is_none() && m_content.is_none() && o.sha256 != c.sha256 {
        anyhow::bail!(
            "sha256 {} differs from the catalog's {} (file changed since it was catalogued)",
            o.sha256,
            c.sha256
        );
    }
    if m_content.is_none() {
        check_wal_unchanged(c, o)?;
    }
    Ok(match (m, m_sha.or(m_content)) {
        (None, _) => "no manifest".to_string(),
        (Some(_), Some(_)) => "matches manifest".to_string(),
        (Some(_), None) => "manifest has no checksum".to_string(),
    })
}

/// The `-wal` read is the one the catalog recorded (or none, as then).
fn check_wal_unchanged(c: &StoredCopy, o: &OpenedBackup) -> Result<()> {
    let recorded = c.with.map(|w| w.1);
    match (recorded, o.wal_sha256.as_deref()) {
        (a, b) if a == b => Ok(()),
        (None, Some(_)) => anyhow::bail!("a -wal appeared beside it since it was catalogued"),
        (Some(_), None) => anyhow::bail!("its -wal is gone since it was catalogued"),
        (Some(a), Some(b)) => {
            anyhow::bail!("its -wal changed since it was catalogued (sha256 {b}, the catalog's {a})")
        }
        (None, None) => Ok(()),
    }
}

/// The ordinary tables with their row counts, and the skipped ones (never counted: counting a
/// virtual table runs its module).
fn read_tables(db: &mut SqliteDb) -> Result<(Vec<TableFacts>, Vec<SkippedTable>)> {
    let names = db.tables()?;
    let tables: Result<Vec<TableFacts>> =
        names.into_iter().map(|name| Ok(TableFacts { rows: Some(db.row_count(&name)?), name })).collect();
    Ok((tables?, db.skipped_tables()?))
}
