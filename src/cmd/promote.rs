//! `lastgood promote`: replace live by scratch as a whole, atomically, keeping the previous live as
//! a safety snapshot (or create a live that does not exist yet). Without `--yes` it prints the
//! plan and writes nothing, saying whether `--yes` would be refused (and exiting as the refusal
//! would); a scratch lacking live's objects is refused unless `--allow-missing`. The engine of
//! scratch and live does it (`core/promote.rs`, `Engine::plan_promote`): SQLite files are
//! replaced by rename(2), PostgreSQL databases are renamed on the server.

use std::path::PathBuf;

use crate::core::lock::LiveLock;
use crate::engine::PromoteRequest;

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
    let req = PromoteRequest {
        scratch: args.scratch.clone(),
        live: args.live.clone(),
        force: args.force,
        terminate_connections: args.terminate_connections,
        allow_missing: crate::engine::missing::split_names(&args.allow_missing),
        now: ctx.now,
    };
    let engine = crate::core::promote::engine_of(&req)?;
    if !args.yes {
        let job = engine.plan_promote(&req)?;
        let (dry, refusal) = job.dry_run();
        crate::engine::print(&ctx.out, dry.as_ref())?;
        return refusal.map_or(Ok(crate::exit::OK), Err);
    }
    // The lock comes first so that a second lastgood fails at once, before any inspection.
    // On the file a symlinked live points to, the one that is replaced (and that merge locks).
    let _lock = match engine.lock_file(&crate::engine::Location::parse(&args.live.to_string_lossy())) {
        Some(live) => {
            let real_live = match std::fs::symlink_metadata(&live) {
                Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(&live).unwrap_or(live),
                _ => live,
            };
            Some(LiveLock::acquire(&real_live, "promote")?)
        }
        None => None,
    };
    let job = engine.plan_promote(&req)?;
    for warning in job.warnings() {
        ctx.out.warn(&warning);
    }
    let report = job.execute(&ctx.out)?;
    crate::engine::print(&ctx.out, report.as_ref())?;
    Ok(crate::exit::OK)
}
