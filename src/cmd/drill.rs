//! `lastgood drill`: unattended restore drills for CI, from a TOML config or flags: of the newest
//! backup of each database, or of a recovery window to its newest moment (`--window`, `window =`).

use std::path::PathBuf;

use serde::Serialize;

use crate::core::drill::{self, DatabaseReport, DatabaseSpec, DrillConfig, SqlCheck};
use crate::error::usage;

use super::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A drill config file (TOML; format in the README). Without it, one database from the flags.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Fail when the newest backup is older than this (RPO bound), e.g. `26h`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub max_age: Option<drill::HumanDuration>,
    /// Fail when restore plus checks take longer than this (RTO bound), e.g. `5m`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub max_restore_time: Option<drill::HumanDuration>,
    /// Fail when fewer places than this hold a copy of the newest backup that passes verify: copies
    /// in distinct repositories on distinct filesystems (two files in one folder are one place).
    #[arg(long, value_name = "N")]
    pub require_copies: Option<usize>,
    /// A SQL assertion on the restored data (one row, one value; true/non-zero passes). Repeatable.
    #[arg(long = "check", value_name = "SQL")]
    pub checks: Vec<String>,
    /// A minimum row count, `TABLE=N`. Repeatable.
    #[arg(long = "min-rows", value_name = "TABLE=N", value_parser = parse_min_rows)]
    pub min_rows: Vec<(String, u64)>,
    /// Only backups whose file name matches this glob belong to the database.
    #[arg(long = "match", value_name = "GLOB")]
    pub file_match: Option<String>,
    /// pg_dump archives: the PostgreSQL server (URL or key=value) where the scratch database is
    /// created and dropped again; a database's `server` in the config wins.
    #[arg(long, value_name = "URL")]
    pub scratch_url: Option<String>,
    /// Drill a recovery window instead of file backups: the cluster's system identifier, the
    /// window's id, or its WAL archive folder; restored to its newest moment.
    #[arg(long, value_name = "ID|DIR")]
    pub window: Option<String>,
    /// A window: the database of the recovered cluster to check (default: the one --scratch-url
    /// names).
    #[arg(long, value_name = "NAME")]
    pub dbname: Option<String>,
    /// A window: the folder the throwaway recovery instance is unpacked in.
    #[arg(long, value_name = "DIR", env = "LASTGOOD_SCRATCH_DIR")]
    pub scratch_dir: Option<PathBuf>,
    /// Also write a JUnit XML report here.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

fn parse_duration(s: &str) -> Result<drill::HumanDuration, String> {
    drill::parse_duration(s)
}

fn parse_min_rows(s: &str) -> Result<(String, u64), String> {
    let (t, n) = s.split_once('=').ok_or_else(|| format!("`{s}`: write it as TABLE=N"))?;
    Ok((t.to_string(), n.trim().parse().map_err(|_| format!("`{s}`: N must be a whole number"))?))
}

#[derive(Serialize)]
struct DrillView<'a> {
    ok: bool,
    databases: &'a [DatabaseReport],
}

pub fn run(args: &Args, ctx: &Context) -> anyhow::Result<i32> {
    let specs = match &args.config {
        Some(path) => {
            let mut cfg = DrillConfig::load(path)?;
            for db in &mut cfg.databases {
                if db.repos.is_empty() {
                    db.repos = ctx.repos.clone();
                }
                if db.server.is_none() {
                    db.server = args.scratch_url.clone();
                }
                if db.scratch_dir.is_none() {
                    db.scratch_dir = args.scratch_dir.clone();
                }
            }
            cfg.databases
        }
        None => vec![DatabaseSpec {
            name: "default".into(),
            repos: ctx.repos.clone(),
            file_match: args.file_match.clone(),
            max_age: args.max_age,
            max_restore_time: args.max_restore_time,
            require_copies: args.require_copies,
            integrity_check: true,
            min_rows: args.min_rows.iter().cloned().collect(),
            checks: args
                .checks
                .iter()
                .enumerate()
                .map(|(i, sql)| SqlCheck { name: format!("{}", i + 1), sql: sql.clone() })
                .collect(),
            server: args.scratch_url.clone(),
            window: args.window.clone(),
            dbname: args.dbname.clone(),
            scratch_dir: args.scratch_dir.clone(),
        }],
    };
    if specs.is_empty() {
        return Err(usage("the drill config names no database").hint("add a [[database]] section").into());
    }
    let mut reports = Vec::new();
    for spec in &specs {
        reports.push(drill::drill(spec, ctx.now, &ctx.out)?);
    }
    if let Some(path) = &args.junit {
        let xml = drill::junit(&reports)?;
        std::fs::write(path, xml)
            .map_err(|e| crate::error::environment(format!("cannot write JUnit report `{}`: {e}", path.display())))?;
    }
    let ok = reports.iter().all(|r| r.ok);
    ctx.out.emit(&DrillView { ok, databases: &reports }, |v| render(v.databases))?;
    Ok(if ok { crate::exit::OK } else { crate::exit::FOUND })
}

fn render(reports: &[DatabaseReport]) -> String {
    let mut s = String::new();
    for r in reports {
        s.push_str(&format!(
            "{} {}  {}  RPO {}  RTO {}\n",
            if r.ok { "PASS" } else { "FAIL" },
            r.name,
            if r.window.is_some() { r.drilled() } else { format!("backup {}", r.backup_id.as_deref().unwrap_or("-")) },
            r.rpo_seconds.map(|s| crate::output::human_age(chrono::TimeDelta::seconds(s))).unwrap_or("-".into()),
            r.rto_seconds.map(|s| format!("{s:.2}s")).unwrap_or("-".into()),
        ));
        for c in &r.checks {
            s.push_str(&format!("  {}  {:<32} {}\n", if c.ok { "ok  " } else { "FAIL" }, c.name, c.message));
        }
        for w in &r.warnings {
            s.push_str(&format!("  warning: {w}\n"));
        }
    }
    s
}
