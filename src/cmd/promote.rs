//! `lastgood promote`: replace live by scratch as a whole, atomically, keeping the previous live as
//! a safety snapshot (or create a live that does not exist yet). Without `--yes` it prints the
//! plan and writes nothing, saying whether `--yes` would be refused (and exiting as the refusal
//! would); a scratch lacking live's objects is refused unless `--allow-missing`. SQLite files are
//! replaced by rename(2) (`promote.rs`); PostgreSQL databases are renamed on the server
//! (`engine/postgres/promote.rs`).

use std::path::PathBuf;

use crate::core::lock::LiveLock;
use crate::core::promote::{PromotePlan, PromoteReport};
use crate::engine::Location;
use crate::engine::postgres::promote::PgPromotePlan;

use super::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The scratch database that becomes live (SQLite file, or PostgreSQL URL on live's server).
    #[arg(long, value_name = "PATH")]
    pub scratch: PathBuf,
    /// The live database to replace (SQLite file or PostgreSQL URL).
    #[arg(long, value_name = "PATH")]
    pub live: PathBuf,
    /// Do it (without this flag: print the plan, write nothing).
    #[arg(long)]
    pub yes: bool,
    /// Promote even though live looks in use or has a WAL that is not checkpointed.
    #[arg(long)]
    pub force: bool,
    /// PostgreSQL: end other sessions on live and scratch (a database in use cannot be renamed).
    #[arg(long)]
    pub terminate_connections: bool,
    /// Promote although scratch lacks these live objects (tables, views, …; exactly the names the
    /// refusal lists, comma-separated): they are dropped from live, the safety copy keeps them.
    #[arg(long, value_name = "NAME,…")]
    pub allow_missing: Vec<String>,
}

pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<i32> {
    let is_pg = |p: &PathBuf| matches!(Location::parse(&p.to_string_lossy()), Location::Postgres(_));
    match (is_pg(&args.scratch), is_pg(&args.live)) {
        (true, true) => return run_postgres(args, ctx),
        (false, false) => {}
        _ => {
            return Err(crate::error::usage(
                "promote needs scratch and live on the same engine (both SQLite files or both PostgreSQL)",
            )
            .hint("restore the backup into a scratch of live's engine first")
            .into());
        }
    }
    let allow_missing = crate::engine::missing::split_names(&args.allow_missing);
    if !args.yes {
        let plan = PromotePlan::new(&args.scratch, &args.live, args.force, &allow_missing, ctx.now)?;
        let refusal = plan.check().err();
        let dry = DryRun { dry_run: true, would_refuse: refusal.as_ref().map(WouldRefuse::of), plan: &plan };
        ctx.out.emit(&dry, |d| render_plan(d.plan) + &last_line(d.would_refuse.as_ref()))?;
        return refusal.map_or(Ok(crate::exit::OK), Err);
    }
    // The lock comes first so that a second lastgood fails at once, before any inspection.
    // On the file a symlinked live points to, the one that is replaced (and that merge locks).
    let real_live = match std::fs::symlink_metadata(&args.live) {
        Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(&args.live).unwrap_or(args.live.clone()),
        _ => args.live.clone(),
    };
    let _lock = LiveLock::acquire(&real_live, "promote")?;
    let plan = PromotePlan::new(&args.scratch, &args.live, args.force, &allow_missing, ctx.now)?;
    for why in &plan.in_use {
        if plan.force {
            ctx.out.warn(&format!("--force: live {why}"));
        }
    }
    let report = plan.execute(&ctx.out)?;
    ctx.out.emit(&report, render_report)?;
    Ok(crate::exit::OK)
}

fn run_postgres(args: &Args, ctx: &Context) -> anyhow::Result<i32> {
    let (scratch, live) = (args.scratch.to_string_lossy(), args.live.to_string_lossy());
    let allow_missing = crate::engine::missing::split_names(&args.allow_missing);
    let plan = PgPromotePlan::new(&scratch, &live, args.terminate_connections, &allow_missing, ctx.now)?;
    if !args.yes {
        let refusal = plan
            .check_not_in_use()
            .and_then(|()| plan.check_properties(args.force))
            .and_then(|()| plan.check_missing())
            .err();
        let dry = PgDryRun { dry_run: true, would_refuse: refusal.as_ref().map(WouldRefuse::of), plan: &plan };
        ctx.out.emit(&dry, |d| render_pg_plan(d.plan) + &last_line(d.would_refuse.as_ref()))?;
        return refusal.map_or(Ok(crate::exit::OK), Err);
    }
    plan.check_properties(args.force)?;
    let report = plan.execute()?;
    ctx.out.emit(&report, |r| {
        let p = &r.plan;
        let ended = if r.terminated_sessions > 0 {
            format!(", {} session(s) ended", r.terminated_sessions)
        } else {
            String::new()
        };
        let Some(safety) = &p.safety_database else {
            return format!(
                "created live `{}` from scratch `{}` ({:.2}s{ended})\nlive did not exist: no safety copy (nothing to lose)\nundo (drops the new live): {}\n",
                p.live_database, p.scratch_database, r.seconds, p.undo
            );
        };
        let dropped: String = p.missing.iter().map(|m| format!("dropped from live ({}): {}\n", m.kind, m.name)).collect();
        format!(
            "{dropped}promoted `{}` to live `{}` ({:.2}s{ended})\nthe previous live is kept whole as database `{safety}`\nundo: {}\n",
            p.scratch_database, p.live_database, r.seconds, p.undo
        )
    })?;
    Ok(crate::exit::OK)
}

