//! `lastgood prune`: remove old backups by retention rules (`--dry-run` to only see the plan).
//! Never removes the newest backup that passes verify, nor the last known good (`bisect`).

use serde::Serialize;

use crate::cmd::picker::mark;
use crate::core::bisect::LKG_MARK;
use crate::core::prune::{PrunePlan, Rules};

use super::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Keep the N newest backups.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keep_last: usize,
    /// Keep the newest backup of each of the N most recent hours.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keep_hourly: usize,
    /// Keep the newest backup of each of the N most recent days.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keep_daily: usize,
    /// Print what would be removed, remove nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Serialize)]
struct PruneView<'a> {
    dry_run: bool,
    plan: &'a PrunePlan,
    removed_files: Vec<std::path::PathBuf>,
}

pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<i32> {
    let catalog = ctx.catalog()?;
    let rules = Rules { keep_last: args.keep_last, keep_hourly: args.keep_hourly, keep_daily: args.keep_daily };
    let verified_before = |b: &crate::core::catalog::Backup| mark(b, "verified").is_some_and(|v| v.starts_with("ok"));
    // The backup prune protects must pass verify now (checksum, complete, integrity_check).
    let healthy_now =
        |b: &crate::core::catalog::Backup| b.copies.iter().any(|c| crate::core::verify::verify_copy(b, c).ok);
    // The mark may sit in any repository's cache (bisect writes it where the backup had copies
    // then), so every repository of the catalog is asked, not only those holding a copy now.
    let lkg = |b: &crate::core::catalog::Backup| {
        catalog.repositories.iter().any(|r| crate::core::catalog::cache::read_mark(r, &b.sha256, LKG_MARK).is_some())
    };
    let plan = PrunePlan::new(&catalog, rules, verified_before, healthy_now, lkg)?;
    let removed_files = if args.dry_run { Vec::new() } else { plan.execute()? };
    let view = PruneView { dry_run: args.dry_run, plan: &plan, removed_files };
    ctx.out.emit(&view, |v| {
        let mut s = String::new();
        for d in &v.plan.decisions {
            let verb = if d.keep {
                format!("keep    ({})", d.reasons.join(", "))
            } else if v.dry_run {
                "would remove".into()
            } else {
                "removed".into()
            };
            s.push_str(&format!("{}  {}  {verb}\n", d.backup_id, crate::time::show(d.taken_at)));
            if !d.keep {
                for l in &d.links_left {
                    s.push_str(&format!("  link `{}` left in place (it will dangle)\n", l.display()));
                }
            }
        }
        let gone = v.plan.decisions.iter().filter(|d| !d.keep).count();
        s.push_str(&format!("{gone} backup(s) {}\n", if v.dry_run { "would be removed (dry run)" } else { "removed" }));
        s
    })?;
    Ok(crate::exit::OK)
}
