//! `lastgood bisect`: find the last known good backup with a check query, and record it in the
//! catalog. Exit 0 when a good backup was found, 1 when none passes the check, 2 for a check that
//! is not a valid query (also one that no backup can evaluate because each lacks a table or column
//! it names), 3 for a check whose result is not one row with one number.

use crate::core::bisect::{BisectReport, Check, Request, Verdict, bisect, record_lkg};
use crate::output::table;

use super::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A query returning one row with one number: non-zero (true) = good.
    #[arg(long, value_name = "SQL")]
    pub check: String,
    /// Tables the check needs; a backup without one of them cannot tell.
    #[arg(long, value_delimiter = ',', value_name = "T1,T2")]
    pub tables: Vec<String>,
    /// Only backups taken at or after TIME (e.g. `yesterday 18:00`, `-12h`).
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub since: Option<String>,
    /// Only backups taken at or before TIME.
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub until: Option<String>,
    /// Evaluate every backup and print the whole timeline.
    #[arg(long)]
    pub scan: bool,
    /// PostgreSQL archives: the server where each probe restores the --tables into a scratch
    /// database (dropped after the check), as a URL or key=value string.
    #[arg(long, value_name = "URL")]
    pub scratch_url: Option<String>,
}

pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<i32> {
    let catalog = ctx.catalog()?;
    let engines = crate::engine::registry::engines_of(catalog.backups.iter().map(|b| b.format));
    let check = Check::new(&args.check, &engines)?;
    let parse = |t: &Option<String>| -> anyhow::Result<Option<chrono::DateTime<chrono::Utc>>> {
        t.as_deref().map(|s| crate::time::parse_time(s, ctx.now, ctx.utc)).transpose()
    };
    let (since, until) = (parse(&args.since)?, parse(&args.until)?);
    if let (Some(s), Some(u)) = (since, until)
        && s > u
    {
        return Err(crate::error::usage(format!(
            "--since {} is later than --until {}: no backup can lie between them",
            crate::time::show(s),
            crate::time::show(u)
        ))
        .hint("swap the two times")
        .into());
    }
    for (flag, text, t) in [("since", &args.since, since), ("until", &args.until, until)] {
        if let (Some(text), Some(t)) = (text, t) {
            ctx.out.debug(&format!("--{flag} {}", crate::time::explain(text, t)));
        }
    }
    if let Some(server) = &args.scratch_url {
        crate::engine::registry::check_scratch_server(server)?;
    }
    let scratch = args.scratch_url.as_deref();
    let req = Request { check: &check, tables: &args.tables, since, until, scan: args.scan, scratch };
    let report = bisect(&catalog, &req, &ctx.out)?;
    // The mark is the newest verdict: a search over every backup that finds none good clears an
    // older mark (which another check may have set); a search limited by --since/--until cannot
    // speak for the backups it did not look at, and one where no backup could tell learned
    // nothing, so both leave the mark alone.
    let some_verdict = report.evaluations.iter().any(|e| e.verdict != Verdict::CannotTell);
    let unreadable = match &report.last_known_good {
        Some(lkg) => record_lkg(&catalog, lkg, &check.sql, ctx.now),
        None if since.is_none() && until.is_none() && some_verdict => crate::core::bisect::clear_lkg(&catalog),
        None => Vec::new(),
    };
    for repo in unreadable {
        ctx.out.warn(&format!("could not record the last known good in the cache of `{repo}`"));
    }
    if report.alternates {
        ctx.out.warn("good and bad backups alternate: the check does not split the timeline in two; read the timeline");
    }
    ctx.out.emit(&report, |r| render(r, args))?;
    Ok(if report.last_known_good.is_some() { crate::exit::OK } else { crate::exit::FOUND })
}

fn render(r: &BisectReport, args: &Args) -> String {
    let mut s = format!("check: {}\n", r.check);
    for (flag, text, t) in [("since", &args.since, r.since), ("until", &args.until, r.until)] {
        if let (Some(text), Some(t)) = (text, t) {
            s.push_str(&format!("{flag}: {}\n", crate::time::explain(text, t)));
        }
    }
    let how = if r.mode == "scan" { "every backup" } else { "binary search, assuming good then bad" };
    s.push_str(&format!("{} check(s) over {} backup(s) ({how}) in {:.2}s\n", r.checks_run, r.candidates, r.seconds));
    if !r.skipped_damaged.is_empty() {
        s.push_str(&format!("skipped damaged backup(s): {}\n", r.skipped_damaged.join(", ")));
    }
    let mut evals = r.evaluations.clone();
    evals.sort_by_key(|e| e.taken_at);
    let rows: Vec<Vec<String>> = evals
        .iter()
        .map(|e| {
            let result = match e.verdict {
                Verdict::Good => "good".to_string(),
                Verdict::Bad => "BAD".to_string(),
                Verdict::CannotTell => format!("cannot tell: {}", e.reason.as_deref().unwrap_or("")),
            };
            vec![
                e.step.to_string(),
                e.backup_id.clone(),
                crate::time::show(e.taken_at),
                result,
                e.value.clone().unwrap_or_default(),
                format!("{:.3}s", e.seconds),
            ]
        })
        .collect();
    s.push_str(&table(&["STEP", "ID", "TAKEN AT", "RESULT", "VALUE", "TIME"], &rows));
    match &r.last_known_good {
        Some(b) => s.push_str(&format!(
            "last known good: {} taken at {} ({})\n",
            b.id,
            crate::time::show(b.taken_at),
            b.path.display()
        )),
        None if r.evaluations.iter().all(|e| e.verdict == Verdict::CannotTell) => {
            s.push_str("last known good: none — no backup could evaluate the check (see RESULT)\n")
        }
        None => s.push_str("last known good: none — no backup passes the check\n"),
    }
    match &r.first_bad {
        Some(b) => s.push_str(&format!("first bad:       {} taken at {}\n", b.id, crate::time::show(b.taken_at))),
        None if r.last_known_good.is_some() && r.cannot_tell_between.is_empty() => {
            s.push_str("first bad:       none — the newest backup passes\n")
        }
        None if r.last_known_good.is_some() => {
            s.push_str("first bad:       none found — the backups after the last known good cannot tell\n")
        }
        None => {}
    }
    if !r.cannot_tell_between.is_empty() {
        s.push_str(&format!("cannot tell between them: {}\n", r.cannot_tell_between.join(", ")));
    }
    if let Some(b) = &r.last_known_good {
        s.push_str(&format!("next: lastgood restore --backup {} --tables …\n", b.id));
    }
    s
}
