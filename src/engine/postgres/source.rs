//! PostgreSQL's source (`engine::source`): pg_dump archives — custom (`-Fc`, `PGDMP`), directory
//! (`-Fd`, a folder holding `toc.dat`, one backup), tar (`-Ft`) and plain SQL (`-Fp`, possibly
//! gzip/zstd-compressed). Its facts: the header (database, versions, created time), the tables
//! (with row counts for plain dumps, which are read whole), the foreign tables; an archive whose
//! data blocks do not all decode is damaged. A bare table name means `public.name`. It restores to
//! a point.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use super::{archive, archive_data, tools};
use crate::engine::source::{Check, Inspection, Source, StoredCopy, TableFacts};
use crate::engine::{Format, SkippedTable};
use crate::error::environment;
use crate::util::compress::{self, Compression, decoder};
use crate::util::hash::{self, sha256_dir, sha256_file};

/// pg_dump archives, every format.
pub struct PgDump;

impl Source for PgDump {
    fn name(&self) -> &'static str {
        "pg_dump archive"
    }

    fn formats(&self) -> &'static [Format] {
        &[Format::PgCustom, Format::PgDirectory, Format::PgTar, Format::PgPlain]
    }

    fn manifest_engine(&self) -> &'static str {
        "postgres"
    }

    fn sniff(&self, head: &[u8], compression: Compression) -> Option<Format> {
        if archive::is_plain_dump(head) {
            Some(Format::PgPlain)
        } else if compression != Compression::None {
            None // only plain dumps are found compressed
        } else if head.starts_with(archive::MAGIC) {
            Some(Format::PgCustom)
        } else if archive::is_pg_tar(head) {
            Some(Format::PgTar)
        } else {
            None
        }
    }

    fn format_by_name(&self, name: &str, compression: Compression) -> Option<Format> {
        if name.ends_with(".sql") {
            Some(Format::PgPlain)
        } else if compression != Compression::None {
            None
        } else if name.ends_with(".dump") || name.ends_with(".pgdump") {
            Some(Format::PgCustom)
        } else if name.ends_with(".tar") {
            Some(Format::PgTar)
        } else {
            None
        }
    }

    fn default_format(&self, compression: Compression) -> Format {
        if compression == Compression::None { Format::PgCustom } else { Format::PgPlain }
    }

    fn not_this_format(&self, path: &Path, format: Format, compression: Compression) -> String {
        let p = path.display();
        match (format, compression) {
            (Format::PgPlain, Compression::None) => {
                format!("`{p}` is not a pg_dump plain dump (no `-- PostgreSQL database dump` header)")
            }
            (Format::PgPlain, _) => format!("`{p}` does not decompress to a pg_dump plain dump"),
            (Format::PgTar, _) => format!("`{p}` is not a pg_dump tar archive (no `toc.dat` first member)"),
            _ => format!("`{p}` is not a pg_dump archive (no PGDMP header)"),
        }
    }

    fn one_backup(&self, dir: &Path) -> bool {
        dir.join("toc.dat").is_file()
    }

    fn folder_format(&self) -> Option<Format> {
        Some(Format::PgDirectory)
    }

    fn qualified_name(&self, name: &str) -> Option<String> {
        Some(format!("public.{name}"))
    }

    fn inspect(&self, path: &Path, format: Format, compression: Compression, _: Option<&Path>) -> Result<Inspection> {
        pg_facts(path, format, compression)
    }

    fn verify(&self, c: &StoredCopy) -> Vec<Check> {
        let mut checks = Vec::new();
        let sha = if c.format == Format::PgDirectory { sha256_dir(c.path) } else { sha256_file(c.path) };
        let expected = match c.declared {
            Ok(Some(m)) => m.sha256.clone().unwrap_or_else(|| c.sha256.to_string()),
            _ => c.sha256.to_string(),
        };
        let checksum = sha.and_then(|sha| {
            if sha.eq_ignore_ascii_case(&expected) {
                Ok("matches".to_string())
            } else {
                Err(anyhow::anyhow!("sha256 {sha} differs from the expected {expected}"))
            }
        });
        checks.push(Check::of("checksum", checksum));
        checks.push(Check::of("archive", structure(c)));
        if c.format != Format::PgPlain {
            checks.push(Check::of("pg_restore", listed_by_pg_restore(c.path)));
        }
        checks
    }
}

