//! `lastgood demo [DIR]`: builds the incident sandbox (see `demo.rs`) and walks through the
//! recovery with the real commands: catalog → bisect (the last good and the first bad backup) →
//! restore --tables downloads from both → revert --columns filename (its log trigger skipped) →
//! verify.
//!
//! Each step runs this same binary as a child process, exactly as printed, so the walkthrough is
//! a transcript an operator can replay by hand.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result};
use serde::Serialize;

use crate::engine::sqlite::demo::{self, Sandbox};
use crate::error::environment;

use super::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder for the sandbox (rebuilt if it holds a previous demo).
    #[arg(default_value = "lastgood-demo")]
    pub dir: PathBuf,
    /// Only build the sandbox; print the commands instead of running them.
    #[arg(long)]
    pub build_only: bool,
}

/// One step of the walkthrough, as run.
#[derive(Debug, Serialize)]
pub struct Step {
    pub title: String,
    pub command: String,
    pub exit_code: i32,
}

#[derive(Debug, Serialize)]
struct DemoReport {
    dir: PathBuf,
    live: PathBuf,
    backups: PathBuf,
    last_known_good: Option<String>,
    wrong_filenames_before: i64,
    wrong_filenames_after: i64,
    orders_before: i64,
    orders_after: i64,
    steps: Vec<Step>,
}

pub fn run(args: &Args, ctx: &Context) -> Result<i32> {
    let started = std::time::Instant::now();
    let sb = demo::build(&args.dir, ctx.now)?;
    let say = |s: &str| {
        if !ctx.out.json {
            println!("{s}");
        }
    };
    say(&format!(
        "Built the incident sandbox in {} ({:.1}s):\n  live database   {}\n  backups         {} (hourly, {} to {})\n  incident        {} a bad script set every downloads.filename to '{}'\n  orders          still arriving every hour at :30, before and after the incident\n",
        sb.dir.display(),
        started.elapsed().as_secs_f64(),
        sb.live.display(),
        sb.backups.display(),
        crate::time::show(sb.at(0, 0)),
        crate::time::show(sb.at(12, 0)),
        crate::time::show(sb.at(9, 14)),
        demo::BAD_FILENAME,
    ));
    let wrong_before = demo::wrong_filenames(&sb.live)?;
    let orders_before = count(&sb.live, "orders")?;
    let mut w = Walkthrough { sb: &sb, steps: Vec::new(), json: ctx.out.json, build_only: args.build_only };
    let lkg = w.run_all()?;
    let report = DemoReport {
        dir: sb.dir.clone(),
        live: sb.live.clone(),
        backups: sb.backups.clone(),
        last_known_good: lkg,
        wrong_filenames_before: wrong_before,
        wrong_filenames_after: demo::wrong_filenames(&sb.live)?,
        orders_before,
        orders_after: count(&sb.live, "orders")?,
        steps: w.steps,
    };
    ctx.out.emit(&report, |r| {
        format!(
            "Done in {:.1}s. Wrong filenames: {} before, {} after. Orders: {} before, {} after (0 lost).\n",
            started.elapsed().as_secs_f64(),
            r.wrong_filenames_before,
            r.wrong_filenames_after,
            r.orders_before,
            r.orders_after
        )
    })?;
    Ok(crate::exit::OK)
}

fn count(db: &Path, table: &str) -> Result<i64> {
    let loc = crate::engine::Location::parse(&db.display().to_string());
    Ok(crate::engine::open(&loc, crate::engine::Access::ReadOnly)?.row_count(table)? as i64)
}

struct Walkthrough<'a> {
    sb: &'a Sandbox,
    steps: Vec<Step>,
    json: bool,
    build_only: bool,
}

