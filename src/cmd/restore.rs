//! `lastgood restore`: choose a backup (by time or id) and restore it, whole or some tables, into
//! a new scratch database: a SQLite file for SQLite backups, a PostgreSQL database (on live's
//! server, or `--scratch-url`) for pg_dump archives. `--at` a moment a recovery window covers, or
//! `--before-txn`/`--after-txn`, replays the window's log to exactly that moment (PostgreSQL: a
//! base backup and its WAL archive, in a throwaway instance).

use std::path::PathBuf;

use crate::core::catalog::{Backup, Catalog, RecoveryWindow, Restorable, Selection, Selector, Target};
use crate::core::restore::{RestoreArgs, named_copy};
use crate::engine::RestoreTarget;

use super::Context;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("which").args(["at", "backup", "before_txn", "after_txn"])))]
pub struct Args {
    /// Use the newest backup taken at or before TIME (`-3h`, `yesterday 18:00`, `2026-11-24 06:00 +01:00`, RFC 3339, `now`).
    /// Without --at and --backup, an interactive picker opens on a terminal.
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub at: Option<String>,
    /// Use this backup: id prefix, `latest`, `latest~N`, or a path to one of its copies.
    #[arg(long, value_name = "ID")]
    pub backup: Option<String>,
    /// The state just before transaction XID committed (a recovery window's log replayed to it).
    #[arg(long, value_name = "XID")]
    pub before_txn: Option<u64>,
    /// The state just after transaction XID committed (a recovery window's log replayed to it).
    #[arg(long, value_name = "XID")]
    pub after_txn: Option<u64>,
    /// With --at/--before-txn/--after-txn: follow this timeline of the recovery window (default:
    /// the newest timeline that holds the moment).
    #[arg(long, value_name = "N")]
    pub timeline: Option<u32>,
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
    let mut catalog = ctx.catalog()?;
    if let Some(n) = args.timeline {
        if args.at.is_none() && args.before_txn.is_none() && args.after_txn.is_none() {
            return Err(crate::error::usage(
                "--timeline chooses among recovery windows: give --at, --before-txn or --after-txn too",
            )
            .into());
        }
        catalog.follow_timeline(n)?;
    }
    let chosen = choose(args, ctx, &catalog)?;
    let target = RestoreTarget {
        into: args.into.clone(),
        scratch_dir: args.scratch_dir.clone(),
        live: args.live.clone(),
        scratch_url: args.scratch_url.clone(),
        database: None,
    };
    let request = |why: String, only_copy| RestoreArgs {
        why,
        tables: args.tables.clone(),
        only_copy,
        target: target.clone(),
        force: args.force,
        jobs: args.jobs,
        now: ctx.now,
    };
    let job = match chosen {
        Chosen::Point(backup, why) => {
            let only = named_copy(backup, args.backup.as_deref().map(std::path::Path::new));
            crate::core::restore::plan(&catalog, backup, request(why, only))?
        }
        Chosen::Window(window, to, why) => {
            crate::core::restore::plan_window(&catalog, window, to, None, request(why, None))?
        }
    };
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

/// What to restore: a backup, or a moment of a recovery window; and why, in words.
enum Chosen<'c> {
    Point(&'c Backup, String),
    Window(&'c RecoveryWindow, Target, String),
}

impl<'c> From<Selection<'c>> for Chosen<'c> {
    fn from(s: Selection<'c>) -> Chosen<'c> {
        match s.restorable {
            Restorable::Point(b) => Chosen::Point(b, s.reason),
            Restorable::Window { window, to } => Chosen::Window(window, to, s.reason),
        }
    }
}

/// The backup or window moment to restore, and why it was chosen.
fn choose<'c>(args: &Args, ctx: &Context, catalog: &'c Catalog) -> anyhow::Result<Chosen<'c>> {
    if let Some(sel) = &args.backup {
        let s = catalog.select(Selector::Backup(sel))?;
        return Ok(Chosen::Point(s.point()?, s.reason));
    }
    if let Some((xid, after)) = args.before_txn.map(|x| (x, false)).or(args.after_txn.map(|x| (x, true))) {
        return Ok(catalog.select(Selector::Txn { xid, after })?.into());
    }
    let Some(at_text) = args.at.as_deref() else {
        let b = crate::cmd::picker::pick(catalog, ctx.now)?;
        let why = format!("using backup {} taken at {} (picked interactively)", b.id, crate::time::show(b.taken_at));
        return Ok(Chosen::Point(b, why));
    };
    let at = crate::time::parse_past_time(at_text, ctx.now, ctx.utc)?;
    let s = catalog.select(Selector::At { at, given: at_text, now: ctx.now })?;
    for note in &s.notes {
        ctx.out.warn(note);
    }
    Ok(s.into())
}
