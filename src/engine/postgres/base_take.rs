//! PostgreSQL's `lastgood backup --base` (`Engine::take_base_backup`): a physical base backup of
//! live's cluster by the real `pg_basebackup`, in tar format (`base.tar`, `pg_wal.tar` with the
//! WAL streamed during the backup, so the backup is consistent on its own, and a
//! `backup_manifest` with SHA-256 checksums of every file, which `pg_verifybackup` checks), into a
//! temporary folder; the core stores the folder in every repository as `base/<name>/`. With a WAL
//! archive (`wal-archive`) it is the start of a recovery window. The password reaches
//! pg_basebackup only through the environment; its messages are scrubbed.

use std::path::Path;

use anyhow::Result;
use chrono::Utc;

use super::conn::PgConn;
use super::tools;
use crate::engine::TakenBackup;
use crate::error::{environment, usage};
use crate::output::Output;
use crate::util::compress::Compression;

/// Runs pg_basebackup of the cluster `spec` names into `dir/base`. Errors: `Usage` for
/// `--compress zstd` (gzip is pg_basebackup's `-z`), `Environment` when it cannot connect (no
/// replication permission, wrong password) or fails.
pub fn take(spec: &str, compression: Compression, dir: &Path, out: &Output) -> Result<TakenBackup> {
    let gzip = match compression {
        Compression::None => false,
        Compression::Gzip => true,
        Compression::Zstd => {
            return Err(usage("`backup --base` compresses with gzip only (pg_basebackup -z)")
                .hint("pass --compress gzip, or no --compress")
                .into());
        }
    };
    let conn = PgConn::resolve(spec)?;
    // A wrong database name or password fails here, with the engine's clear message.
    drop(conn.connect()?);
    let dst = dir.join("base");
    let spinner = out.spinner(&format!("pg_basebackup of {}", conn.describe_server()));
    let mut cmd = tools::command("pg_basebackup", Some(&conn))?;
    cmd.args(["-Ft", "-X", "stream", "--checkpoint=fast", "--manifest-checksums=SHA256", "--no-password", "-D"])
        .arg(&dst);
    if gzip {
        cmd.arg("-z");
    }
    let done = tools::output(&mut cmd)?;
    spinner.finish_and_clear();
    if !done.status.success() {
        return Err(environment(format!(
            "pg_basebackup of `{}` failed: {}",
            conn.describe_server(),
            tools::stderr_tail(&done, Some(&conn), 3)
        ))
        .hint("the role needs the REPLICATION attribute and a `replication` line in pg_hba.conf")
        .into());
    }
    // Consistent as of its end: the WAL streamed up to then is inside it.
    let taken_at = Utc::now();
    Ok(TakenBackup {
        taken_at,
        stored: dst.clone(),
        content: dst,
        stem: "base".to_string(),
        ext: String::new(),
        engine: "postgres",
        source: spec.to_string(),
        tables: Vec::new(),
    })
}