impl Walkthrough<'_> {
    /// Runs every step; returns the last known good backup id found by bisect.
    fn run_all(&mut self) -> Result<Option<String>> {
        let repo = self.sb.backups.display().to_string();
        let live = self.sb.live.display().to_string();
        let scratch = self.sb.scratch.join("downloads-lkg.db").display().to_string();
        let damaged = self.sb.scratch.join("downloads-first-bad.db").display().to_string();
        self.step("1. What backups do we have?", &["catalog", "--repo", &repo], &[0])?;
        self.step(
            "2. Which is the last known good one? Bisect with a check that tells good data from bad.",
            &["bisect", "--repo", &repo, "--check", demo::CHECK],
            &[0],
        )?;
        let (lkg, first_bad) = self.last_known_good(&repo)?;
        let which = lkg.clone().unwrap_or_else(|| "latest~3".into());
        let bad = first_bad.unwrap_or_else(|| "latest~2".into());
        self.step(
            "3. Restore only the damaged table from it into scratch: the base, as it was before the incident.",
            &["restore", "--repo", &repo, "--backup", &which, "--tables", "downloads", "--into", &scratch],
            &[0],
        )?;
        self.step(
            "4. And from the first bad backup: the damaged state, just after the incident.",
            &["restore", "--repo", &repo, "--backup", &bad, "--tables", "downloads", "--into", &damaged],
            &[0],
        )?;
        let revert = [
            "revert",
            "--base",
            &scratch,
            "--damaged",
            &damaged,
            "--live",
            &live,
            "--tables",
            "downloads",
            "--columns",
            "filename",
        ];
        self.step(
            "5. Plan the revert: base and damaged tell which filename cells the incident wrote; only those go back, and only where live still holds the damaged value (a cell changed since is a listed conflict, which a two-way merge from the backup would silently overwrite). Rows added since are never touched. The plan lists the `downloads_log` trigger these writes would fire.",
            &revert,
            &[0],
        )?;
        let apply: Vec<&str> = revert.iter().copied().chain(["--triggers", "skip", "--apply"]).collect();
        self.step(
            "6. Apply it with the trigger skipped (it would log 100,000+ repair writes as filename changes; the snapshot and this report are the repair's record): one transaction, after a safety snapshot of live.",
            &apply,
            &[0],
        )?;
        self.step(
            "7. Verify: the filename column now equals the last known good backup.",
            &["diff", "--scratch", &scratch, "--live", &live, "--tables", "downloads", "--columns", "filename"],
            &[0, 1],
        )?;
        Ok(lkg)
    }

    /// The last known good backup bisect recorded, and the backup after it (the first bad one).
    fn last_known_good(&self, repo: &str) -> Result<(Option<String>, Option<String>)> {
        if self.build_only {
            return Ok((None, None));
        }
        let out =
            Command::new(std::env::current_exe()?).args(["--json", "--quiet", "catalog", "--repo", repo]).output()?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).context("reading the catalog")?;
        let backups = v["backups"].as_array().cloned().unwrap_or_default();
        let at = backups.iter().position(|b| b["last_known_good"] == true);
        let id = |i: usize| backups.get(i).and_then(|b| b["id"].as_str()).map(str::to_string);
        Ok((at.and_then(id), at.and_then(|i| id(i + 1))))
    }

    fn step(&mut self, title: &str, args: &[&str], ok_codes: &[i32]) -> Result<()> {
        let shown = format!(
            "lastgood {}",
            args.iter().map(|a| crate::util::shell::shell_quote(a)).collect::<Vec<_>>().join(" ")
        );
        if !self.json {
            println!("{title}\n$ {shown}");
        }
        if self.build_only {
            self.steps.push(Step { title: title.into(), command: shown, exit_code: 0 });
            return Ok(());
        }
        let mut cmd = Command::new(std::env::current_exe()?);
        if self.json {
            cmd.stdout(std::process::Stdio::null()).arg("--quiet");
        }
        let status = cmd.args(args).status().map_err(|e| environment(format!("cannot run `{shown}`: {e}")))?;
        let code = status.code().unwrap_or(-1);
        if !self.json {
            println!();
        }
        // What the step wrote (scratch files, caches, safety snapshots) is the demo's own too.
        demo::record(&self.sb.dir)?;
        self.steps.push(Step { title: title.into(), command: shown.clone(), exit_code: code });
        if !ok_codes.contains(&code) {
            return Err(environment(format!("demo step `{shown}` exited with {code}")).into());
        }
        Ok(())
    }
}
