//! `lastgood restore`: choose a backup (by time or id) and restore it, whole or some tables, into
//! a new scratch database: a SQLite file for SQLite backups, a PostgreSQL database (on live's
//! server, or `--scratch-url`) for pg_dump archives.

use std::path::PathBuf;

use crate::core::catalog::Catalog;
use crate::core::restore::{RestoreArgs, named_copy};
use crate::engine::RestoreTarget;

use super::Context;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("which").args(["at", "backup"])))]
pub struct Args {
    /// Use the newest backup taken at or before TIME (`-3h`, `yesterday 18:00`, `2026-11-24 06:00 +01:00`, RFC 3339, `now`).
    /// Without --at and --backup, an interactive picker opens on a terminal.
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub at: Option<String>,
    /// Use this backup: id prefix, `latest`, `latest~N`, or a path to one of its copies.
    #[arg(long, value_name = "ID")]
    pub backup: Option<String>,
    /// Restore only these tables (comma-separated), with their indexes and triggers.
    #[arg(long, value_delimiter = ',', value_name = "T1,T2")]
    pub tables: Option<Vec<String>>,
    /// The scratch file to create (default: a new file in the scratch folder).
    #[arg(long, value_name = "PATH")]
    pub into: Option<PathBuf>,
    /// Folder for default scratch files.
    #[arg(long, value_name = "DIR", env = "LASTGOOD_SCRATCH_DIR")]
    pub scratch_dir: Option<PathBuf>,
    /// Replace `--into` if it exists (never a backup or a live database).
    #[arg(long)]
    pub force: bool,
    /// Print the plan and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// PostgreSQL: the live database (URL or key=value; PG* variables fill the gaps); the scratch
    /// database is created on its server.
    #[arg(long, value_name = "URL", env = "LASTGOOD_LIVE")]
    pub live: Option<String>,
    /// PostgreSQL: restore into exactly this database (created; URL or key=value).
    #[arg(long, value_name = "URL")]
    pub scratch_url: Option<String>,
    /// PostgreSQL: parallel pg_restore jobs for custom and directory archives (1 or more).
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = parse_jobs)]
    pub jobs: u32,
}

/// `--jobs N`: a whole number of 1 or more (0 would mean no pg_restore job at all).
fn parse_jobs(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(0) => Err("0 jobs cannot restore anything: give 1 or more (1 = one pg_restore run)".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{s}` is not a whole number of jobs (1 or more)")),
    }
}

pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<i32> {
    let catalog = ctx.catalog()?;
    let (backup, why) = choose(args, ctx, &catalog)?;
    let target = RestoreTarget {
        into: args.into.clone(),
        scratch_dir: args.scratch_dir.clone(),
        live: args.live.clone(),
        scratch_url: args.scratch_url.clone(),
    };
    let request = RestoreArgs {
        why,
        tables: args.tables.clone(),
        only_copy: named_copy(backup, args.backup.as_deref().map(std::path::Path::new)),
        target,
        force: args.force,
        jobs: args.jobs,
        now: ctx.now,
    };
    let job = crate::core::restore::plan(&catalog, backup, request)?;
    if args.dry_run {
        crate::engine::print(&ctx.out, job.plan())?;
        return Ok(crate::exit::OK);
    }
    if !ctx.out.json && !ctx.out.quiet {
        eprintln!("{}", job.why());
    }
    let report = job.execute(&ctx.out)?;
    crate::engine::print(&ctx.out, report.as_ref())?;
    Ok(crate::exit::OK)
}

/// The backup to restore, and why it was chosen, in words.
fn choose<'c>(
    args: &Args,
    ctx: &Context,
    catalog: &'c Catalog,
) -> anyhow::Result<(&'c crate::core::catalog::Backup, String)> {
    if let Some(sel) = &args.backup {
        let s = catalog.select(crate::core::catalog::Selector::Backup(sel))?;
        return Ok((s.point()?, s.reason));
    }
    let Some(at_text) = args.at.as_deref() else {
        let b = crate::cmd::picker::pick(catalog, ctx.now)?;
        return Ok((
            b,
            format!("using backup {} taken at {} (picked interactively)", b.id, crate::time::show(b.taken_at)),
        ));
    };
    let at = crate::time::parse_past_time(at_text, ctx.now, ctx.utc)?;
    let s = catalog.select(crate::core::catalog::Selector::At { at, given: at_text, now: ctx.now })?;
    for note in &s.notes {
        ctx.out.warn(note);
    }
    Ok((s.point()?, s.reason))
}