/// The archive's own structure: its TOC and every data block or data file decoded to its end,
/// or the whole plain text.
fn structure(c: &StoredCopy) -> Result<String> {
    let with_data = |a: archive::Archive| {
        let data = archive_data::check(c.path, c.format, &a)?;
        Ok(format!("{} TOC entries, {}", a.entries.len(), data.describe()))
    };
    match c.format {
        Format::PgCustom => archive::read_custom(c.path).and_then(with_data),
        Format::PgTar => archive::read_tar(c.path).and_then(with_data),
        Format::PgDirectory => archive::read_directory(c.path).and_then(with_data),
        _ => fs::File::open(c.path)
            .map_err(anyhow::Error::from)
            .and_then(|f| decoder(c.compression, f))
            .and_then(|r| archive::read_plain_dump(r, c.path))
            .map(|p| format!("{} tables", p.tables.len())),
    }
}

/// Whether the local pg_restore reads the archive's TOC.
fn listed_by_pg_restore(path: &Path) -> Result<String> {
    let out = tools::command("pg_restore", None).and_then(|mut cmd| tools::output(cmd.arg("-l").arg(path)))?;
    if out.status.success() {
        Ok("pg_restore -l reads it".to_string())
    } else {
        Err(anyhow::anyhow!("{}", tools::stderr_tail(&out, None, 2)))
    }
}

/// Reads a pg_dump archive's header and TOC (or a plain dump's text); a damaged archive is kept
/// with its problem.
fn pg_facts(path: &Path, format: Format, compression: Compression) -> Result<Inspection> {
    let sha256 = if format == Format::PgDirectory { sha256_dir(path)? } else { hash::sha256_file(path)? };
    let mut content = sha256.clone();
    let read = match format {
        Format::PgPlain => plain_facts(path, compression).map(|(facts, c)| {
            content = c;
            facts
        }),
        Format::PgCustom => archive::read_custom(path).and_then(|a| with_data_checked(path, format, a)),
        Format::PgTar => archive::read_tar(path).and_then(|a| with_data_checked(path, format, a)),
        _ => archive::read_directory(path).and_then(|a| with_data_checked(path, format, a)),
    };
    Ok(match read {
        Ok((tables, skipped_tables, archive, created)) => Inspection {
            tables,
            skipped_tables,
            archive: Some(archive),
            created,
            ..Inspection::new(sha256, content, None)
        },
        Err(e) => Inspection::damaged(sha256, content, None, format!("{e:#}")),
    })
}

type PgFacts = (Vec<TableFacts>, Vec<SkippedTable>, archive::ArchiveInfo, Option<DateTime<Utc>>);

/// The archive's facts once every data block decodes (`archive_data`): a bit flipped inside a
/// table's compressed data makes the backup DAMAGED here, so `restore --at` skips it and says so,
/// rather than pg_restore failing halfway with "could not uncompress data". Paid once per file
/// (the catalog caches it).
fn with_data_checked(path: &Path, format: Format, a: archive::Archive) -> Result<PgFacts> {
    archive_data::check(path, format, &a)?;
    let tables = a.tables().into_iter().map(|name| TableFacts { name, rows: None }).collect();
    Ok((tables, a.foreign_tables(), a.info, a.created))
}

/// A plain dump's facts and the sha256 of its decompressed text (its identity).
fn plain_facts(path: &Path, compression: Compression) -> Result<(PgFacts, String)> {
    let f = fs::File::open(path).map_err(|e| environment(format!("cannot read `{}`: {e}", path.display())))?;
    let mut text = hash::HashingReader::new(compress::decoder(compression, f)?);
    let p = archive::read_plain_dump(&mut text, path)?;
    // The reader may stop at the dump's end; the identity covers every byte.
    std::io::copy(&mut text, &mut std::io::sink()).with_context(|| format!("reading `{}`", path.display()))?;
    let tables = p.tables.into_iter().map(|(name, rows)| TableFacts { name, rows: Some(rows) }).collect();
    let info = archive::ArchiveInfo {
        archive_version: "plain".to_string(),
        dbname: p.dbname,
        server_version: p.server_version,
        pg_dump_version: p.pg_dump_version,
        compression: format!("{compression:?}").to_lowercase(),
    };
    Ok(((tables, Vec::new(), info, p.started), text.finish()))
}