#[derive(serde::Serialize)]
struct PgDryRun<'a> {
    dry_run: bool,
    /// Why `--yes` would be refused (exit 5), as the refusal itself says; `null` when it would go.
    would_refuse: Option<WouldRefuse>,
    #[serde(flatten)]
    plan: &'a PgPromotePlan,
}

/// The refusal a dry run foresees: the promote with `--yes` would stop with exactly this.
#[derive(serde::Serialize)]
struct WouldRefuse {
    reason: String,
    hint: Option<String>,
}

impl WouldRefuse {
    fn of(err: &anyhow::Error) -> WouldRefuse {
        let hint = crate::error::classify(err).and_then(|f| f.hint.clone());
        WouldRefuse { reason: format!("{err:#}"), hint }
    }
}

/// The dry run's last line: what `--yes` would do.
fn last_line(refusal: Option<&WouldRefuse>) -> String {
    match refusal {
        Some(r) => format!(
            "nothing written; --yes would be refused: {}
",
            r.reason
        ),
        None => "nothing written; add --yes to promote
"
        .to_string(),
    }
}

fn render_pg_plan(p: &PgPromotePlan) -> String {
    let mut s = if p.creates_live {
        format!("dry run: would create live database `{}` from scratch `{}`\n", p.live_database, p.scratch_database)
    } else {
        format!("dry run: would make scratch `{}` the live database `{}`\n", p.scratch_database, p.live_database)
    };
    for (i, step) in p.steps.iter().enumerate() {
        s.push_str(&format!("  {}. {step}\n", i + 1));
    }
    for who in &p.in_use {
        s.push_str(&format!("in use by {who}{}\n", if p.terminate_connections { " (would be ended)" } else { "" }));
    }
    s.push_str(&render_missing(&p.missing, &p.allow_missing));
    s
}

#[derive(serde::Serialize)]
struct DryRun<'a> {
    dry_run: bool,
    /// Why `--yes` would be refused (exit 5); `null` when it would go.
    would_refuse: Option<WouldRefuse>,
    #[serde(flatten)]
    plan: &'a PromotePlan,
}

fn render_plan(p: &PromotePlan) -> String {
    let mut s = if p.creates_live {
        format!("dry run: would create live `{}` from scratch `{}`\n", p.live.display(), p.scratch.display())
    } else {
        format!("dry run: would replace live `{}` by scratch `{}`\n", p.live.display(), p.scratch.display())
    };
    for (i, step) in p.steps.iter().enumerate() {
        s.push_str(&format!("  {}. {step}\n", i + 1));
    }
    for why in &p.in_use {
        s.push_str(&format!("live {why}{}\n", if p.force { " (overridden by --force)" } else { "" }));
    }
    s.push_str(&render_missing(&p.missing, &p.allow_missing));
    s
}

/// The live objects scratch lacks, one a line, each marked when `--allow-missing` names it.
fn render_missing(missing: &[crate::engine::missing::SchemaName], allowed: &[String]) -> String {
    let mut s = String::new();
    if !missing.is_empty() {
        s.push_str(&format!(
            "scratch lacks {} object(s) that live has, which promote would drop from live (refused unless --allow-missing names exactly them):\n",
            missing.len()
        ));
    }
    for m in missing {
        let ok = if allowed.contains(&m.name) { " (allowed by --allow-missing)" } else { "" };
        s.push_str(&format!("  {} {}{ok}\n", m.kind, m.name));
    }
    s
}

fn render_report(r: &PromoteReport) -> String {
    let p = &r.plan;
    if p.creates_live {
        return format!(
            "created live `{}` from scratch `{}` ({:.2}s, quick_check {})\nlive did not exist: no safety snapshot (nothing to lose)\nundo (removes the new live): {}\n",
            p.live.display(),
            p.scratch.display(),
            r.seconds,
            r.quick_check,
            p.undo
        );
    }
    let link = match &p.live_symlink {
        Some(l) => format!("live `{}` is a symbolic link; replaced the file it points to\n", l.display()),
        None => String::new(),
    };
    let dropped: String = p.missing.iter().map(|m| format!("dropped from live ({}): {}\n", m.kind, m.name)).collect();
    link + &dropped
        + &format!(
            "promoted `{}` over live `{}` ({:.2}s, quick_check {})\nsafety snapshot of the previous live: {}\nundo: {}\n",
            p.scratch.display(),
            p.live.display(),
            r.seconds,
            r.quick_check,
            p.snapshot.as_ref().map(|s| s.display().to_string()).unwrap_or_default(),
            p.undo
        )
}
