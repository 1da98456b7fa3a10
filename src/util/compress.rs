//! gzip and zstd: recognising a wrapped file by its first bytes, and undoing the wrapper.
//!
//! A stream is recognised by its magic bytes, never by its name. A stream cut short or damaged is
//! a `BadInput` naming the file (`decompress_into`); readers (`decoder`) stream, so memory stays
//! bounded whatever the size of the file.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::fs::read_up_to;
use super::hash::HashingReader;
use crate::error::{bad_input, environment};

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

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

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
pub fn stream_damaged(src: &Path, compression: Compression, e: &std::io::Error) -> String {
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
