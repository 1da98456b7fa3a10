//! `lastgood history`: per backup, a table's row count and content checksum (and one column's),
//! and whether they changed from the previous backup.

use crate::core::history::{HistoryReport, history};
use crate::output::table;

use super::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The table to follow through the backups.
    #[arg(long, value_name = "TABLE")]
    pub table: String,
    /// Also follow this column's values (keyed by primary key).
    #[arg(long, value_name = "COLUMN")]
    pub column: Option<String>,
    /// PostgreSQL archives: the server where the table is restored into a scratch database
    /// (dropped after the digest), as a URL or key=value string.
    #[arg(long, value_name = "URL")]
    pub scratch_url: Option<String>,
}

pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<i32> {
    let catalog = ctx.catalog()?;
    if let Some(server) = &args.scratch_url {
        crate::engine::registry::check_scratch_server(server)?;
    }
    let report = history(&catalog, &args.table, args.column.as_deref(), args.scratch_url.as_deref(), &ctx.out)?;
    ctx.out.emit(&report, render)?;
    Ok(crate::exit::OK)
}

fn short(d: &Option<String>) -> String {
    d.as_deref().map_or("-".to_string(), |d| d[..12].to_string())
}

fn yes_no(c: Option<bool>) -> &'static str {
    match c {
        Some(true) => "CHANGED",
        Some(false) => "same",
        None => "",
    }
}

fn render(r: &HistoryReport) -> String {
    let mut header = vec!["ID", "TAKEN AT", "ROWS", "TABLE SHA256", "TABLE"];
    if r.column.is_some() {
        header.extend(["COLUMN SHA256", "COLUMN"]);
    }
    header.push("NOTE");
    let rows: Vec<Vec<String>> = r
        .entries
        .iter()
        .map(|e| {
            let mut row = vec![
                e.backup_id.clone(),
                crate::time::show(e.taken_at),
                e.rows.map_or("-".into(), |n| n.to_string()),
                short(&e.table_digest),
                yes_no(e.changed).to_string(),
            ];
            if r.column.is_some() {
                row.extend([short(&e.column_digest), yes_no(e.column_changed).to_string()]);
            }
            row.push(e.note.clone().unwrap_or_default());
            row
        })
        .collect();
    let what = match &r.column {
        Some(c) => format!("`{}`.`{c}`", r.table),
        None => format!("`{}`", r.table),
    };
    let mut s = table(&header.iter().map(|h| &**h).collect::<Vec<_>>(), &rows);
    s.push_str(&format!("{what} changed in {} of {} backup(s) ({:.2}s)\n", r.changes, r.entries.len(), r.seconds));
    s
}
