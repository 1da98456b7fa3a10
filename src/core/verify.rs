//! Verifying one stored copy of a backup: is it what the manifest says, and is it a healthy
//! database? Used by `verify`, `drill` and anything else that must trust a backup.
//!
//! The checks run in order — checksum (against the manifest, else the catalog; a `-wal` against the
//! manifest's `content_sha256`, else the catalog), readable (decompression and header), `PRAGMA
//! integrity_check` — and each reports `ok` or why not; a copy is OK only when all pass. pg_dump
//! archives get checksum, archive structure (TOC, every data block or data file decompressed to its
//! end by `engine::postgres::archive_data`, or the whole plain text) and `pg_restore -l`. A copy
//! whose content is no longer recognised as the backup's format (a damaged header, a gzip/zstd
//! stream that fails to decode) fails a `format` check first, and nothing else is read from it.

use serde::Serialize;

use crate::core::catalog::open::{OpenedBackup, open_copy};
use crate::core::catalog::sniff::{Sniff, sniff};
use crate::core::catalog::{Backup, Copy, manifest};
use crate::engine::postgres::{archive, archive_data, tools};
use crate::engine::{Database, Format};
use crate::util::compress::{Compression, decoder};
use crate::util::hash::{sha256_dir, sha256_file};

/// The verdict on one copy.
#[derive(Debug, Serialize)]
pub struct CopyVerdict {
    pub backup_id: String,
    pub path: std::path::PathBuf,
    pub ok: bool,
    /// The checks that ran, in order, each `ok` or the reason it failed.
    pub checks: Vec<Check>,
}

#[derive(Debug, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

/// Runs every check on one copy: manifest checksum, decompression, header, integrity_check.
pub fn verify_copy(b: &Backup, c: &Copy) -> CopyVerdict {
    if let Some(why) = undecodable(b, c) {
        // Nothing else can be read from it; the checksum still says whether it was changed.
        let mut checks = vec![Check { name: "format", ok: false, detail: why }];
        if let Some(differs) = checksum_against_manifest(c) {
            checks.push(Check { name: "checksum", ok: false, detail: differs });
        }
        return CopyVerdict { backup_id: b.id.clone(), path: c.path.clone(), ok: false, checks };
    }
    if b.format.is_postgres() {
        return verify_pg_copy(b, c);
    }
    let mut checks = Vec::new();
    let mut push = |name, r: anyhow::Result<String>| {
        let ok = r.is_ok();
        checks.push(Check { name, ok, detail: r.unwrap_or_else(|e| format!("{e:#}")) });
        ok
    };
    let opened = open_copy(c);
    let checksum = match &opened {
        Ok(o) => checksum_check(c, o),
        Err(_) if matches!(manifest::read_for(&c.path), Ok(Some(_))) => {
            Err(anyhow::anyhow!("file unreadable, checksum not computed"))
        }
        Err(_) => manifest::read_for(&c.path).map(|_| "no manifest".to_string()),
    };
    let all_ok = push("checksum", checksum);
    let opened = match opened {
        Ok(o) => {
            push(
                "readable",
                Ok(match (c.compression, &c.wal) {
                    (Compression::None, None) => "SQLite header ok".into(),
                    (Compression::None, Some(_)) => "SQLite header ok, read with its -wal".into(),
                    (_, _) => "decompressed, SQLite header ok".into(),
                }),
            );
            o
        }
        Err(e) => {
            push("readable", Err(e));
            return CopyVerdict { backup_id: b.id.clone(), path: c.path.clone(), ok: false, checks };
        }
    };
    let integrity = opened.open_db().and_then(|mut db| db.integrity_problems(false)).and_then(|p| {
        if p.is_empty() {
            Ok("ok".to_string())
        } else {
            Err(anyhow::anyhow!("{}", p.into_iter().take(5).collect::<Vec<_>>().join("; ")))
        }
    });
    let integrity_ok = push("integrity_check", integrity);
    CopyVerdict { backup_id: b.id.clone(), path: c.path.clone(), ok: all_ok && integrity_ok, checks }
}

/// The stored bytes read against the manifest's checksums, and what the manifest does not cover
/// (a manifest without `content_sha256` says nothing of a `-wal`) against the catalog's.
fn checksum_check(c: &Copy, o: &OpenedBackup) -> anyhow::Result<String> {
    let m = manifest::read_for(&c.path).map_err(|e| anyhow::anyhow!("{e:#}"))?;
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
    Ok(match (&m, m_sha.or(m_content)) {
        (None, _) => "no manifest".to_string(),
        (Some(_), Some(_)) => "matches manifest".to_string(),
        (Some(_), None) => "manifest has no checksum".to_string(),
    })
}

