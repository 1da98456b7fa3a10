//! `lastgood catalog`: the backups in every repository, oldest first.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::cmd::picker::mark;
use crate::core::catalog::{Backup, Catalog, Ignored, RecoveryWindow};
use crate::core::walarchive::{self, WalLag};
use crate::output::{human_age, human_bytes, table};

use super::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Flag backups held in fewer places than this: copies in distinct repositories on distinct
    /// filesystems (two files in one folder are one place).
    #[arg(long, value_name = "N")]
    pub require_copies: Option<usize>,
}

#[derive(Serialize)]
struct CatalogView<'a> {
    repositories: &'a [std::path::PathBuf],
    now: DateTime<Utc>,
    backups: Vec<BackupView<'a>>,
    /// Recovery windows: restorable to any moment inside (a repository's base backups and WAL
    /// archive, per cluster and timeline).
    windows: &'a [RecoveryWindow],
    ignored: &'a [Ignored],
    /// Repositories that missed archived WAL files (`wal-archive`'s pending records), per
    /// repository; empty when none lags.
    wal_lag: Vec<WalLag>,
}

#[derive(Serialize)]
struct BackupView<'a> {
    #[serde(flatten)]
    backup: &'a Backup,
    age_seconds: i64,
    /// Copies in distinct repositories on distinct filesystems (see `Backup::places`).
    places: usize,
    /// Fewer places than `--require-copies`.
    under_replicated: bool,
    /// Recorded by `bisect`: this is the last known good backup.
    last_known_good: bool,
    /// Recorded by `verify`: `ok <time>` or `failed <time>`.
    verified: Option<String>,
}

pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<i32> {
    let catalog = ctx.catalog()?;
    let view = CatalogView {
        repositories: &catalog.repositories,
        now: ctx.now,
        backups: catalog
            .backups
            .iter()
            .map(|b| {
                let places = b.places(|_| true);
                BackupView {
                    backup: b,
                    age_seconds: (ctx.now - b.taken_at).num_seconds(),
                    places,
                    under_replicated: args.require_copies.is_some_and(|n| places < n),
                    last_known_good: mark(b, "lkg").is_some(),
                    verified: mark(b, "verified"),
                }
            })
            .collect(),
        windows: &catalog.windows,
        ignored: &catalog.ignored,
        wal_lag: walarchive::lags(&catalog.repositories),
    };
    ctx.out.emit(&view, |v| render(&catalog, v, ctx))?;
    Ok(crate::exit::OK)
}

fn render(catalog: &Catalog, view: &CatalogView, ctx: &Context) -> String {
    if catalog.backups.is_empty() {
        let mut s = format!("no backups found in {}\n", join_paths(&catalog.repositories));
        s.push_str(&window_lines(&catalog.windows));
        s.push_str(&lag_lines(&view.wal_lag));
        s.push_str(&ignored_lines(&catalog.ignored));
        return s;
    }
    let rows: Vec<Vec<String>> = view
        .backups
        .iter()
        .map(|v| {
            let b = v.backup;
            let mut flags = Vec::new();
            if v.last_known_good {
                flags.push("LKG".to_string());
            }
            match v.verified.as_deref() {
                Some(s) if s.starts_with("ok") => flags.push("verified".into()),
                Some(_) => flags.push("VERIFY FAILED".into()),
                None => {}
            }
            if v.under_replicated {
                flags.push("UNDER-REPLICATED".into());
            }
            if !b.differing_copies.is_empty() {
                flags.push("COPIES DIFFER".into());
            }
            if b.copies.iter().any(|c| c.wal.is_some()) {
                flags.push("+WAL".into());
            }
            if !b.warnings.is_empty() {
                flags.push("WARNING".into());
            }
            let mut tables = if b.tables.is_empty() {
                "-".to_string()
            } else {
                b.tables.iter().map(|t| format!("{} ({})", t.name, t.rows_text())).collect::<Vec<_>>().join(", ")
            };
            if !b.skipped_tables.is_empty() {
                tables.push_str(&format!("; not counted: {}", crate::engine::skipped_list(&b.skipped_tables)));
            }
            vec![
                b.id.clone(),
                crate::time::show(b.taken_at),
                b.taken_at_source.label().to_string(),
                human_age(ctx.now - b.taken_at),
                human_bytes(b.size),
                b.copies.len().to_string(),
                flags.join(" "),
                match &b.problem {
                    Some(p) => format!("DAMAGED: {p}"),
                    None => tables,
                },
                b.primary().path.display().to_string(),
            ]
        })
        .collect();
    let mut s = table(&["ID", "TAKEN AT", "FROM", "AGE", "SIZE", "COPIES", "FLAGS", "TABLES (ROWS)", "PATH"], &rows);
    s.push_str(&format!("{} backup(s) in {}\n", catalog.backups.len(), join_paths(&catalog.repositories)));
    s.push_str(&window_lines(&catalog.windows));
    for b in &catalog.backups {
        for w in &b.warnings {
            s.push_str(&format!("warning: backup {} (`{}`): {w}\n", b.id, b.primary().path.display()));
        }
    }
    s.push_str(&lag_lines(&view.wal_lag));
    s.push_str(&ignored_lines(&catalog.ignored));
    s
}

