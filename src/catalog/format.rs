//! Recognising backups by content, and undoing gzip/zstd wrappers.
//!
//! A file is classified by its first bytes, never by its name: the SQLite header, a pg_dump
//! archive (`PGDMP` custom format, a tar whose first member is `toc.dat`, a plain SQL dump's
//! header comment), or a gzip/zstd stream whose first decompressed bytes are a SQLite file or a
//! plain dump. A folder holding `toc.dat` is a pg_dump directory archive (see `catalog/mod.rs`).
//! A gzip/zstd stream that fails to decode is `Damaged` (the catalog decides whether the file is a
//! damaged backup, by its name or a manifest beside it). Anything else is not a backup.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::engine::sqlite::{HEADER, read_up_to};
use crate::error::{bad_input, environment};

/// What kind of backup a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// A SQLite database file (as made by `sqlite3 .backup`, the backup API or VACUUM INTO).
    Sqlite,
    /// pg_dump custom format (`-Fc`): one file starting with `PGDMP`.
    PgCustom,
    /// pg_dump directory format (`-Fd`): a folder with `toc.dat` and one file per table.
    PgDirectory,
    /// pg_dump tar format (`-Ft`).
    PgTar,
    /// pg_dump plain SQL (`-Fp`), possibly gzip/zstd-compressed; restored with psql.
    PgPlain,
}

impl Format {
    /// Whether this is a PostgreSQL archive (restored into a PostgreSQL database).
    pub fn is_postgres(self) -> bool {
        !matches!(self, Format::Sqlite)
    }

    pub fn label(self) -> &'static str {
        match self {
            Format::Sqlite => "sqlite",
            Format::PgCustom => "pg_dump custom",
            Format::PgDirectory => "pg_dump directory",
            Format::PgTar => "pg_dump tar",
            Format::PgPlain => "pg_dump plain SQL",
        }
    }
}

/// How the file is wrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn suffix(self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Gzip => ".gz",
            Compression::Zstd => ".zst",
        }
    }
}

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

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

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
    let format = if inner.len() >= 16 && inner[..16] == HEADER[..] {
        Some(Format::Sqlite)
    } else if crate::catalog::pgdump::is_plain_dump(&inner) {
        Some(Format::PgPlain)
    } else if compression != Compression::None {
        None
    } else if inner.starts_with(crate::catalog::pgdump::MAGIC) {
        Some(Format::PgCustom)
    } else if crate::catalog::pgdump::is_pg_tar(&inner) {
        Some(Format::PgTar)
    } else {
        None
    };
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

/// The wrapper that a file's first bytes say it has.
pub fn compression_of(head: &[u8]) -> Compression {
    if head.starts_with(&GZIP_MAGIC) {
        Compression::Gzip
    } else if head.starts_with(&ZSTD_MAGIC) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// The wrapper that `path`'s first bytes say it has. Errors only when it cannot be read.
pub fn compression_of_file(path: &Path) -> Result<Compression> {
    let mut f = File::open(path).map_err(|e| environment(format!("cannot read `{}`: {e}", path.display())))?;
    let mut head = [0u8; 4];
    let n = read_up_to(&mut f, &mut head).with_context(|| format!("reading `{}`", path.display()))?;
    Ok(compression_of(&head[..n]))
}

/// "`FILE`: gzip stream is damaged or cut short (why)".
fn stream_damaged(src: &Path, compression: Compression, e: &std::io::Error) -> String {
    let kind = if compression == Compression::Gzip { "gzip" } else { "zstd" };
    format!("`{}`: {kind} stream is damaged or cut short ({e})", src.display())
}

/// A reader that undoes `compression`.
pub fn decoder<'a, R: Read + 'a>(compression: Compression, inner: R) -> Result<Box<dyn Read + 'a>> {
    Ok(match compression {
        Compression::None => Box::new(inner),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(1 << 20, inner))),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(inner)?),
    })
}

/// A reader that hashes what passes through it and counts bytes.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    pub bytes: u64,
    on_read: Option<Box<dyn FnMut(u64)>>,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader { inner, hasher: Sha256::new(), bytes: 0, on_read: None }
    }

    /// Calls `f(n)` with each chunk's size (for progress bars).
    pub fn on_read(mut self, f: impl FnMut(u64) + 'static) -> Self {
        self.on_read = Some(Box::new(f));
        self
    }

    pub fn finish(self) -> String {
        hex::encode(self.hasher.finalize())
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        if let Some(f) = self.on_read.as_mut() {
            f(n as u64);
        }
        Ok(n)
    }
}

/// sha256 of a whole file, hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let f = File::open(path).map_err(|e| environment(format!("cannot read `{}`: {e}", path.display())))?;
    let mut r = HashingReader::new(f);
    std::io::copy(&mut r, &mut std::io::sink()).with_context(|| format!("reading `{}`", path.display()))?;
    Ok(r.finish())
}

/// Decompresses `src` into `dst` while hashing the compressed bytes; returns the sha256 of the
/// stored file. A stream cut short or damaged is a `BadInput` naming the file.
pub fn decompress_into(
    src: &Path,
    compression: Compression,
    dst: &mut impl Write,
    progress: impl FnMut(u64) + 'static,
) -> Result<String> {
    let f = File::open(src).map_err(|e| environment(format!("cannot read `{}`: {e}", src.display())))?;
    let mut hashing = HashingReader::new(f).on_read(progress);
    let mut dec = decoder(compression, &mut hashing)?;
    match std::io::copy(&mut dec, dst) {
        Ok(_) => {}
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::InvalidData
                    | std::io::ErrorKind::InvalidInput
                    | std::io::ErrorKind::Other
            ) =>
        {
            return Err(bad_input(stream_damaged(src, compression, &e)).into());
        }
        Err(e) => return Err(environment(format!("decompressing `{}`: {e}", src.display())).into()),
    }
    drop(dec);
    // The decoder may stop at the end of the stream; hash any trailing bytes too.
    std::io::copy(&mut hashing, &mut std::io::sink())?;
    Ok(hashing.finish())
}
