//! `lastgood backup --live L --repo R [--repo OFFSITE …]`: a consistent backup with a manifest,
//! copied into every repository.

use crate::core::backup::{self, BackupReport};
use crate::engine::Location;
use crate::error::environment;
use crate::util::compress::Compression;

use super::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The live database: a SQLite file path, or a PostgreSQL URL / key=value string (dumped with
    /// `pg_dump -Fc`; PG* variables fill the gaps).
    #[arg(long, value_name = "DB")]
    pub live: String,
    /// Compress the stored backup.
    #[arg(long, value_enum, default_value = "none")]
    pub compress: CompressArg,
    /// PostgreSQL: a physical base backup of live's whole cluster (`pg_basebackup`, tar format,
    /// WAL included, SHA-256 manifest), stored as `base/<name>/` in every repository; with a WAL
    /// archive (`lastgood wal-archive`) it starts a recovery window.
    #[arg(long)]
    pub base: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum CompressArg {
    None,
    Gzip,
    Zstd,
}

pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<i32> {
    let compression = match args.compress {
        CompressArg::None => Compression::None,
        CompressArg::Gzip => Compression::Gzip,
        CompressArg::Zstd => Compression::Zstd,
    };
    let report = backup::take(&Location::parse(&args.live), &ctx.repos, compression, args.base, &ctx.out)?;
    ctx.out.emit(&report, render)?;
    let failed = report.failed();
    if !failed.is_empty() {
        let which: Vec<String> = failed.iter().map(|c| format!("`{}`", c.repository.display())).collect();
        return Err(environment(format!(
            "backup stored in {} of {} repositories; failed: {}",
            report.copies.len() - failed.len(),
            report.copies.len(),
            which.join(", ")
        ))
        .hint("fix those repositories and run the backup again")
        .into());
    }
    Ok(crate::exit::OK)
}

fn render(r: &BackupReport) -> String {
    let mut s = format!(
        "backup of {} taken at {} ({} bytes, sha256 {}…) in {:.2}s\n",
        r.source,
        crate::time::show(r.taken_at),
        r.size,
        &r.sha256[..12],
        r.seconds
    );
    for c in &r.copies {
        match (&c.path, &c.error) {
            (Some(p), _) => s.push_str(&format!("  stored  {}\n", p.display())),
            (None, Some(e)) => s.push_str(&format!("  FAILED  {}: {e}\n", c.repository.display())),
            _ => {}
        }
    }
    if r.file.starts_with(crate::core::backup::BASE_FOLDER) && r.tables.is_empty() {
        s.push_str("  a base backup of the whole cluster: restorable with the WAL archived after it\n");
    }
    for t in &r.tables {
        s.push_str(&format!("  {:<30} {:>12} rows\n", t.name, t.rows_text()));
    }
    s
}