/// A few lines per recovery window (nothing when there is none): its span, what it reads, its
/// gaps and warnings.
fn window_lines(windows: &[RecoveryWindow]) -> String {
    let mut s = String::new();
    for w in windows {
        let of = match (&w.system, w.timeline) {
            (Some(sys), Some(t)) => format!(" (system {sys}, timeline {t})"),
            _ => String::new(),
        };
        let txns =
            w.window.transactions.map(|r| format!(", transactions {} to {}", r.first, r.last)).unwrap_or_default();
        s.push_str(&format!(
            "recovery window {}{of}: any moment from {} to {}{txns}\n",
            w.id,
            crate::time::show(w.window.from),
            crate::time::show(w.window.to)
        ));
        let bases: Vec<String> =
            w.bases.iter().map(|b| format!("{} (ends {})", b.id, crate::time::show(b.taken_at))).collect();
        let log = match (&w.log, &w.newest_log_file) {
            (Some(l), Some(n)) => {
                format!("; log `{}`: {} file(s), {}, newest {n}", l.display(), w.log_files, human_bytes(w.size))
            }
            _ => String::new(),
        };
        s.push_str(&format!("  base backup(s): {}{log}\n", bases.join(", ")));
        for g in &w.window.gaps {
            let to = if g.to == w.window.to { "the end".to_string() } else { crate::time::show(g.to) };
            s.push_str(&format!("  GAP from {} to {to}: {}\n", crate::time::show(g.from), g.reason));
        }
        for warning in &w.warnings {
            s.push_str(&format!("  warning: {warning}\n"));
        }
    }
    s
}

/// One warning per repository that missed archived WAL files.
fn lag_lines(lags: &[WalLag]) -> String {
    lags.iter()
        .map(|l| {
            format!(
                "warning: repository `{}` lags {} WAL file(s) behind `{}` ({} to {}); the next wal-archive calls copy them once it is reachable\n",
                l.repository.display(),
                l.files,
                l.recorded_in.display(),
                l.oldest,
                l.newest
            )
        })
        .collect()
}

fn ignored_lines(ignored: &[Ignored]) -> String {
    ignored
        .iter()
        .map(|i| match &i.hint {
            None => format!("ignored `{}`: {}\n", i.path.display(), i.reason),
            Some(h) => format!("unreadable `{}`: {}\n  hint: {h}\n", i.path.display(), i.reason),
        })
        .collect()
}

fn join_paths(p: &[std::path::PathBuf]) -> String {
    p.iter().map(|p| format!("`{}`", p.display())).collect::<Vec<_>>().join(", ")
}
