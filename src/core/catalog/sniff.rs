//! Recognising backups by content.
//!
//! A file is classified by its first bytes, never by its name: each source (`engine::source`,
//! asked in registry order) says whether the first bytes — decompressed first when the file is a
//! gzip/zstd stream — are one of its formats (the SQLite header; a pg_dump archive: `PGDMP`, a tar
//! whose first member is `toc.dat`, a plain SQL dump's header comment). A folder that is one backup
//! (a pg_dump directory archive) is its source's to tell (see `catalog/mod.rs`).
//! A gzip/zstd stream that fails to decode is `Damaged` (the catalog decides whether the file is a
//! damaged backup, by its name or a manifest beside it). Anything else is not a backup.

use std::fs::File;
use std::path::Path;

use anyhow::{Context, Result};

use crate::engine::{Format, registry};
use crate::error::environment;
use crate::util::compress::{Compression, compression_of, decoder, decompress_into, stream_damaged};
use crate::util::fs::read_up_to;

/// What the first bytes of a file say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sniff {
    Backup(Format, Compression),
    Empty,
    /// A gzip/zstd stream that fails to decode (flipped bytes, cut short); says why, naming the
    /// file.
    Damaged(Compression, String),
    NotABackup,
}

/// Classifies a file by content. Errors only when the file cannot be read.
pub fn sniff(path: &Path) -> Result<Sniff> {
    let mut f = File::open(path).map_err(|e| environment(format!("cannot read `{}`: {e}", path.display())))?;
    let mut head = [0u8; 600];
    let n = read_up_to(&mut f, &mut head).with_context(|| format!("reading `{}`", path.display()))?;
    if n == 0 {
        return Ok(Sniff::Empty);
    }
    let compression = compression_of(&head[..n]);
    let inner = if compression == Compression::None {
        head[..n].to_vec()
    } else {
        let mut dec = decoder(compression, File::open(path)?)?;
        let mut buf = [0u8; 64];
        // A stream cut short after its first bytes still yields them (and is found damaged when
        // read whole); one that cannot even yield those is damaged now.
        match read_up_to(&mut dec, &mut buf) {
            Ok(k) => buf[..k].to_vec(),
            Err(e) => return Ok(Sniff::Damaged(compression, stream_damaged(path, compression, &e))),
        }
    };
    let format = registry::sources().iter().find_map(|s| s.sniff(&inner, compression));
    Ok(match format {
        Some(f) => Sniff::Backup(f, compression),
        // Garbage at the start of a gzip/zstd stream (a flipped byte) may decode without error
        // for a while; the whole stream says whether it is damaged or just not a backup.
        None if compression != Compression::None => {
            match decompress_into(path, compression, &mut std::io::sink(), |_| {}) {
                Ok(_) => Sniff::NotABackup,
                Err(e) => Sniff::Damaged(compression, format!("{e:#}")),
            }
        }
        None => Sniff::NotABackup,
    })
}
