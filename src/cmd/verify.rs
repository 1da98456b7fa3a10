//! `lastgood verify [BACKUP | --all]`: is each backup (or each copy) restorable?

use crate::core::catalog::{self, Backup, Copy};
use crate::core::verify::{Check, CopyVerdict, verify_copy, verify_window};

use super::Context;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("which").args(["backup", "all"]).required(true)))]
pub struct Args {
    /// Backup id (or prefix), `latest`, `latest~N`, or a path to one of its copies.
    pub backup: Option<String>,
    /// Verify every copy of every backup.
    #[arg(long)]
    pub all: bool,
}

pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<i32> {
    let catalog = ctx.catalog()?;
    let backups: Vec<&Backup> = match &args.backup {
        Some(sel) => vec![catalog.select(sel)?],
        None => catalog.backups.iter().collect(),
    };
    let copies: Vec<(&Backup, &Copy)> = backups.iter().flat_map(|b| b.copies.iter().map(move |c| (*b, c))).collect();
    let bar = ctx.out.count_bar(copies.len() as u64, "verifying");
    let mut verdicts: Vec<CopyVerdict> = copies
        .iter()
        .map(|(b, c)| {
            bar.inc(1);
            verify_copy(b, c)
        })
        .collect();
    // The logs of the windows these backups start (every window with --all): a gap fails.
    let ids: Vec<&str> = backups.iter().map(|b| b.id.as_str()).collect();
    let windows = catalog.windows.iter().filter(|w| args.all || w.bases.iter().any(|b| ids.contains(&b.id.as_str())));
    verdicts.extend(windows.map(verify_window));
    if args.all {
        // A file named like a backup that is not one (empty, text) is a backup that failed.
        // Links not followed are the catalog's to report, not failed backups.
        let files = catalog.ignored.iter().filter(|i| i.kind == catalog::IgnoredKind::File);
        verdicts.extend(files.map(not_a_backup));
    }
    bar.finish_and_clear();
    let failed = verdicts.iter().filter(|v| !v.ok).count();
    record_marks(&copies, &verdicts[..copies.len()], ctx);
    ctx.out.emit(&verdicts, |vs| render(vs, failed))?;
    Ok(if failed > 0 { crate::exit::FOUND } else { crate::exit::OK })
}

/// Records each copy's verdict in its repository's cache (mark `verified`), for the picker and
/// `catalog`. Best effort: a read-only repository simply keeps no mark.
fn record_marks(copies: &[(&Backup, &Copy)], verdicts: &[CopyVerdict], ctx: &Context) {
    for ((b, c), v) in copies.iter().zip(verdicts) {
        let value = format!("{} {}", if v.ok { "ok" } else { "failed" }, ctx.now.to_rfc3339());
        let _ = catalog::cache::write_mark(&c.repository, &b.content_sha256, "verified", &value);
    }
}

fn not_a_backup(i: &catalog::Ignored) -> CopyVerdict {
    CopyVerdict {
        backup_id: "-".to_string(),
        path: i.path.clone(),
        ok: false,
        checks: vec![Check { name: "format", ok: false, detail: i.reason.clone() }],
    }
}

fn render(vs: &[CopyVerdict], failed: usize) -> String {
    let mut s = String::new();
    for v in vs {
        if v.ok {
            s.push_str(&format!("OK      {}  {}\n", v.backup_id, v.path.display()));
        } else {
            let why: Vec<String> =
                v.checks.iter().filter(|c| !c.ok).map(|c| format!("{}: {}", c.name, c.detail)).collect();
            s.push_str(&format!("FAILED  {}  {}  {}\n", v.backup_id, v.path.display(), why.join("; ")));
        }
    }
    s.push_str(&format!("{} of {} copies verified OK\n", vs.len() - failed, vs.len()));
    s
}
