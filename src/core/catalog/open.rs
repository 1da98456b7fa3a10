//! Opening one copy of a SQLite backup for reading, with the `-wal` the catalog found beside it;
//! how the bytes are read (in place, or from a private temporary copy) is the engine's
//! (`engine::sqlite::stored`).

use anyhow::Result;

use super::Copy;
pub use crate::engine::sqlite::stored::OpenedBackup;
use crate::engine::sqlite::stored::open_stored_with;

/// Opens one copy of a backup for reading, with the `-wal` the catalog found beside it, or one that
/// appeared since (so that the checksums tell the backup changed). Errors: `BadInput` for a file
/// that is not SQLite, is shorter than its header says (truncated) or does not decompress,
/// `Environment` when it cannot be read or copied.
pub fn open_copy(c: &Copy) -> Result<OpenedBackup> {
    open_copy_with(c, |_| {})
}

/// As `open_copy`, reporting each chunk of stored main-file bytes read to `progress`.
pub fn open_copy_with(c: &Copy, progress: impl FnMut(u64) + 'static) -> Result<OpenedBackup> {
    let wal = match &c.wal {
        Some(w) => Some(w.real.clone()),
        None => super::read_with(&c.path).filter(|p| p.exists()),
    };
    open_stored_with(&c.path, c.compression, wal.as_deref(), progress)
}
