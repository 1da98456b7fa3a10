//! `lastgood restore`: choose a backup (by time or id) and restore it, whole or some tables, into
//! a new scratch database: a SQLite file for SQLite backups, a PostgreSQL database (on live's
//! server, or `--scratch-url`) for pg_dump archives.

use std::path::PathBuf;

use crate::core::catalog::Catalog;
use crate::core::restore::{RestorePlan, RestoreReport, scratch_dir_path};
use crate::engine::postgres::restore::{PgRestorePlan, PgRestoreReport, live_sources, server_for_restore};
use crate::engine::postgres::scratch::LiveSource;

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
    if backup.format.is_postgres() {
        return run_postgres(args, ctx, backup, &live_sources(&catalog), why);
    }
    let tables = args.tables.clone();
    let mut plan = match &args.into {
        Some(p) => RestorePlan::new(&catalog, backup, why, tables, p.clone(), args.force)?,
        None => {
            let dir = scratch_dir_path(args.scratch_dir.as_deref());
            let name = format!("{}-{}.db", backup.id, ctx.now.format("%Y%m%dT%H%M%S"));
            RestorePlan::new_in_scratch(&catalog, backup, why, tables, &dir, &name, args.force)?
        }
    };
    if let Some(copy) = named_copy(args, backup) {
        plan = plan.only_from(copy);
    }
    if args.dry_run {
        ctx.out.emit(&plan, |p| {
            let from = from_copies(&p.backup_path, &p.other_copies);
            format!("{}\nwould restore {} {from}into {}\n", p.why, what(p), p.target.display())
        })?;
        return Ok(crate::exit::OK);
    }
    if !ctx.out.json && !ctx.out.quiet {
        eprintln!("{}", plan.why);
    }
    let report = plan.execute(&ctx.out)?;
    ctx.out.emit(&report, render)?;
    Ok(crate::exit::OK)
}

fn run_postgres(
    args: &Args,
    ctx: &Context,
    backup: &crate::core::catalog::Backup,
    sources: &[LiveSource],
    why: String,
) -> anyhow::Result<i32> {
    let (server, explicit, live_db) = server_for_restore(args.live.as_deref(), args.scratch_url.as_deref())?;
    let into = args.into.as_ref().map(|p| p.to_string_lossy().into_owned());
    let mut plan = PgRestorePlan::new(
        backup,
        why,
        args.tables.clone(),
        &server,
        explicit,
        into.as_deref(),
        live_db.as_deref(),
        sources,
        args.force,
        args.jobs,
        ctx.now,
    )?;
    if let Some(copy) = named_copy(args, backup) {
        plan = plan.only_from(copy);
    }
    if args.dry_run {
        ctx.out.emit(&plan, |p| {
            let from = from_copies(&p.backup_path, &p.other_copies);
            format!("{}\nwould restore {} {from}into {}\n", p.why, what_pg(p), p.target)
        })?;
        return Ok(crate::exit::OK);
    }
    if !ctx.out.json && !ctx.out.quiet {
        eprintln!("{}", plan.why);
    }
    let report = plan.execute(&ctx.out)?;
    ctx.out.emit(&report, render_pg)?;
    Ok(crate::exit::OK)
}

/// The copy `--backup PATH` names, which the restore reads and no other; `None` for a selector
/// that is not a path (an id, `latest`): the first copy that verifies is read.
fn named_copy<'b>(args: &Args, backup: &'b crate::core::catalog::Backup) -> Option<&'b crate::core::catalog::Copy> {
    args.backup.as_deref().map(std::path::Path::new).filter(|p| p.exists()).and_then(|p| backup.copy_at(p))
}

/// "from `first` " and, when there are others, which are read if it does not verify.
fn from_copies(first: &std::path::Path, others: &[std::path::PathBuf]) -> String {
    if others.is_empty() {
        return format!("from `{}` ", first.display());
    }
    let rest: Vec<String> = others.iter().map(|o| format!("`{}`", o.display())).collect();
    format!("from `{}` (else the next copy that verifies: {}) ", first.display(), rest.join(", "))
}

/// What a report adds about copies: the ones passed over and why, then the one read.
fn copies_read(passed_over: &[crate::engine::PassedCopy], read: &std::path::Path) -> String {
    if passed_over.is_empty() {
        return String::new();
    }
    let mut s: String =
        passed_over.iter().map(|p| format!("passed over copy `{}`: {}\n", p.path.display(), p.reason)).collect();
    s.push_str(&format!("read copy `{}`\n", read.display()));
    s
}

fn what_pg(p: &PgRestorePlan) -> String {
    match &p.tables {
        None => format!("the whole {} archive {}", p.format.label(), p.backup_id),
        Some(t) => format!("table(s) {} of {} archive {}", t.join(", "), p.format.label(), p.backup_id),
    }
}

fn render_pg(r: &PgRestoreReport) -> String {
    let mut s = copies_read(&r.passed_over_copies, &r.plan.backup_path);
    s.push_str(&format!("restored {} into {}\n", what_pg(&r.plan), r.plan.target));
    s.push_str(&format!("indexes: {}   constraints: {}   time: {:.2}s\n", r.indexes, r.constraints, r.seconds));
    for fk in &r.skipped_foreign_keys {
        if fk.starts_with("trigger ") {
            s.push_str(&format!("left out {fk}\n"));
        } else {
            s.push_str(&format!("left out foreign key {fk} (it points at a table not restored)\n"));
        }
    }
    for t in &r.tables_restored {
        s.push_str(&format!("  {:<30} {:>12} rows\n", t.name, t.rows_text()));
    }
    s.push_str(&format!("drop it when done: lastgood scratch drop {} --live …\n", r.plan.target_database));
    s
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

fn what(p: &RestorePlan) -> String {
    match &p.tables {
        None => format!("the whole backup {}", p.backup_id),
        Some(t) => format!("table(s) {} of backup {}", t.join(", "), p.backup_id),
    }
}

fn render(r: &RestoreReport) -> String {
    let mut s = copies_read(&r.passed_over_copies, &r.plan.backup_path);
    s.push_str(&format!("restored {} into {}\n", what(&r.plan), r.plan.target.display()));
    s.push_str(&format!("quick_check: {}   time: {:.2}s\n", r.quick_check, r.seconds));
    for t in &r.tables_restored {
        s.push_str(&format!("  {:<30} {:>12} rows\n", t.name, t.rows_text()));
    }
    if !r.skipped_tables.is_empty() {
        s.push_str(&format!("copied with the file, not counted: {}\n", crate::engine::skipped_list(&r.skipped_tables)));
    }
    s
}
