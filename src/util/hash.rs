//! sha256 of what lastgood reads: a reader that hashes as it passes bytes on (so a copy is
//! checked while it is read, not in a second pass), a whole file, a directory archive.
//!
//! Checksums are lowercase hex, as manifests and the catalog store them.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::error::environment;

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

/// sha256 over a directory archive: each file's name and bytes, in name order.
pub fn sha256_dir(dir: &Path) -> Result<String> {
    let mut names: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| environment(format!("cannot read `{}`: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    names.sort();
    let mut h = Sha256::new();
    for p in names {
        h.update(p.file_name().unwrap_or_default().as_encoded_bytes());
        h.update([0]);
        h.update(sha256_file(&p)?.as_bytes());
    }
    Ok(hex::encode(h.finalize()))
}