/// The `-wal` read is the one the catalog recorded (or none, as then).
fn check_wal_unchanged(c: &Copy, o: &OpenedBackup) -> anyhow::Result<()> {
    let recorded = c.wal.as_ref().map(|w| w.sha256.as_str());
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

/// pg_dump archives: checksum, the archive's own structure (TOC, data blocks, data files, or the
/// whole plain text), and that the local pg_restore reads it.
fn verify_pg_copy(b: &Backup, c: &Copy) -> CopyVerdict {
    let mut checks = Vec::new();
    let mut push = |name, r: anyhow::Result<String>| {
        let ok = r.is_ok();
        checks.push(Check { name, ok, detail: r.unwrap_or_else(|e| format!("{e:#}")) });
        ok
    };
    let sha = if b.format == Format::PgDirectory { sha256_dir(&c.path) } else { sha256_file(&c.path) };
    let expected = match manifest::read_for(&c.path) {
        Ok(Some(m)) => m.sha256.unwrap_or_else(|| c.sha256.clone()),
        _ => c.sha256.clone(),
    };
    let checksum = sha.and_then(|sha| {
        if sha.eq_ignore_ascii_case(&expected) {
            Ok("matches".to_string())
        } else {
            Err(anyhow::anyhow!("sha256 {sha} differs from the expected {expected}"))
        }
    });
    let mut ok = push("checksum", checksum);
    let with_data = |a: archive::Archive| {
        let data = archive_data::check(&c.path, b.format, &a)?;
        Ok(format!("{} TOC entries, {}", a.entries.len(), data.describe()))
    };
    let structure = match b.format {
        Format::PgCustom => archive::read_custom(&c.path).and_then(with_data),
        Format::PgTar => archive::read_tar(&c.path).and_then(with_data),
        Format::PgDirectory => archive::read_directory(&c.path).and_then(with_data),
        _ => std::fs::File::open(&c.path)
            .map_err(anyhow::Error::from)
            .and_then(|f| decoder(c.compression, f))
            .and_then(|r| archive::read_plain_dump(r, &c.path))
            .map(|p| format!("{} tables", p.tables.len())),
    };
    ok &= push("archive", structure);
    if b.format != Format::PgPlain {
        let listed = tools::command("pg_restore", None)
            .and_then(|mut cmd| tools::output(cmd.arg("-l").arg(&c.path)))
            .and_then(|out| {
                if out.status.success() {
                    Ok("pg_restore -l reads it".to_string())
                } else {
                    Err(anyhow::anyhow!("{}", tools::stderr_tail(&out, None, 2)))
                }
            });
        ok &= push("pg_restore", listed);
    }
    CopyVerdict { backup_id: b.id.clone(), path: c.path.clone(), ok, checks }
}

/// Why the copy's content is not (or no longer) a backup of the catalogued format, if it is not.
fn undecodable(b: &Backup, c: &Copy) -> Option<String> {
    if b.format == Format::PgDirectory {
        return None;
    }
    match sniff(&c.path) {
        Ok(Sniff::Backup(f, comp)) if f == b.format && comp == c.compression => None,
        Ok(Sniff::Backup(f, _)) => {
            Some(format!("`{}` is now a {}, catalogued as a {}", c.path.display(), f.label(), b.format.label()))
        }
        Ok(Sniff::Damaged(_, why)) => Some(why),
        Ok(Sniff::Empty) => Some(format!("`{}` is empty (0 bytes)", c.path.display())),
        Ok(Sniff::NotABackup) => Some(match b.format {
            Format::Sqlite => {
                format!("`{}` is not a SQLite database (no `SQLite format 3` header)", c.path.display())
            }
            f => format!("`{}` is not a {} any more", c.path.display(), f.label()),
        }),
        Err(e) => Some(format!("{e:#}")),
    }
}

/// The copy's sha256 against its manifest's, when both are known and differ.
fn checksum_against_manifest(c: &Copy) -> Option<String> {
    let expected = manifest::read_for(&c.path).ok()??.sha256?;
    let sha = sha256_file(&c.path).ok()?;
    (!sha.eq_ignore_ascii_case(&expected)).then(|| format!("sha256 {sha} differs from manifest's {expected}"))
}
