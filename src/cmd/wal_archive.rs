//! `lastgood wal-archive %p %f --repo DIR [--repo OFFSITE …] [--require N]`: PostgreSQL's
//! `archive_command`. Quiet on success (what it prints lands in the server log) unless `-v` or
//! `--json`; warnings about best-effort repositories go to stderr, and so to the server log.
//! Exit 0 once the file is durable in the required repositories; any other code makes PostgreSQL
//! keep the file and retry.

use std::path::PathBuf;

use crate::core::walarchive::{self, ArchiveReport, Outcome};

use super::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The file to archive: PostgreSQL's %p (relative to the data folder, where archive_command runs).
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
    /// Its name in the archive: PostgreSQL's %f (a segment, .partial, .history or .backup file,
    /// optionally .gz/.zst).
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The first N repositories given must hold the file for success; the others are best effort
    /// (what they miss is retried by later calls, and `catalog` shows their lag).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub require: usize,
}

pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<i32> {
    let report = walarchive::archive(&args.path, &args.name, &ctx.repos, args.require)?;
    for w in &report.warnings {
        ctx.out.warn(w);
    }
    if ctx.out.json || ctx.out.verbose > 0 {
        ctx.out.emit(&report, render)?;
    }
    Ok(crate::exit::OK)
}

fn render(r: &ArchiveReport) -> String {
    let mut s = format!("archived `{}` ({} bytes)\n", r.name, r.size);
    for o in &r.repositories {
        let what = match o.outcome {
            Outcome::Stored => "stored",
            Outcome::AlreadyArchived => "already archived",
            Outcome::Failed => "FAILED",
            Outcome::Differs => "DIFFERS",
        };
        let role = if o.required { "required" } else { "best effort" };
        s.push_str(&format!("  {what:<16} {} ({role})", o.repository.display()));
        if !o.caught_up.is_empty() {
            s.push_str(&format!(", caught up {} missed file(s)", o.caught_up.len()));
        }
        if o.pending > 0 {
            s.push_str(&format!(", {} file(s) pending", o.pending));
        }
        s.push('\n');
    }
    s
}
