//! `lastgood restore`: choose a backup (by time or id) and restore it, whole or some tables, into
//! a new scratch SQLite file.

use std::path::PathBuf;

use crate::catalog::Catalog;
use crate::restore::{RestorePlan, RestoreReport, scratch_dir_path};

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
}

pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<i32> {
    let catalog = ctx.catalog()?;
    let (backup, why) = choose(args, ctx, &catalog)?;
    let tables = args.tables.clone();
    let plan = match &args.into {
        Some(p) => RestorePlan::new(&catalog, backup, why, tables, p.clone(), args.force)?,
        None => {
            let dir = scratch_dir_path(args.scratch_dir.as_deref());
            let name = format!("{}-{}.db", backup.id, ctx.now.format("%Y%m%dT%H%M%S"));
            RestorePlan::new_in_scratch(&catalog, backup, why, tables, &dir, &name, args.force)?
        }
    };
    if args.dry_run {
        ctx.out.emit(&plan, |p| format!("{}\nwould restore {} into {}\n", p.why, what(p), p.target.display()))?;
        return Ok(crate::exit::OK);
    }
    if !ctx.out.json && !ctx.out.quiet {
        eprintln!("{}", plan.why);
    }
    let report = plan.execute(&ctx.out)?;
    ctx.out.emit(&report, render)?;
    Ok(crate::exit::OK)
}

/// The backup to restore, and why it was chosen, in words.
fn choose<'c>(
    args: &Args,
    ctx: &Context,
    catalog: &'c Catalog,
) -> anyhow::Result<(&'c crate::catalog::Backup, String)> {
    if let Some(sel) = &args.backup {
        let b = catalog.select(sel)?;
        return Ok((
            b,
            format!("using backup {} taken at {} (selected as `{sel}`)", b.id, crate::time::show(b.taken_at)),
        ));
    }
    let Some(at_text) = args.at.as_deref() else {
        let b = crate::picker::pick(catalog, ctx.now)?;
        return Ok((
            b,
            format!("using backup {} taken at {} (picked interactively)", b.id, crate::time::show(b.taken_at)),
        ));
    };
    let at = crate::time::parse_time(at_text, ctx.now, ctx.utc)?;
    let (b, skipped) = catalog.newest_at_or_before(at)?;
    let mut why = format!(
        "using backup {} taken at {} ({}): the newest taken at or before {} (`{at_text}`)",
        b.id,
        crate::time::show(b.taken_at),
        b.taken_at_source.label(),
        crate::time::show(at)
    );
    for s in skipped {
        why.push_str(&format!("; skipped damaged backup {} taken at {}", s.id, crate::time::show(s.taken_at)));
    }
    Ok((b, why))
}

fn what(p: &RestorePlan) -> String {
    match &p.tables {
        None => format!("the whole backup {}", p.backup_id),
        Some(t) => format!("table(s) {} of backup {}", t.join(", "), p.backup_id),
    }
}

fn render(r: &RestoreReport) -> String {
    let mut s = format!("restored {} into {}\n", what(&r.plan), r.plan.target.display());
    s.push_str(&format!("quick_check: {}   time: {:.2}s\n", r.quick_check, r.seconds));
    for t in &r.tables_restored {
        s.push_str(&format!("  {:<30} {:>12} rows\n", t.name, t.rows));
    }
    s
}
