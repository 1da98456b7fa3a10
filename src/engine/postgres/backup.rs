//! PostgreSQL's side of `lastgood backup` (`Engine::take_backup`): `pg_dump -Fc` into a temporary
//! file (one snapshot, consistent while the application writes; the password reaches it only
//! through the environment). Taken-at is the dump's start as the archive header records it (the
//! catalog reads the same field), tables come from the archive's TOC and their row counts from
//! streaming its data. Storing it is the core's (`core/backup.rs`).

use std::path::Path;

use anyhow::Result;
use chrono::Utc;

use super::conn::PgConn;
use super::{archive, restore, tools};
use crate::engine::TakenBackup;
use crate::error::{environment, usage};
use crate::output::Output;
use crate::util::compress::Compression;

/// Dumps the live database `spec` into `dir`. Errors: `Usage` for `--compress` (custom archives
/// are compressed already), `Environment` when pg_dump fails.
pub fn take(spec: &str, compression: Compression, dir: &Path, out: &Output) -> Result<TakenBackup> {
    if compression != Compression::None {
        return Err(usage("pg_dump custom archives are compressed already; --compress applies to SQLite backups")
            .hint("drop --compress")
            .into());
    }
    let conn = PgConn::resolve(spec)?;
    // A wrong database name or password fails here, with the engine's clear message.
    drop(conn.connect()?);
    let dst = dir.join("snapshot.dump");
    let spinner = out.spinner(&format!("pg_dump of {}", conn.describe()));
    let started = Utc::now();
    let mut cmd = tools::command("pg_dump", Some(&conn))?;
    cmd.args(["-Fc", "--no-password", "-f"]).arg(&dst);
    let done = tools::output(&mut cmd)?;
    if !done.status.success() {
        return Err(environment(format!(
            "pg_dump of `{}` failed: {}",
            conn.describe(),
            tools::stderr_tail(&done, Some(&conn), 3)
        ))
        .into());
    }
    spinner.set_message("counting rows");
    let toc = archive::read_custom(&dst)?;
    let tables = restore::count_rows(&dst, &toc.tables())?;
    spinner.finish_and_clear();
    Ok(TakenBackup {
        taken_at: toc.created.unwrap_or(started),
        stored: dst.clone(),
        content: dst,
        stem: file_safe(&conn.dbname),
        ext: ".dump".to_string(),
        engine: "postgres",
        source: spec.to_string(),
        tables,
    })
}

/// A database name as a file-name stem: anything but letters, digits, `-`, `_` becomes `_`.
fn file_safe(name: &str) -> String {
    name.chars().map(|c| if c.is_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}
