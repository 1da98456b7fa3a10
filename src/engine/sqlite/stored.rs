//! A stored SQLite backup opened for reading: the one way every reader (catalog row counts,
//! restore, bisect, history, show, verify, drill) gets at a SQLite backup's bytes.
//!
//! A plain SQLite file with no `-wal` is read in place with `immutable=1`, which creates nothing
//! beside it. Anything else is read from a private temporary folder: a compressed file is
//! decompressed there, and a file with a `-wal` is copied there together with its `-wal` (a
//! read-write open in the repository would checkpoint into the backup and delete its WAL; a
//! `mode=ro` open would create a `-shm` in the repository, or fail on read-only media). The folder
//! is removed when the `OpenedBackup` is dropped, and on Ctrl-C.
//!
//! While copying, the checksums are computed: `sha256` of the stored main file, `wal_sha256` of the
//! stored `-wal`, and `content_sha256` — the main file decompressed followed by the `-wal` — the
//! backup's identity (see `core::catalog`).

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Result;
use sha2::{Digest, Sha256};

use super::SqliteDb;
use super::file::{self, side_file};
use crate::error::{bad_input, environment};
use crate::util::compress::{Compression, decompress_into};
use crate::util::hash::sha256_file;

/// A backup's bytes as a plain SQLite file: the stored file itself, or a private temporary copy
/// that is deleted when this value is dropped.
pub struct OpenedBackup {
    path: PathBuf,
    /// The stored backup file, which messages name.
    source: PathBuf,
    /// Whether a `-wal` sits beside `path` (in the private folder) and is to be read.
    with_wal: bool,
    _dir: Option<tempfile::TempDir>,
    _pending: Option<crate::interrupt::Pending>,
    /// sha256 of the stored main file (compressed bytes when compressed).
    pub sha256: String,
    /// sha256 of the stored `-wal`, when one was read.
    pub wal_sha256: Option<String>,
    /// The backup's identity: the main file decompressed, then the `-wal`.
    pub content_sha256: String,
}

impl OpenedBackup {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The URI that opens the readable file read-only: `immutable=1` in place (whatever appears
    /// beside the backup meanwhile), `mode=ro` on a private copy with its `-wal`.
    pub fn uri(&self) -> String {
        file::backup_uri_with(&self.path, self.with_wal)
    }

    /// Opens the readable file, read-only; errors name the stored backup, not a temporary copy.
    pub fn open_db(&self) -> Result<SqliteDb> {
        SqliteDb::open_backup_uri(&self.uri(), &self.path, &self.source)
    }
}

/// Opens the stored file `path` with `wal`, its `-wal`, if any. Errors: `BadInput` for a file
/// that is not SQLite, is shorter than its header says (truncated) or does not decompress,
/// `Environment` when it cannot be read or copied.
pub fn open_stored(path: &Path, compression: Compression, wal: Option<&Path>) -> Result<OpenedBackup> {
    open_stored_with(path, compression, wal, |_| {})
}

/// As `open_stored`, reporting each chunk of stored main-file bytes read to `progress`.
pub fn open_stored_with(
    path: &Path,
    compression: Compression,
    wal: Option<&Path>,
    progress: impl FnMut(u64) + 'static,
) -> Result<OpenedBackup> {
    if compression == Compression::None && wal.is_none() {
        file::check_header(path)?;
        file::check_complete(path, path)?;
        let sha256 = sha256_file(path)?;
        return Ok(OpenedBackup {
            path: path.to_path_buf(),
            source: path.to_path_buf(),
            with_wal: false,
            _dir: None,
            _pending: None,
            content_sha256: sha256.clone(),
            sha256,
            wal_sha256: None,
        });
    }
    if compression == Compression::None {
        // Not decompressed: a file that is not SQLite is named as such before it is copied.
        file::check_header(path)?;
    }
    let (pending, dir) =
        crate::interrupt::Pending::create(|| tempfile::Builder::new().prefix("lastgood-").tempdir(), |d| d.path())
            .map_err(|e| environment(format!("cannot create a temporary folder to read `{}`: {e}", path.display())))?;
    let main = dir.path().join("backup.db");
    let (sha256, mut content) = copy_main(path, compression, &main, progress)?;
    file::check_header_as(&main, path).map_err(|e| match compression {
        Compression::None => e,
        _ => bad_input(format!("`{}` does not decompress to a SQLite database", path.display())).into(),
    })?;
    let wal_sha256 = match wal {
        Some(w) => Some(copy_hashing(w, &side_file(&main, "-wal"), &mut content)?),
        // A WAL-mode file's header page count lags behind its WAL; only a file read alone is held
        // to it.
        None => {
            file::check_complete(&main, path)?;
            None
        }
    };
    Ok(OpenedBackup {
        path: main,
        source: path.to_path_buf(),
        with_wal: wal.is_some(),
        _dir: Some(dir),
        _pending: Some(pending),
        sha256,
        wal_sha256,
        content_sha256: hex::encode(content.finalize()),
    })
}

/// Copies (decompressing) the stored main file `path` to `dst`. Returns the sha256 of the stored
/// bytes and the content hasher, fed with the decompressed bytes.
fn copy_main(
    path: &Path,
    compression: Compression,
    dst: &Path,
    mut progress: impl FnMut(u64) + 'static,
) -> Result<(String, Sha256)> {
    let mut out = HashingWriter { inner: File::create(dst).map_err(|e| copy_failed(path, &e))?, hasher: Sha256::new() };
    if compression == Compression::None {
        // Stored bytes are the content: one hash serves both.
        let mut src = File::open(path).map_err(|e| copy_failed(path, &e))?;
        pump(&mut src, &mut out, &mut [], &mut progress).map_err(|e| copy_failed(path, &e))?;
        let stored = hex::encode(out.hasher.clone().finalize());
        return Ok((stored, out.hasher));
    }
    let stored = decompress_into(path, compression, &mut out, progress)?;
    Ok((stored, out.hasher))
}

/// Copies `src` to `dst`, feeding `content` too; returns the sha256 of `src`.
fn copy_hashing(src: &Path, dst: &Path, content: &mut Sha256) -> Result<String> {
    let mut own = Sha256::new();
    let mut from = File::open(src).map_err(|e| copy_failed(src, &e))?;
    let mut to = File::create(dst).map_err(|e| copy_failed(src, &e))?;
    pump(&mut from, &mut to, &mut [content, &mut own], &mut |_| {}).map_err(|e| copy_failed(src, &e))?;
    Ok(hex::encode(own.finalize()))
}

/// Copies `r` to `w` in 1 MiB chunks, feeding each chunk to `hashers` and its size to `progress`.
fn pump(
    r: &mut impl Read,
    w: &mut impl Write,
    hashers: &mut [&mut Sha256],
    progress: &mut dyn FnMut(u64),
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return w.flush(),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        for h in hashers.iter_mut() {
            h.update(&buf[..n]);
        }
        w.write_all(&buf[..n])?;
        progress(n as u64);
    }
}

fn copy_failed(path: &Path, e: &std::io::Error) -> anyhow::Error {
    environment(format!("cannot copy `{}` to a temporary folder: {e}", path.display())).into()
}

/// A writer that hashes what passes through it.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
