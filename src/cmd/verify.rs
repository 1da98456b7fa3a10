//! `lastgood verify [BACKUP | --all]`: is each backup (or each copy) restorable?

use serde::Serialize;

use crate::catalog::{self, Backup, Copy, manifest};
use crate::engine::Database;
use crate::engine::sqlite::SqliteDb;

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

/// The verdict on one copy.
#[derive(Debug, Serialize)]
pub struct CopyVerdict {
    pub backup_id: String,
    pub path: std::path::PathBuf,
    pub ok: bool,
    /// The checks that ran, in order, each `ok` or the reason it failed.
    pub checks: Vec<Check>,
}

#[derive(Debug, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
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
    if args.all {
        // A file named like a backup that is not one (empty, text) is a backup that failed.
        verdicts.extend(catalog.ignored.iter().map(not_a_backup));
    }
    bar.finish_and_clear();
    let failed = verdicts.iter().filter(|v| !v.ok).count();
    record_marks(&copies, &verdicts, ctx);
    ctx.out.emit(&verdicts, |vs| render(vs, failed))?;
    Ok(if failed > 0 { crate::exit::FOUND } else { crate::exit::OK })
}

/// Records each copy's verdict in its repository's cache (mark `verified`), for the picker and
/// `catalog`. Best effort: a read-only repository simply keeps no mark.
fn record_marks(copies: &[(&Backup, &Copy)], verdicts: &[CopyVerdict], ctx: &Context) {
    for ((b, c), v) in copies.iter().zip(verdicts) {
        let value = format!("{} {}", if v.ok { "ok" } else { "failed" }, ctx.now.to_rfc3339());
        let _ = catalog::cache::write_mark(&c.repository, &b.sha256, "verified", &value);
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

/// Runs every check on one copy: manifest checksum, decompression, header, integrity_check.
pub fn verify_copy(b: &Backup, c: &Copy) -> CopyVerdict {
    let mut checks = Vec::new();
    let mut push = |name, r: anyhow::Result<String>| {
        let ok = r.is_ok();
        checks.push(Check { name, ok, detail: r.unwrap_or_else(|e| format!("{e:#}")) });
        ok
    };
    let opened = catalog::open_backup_file(&c.path, b.compression);
    let sha = opened.as_ref().map(|o| o.sha256.clone()).ok();
    let manifest = manifest::read_for(&c.path);
    let checksum = match (&manifest, &sha) {
        (Err(e), _) => Err(anyhow::anyhow!("{e:#}")),
        (Ok(Some(m)), Some(sha)) => match &m.sha256 {
            Some(expected) if expected.eq_ignore_ascii_case(sha) => Ok("matches manifest".to_string()),
            Some(expected) => Err(anyhow::anyhow!("sha256 {sha} differs from manifest's {expected}")),
            None => Ok("manifest has no checksum".to_string()),
        },
        (Ok(None), Some(sha)) if *sha != b.sha256 => Err(anyhow::anyhow!(
            "sha256 {sha} differs from the catalog's {} (file changed since it was catalogued)",
            b.sha256
        )),
        (Ok(None), _) => Ok("no manifest".to_string()),
        (Ok(Some(_)), None) => Err(anyhow::anyhow!("file unreadable, checksum not computed")),
    };
    let all_ok = push("checksum", checksum);
    let opened = match opened {
        Ok(o) => {
            push(
                "readable",
                Ok(if b.compression == catalog::format::Compression::None {
                    "SQLite header ok".into()
                } else {
                    "decompressed, SQLite header ok".into()
                }),
            );
            o
        }
        Err(e) => {
            push("readable", Err(e));
            return CopyVerdict { backup_id: b.id.clone(), path: c.path.clone(), ok: false, checks };
        }
    };
    let integrity =
        SqliteDb::open_backup(opened.path()).and_then(|mut db| db.integrity_problems(false)).and_then(|p| {
            if p.is_empty() {
                Ok("ok".to_string())
            } else {
                Err(anyhow::anyhow!("{}", p.into_iter().take(5).collect::<Vec<_>>().join("; ")))
            }
        });
    let integrity_ok = push("integrity_check", integrity);
    CopyVerdict { backup_id: b.id.clone(), path: c.path.clone(), ok: all_ok && integrity_ok, checks }
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
