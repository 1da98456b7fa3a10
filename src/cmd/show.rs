//! `lastgood show BACKUP`: one backup in detail, including its schema.

use serde::Serialize;

use crate::core::catalog::Backup;
use crate::core::request::{CatalogReader, catalog_facts};
use crate::engine::{BackupRef, SchemaObject, SkipKind, registry};

use super::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Backup id (or prefix), `latest`, `latest~N`, or a path to one of its copies.
    pub backup: String,
}

#[derive(Serialize)]
struct ShowView<'a> {
    #[serde(flatten)]
    backup: &'a Backup,
    schema: Vec<SchemaObject>,
}

pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<i32> {
    let catalog = ctx.catalog()?;
    let backup = catalog.select(&args.backup)?;
    if let Some(p) = &backup.problem {
        return Err(crate::error::bad_input(format!(
            "backup {} (`{}`) is damaged: {p}",
            backup.id,
            backup.primary().path.display()
        ))
        .into());
    }
    // Row counts the catalog lacks (binary pg_dump archives) are read now, with the schema.
    let reader = CatalogReader::of(backup);
    let details = registry::for_format(backup.format).backup_details(&BackupRef::from(backup), reader.as_ref())?;
    let tables = details.tables.into_iter().map(catalog_facts).collect();
    let with_rows = Backup { tables, ..backup.clone() };
    ctx.out.emit(&ShowView { backup: &with_rows, schema: details.schema }, render)?;
    Ok(crate::exit::OK)
}

fn render(v: &ShowView) -> String {
    let b = v.backup;
    let mut s = format!(
        "backup    {}\nsha256    {}\ntaken at  {} (from {})\nformat    {:?}, compression {:?}\nsize      {}\n",
        b.id,
        b.sha256,
        crate::time::show(b.taken_at),
        b.taken_at_source.label(),
        b.format,
        b.compression,
        crate::output::human_bytes(b.size),
    );
    if let Some(a) = &b.archive {
        s.push_str(&format!(
            "archive   {} (format {}), database {}, server {}, pg_dump {}, compression {}\n",
            b.format.label(),
            a.archive_version,
            a.dbname.as_deref().unwrap_or("?"),
            a.server_version.as_deref().unwrap_or("?"),
            a.pg_dump_version.as_deref().unwrap_or("?"),
            a.compression
        ));
    }
    if let Some(src) = &b.source {
        s.push_str(&format!("source    {src}\n"));
    }
    s.push_str(&format!("copies    {}\n", b.copies.len()));
    for c in &b.copies {
        let wal = c.wal.as_ref().map(|w| format!(" + `{}`", w.path.display())).unwrap_or_default();
        s.push_str(&format!("  {}{wal}  (repository `{}`)\n", c.path.display(), c.repository.display()));
    }
    for w in &b.warnings {
        s.push_str(&format!("warning   {w}\n"));
    }
    s.push_str("tables\n");
    for t in &b.tables {
        s.push_str(&format!("  {:<30} {:>12} rows\n", t.name, t.rows_text()));
    }
    for t in &b.skipped_tables {
        let what = match t.kind {
            SkipKind::Virtual => format!("virtual table ({})", t.of),
            SkipKind::Shadow => format!("shadow table of `{}`", t.of),
            SkipKind::Foreign => format!("foreign table (server {})", t.of),
        };
        s.push_str(&format!("  {:<30} {what}, not counted\n", t.name));
    }
    s.push_str("schema\n");
    for o in &v.schema {
        s.push_str(&format!("  {};\n", o.sql.replace('\n', "\n  ")));
    }
    s
}
