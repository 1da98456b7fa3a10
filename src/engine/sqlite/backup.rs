//! SQLite's side of `lastgood backup` (`Engine::take_backup`): `VACUUM INTO` a temporary file —
//! one read transaction, so the snapshot is consistent even while the application writes
//! (TECH-NOTES §2: the online backup API restarts under steady writes; VACUUM INTO does not), and
//! its output is a compact rollback-mode file that opens read-only anywhere — then its tables
//! counted and the file compressed when asked. Storing it is the core's (`core/backup.rs`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::{DateTime, SubsecRound, Utc};
use rusqlite::{Connection, OpenFlags};

use super::file::check_header;
use super::{SqliteDb, classify};
use crate::engine::{Database, TableFacts, TakenBackup};
use crate::output::Output;
use crate::util::compress::Compression;

/// Snapshots the live file `live_path` into `dir`, counts its tables, compresses it.
pub fn take(live_path: &Path, compression: Compression, dir: &Path, out: &Output) -> Result<TakenBackup> {
    let spinner = out.spinner(&format!("snapshotting {}", live_path.display()));
    let (taken_at, snapshot) = snapshot_sqlite(live_path, dir)?;
    let tables = count_tables(&snapshot)?;
    spinner.set_message("compressing");
    let stored = compress(&snapshot, compression, dir)?;
    spinner.finish_and_clear();
    let stem = live_path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "backup".into());
    Ok(TakenBackup {
        taken_at,
        stored,
        content: snapshot,
        stem,
        ext: format!(".db{}", compression.suffix()),
        engine: "sqlite",
        source: std::path::absolute(live_path)?.display().to_string(),
        tables,
    })
}

/// A consistent snapshot of a live SQLite database via `VACUUM INTO`; returns when it was taken
/// (the start of its read transaction) and the snapshot's path.
fn snapshot_sqlite(live: &Path, dir: &Path) -> Result<(DateTime<Utc>, PathBuf)> {
    check_header(live)?;
    let conn = Connection::open_with_flags(live, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| classify(e, live))?;
    conn.busy_timeout(std::time::Duration::from_secs(30)).map_err(|e| classify(e, live))?;
    let dst = dir.join("snapshot.db");
    // Milliseconds, as the file name carries them, so the manifest and the name agree.
    let taken_at = Utc::now().trunc_subsecs(3);
    conn.execute("VACUUM INTO ?1", [dst.to_string_lossy()]).map_err(|e| classify(e, live))?;
    Ok((taken_at, dst))
}

fn count_tables(snapshot: &Path) -> Result<Vec<TableFacts>> {
    let mut db = SqliteDb::open_backup(snapshot)?;
    let names = db.tables()?;
    names.into_iter().map(|name| Ok(TableFacts { rows: Some(db.row_count(&name)?), name })).collect()
}

fn compress(snapshot: &Path, compression: Compression, dir: &Path) -> Result<PathBuf> {
    if compression == Compression::None {
        return Ok(snapshot.to_path_buf());
    }
    let dst = dir.join(format!("snapshot.db{}", compression.suffix()));
    let mut src = File::open(snapshot)?;
    let file = BufWriter::with_capacity(1 << 20, File::create(&dst)?);
    match compression {
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(file, flate2::Compression::default());
            std::io::copy(&mut src, &mut enc)?;
            enc.finish()?.flush()?;
        }
        Compression::Zstd => {
            let mut enc = zstd::stream::write::Encoder::new(file, 3)?;
            std::io::copy(&mut src, &mut enc)?;
            enc.finish()?.flush()?;
        }
        Compression::None => unreachable!("handled above"),
    }
    Ok(dst)
}
