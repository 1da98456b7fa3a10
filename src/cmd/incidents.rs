//! `lastgood incidents [--table T …] [--since TIME] [--until TIME] (--wal DIR | --repo R …)
//! [--live URL] [--limit N]`: the transactions of the archived WAL that touched the tables,
//! biggest first, with the command that undoes each (`core::incidents`).
//!
//! Exit codes: 0 when the whole archive was read (with or without transactions found); 3 when
//! some of it could not be (a gap, a damaged or cut-short segment): the list is printed all the
//! same, from what was read, and every problem is named on stderr (and under `wal.problems` in
//! `--json`); 2 for `--table` without `--live`; 3 for a table live does not have or folders
//! without WAL; 4 when pg_waldump is missing.

use std::path::PathBuf;

use crate::core::incidents::{self, Incident, IncidentsReport, Request};
use crate::output::{human_bytes, table};

use super::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only transactions that touched these tables (repeatable, or comma-separated; needs --live
    /// to map them to WAL's file nodes). Default: every table.
    #[arg(long = "table", value_name = "T", value_delimiter = ',')]
    pub tables: Vec<String>,
    /// Only transactions that ended (committed or aborted) at or after TIME.
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub since: Option<String>,
    /// Only transactions that ended at or before TIME (those still in progress are left out).
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub until: Option<String>,
    /// A WAL archive folder, as archive_command fills it (repeatable). Default: the `wal/`
    /// folder of each --repo, where `lastgood wal-archive` stores it.
    #[arg(long = "wal", value_name = "DIR")]
    pub wal: Vec<PathBuf>,
    /// The live database the WAL is from: names the tables (file nodes → names) and goes into
    /// the next commands.
    #[arg(long, value_name = "URL", env = "LASTGOOD_LIVE")]
    pub live: Option<String>,
    /// List at most N transactions, the biggest; 0 lists all.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,
}

pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<i32> {
    let parse = |t: &Option<String>| -> anyhow::Result<Option<chrono::DateTime<chrono::Utc>>> {
        t.as_deref().map(|s| crate::time::parse_time(s, ctx.now, ctx.utc)).transpose()
    };
    let (since, until) = (parse(&args.since)?, parse(&args.until)?);
    for (flag, text, t) in [("since", &args.since, since), ("until", &args.until, until)] {
        if let (Some(text), Some(t)) = (text, t) {
            ctx.out.debug(&format!("--{flag} {}", crate::time::explain(text, t)));
        }
    }
    let req = Request {
        wal: args.wal.clone(),
        repos: if args.wal.is_empty() { ctx.repos.clone() } else { Vec::new() },
        live: args.live.clone(),
        tables: args.tables.iter().map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect(),
        since,
        until,
        limit: args.limit,
    };
    let report = incidents::find(&req, &ctx.out)?;
    let unnamed = report.transactions.iter().flat_map(|t| &t.relations).find(|r| r.table.is_none());
    if let Some(note) = unnamed.and_then(|r| r.note.as_deref()) {
        ctx.out.note(&format!("`rel tablespace/database/filenode` is a relation without a name ({note})"));
    }
    for p in &report.wal.problems {
        ctx.out.warn(&format!("WAL segment {}: {}", p.segment, p.message));
    }
    ctx.out.emit(&report, render)?;
    if let Some(first) = report.wal.problems.first() {
        eprintln!(
            "error: the WAL archive could not be read whole ({} problem(s); first: segment {}: {}); the list covers what was read",
            report.wal.problems.len(),
            first.segment,
            first.message
        );
        return Ok(crate::exit::BAD_INPUT);
    }
    Ok(crate::exit::OK)
}

fn render(r: &IncidentsReport) -> String {
    let w = &r.wal;
    let folders: Vec<String> = w.folders.iter().map(|f| f.display().to_string()).collect();
    let timelines: Vec<String> = w.timelines.iter().map(|t| t.to_string()).collect();
    let mut s = format!(
        "read {} WAL segment(s) ({}) in {}, timeline {}: {} … {}\n",
        w.segments,
        human_bytes(w.bytes),
        folders.join(", "),
        timelines.join(", "),
        w.first_segment.as_deref().unwrap_or("-"),
        w.last_segment.as_deref().unwrap_or("-"),
    );
    let what = if w.tables.is_empty() { "any table".to_string() } else { w.tables.join(", ") };
    let shown = if r.transactions.len() < r.matched {
        format!("the {} biggest shown (--limit 0 for all)", r.transactions.len())
    } else {
        "all shown".to_string()
    };
    if r.matched == 0 {
        s.push_str(&format!("no transaction touched {what} in the WAL read\n"));
        return s;
    }
    s.push_str(&format!("{} transaction(s) touched {what}, biggest first; {shown}\n\n", r.matched));
    let mut rows = Vec::new();
    for t in &r.transactions {
        rows.extend(rows_of(t));
    }
    s.push_str(&table(
        &["XID", "ENDED", "STATUS", "ROWS", "TABLE", "INSERTS", "UPDATES", "HOT", "DELETES", "TRUNCATES"],
        &rows,
    ));
    if let Some(t) = r.transactions.iter().find(|t| !t.next.is_empty()) {
        s.push_str(&format!("\nnext, for xid {} (--json gives them for every transaction):\n", t.xid));
        for c in &t.next {
            s.push_str(&format!("  {c}\n"));
        }
    }
    s
}

fn rows_of(t: &Incident) -> Vec<Vec<String>> {
    t.relations
        .iter()
        .enumerate()
        .map(|(i, rel)| {
            let first = |v: String| if i == 0 { v } else { String::new() };
            let ended = t.commit_time.map_or("-".to_string(), crate::time::show);
            let mut label = rel.label();
            if rel.note.is_some() && rel.table.is_some() {
                label.push_str(" (old file node)");
            }
            vec![
                first(t.xid.to_string()),
                first(ended),
                first(t.status.word().to_string()),
                first(t.rows.to_string()),
                label,
                rel.inserts.to_string(),
                rel.updates.to_string(),
                rel.hot_updates.to_string(),
                rel.deletes.to_string(),
                rel.truncates.to_string(),
            ]
        })
        .collect()
}
