//! `lastgood catalog`: the backups in every repository, oldest first.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::catalog::{Backup, Catalog, Ignored};
use crate::output::{human_age, human_bytes, table};

use super::Context;

#[derive(Debug, clap::Args)]
pub struct Args {}

#[derive(Serialize)]
struct CatalogView<'a> {
    repositories: &'a [std::path::PathBuf],
    now: DateTime<Utc>,
    backups: Vec<BackupView<'a>>,
    ignored: &'a [Ignored],
}

#[derive(Serialize)]
struct BackupView<'a> {
    #[serde(flatten)]
    backup: &'a Backup,
    age_seconds: i64,
    /// The last known good backup, as recorded by `lastgood bisect`.
    lkg: bool,
}

pub fn run(_args: &Args, ctx: &Context) -> anyhow::Result<i32> {
    let catalog = ctx.catalog()?;
    let lkg: Vec<bool> = catalog.backups.iter().map(crate::bisect::is_lkg).collect();
    let view = CatalogView {
        repositories: &catalog.repositories,
        now: ctx.now,
        backups: catalog
            .backups
            .iter()
            .zip(&lkg)
            .map(|(b, &lkg)| BackupView { backup: b, age_seconds: (ctx.now - b.taken_at).num_seconds(), lkg })
            .collect(),
        ignored: &catalog.ignored,
    };
    ctx.out.emit(&view, |_| render(&catalog, &lkg, ctx))?;
    Ok(crate::exit::OK)
}

fn render(catalog: &Catalog, lkg: &[bool], ctx: &Context) -> String {
    if catalog.backups.is_empty() {
        let mut s = format!("no backups found in {}\n", join_paths(&catalog.repositories));
        s.push_str(&ignored_lines(&catalog.ignored));
        return s;
    }
    let rows: Vec<Vec<String>> = catalog
        .backups
        .iter()
        .zip(lkg)
        .map(|(b, &lkg)| {
            let tables = if b.tables.is_empty() {
                "-".to_string()
            } else {
                b.tables.iter().map(|t| format!("{} ({})", t.name, t.rows)).collect::<Vec<_>>().join(", ")
            };
            vec![
                b.id.clone(),
                crate::time::show(b.taken_at),
                b.taken_at_source.label().to_string(),
                human_age(ctx.now - b.taken_at),
                human_bytes(b.size),
                b.copies.len().to_string(),
                if lkg { "LKG".to_string() } else { String::new() },
                match &b.problem {
                    Some(p) => format!("DAMAGED: {p}"),
                    None => tables,
                },
                b.primary().path.display().to_string(),
            ]
        })
        .collect();
    let mut s = table(&["ID", "TAKEN AT", "FROM", "AGE", "SIZE", "COPIES", "MARK", "TABLES (ROWS)", "PATH"], &rows);
    s.push_str(&format!("{} backup(s) in {}\n", catalog.backups.len(), join_paths(&catalog.repositories)));
    s.push_str(&ignored_lines(&catalog.ignored));
    s
}

fn ignored_lines(ignored: &[Ignored]) -> String {
    ignored.iter().map(|i| format!("ignored `{}`: {}\n", i.path.display(), i.reason)).collect()
}

fn join_paths(p: &[std::path::PathBuf]) -> String {
    p.iter().map(|p| format!("`{}`", p.display())).collect::<Vec<_>>().join(", ")
}
